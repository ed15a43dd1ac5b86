"""The curves cache: ``<cache_dir>/<arch>-<key>.pt`` holding curves and the model fingerprint.

The file name comes from the calibration spec, grid, worst-case flag, iteration and layer names; the
fingerprint inside is a SHA-256 of the model's whole state dict (weights, masks as zeros, norm
statistics) plus the same spec. A cache whose fingerprint differs (another model or other weights
of the same architecture) is reported, recomputed and overwritten -- never silently reused.
Default cache dir: ``$LT_CACHE_DIR/prune`` (``~/.cache/lt/prune``; see :mod:`toolkit.engine.cache`);
``lt prune ... --cache-dir DIR`` and ``lt prune curves MODEL`` use it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..engine.cache import resolve_path
from ..engine.checkpoint import atomic_path
from ..engine.fingerprint import params_key, state_fingerprint
from ..engine.report import log, warn
from .curves import fast_curves, plain_curves
from .masks import Layer
from .options import DEFAULT_CACHE_DIR  # noqa: F401 - re-exported: the default --cache-dir


def model_fingerprint(model: nn.Module, spec: dict) -> str:
    """SHA-256 over the JSON ``spec`` and every state-dict tensor (name, dtype, shape, bytes)."""
    return params_key([params_key(spec), state_fingerprint(model.state_dict())])


def cache_file(cache_dir: str | Path, arch: str, spec: dict) -> Path:
    key = params_key(spec, 16)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (arch or "model"))
    return resolve_path(cache_dir) / f"{safe}-{key}.pt"


def _read(path: Path) -> dict | None:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - an unreadable cache is recomputed, never fatal
        warn(f"curves cache '{path}' is unreadable ({type(e).__name__}); recomputing")
        return None
    return data if isinstance(data, dict) and "fingerprint" in data and "curves" in data else None


def get_curves(model: nn.Module, layers: list[Layer], xs: list[torch.Tensor], *, calib_spec: dict, grid: int,
               worst_case: bool, cache_dir: str | Path | None, tag: str = "", fast: bool = True
               ) -> tuple[np.ndarray, float, str, str]:
    """Curves (L, K+1) from the cache when its fingerprint matches, else measured (and cached).

    Returns (curves, seconds spent measuring, source ``cache``|``measured``, fingerprint).
    """
    spec = {"calib": calib_spec, "grid": grid, "worst_case": worst_case, "tag": tag,
            "layers": [ly.name for ly in layers]}
    fp = model_fingerprint(model, spec)
    path = cache_file(cache_dir, getattr(model, "arch", type(model).__name__), spec) if cache_dir else None
    if path is not None and path.is_file():
        data = _read(path)
        if data is not None and data["fingerprint"] == fp:
            log(f"curves: re-using cache {path}")
            return data["curves"].numpy(), 0.0, "cache", fp
        if data is not None:
            warn(f"curves cache '{path}' was computed for a different model or weights (fingerprint "
                 f"{data['fingerprint'][:12]} != {fp[:12]}); recomputing")
    t0 = time.perf_counter()
    curves = (fast_curves if fast else plain_curves)(model, layers, xs, grid, worst_case)
    seconds = time.perf_counter() - t0
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save({"fingerprint": fp, "spec": json.loads(json.dumps(spec, default=str)),
                        "curves": torch.from_numpy(curves), "sizes": [ly.size for ly in layers],
                        "seconds": seconds}, tmp)
    return curves, seconds, "measured", fp
