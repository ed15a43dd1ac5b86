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

from .errors import LtError

# torch-free at import (`lt train compare` reads runs without torch): toolkit.engine.checkpoint is imported where used.


def default_out(group: str, method: str) -> Path:
    return Path("runs") / f"{group}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_out_dir(out: str | os.PathLike | None, group: str, method: str, *,
                    force: bool = False, resume: bool = False) -> Path:
    """Create the run dir. An existing non-empty dir is refused unless ``force``; ``resume`` needs a run
    there (its ``config.json``, or a ``last.pt``)."""
    from .checkpoint import LAST

    path = Path(out) if out else default_out(group, method)
    if path.exists() and not path.is_dir():
        raise LtError(f"--out '{path}' exists and is not a directory")
    resumable = (path / "config.json").is_file() or (path / LAST).is_file()
    if resume:
        if not resumable:
            raise LtError(f"--resume: '{path}' holds no run to continue (no config.json or {LAST})")
    elif path.is_dir() and any(path.iterdir()) and not force:
        hint = ", or --resume to continue its run" if resumable else ""
        raise LtError(f"--out '{path}' exists and is not empty; pass --force to write into it{hint}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> None:
    from .checkpoint import atomic_path

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
    from .checkpoint import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file; a missing, unreadable or malformed one is one :class:`LtError` naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise LtError(f"'{path}' does not exist") from e
    except json.JSONDecodeError as e:
        raise LtError(f"'{path}' is not readable JSON: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise LtError(f"'{path}' is not readable: {e}") from e


# --- Runs remember their data -------------------------------------------------------------------
# A run's config.json (the one schema, toolkit.engine.lifecycle) records its data as the resolved
# options dataset, data_root, imbalance, image_size and info.num_classes. A run with no dataset of its
# own (lt prune MODEL calibrated on noise) takes the data of the run it was made from (resolved.model,
# .backbone or .surrogate naming a run). Configs written before the one schema (lt 0.1.0 run dirs) are
# still read by _legacy_data_of.
DATA_KEYS = ("dataset", "data_root", "imbalance", "image_size", "num_classes")
SOURCE_KEYS = ("model", "backbone", "surrogate")
_FOLLOW_DEPTH = 3


def recorded_data(spec: str | os.PathLike, depth: int = 0) -> tuple[dict[str, Any], str | None]:
    """The data settings recorded by the run that made ``spec`` (a run dir or a checkpoint file).

    Read from the run dir's ``config.json`` (a file's own dir for a checkpoint file), else from the
    checkpoint's embedded ``config``. Returns ``({key: value}, where it was read)``; ``({}, None)``
    for a model name or an unreadable file. A path that does not exist is a :class:`CheckpointError`.
    """
    from .checkpoint import load_checkpoint, resolve_checkpoint_path

    text = str(spec)
    path = Path(text)
    if not path.exists():
        if os.sep in text or text.endswith((".pt", ".pth")):
            resolve_checkpoint_path(path)  # raises: the checkpoint does not exist
        return {}, None
    cfg_path = path / "config.json" if path.is_dir() else path.parent / "config.json"
    if cfg_path.is_file():
        config, source = read_json(cfg_path), str(cfg_path)
    else:
        try:
            ckpt = load_checkpoint(path)
        except LtError:  # not readable as a checkpoint: the command itself says why, in its own words
            return {}, None
        config, source = ckpt.get("config") or {}, f"{ckpt['path']} (its config)"
    found = _data_of(config, depth)
    return {k: v for k, v in found.items() if k in DATA_KEYS and v is not None}, source


def _data_of(cfg: Any, depth: int) -> dict[str, Any]:
    """Data settings out of one config (see the note above DATA_KEYS)."""
    if not isinstance(cfg, dict):
        return {}
    if not isinstance(cfg.get("resolved"), dict):
        return _legacy_data_of(cfg, depth)
    r, info = cfg["resolved"], cfg.get("info") if isinstance(cfg.get("info"), dict) else {}
    own = {"dataset": r.get("dataset"), "data_root": r.get("data_root"), "imbalance": r.get("imbalance"),
           "image_size": r.get("image_size"), "num_classes": info.get("num_classes")}
    if own["dataset"] not in (None, "noise"):
        return own  # the run's own settings (what it was given was completed from its source at its start)
    source = next((found for key in SOURCE_KEYS if (found := _follow(r.get(key), depth))), {})
    return source if source.get("dataset") else {"image_size": own["image_size"]}


def _legacy_data_of(cfg: dict, depth: int) -> dict[str, Any]:
    """Data settings of a config written before the one schema (lt 0.1.0)."""
    if isinstance(cfg.get("prune"), dict):  # a pruned checkpoint's embedded config
        cfg = cfg["prune"]
    run, data, calib = (cfg.get(k) if isinstance(cfg.get(k), dict) else None for k in ("run", "data", "calib"))
    if run and run.get("dataset"):
        counts = cfg.get("train_counts")
        return {"dataset": run["dataset"], "data_root": run.get("data_root"), "imbalance": run.get("imbalance"),
                "num_classes": len(counts) if isinstance(counts, list) and counts else None}
    if data and data.get("dataset"):
        return {"dataset": data["dataset"], "data_root": data.get("data_root")}
    if calib is not None:
        source = _follow(cfg.get("model"), depth)
        if calib.get("data") in (None, "noise"):
            return source if source.get("dataset") else {"image_size": calib.get("input_size")}
        return _same_dataset({"dataset": calib["data"], "data_root": cfg.get("data_root")}, source)
    if cfg.get("dataset"):
        out = {"dataset": cfg["dataset"], "data_root": cfg.get("data_root")}
        return out if "data_root" in cfg else _same_dataset(out, _follow(cfg.get("backbone"), depth))
    return {}


def _follow(spec: Any, depth: int) -> dict[str, Any]:
    """What the run a config names as its source (prune's MODEL, FACM's --backbone) recorded."""
    if not isinstance(spec, str) or depth >= _FOLLOW_DEPTH or not Path(spec).exists():
        return {}
    try:
        return recorded_data(spec, depth + 1)[0]
    except LtError:
        return {}


def _same_dataset(own: dict, source: dict) -> dict:
    """``own`` completed by ``source``'s settings when both name the same dataset."""
    if source.get("dataset") != own["dataset"]:
        return own
    return {**source, **{k: v for k, v in own.items() if v is not None}}


def fill_from_run(spec: str, given: dict[str, Any], fields: dict[str, tuple[str, str]],
                  required: str | None = None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """``given`` (argument -> value, None = flag not given) completed from what the run ``spec`` recorded.

    ``fields`` maps each argument to ``(recorded key, flag)``, e.g. ``{"dataset": ("dataset", "--dataset")}``.
    Values are taken only when the dataset argument is not given or names the recorded dataset, and
    what was taken is said on stderr in one line (held until the command's first output, so that an
    argument error stays the only line). ``required``: an argument that must end up set;
    ``defaults``: values for arguments neither given nor recorded (also said on stderr).
    """
    from .report import log_pending

    recorded, source = {}, None
    for one in ([spec] if Path(spec).exists() else [s.strip() for s in str(spec).split(",") if s.strip()]):
        recorded, source = recorded_data(one)  # an ensemble a,b,c: the first member that records its data
        if recorded:
            break
    ds_arg = next((arg for arg, (key, _) in fields.items() if key == "dataset"), None)
    out = dict(given)
    same = ds_arg is None or given.get(ds_arg) is None or given.get(ds_arg) == recorded.get("dataset")
    taken = []
    if recorded and same:
        for arg, (key, flag) in fields.items():
            if out.get(arg) is None and recorded.get(key) is not None:
                out[arg] = recorded[key]
                taken.append(f"{flag} {recorded[key]}")
    if taken:
        log_pending(_escape(f"{spec}: using {', '.join(taken)} from {source} (give the flag to override)"))
    fallback = [f"{fields[a][1]} {v}" for a, v in (defaults or {}).items() if out.get(a) is None]
    out.update({a: v for a, v in (defaults or {}).items() if out.get(a) is None})
    if fallback:
        log_pending(_escape(f"{spec} does not record its data; using the default {', '.join(fallback)}"))
    if required is not None and out.get(required) is None:
        raise LtError(f"give {fields[required][1]}: '{spec}' does not record its data "
                      f"(not a run dir with config.json, nor a checkpoint with its config)")
    return out


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
