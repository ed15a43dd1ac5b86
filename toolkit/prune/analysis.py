"""``lt prune curves`` (measure and cache curves only) and ``lt prune additivity`` (the paper's key
assumption, measured).

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438: pruning several layers together distorts the output about as much as
the sum of pruning each alone. :func:`additivity_report` measures joint / (d_i + d_j) for random
layer pairs (i, j) both pruned at the same sparsity (defaults 0.2/0.5/0.8 and 30 pairs: our choice).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..engine.cache import resolve_path
from ..engine.errors import check
from ..engine.report import Report, progress
from .cache import get_curves
from .curves import reference_outputs
from .masks import keep_mask
from .options import AdditivityOptions, CurvesOptions
from .run import calibrate, curve_mode, joint_distortion, start


def curves_report(opts: CurvesOptions | str | None = None, /, **values: Any) -> Report:
    """Compute (or re-use) and cache the curves; table of d_l at 25/50/75/90 % per layer: ``lt prune curves``.

    ``curves_report("resnet20", dataset="digits", grid=50)`` or ``curves_report(CurvesOptions(...))``
    (:class:`toolkit.prune.options.CurvesOptions`). Only with ``out`` is a run dir written
    (``config.json``, ``curves.pt``, ``curves.png``, ``metrics.json``); the cache is written either way.
    ``lt prune curves resnet20 --dataset digits --grid 50`` (``--out DIR`` also writes the run dir).
    """
    if isinstance(opts, str):
        opts, values = None, {"model": opts, **values}
    opts = CurvesOptions.of(opts, **values).validate()
    model, grid, cache_dir = opts.model, opts.grid, opts.cache_dir
    run, net, bundle = start(("prune", "curves"), opts, writes=opts.out is not None)
    layers, calib, xs = calibrate(run, net, bundle, opts.calib_size, opts.batch_size)
    curves, secs, source, fp = get_curves(net, layers, xs, calib_spec=calib.spec, grid=grid,
                                          worst_case=opts.worst_case, cache_dir=cache_dir, fast=opts.fx_split,
                                          **curve_mode(opts))
    a = np.linspace(0, 1, grid + 1)
    rows = [{"layer": ly.name, "weights": ly.size,
             **{f"d@{p}": float(np.interp(p, a, curves[l])) for p in (0.25, 0.5, 0.75, 0.9)}}
            for l, ly in enumerate(layers)]
    summary = {"model": model, "layers": len(layers), "grid": grid, "calibration": calib.spec["data"],
               "images": len(calib), "curves_from": source, "curve_seconds": round(secs, 3),
               "fingerprint": fp[:16], "cache_dir": str(resolve_path(cache_dir)) if cache_dir else None}
    if run.out_dir is not None and run.is_main:
        from .plots import plot_curves

        torch.save({"layers": [ly.name for ly in layers], "sizes": [ly.size for ly in layers], "grid": grid,
                    "fingerprints": [fp], "curves": torch.from_numpy(curves)[None]}, run.out_dir / "curves.pt")
        plot_curves(curves, [ly.name for ly in layers], run.out_dir / "curves.png")
        summary["out"] = str(run.out_dir)
    report = Report(f"lt prune curves: {model}", rows=rows, summary=summary)
    run.finish(report.to_dict())
    return report


@torch.no_grad()
def _single_and_pair(net, layers, xs, refs, i: int, j: int, sparsity: float, worst_case: bool,
                     memo: dict) -> tuple[float, float, float]:
    """(d_i, d_j, joint) with layers i and j pruned at ``sparsity`` by magnitude."""
    def prune(idx):
        saved = []
        for l in idx:
            w = layers[l].weight
            saved.append(w.detach().clone())
            w.mul_(keep_mask(w, int(sparsity * layers[l].size)).to(w.dtype))
        d = joint_distortion(net, xs, refs, worst_case)
        for l, w0 in zip(idx, saved, strict=True):
            layers[l].weight.copy_(w0)
        return d

    for l in (i, j):
        if (l, sparsity) not in memo:
            memo[(l, sparsity)] = prune([l])
    return memo[(i, sparsity)], memo[(j, sparsity)], prune([i, j])


def additivity_report(opts: AdditivityOptions | str | None = None, /, **values: Any) -> Report:
    """Distribution of joint/(d_i + d_j) over random layer pairs at each sparsity (writes no files).

    ``additivity_report("resnet20", sparsities=(0.2, 0.5), pairs=30)`` or
    ``additivity_report(AdditivityOptions(...))`` (:class:`toolkit.prune.options.AdditivityOptions`).
    ``lt prune additivity resnet20 --sparsities 0.2,0.5,0.8 --pairs 30``.
    """
    if isinstance(opts, str):
        opts, values = None, {"model": opts, **values}
    opts = AdditivityOptions.of(opts, **values).validate()
    model, sparsities, worst_case = opts.model, opts.sparsities, opts.worst_case
    run, net, bundle = start(("prune", "additivity"), opts, writes=False)
    layers, calib, xs = calibrate(run, net, bundle, opts.calib_size, opts.batch_size)
    check(len(layers) >= 2, "additivity needs a model with at least two prunable layers")
    refs = reference_outputs(net, xs)
    rng = np.random.default_rng(opts.seed)
    all_pairs = [(i, j) for i in range(len(layers)) for j in range(i + 1, len(layers))]
    chosen = [all_pairs[k] for k in rng.permutation(len(all_pairs))[:opts.pairs]]
    memo, rows = {}, []
    for s in sparsities:
        ratios = []
        for i, j in progress(chosen, description=f"additivity @ {s}"):
            di, dj, joint = _single_and_pair(net, layers, xs, refs, i, j, s, worst_case, memo)
            if di + dj > 0:
                ratios.append(joint / (di + dj))
        r = np.array(ratios) if ratios else np.array([np.nan])
        rows.append({"sparsity": s, "pairs": len(ratios), "mean": float(np.mean(r)), "median": float(np.median(r)),
                     "p10": float(np.percentile(r, 10)), "p90": float(np.percentile(r, 90)),
                     "min": float(np.min(r)), "max": float(np.max(r))})
    summary = {"model": model, "layers": len(layers), "calibration": calib.spec["data"], "images": len(calib)}
    run.finish()
    return Report(f"lt prune additivity: joint / (d_i + d_j), {model}", rows=rows, summary=summary,
                  notes=["1 = additive; < 1 sub-additive; > 1 super-additive"])
