"""Checkpoints: a dict of plain types and tensors, written atomically, loaded with weights_only=True.

Format (``format_version`` 1)::

    format_version, arch, model_args, state_dict, optimizer, scheduler, scaler, epoch,
    best_metric, config, toolkit_version  (+ optional extra keys such as rng, objective)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import torch

from .. import __version__
from .errors import CheckpointError

FORMAT_VERSION = 1
LAST = "last.pt"
BEST = "best.pt"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path`` (never a half file).

    The file gets the mode a plain ``open(path, "w")`` would give (``0o666 & ~umask``, 0644 under the
    usual umask 022), not mkstemp's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # the caller may have replaced it; chmod what will be renamed
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format_version / toolkit_version) atomically with torch.save."""
    payload = {"format_version": FORMAT_VERSION, "toolkit_version": __version__, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes."""
    out = {}
    for k, v in state_dict.items():
        changed = True
        while changed:
            changed = False
            for p in ("module.", "_orig_mod."):
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def resolve_checkpoint_path(spec: str | os.PathLike) -> Path:
    """A checkpoint file, or a run dir (its ``best.pt``, else ``last.pt``)."""
    p = Path(spec)
    if p.is_dir():
        for name in (BEST, LAST):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"run dir '{p}' holds no {BEST} or {LAST}")
    if not p.is_file():
        raise CheckpointError(f"checkpoint '{p}' does not exist")
    return p


def load_checkpoint(spec: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load an lt checkpoint (file or run dir) with ``weights_only=True``; foreign files are refused."""
    path = resolve_checkpoint_path(spec)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"checkpoint '{path}' was refused by weights_only loading "
                              f"(it pickles code or unsupported objects): {_first_line(e)}") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"checkpoint '{path}' is corrupt or not a torch file: {_first_line(e)}") from e
    if not isinstance(ckpt, dict) or "format_version" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"'{path}' is not an lt checkpoint (no format_version/state_dict)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"'{path}' has format_version {ckpt['format_version']}; "
                              f"this lt reads <= {FORMAT_VERSION}")
    ckpt["state_dict"] = strip_prefixes(ckpt["state_dict"])
    ckpt["path"] = str(path)
    return ckpt


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def load_state_into(model: torch.nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` with a one-line error on any mismatch."""
    try:
        model.load_state_dict(strip_prefixes(state_dict), strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:300]
        raise CheckpointError(f"{source} does not match the model: {first}") from e
