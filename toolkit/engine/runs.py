"""Run directories: ``--out DIR`` (default ``runs/<group>-<method>-<timestamp>``), config and metrics files.

Refuses to reuse a non-empty directory unless ``--force`` (or ``--resume`` into a resumable one), so
nothing a user already had is lost. JSON/CSV files are written atomically.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from .checkpoint import LAST, atomic_path
from .errors import LtError


def default_out(group: str, method: str) -> Path:
    return Path("runs") / f"{group}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_out_dir(out: str | os.PathLike | None, group: str, method: str, *,
                    force: bool = False, resume: bool = False) -> Path:
    """Create the run dir. An existing non-empty dir is refused unless ``force`` or a resumable ``resume``."""
    path = Path(out) if out else default_out(group, method)
    if path.exists() and not path.is_dir():
        raise LtError(f"--out '{path}' exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if resume:
            if not (path / LAST).is_file():
                raise LtError(f"--resume: '{path}' holds no {LAST} to resume from")
        elif not force:
            hint = ", or --resume to continue its run" if (path / LAST).is_file() else ""
            raise LtError(f"--out '{path}' exists and is not empty; pass --force to write into it{hint}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_default) + "\n")


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise LtError(f"'{path}' does not exist") from e
    except json.JSONDecodeError as e:
        raise LtError(f"'{path}' is not valid JSON: {e}") from e
