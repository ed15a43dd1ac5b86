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
from .curves import measure_curves, pass_images
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
               worst_case: bool, cache_dir: str | Path | None, tag: str = "", fast: bool = True,
               mode: str = "measured", draws: int | None = None, anchors: int | None = None, seed: int = 0,
               refs: list[torch.Tensor] | None = None) -> tuple[np.ndarray, float, str, str]:
    """Curves (L, K+1) from the cache when its fingerprint matches, else computed (and cached).

    ``mode``: ``measured`` (the paper's; ``fast`` = on the fx split) or ``sketch`` (our extension,
    :func:`toolkit.prune.sketch.sketch_curves` with ``draws``, ``anchors``, ``seed``); a sketch's cache key
    includes its mode, draws, anchors and seed (a measured key is unchanged from lt 0.3). The plan
    (:mod:`toolkit.prune.budget`) is said before computing. ``refs``: the model's logits on ``xs``.
    Returns (curves, seconds spent computing, source ``cache``|``measured``|``sketch``, fingerprint).
    """
    spec = {"calib": calib_spec, "grid": grid, "worst_case": worst_case, "tag": tag,
            "layers": [ly.name for ly in layers]}
    if mode == "sketch":
        spec.update(curves=mode, draws=draws, anchors=anchors, seed=seed)
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
    curves = _compute(model, layers, xs, grid, worst_case, fast, mode, draws, anchors, seed, refs)
    seconds = time.perf_counter() - t0
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save({"fingerprint": fp, "spec": json.loads(json.dumps(spec, default=str)),
                        "curves": torch.from_numpy(curves), "sizes": [ly.size for ly in layers],
                        "seconds": seconds}, tmp)
    return curves, seconds, "sketch" if mode == "sketch" else "measured", fp


def _compute(model, layers, xs, grid, worst_case, fast, mode, draws, anchors, seed, refs) -> np.ndarray:
    from .budget import hint, plan_line
    from .masks import current_zero_counts

    images, batch = sum(x.shape[0] for x in xs), max(x.shape[0] for x in xs)
    plan = plan_line(mode, [ly.size for ly in layers], current_zero_counts(layers), grid, images, batch, draws, anchors,
                     pass_images(xs))
    if mode == "sketch":
        from .sketch import sketch_curves

        return sketch_curves(model, layers, xs, grid, draws=draws or 1, anchors=anchors or 0, seed=seed, refs=refs,
                             fx_split=fast, plan=plan, hint=hint(mode, grid, images))
    if mode != "measured":
        raise ValueError(f"unknown curve mode '{mode}'")
    return measure_curves(model, layers, xs, grid, worst_case, refs=refs, fx_split=fast, plan=plan,
                          hint=hint(mode, grid, images))
