"""Train and evaluate long-tailed classifiers: the toolkit side of ``lt train ce`` and ``lt train eval``.

``train_longtail`` builds data, model and objective from a recipe plus overrides, runs the engine
loop, selects the best epoch on val (or on test when the dataset has no val split — reported as
``selected_on``), evaluates it on test, and writes ``config.json`` (the run lifecycle's one schema:
every recipe value resolved), ``metrics.json`` (overall, shot groups, per-class accuracy),
``metrics.csv``, ``best.pt``/``last.pt`` and ``per_class.png`` into the run dir. It runs unchanged
under ``torchrun`` and continues exactly with ``--resume``.

    lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
    lt train eval runs/bs --dataset digits-lt
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..data import DataBundle, get_dataset
from ..engine import distributed as D
from ..engine.device import resolve_device
from ..engine.errors import LtError, check
from ..engine.lifecycle import start_run
from ..engine.loop import Objective, TrainConfig, evaluate, fit, load_best_into, make_loader
from ..engine.metrics import longtail_metrics
from ..engine.report import Report, log
from ..models import get_model, load_model
from .losses import get_loss
from .recipes import Recipe, get_recipe

# objective_factory(bundle, recipe, model) -> Objective; model_factory(bundle, recipe) -> nn.Module
ObjectiveFactory = Callable[[DataBundle, Recipe, nn.Module], Objective]
ModelFactory = Callable[[DataBundle, Recipe], nn.Module]


@dataclass
class LongtailRun:
    """What to train. ``overrides`` are recipe fields given on the command line (None = recipe's).

    ``options`` are the method's own options under their command-line names (``lt train ce``:
    ``loss``; ``lt train lcreg``: ``rebalance``, ``latent_k``, ...), recorded in ``config.json``.
    """

    dataset: str
    method: str = "ce"
    loss: str = "ce"
    recipe: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    loss_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    download: bool = False
    imbalance: float | None = None
    skip_bad: bool = False
    out: str | None = None
    force: bool = False
    resume: bool = False
    device: str = "auto"
    seed: int = 0
    deterministic: bool = False
    amp: str = "auto"
    grad_clip: float = 0.0
    workers: int = 0
    shot_convention: str = "decoupling"
    shot_many: int | None = None
    shot_few: int | None = None


def load_bundle(dataset: str, data_root: str | None, download: bool = False, imbalance: float | None = None,
                skip_bad: bool = False) -> DataBundle:
    """The dataset with only the options the user actually gave (the rest are the builder's defaults)."""
    opts: dict[str, Any] = {}
    if imbalance is not None:
        check(imbalance >= 1, f"--imbalance must be >= 1 (got {imbalance})")
        opts["imbalance"] = imbalance
    if skip_bad:
        opts["skip_bad"] = True
    return get_dataset(dataset, root=data_root, download=download, **opts)


def _train_config(run: LongtailRun, recipe: Recipe) -> TrainConfig:
    return TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, momentum=recipe.momentum,
                       weight_decay=recipe.weight_decay, scheduler=recipe.scheduler, milestones=recipe.milestones,
                       lr_factors=recipe.lr_factors, warmup_epochs=recipe.warmup_epochs, grad_clip=run.grad_clip,
                       amp=run.amp, num_workers=run.workers, seed=run.seed, deterministic=run.deterministic).validate()


RECIPE_FIELDS = ("model", "weights", "epochs", "batch_size", "lr", "weight_decay", "scheduler", "warmup_epochs",
                 "milestones", "lr_factors", "momentum")


def _resolved(run: LongtailRun, recipe: Recipe) -> dict[str, Any]:
    """The run's options under their command-line names, recipe values resolved (config.json)."""
    many, few = run.shot_many or recipe.shot_many, run.shot_few or recipe.shot_few
    return {"dataset": run.dataset, **({"loss": run.loss} if run.method == "ce" else {}), **run.options,
            "recipe": recipe.name, **{k: getattr(recipe, k) for k in RECIPE_FIELDS}, "imbalance": run.imbalance,
            "data_root": run.data_root, "download": run.download, "skip_bad": run.skip_bad, "out": run.out,
            "amp": run.amp, "grad_clip": run.grad_clip, "shots": run.shot_convention, "many": many, "few": few}


def train_longtail(run: LongtailRun, objective_factory: ObjectiveFactory | None = None,
                   model_factory: ModelFactory | None = None) -> Report:
    """Train per ``run``; return the test report (overall / many / medium / few top-1)."""
    recipe = get_recipe(run.recipe, run.dataset).override(**run.overrides)
    if recipe.requires_weights and not recipe.weights:
        raise LtError(f"recipe '{recipe.name}' fine-tunes from pretrained weights: pass --weights "
                      f"(a torchvision weights name such as IMAGENET1K_V1, or a file); refusing a random init")
    cfg = _train_config(run, recipe)
    lrun = start_run(("train", run.method), out=run.out, force=run.force, resume=run.resume, device=run.device,
                     seed=run.seed, deterministic=run.deterministic, resolved=_resolved(run, recipe))
    bundle = load_bundle(run.dataset, run.data_root, run.download, run.imbalance, run.skip_bad)
    many, few = lrun.resolved["many"], lrun.resolved["few"]
    metrics_fn = longtail_metrics(bundle.train_counts, run.shot_convention, many, few)
    lrun.update_info(num_classes=bundle.num_classes, train_counts=bundle.train_counts, dataset_info=bundle.info)
    lrun.reseed()  # identical initial weights on every rank
    if model_factory is not None:
        model = model_factory(bundle, recipe)
    else:
        model = get_model(recipe.model, bundle.num_classes, weights=recipe.weights,
                          **({"normed_head": True} if run.loss == "ldam-drw" else {}))
    objective = (objective_factory(bundle, recipe, model) if objective_factory is not None
                 else get_loss(run.loss, bundle.train_counts, recipe.epochs, **run.loss_options))
    eval_set = bundle.val if bundle.val is not None else bundle.test
    log(f"training {recipe.model} with {run.method}/{run.loss} on {run.dataset} "
        f"({len(bundle.train)} train images, {bundle.num_classes} classes) on {lrun.device}")
    result = fit(model, bundle.train, eval_set, cfg=cfg, device=lrun.device, objective=objective,
                 metrics_fn=_with_objective_metrics(metrics_fn, objective), out_dir=lrun.out_dir,
                 resume=lrun.resume_from(), run_config=lrun.config)
    load_best_into(model, lrun.out_dir)
    selected_on = "val" if bundle.val is not None else "test"
    final = _evaluate_split(model, bundle, lrun.device, metrics_fn, cfg)
    report, metrics = _final_report(run, recipe, bundle, final, result.best_epoch, selected_on, lrun.out_dir)
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
    loader = make_loader(bundle.test, cfg.batch_size, train=False, num_workers=cfg.num_workers)
    logits, targets = evaluate(model, loader, device, amp=cfg.amp, description="test")
    return metrics_fn(logits, targets)


def _final_report(run: LongtailRun, recipe: Recipe, bundle: DataBundle, final: dict, best_epoch: int | None,
                  selected_on: str, out_dir: Path | None) -> tuple[Report, dict]:
    """The test report, and the run's metrics.json content (the per-class plot is written here too)."""
    row = {"split": "test", "top1": final["top1"], "many": final["many"], "medium": final["medium"],
           "few": final["few"], "top5": final["top5"]}
    summary = {"dataset": run.dataset, "method": run.method, "loss": run.loss, "model": recipe.model,
               "best_epoch": best_epoch, "selected_on": selected_on,
               "shot_groups": f"{run.shot_convention}: "
                              + ", ".join(f"{k}={v}" for k, v in final["shot_groups"].items()),
               "out": str(out_dir) if out_dir else None}
    if out_dir is not None and D.is_main():
        from ..engine.plots import plot_per_class

        plot_per_class(out_dir / "per_class.png", bundle.train_counts, final["per_class"],
                       title=f"{run.method} on {run.dataset}")
    metrics = {**row, "per_class": final["per_class"], "best_epoch": best_epoch, "selected_on": selected_on,
               "shot_groups": final["shot_groups"], "train_counts": bundle.train_counts}
    return Report(title=f"{run.method} ({run.loss}) on {run.dataset}: test top-1", rows=[row], summary=summary), metrics


def evaluate_checkpoint(checkpoint: str, dataset: str, data_root: str | None = None, download: bool = False,
                        imbalance: float | None = None, device: str = "auto", batch_size: int = 256,
                        shot_convention: str = "decoupling", shot_many: int | None = None,
                        shot_few: int | None = None, split: str = "test") -> Report:
    """Evaluate a saved model (checkpoint file or run dir) on a dataset split, with shot groups."""
    check(split in ("test", "val"), f"--split must be test|val (got {split})")
    bundle = load_bundle(dataset, data_root, download, imbalance)
    dev = resolve_device(device)
    model = load_model(checkpoint, num_classes=bundle.num_classes, device=dev)
    recipe = get_recipe(None, dataset)
    many, few = shot_many or recipe.shot_many, shot_few or recipe.shot_few
    metrics_fn = longtail_metrics(bundle.train_counts, shot_convention, many, few)
    data = bundle.test if split == "test" else bundle.val
    if data is None:
        raise LtError(f"dataset '{dataset}' has no {split} split")
    logits, targets = evaluate(model, make_loader(data, batch_size, train=False), dev, description=split)
    m = metrics_fn(logits, targets)
    row = {"split": split, "top1": m["top1"], "many": m["many"], "medium": m["medium"], "few": m["few"],
           "top5": m["top5"]}
    return Report(title=f"{checkpoint} on {dataset}", rows=[row],
                  summary={"images": int(targets.numel()), "per_class": m["per_class"],
                           "shot_groups": f"{shot_convention}: "
                                          + ", ".join(f"{k}={v}" for k, v in m["shot_groups"].items())})
