"""Train and evaluate long-tailed classifiers: the toolkit side of ``lt train ce`` and ``lt train eval``.

``train_longtail`` builds data, model and objective from a recipe plus overrides, runs the engine
loop, selects the best epoch on val (a dataset without one gets a stratified val carved from train;
``--select-on last|test``, see :mod:`toolkit.data.selection`; reported as ``selected_on``), evaluates
it on test, and writes ``config.json`` (the run lifecycle's one schema:
every recipe value resolved), ``metrics.json`` (overall, shot groups, per-class accuracy),
``metrics.csv``, ``best.pt``/``last.pt`` and ``per_class.png`` into the run dir. It runs unchanged
under ``torchrun`` and continues exactly with ``--resume``.

    lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
    lt train eval runs/bs --dataset digits-lt
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..data import DataBundle, get_dataset
from ..data.selection import selection_notes, selection_split
from ..engine import distributed as D
from ..engine.device import resolve_device
from ..engine.errors import LtError, check
from ..engine.lifecycle import start_run
from ..engine.loop import Objective, TrainConfig, evaluate, fit, load_best_into, make_loader
from ..engine.metrics import longtail_metrics
from ..engine.report import Report, log
from ..models import get_model, load_model
from .losses import get_loss
from .options import CEOptions, EvalOptions, LongtailOptions, shot_thresholds

# objective_factory(bundle, opts, model) -> Objective; model_factory(bundle, opts) -> nn.Module
ObjectiveFactory = Callable[[DataBundle, LongtailOptions, nn.Module], Objective]
ModelFactory = Callable[[DataBundle, LongtailOptions], nn.Module]


def load_bundle(dataset: str, data_root: str | None, download: bool = False, imbalance: float | None = None,
                skip_bad: bool = False, image_size: int | None = None) -> DataBundle:
    """The dataset with only the options the user actually gave (the rest are the builder's defaults)."""
    opts: dict[str, Any] = {}
    if imbalance is not None:
        check(imbalance >= 1, f"--imbalance must be >= 1 (got {imbalance})")
        opts["imbalance"] = imbalance
    if skip_bad:
        opts["skip_bad"] = True
    if image_size is not None:
        opts["image_size"] = image_size
    return get_dataset(dataset, root=data_root, download=download, **opts)


def train_ce(opts: CEOptions | None = None, **values: Any) -> Report:
    """Train a classifier with a long-tailed baseline loss (``--loss``): ``lt train ce``.

    ``opts`` (or its fields as keywords) is validated first: recipe fields left None take the recipe's
    values. Returns the test report (overall / many / medium / few top-1).

        lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
    """
    opts = CEOptions.of(opts, **values).validate()
    return train_longtail(opts, method="ce", loss=opts.loss)


def train_longtail(opts: LongtailOptions, *, method: str, loss: str,
                   objective_factory: ObjectiveFactory | None = None,
                   model_factory: ModelFactory | None = None) -> Report:
    """Train per ``opts`` (validated); return the test report (overall / many / medium / few top-1)."""
    opts = opts.validate()
    cfg = TrainConfig.of_options(opts, seed=opts.seed, deterministic=opts.deterministic)
    lrun = start_run(("train", method), opts)
    bundle = load_bundle(opts.dataset, opts.data_root, opts.download, opts.imbalance, opts.skip_bad, opts.image_size)
    bundle, eval_set, selected_on = selection_split(bundle, opts.select_on, opts.val_fraction)
    metrics_fn = longtail_metrics(bundle.train_counts, opts.shots, opts.many, opts.few)
    lrun.update_info(num_classes=bundle.num_classes, train_counts=bundle.train_counts, dataset_info=bundle.info)
    lrun.reseed()  # identical initial weights on every rank
    if model_factory is not None:
        model = model_factory(bundle, opts)
    else:
        model = get_model(opts.model, bundle.num_classes, weights=opts.weights,
                          **({"normed_head": True} if loss == "ldam-drw" else {}))
    objective = (objective_factory(bundle, opts, model) if objective_factory is not None
                 else get_loss(loss, bundle.train_counts, opts.epochs))
    log(f"training {opts.model} with {method}/{loss} on {opts.dataset} "
        f"({len(bundle.train)} train images, {bundle.num_classes} classes) on {lrun.device}")
    result = fit(model, bundle.train, eval_set, cfg=cfg, device=lrun.device, objective=objective,
                 metrics_fn=_with_objective_metrics(metrics_fn, objective), out_dir=lrun.out_dir,
                 resume=lrun.resume_from(), run_config=lrun.config)
    load_best_into(model, lrun.out_dir)
    final = _evaluate_split(model, bundle, lrun.device, metrics_fn, cfg)
    report, metrics = _final_report(opts, method, loss, bundle, final, result.best_epoch, selected_on, lrun.out_dir)
    lrun.finish(metrics)
    return report


def _with_objective_metrics(metrics_fn, objective: Objective):
    """``metrics_fn`` plus the objective's ``epoch_metrics()`` (e.g. LCReg's assignment entropy and
    usage over the epoch's training batches), so they land in the per-epoch ``metrics.csv`` row."""
    extra = getattr(objective, "epoch_metrics", None)
    if extra is None:
        return metrics_fn
    return lambda logits, targets: {**metrics_fn(logits, targets), **extra()}


def _evaluate_split(model: nn.Module, bundle: DataBundle, device: torch.device, metrics_fn, cfg: TrainConfig) -> dict:
    loader = make_loader(bundle.test, cfg.batch_size, train=False, workers=cfg.workers)
    logits, targets = evaluate(model, loader, device, amp=cfg.amp, description="test")
    return metrics_fn(logits, targets)


def _final_report(opts: LongtailOptions, method: str, loss: str, bundle: DataBundle, final: dict,
                  best_epoch: int | None, selected_on: str, out_dir: Path | None) -> tuple[Report, dict]:
    """The test report, and the run's metrics.json content (the per-class plot is written here too)."""
    row = {"split": "test", "top1": final["top1"], "many": final["many"], "medium": final["medium"],
           "few": final["few"], "top5": final["top5"]}
    summary = {"dataset": opts.dataset, "method": method, "loss": loss, "model": opts.model,
               "best_epoch": best_epoch, "selected_on": selected_on,
               "shot_groups": f"{opts.shots}: " + ", ".join(f"{k}={v}" for k, v in final["shot_groups"].items()),
               "out": str(out_dir) if out_dir else None}
    if out_dir is not None and D.is_main():
        from ..engine.plots import plot_per_class

        plot_per_class(out_dir / "per_class.png", bundle.train_counts, final["per_class"],
                       title=f"{method} on {opts.dataset}")
    metrics = {**row, "per_class": final["per_class"], "best_epoch": best_epoch, "selected_on": selected_on,
               "shot_groups": final["shot_groups"], "train_counts": bundle.train_counts}
    return Report(title=f"{method} ({loss}) on {opts.dataset}: test top-1", rows=[row], summary=summary,
                  notes=selection_notes(selected_on)), metrics


def evaluate_checkpoint(opts: EvalOptions | None = None, **values: Any) -> Report:
    """Evaluate a saved model (checkpoint file or run dir) on a dataset split, with shot groups:
    ``lt train eval RUN``. The dataset, ``data_root`` and ``imbalance`` left None are the run's
    (its config.json; said on stderr), else ``digits-lt``.

        lt train eval runs/bs --format json
    """
    opts = EvalOptions.of(opts, **values).validate()  # fills the run's data (EvalOptions.run_data)
    bundle = load_bundle(opts.dataset, opts.data_root, opts.download, opts.imbalance)
    dev = resolve_device(opts.device)
    model = load_model(opts.checkpoint, num_classes=bundle.num_classes, device=dev)
    many, few = shot_thresholds(opts, opts.dataset)
    metrics_fn = longtail_metrics(bundle.train_counts, opts.shots, many, few)
    data = bundle.test if opts.split == "test" else bundle.val
    if data is None:
        raise LtError(f"dataset '{opts.dataset}' has no {opts.split} split")
    logits, targets = evaluate(model, make_loader(data, opts.batch_size, train=False), dev, description=opts.split)
    m = metrics_fn(logits, targets)
    row = {"split": opts.split, "top1": m["top1"], "many": m["many"], "medium": m["medium"], "few": m["few"],
           "top5": m["top5"]}
    return Report(title=f"{opts.checkpoint} on {opts.dataset}", rows=[row],
                  summary={"images": int(targets.numel()), "per_class": m["per_class"],
                           "shot_groups": f"{opts.shots}: "
                                          + ", ".join(f"{k}={v}" for k, v in m["shot_groups"].items())})
