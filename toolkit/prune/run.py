"""``prune_model``: the toolkit function behind ``lt prune --ratio T MODEL``.

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438 (steps 1-4: curves, DP, magnitude masks, one-shot or iterative schedule),
plus the baselines in :mod:`toolkit.prune.baselines`.

Iterative schedule: at iteration t = 1..N the target is 1 - (1 - a)^t with a = 1 - (1 - T)^(1/N), so
iteration N reaches exactly ``--ratio`` T (the authors fix a = 0.2 and run until T; we fix N).
Curves are re-measured on the current masked model each iteration, nothing is un-pruned, and each
iteration is followed by ``--finetune-epochs`` of SGD (lr 0.01, wd 1e-4, cosine: the authors'
ImageNet recipe) through the engine loop :func:`toolkit.engine.loop.fit` with the masks held by
``torch.nn.utils.prune``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.checkpoint import atomic_path, save_checkpoint
from ..engine.lifecycle import Run, start_run
from ..engine.report import Report, log
from ..engine.runs import write_csv
from ..models import input_side
from . import get_method
from .cache import get_curves
from .calib import build_calibration, calibration_bundle
from .curves import _Acc, reference_outputs, zero_counts
from .masks import apply_counts, attach_masks, current_zero_counts, fold_masks, prunable_layers, sparsity
from .options import NOISE, CalibOptions, PruneOptions, is_noise


def start(command: tuple[str, ...], opts: CalibOptions, writes: bool = True):
    """Start the run (:func:`toolkit.engine.lifecycle.start_run`), then read the data and load the model.

    ``config.json`` records ``opts`` (``dataset`` is ``noise`` for zero-data calibration, ``image_size``
    the noise image side actually used). For noise the model is loaded first (seeded; no data is read)
    since the noise side defaults to the model's; with a dataset the run starts before the dataset is
    read and the model follows. Returns ``(run, model on run.device in eval mode, data bundle or None)``.
    """
    from ..engine.seed import seed_everything
    from ..models import load_model

    net = None
    if is_noise(opts.dataset):
        seed_everything(opts.seed)  # a named model's random init
        net = load_model(opts.model, weights=opts.weights)
        opts = opts.replace(dataset=NOISE, image_size=opts.image_size or input_side(net))
    run = start_run(command, opts, writes=writes)
    bundle = None if net is not None else calibration_bundle(opts.dataset, opts.data_root, opts.download)
    if net is None:
        run.reseed()
        net = load_model(opts.model, num_classes=bundle.num_classes, weights=opts.weights)
    return run, net.to(run.device).eval(), bundle


def calibrate(run: Run, net, bundle, calib_size: int, batch_size: int):
    """Prunable layers, calibration set and its batches on the run's device; ``info`` records the
    class count and calibration size."""
    layers = prunable_layers(net)
    calib = build_calibration(net, bundle, calib_size, batch_size, image_size=run.resolved["image_size"],
                              seed=run.seed)
    xs = [b.to(run.device) for b in calib.batches()]
    classes = bundle.num_classes if bundle is not None else int(reference_outputs(net, [xs[0][:1]])[0].shape[-1])
    run.update_info(num_classes=classes, calibration_images=len(calib), prunable_layers=len(layers))
    return layers, calib, xs


@torch.no_grad()
def joint_distortion(model, xs, refs, worst_case: bool) -> float:
    """The measured distortion of the model as it is now against reference logits ``refs``."""
    model.eval()
    acc = _Acc(1, worst_case)
    for x, r in zip(xs, refs, strict=True):
        acc.add(model(x).float(), r)
    return float(acc.value()[0])


def top1(model, dataset, device, batch_size: int) -> float:
    from ..engine.loop import evaluate, make_loader

    out, tgt = evaluate(model, make_loader(dataset, batch_size, train=False), device, description="top-1")
    return float((out.argmax(1) == tgt).float().mean())


def curve_mode(opts) -> dict:
    """``get_curves`` keywords of ``--curves``, ``--sketch-draws``, ``--sketch-anchors``, ``--seed``; says on
    stderr when the faithful, slower measured mode runs."""
    if opts.curves == "measured":
        log("curves: --curves measured (the paper's method: L x (K+1) passes; slower than the default sketch)")
    return {"mode": opts.curves, "draws": opts.sketch_draws, "anchors": opts.sketch_anchors, "seed": opts.seed}


def predicted_at(curves: np.ndarray, sizes: list[int], counts: list[int]) -> list[float]:
    """d_l at each layer's zero count (interpolated between grid points for off-grid counts)."""
    grid = curves.shape[1] - 1
    return [float(np.interp(c, zero_counts(n, grid), curves[l]))
            for l, (n, c) in enumerate(zip(sizes, counts, strict=True))]


def finetune(run: Run, net, masks: dict, train, opts: PruneOptions, seed: int) -> None:
    """Fine-tune for ``--finetune-epochs`` at ``--finetune-lr`` through the engine loop (SGD, momentum 0.9,
    wd 1e-4, cosine: the authors' ImageNet recipe) with the masks held fixed, then fold them into the
    weights. No checkpoints are written here (the pruned model is saved once, masks folded, by the caller)."""
    from ..engine.loop import TrainConfig, fit

    cfg = TrainConfig(epochs=opts.finetune_epochs, batch_size=opts.batch_size, lr=opts.finetune_lr, optimizer="sgd",
                      weight_decay=1e-4, scheduler="cosine", seed=seed, deterministic=opts.deterministic).validate()
    attach_masks(net, masks)
    try:
        fit(net, train, None, cfg=cfg, device=run.device, out_dir=None, run_config=run.config)
    finally:
        fold_masks(net)
        net.eval()


def _iteration(net, layers, calib, xs, t: int, opts: PruneOptions) -> dict:
    """One prune step: target, curves (rd), allocation, masks; returns what happened."""
    allocator = get_method(opts.method)
    n_iter = opts.iterations
    target = 1.0 - (1.0 - opts.ratio) ** (t / n_iter)
    current = current_zero_counts(layers)
    refs = reference_outputs(net, xs, description="reference logits")
    curves, secs, source, fp = None, 0.0, "-", None
    if getattr(allocator, "needs_curves", False):
        curves, secs, source, fp = get_curves(net, layers, xs, calib_spec=calib.spec, grid=opts.grid,
                                              worst_case=opts.worst_case, cache_dir=opts.cache_dir,
                                              tag=f"it{t}of{n_iter}" if n_iter > 1 else "", fast=opts.fx_split,
                                              **curve_mode(opts), refs=refs)
    t0 = time.perf_counter()
    weights = [ly.weight.detach() for ly in layers]
    counts = allocator(weights, target, curves=curves, current=current, buckets=opts.buckets,
                       allow_empty=bool(opts.allow_empty), kinds=[ly.kind for ly in layers])
    counts = [max(int(c), cur) for c, cur in zip(counts, current, strict=True)]  # never un-prune
    alloc_secs = time.perf_counter() - t0
    masks = apply_counts(layers, counts)
    pred = predicted_at(curves, [ly.size for ly in layers], counts) if curves is not None else None
    return {"iteration": t, "target": target, "counts": counts, "masks": masks, "curves": curves,
            "curve_seconds": secs, "curves_from": source, "dp_seconds": alloc_secs, "fingerprint": fp,
            "predicted_layers": pred, "predicted": float(sum(pred)) if pred else None,
            "measured": joint_distortion(net, xs, refs, opts.worst_case), "sparsity": sparsity(layers)}


def prune_model(opts: PruneOptions | str | None = None, ratio: float | str | None = None, /,
                **values: Any) -> Report:
    """Prune ``model`` to a fraction ``ratio`` of zero weights over all Conv/Linear layers: ``lt prune``.

    Called as ``prune_model("resnet20", 0.7, method="lamp", dataset="digits")`` (MODEL and ``--ratio``
    positional, every other option by its flag's name) or ``prune_model(PruneOptions(...))``; the options
    (:class:`toolkit.prune.options.PruneOptions`: their defaults, ranges and rules) are validated first,
    so an option that does not apply (``grid=50`` with ``method="lamp"``) raises the LtError the CLI prints.

    Writes ``config.json`` (every option, resolved: ``dataset`` ``noise`` for zero-data calibration,
    ``image_size`` the noise side used, rd's options None for a baseline method), ``last.pt`` (the pruned
    model, the same config embedded), ``masks.pt``, ``curves.pt``, ``layers.csv``, ``metrics.json``, plots.
    ``lt prune --ratio 0.7 resnet50`` / ``lt prune --ratio 0.5 --dataset digits runs/x``.
    """
    if isinstance(opts, str):
        opts, values = None, {"model": opts, **values}
    if ratio is not None:
        values["ratio"] = ratio
    opts = PruneOptions.of(opts, **values).validate()  # a run dir MODEL's data: CalibOptions.run_data
    allocator = get_method(opts.method)
    run, net, bundle = start(("prune", "run"), opts)
    layers, calib, xs = calibrate(run, net, bundle, opts.calib_size, opts.batch_size)
    before = top1(net, calib.test_set, run.device, opts.batch_size) if calib.test_set is not None else None
    train = None
    if opts.finetune_epochs > 0:
        from ..data import get_dataset

        train = get_dataset(opts.dataset, root=opts.data_root, download=opts.download).train
    steps = []
    for t in range(1, opts.iterations + 1):
        step = _iteration(net, layers, calib, xs, t, opts)
        log(f"iteration {t}/{opts.iterations}: target {step['target']:.4f} sparsity {step['sparsity']:.4f} "
            f"measured distortion {step['measured']:.4g}")
        if opts.finetune_epochs > 0:
            finetune(run, net, step["masks"], train, opts, seed=opts.seed + t)
            step["top1"] = top1(net, calib.test_set, run.device, opts.batch_size)
        steps.append(step)
    after = top1(net, calib.test_set, run.device, opts.batch_size) if calib.test_set is not None else None
    report = _report(net, layers, steps, run.resolved, before, after, run.out_dir, allocator)
    if run.is_main:
        _write_outputs(net, layers, steps, run, report)
    run.finish(report.to_dict())
    return report


def _report(net, layers, steps, config, before, after, out_dir: Path, allocator) -> Report:
    last = steps[-1]
    rows = []
    for l, ly in enumerate(layers):
        c = last["counts"][l]
        rows.append({"layer": ly.name, "weights": ly.size, "zeros": c, "pruned": c / ly.size,
                     "distortion": last["predicted_layers"][l] if last["predicted_layers"] else None})
    n_total = sum(ly.size for ly in layers)
    summary = {"model": config["model"], "method": config["method"], "target": config["ratio"],
               "sparsity": last["sparsity"], "weights": n_total, "zeros": sum(last["counts"]),
               "predicted_distortion": last["predicted"], "measured_distortion": last["measured"],
               "top1_before": before, "top1_after": after,
               "curve_seconds": round(sum(s["curve_seconds"] for s in steps), 3),
               "curves_from": ",".join(sorted({s["curves_from"] for s in steps})),
               "dp_seconds": round(sum(s["dp_seconds"] for s in steps), 4),
               "iterations": len(steps), "out": str(out_dir)}
    sections = []
    if len(steps) > 1:
        hist = [{"iteration": s["iteration"], "target": s["target"], "sparsity": s["sparsity"],
                 "predicted_distortion": s["predicted"], "measured_distortion": s["measured"],
                 "top1": s.get("top1"), "zeros": s["counts"]} for s in steps]
        sections.append(Report("Iterations", rows=hist))
    notes = [] if getattr(allocator, "needs_curves", False) else [
        "predicted distortion needs curves; only --method rd measures them"]
    return Report(f"lt prune: {config['method']} @ {config['ratio']}", rows=rows, summary=summary,
                  sections=sections, notes=notes)


def _write_outputs(net, layers, steps, run: Run, report: Report) -> None:
    """Pruned checkpoint (masks folded, the run's config embedded), masks in torch.nn.utils.prune form,
    curves, table, plots (rank 0)."""
    config, out_dir, last = run.resolved, run.out_dir, steps[-1]
    save_checkpoint(out_dir / "last.pt", {
        "arch": getattr(net, "arch", type(net).__name__), "model_args": getattr(net, "model_args", {}),
        "state_dict": net.state_dict(), "optimizer": None, "scheduler": None, "scaler": None, "epoch": 0,
        "best_metric": report.summary.get("top1_after"), "config": run.config,
        "prune": {"method": config["method"], "ratio": config["ratio"], "sparsity": last["sparsity"],
                  "zeros": last["counts"]}})
    with atomic_path(out_dir / "masks.pt") as tmp:
        torch.save(last["masks"], tmp)
    with_curves = [s for s in steps if s["curves"] is not None]
    if with_curves:
        torch.save({"layers": [ly.name for ly in layers], "sizes": [ly.size for ly in layers],
                    "grid": config["grid"], "fingerprints": [s["fingerprint"] for s in with_curves],
                    "curves": torch.stack([torch.from_numpy(s["curves"]) for s in with_curves])},
                   out_dir / "curves.pt")
    write_csv(out_dir / "layers.csv", report.rows)
    from .plots import plot_allocation, plot_curves

    if with_curves:
        plot_curves(with_curves[-1]["curves"], [ly.name for ly in layers], out_dir / "curves.png")
    plot_allocation([ly.name for ly in layers], [r["pruned"] for r in report.rows], config["ratio"],
                    out_dir / "allocation.png")

