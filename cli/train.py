"""``lt train``: long-tailed baselines (``ce``), evaluation (``eval``), and the methods that plug in
through ``cli/train_*.py`` modules (``lcreg``, ``mdl``, ``video``, ``muse``)."""

from __future__ import annotations

import importlib
from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (DataRootOpt, DeviceOpt, DownloadOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt,
                     resolve, run)

app = typer.Typer(help="Train models.", no_args_is_help=True)


class Shots(str, Enum):
    decoupling = "decoupling"
    oltr = "oltr"


class Amp(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


# Options shared by every long-tailed training command (ce, lcreg): recipe fields and run control.
RecipeOpt = Annotated[Optional[str], typer.Option("--recipe", help="cifar-lt|imagenet-lt|places-lt|inat2018|digits-lt (default: the dataset's).")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model name (default: the recipe's), e.g. resnet32, resnext50_32x4d.")]
WeightsOpt = Annotated[Optional[str], typer.Option("--weights", help="torchvision weights name or a file (default: random init).")]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Epochs (default: the recipe's).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", help="Batch size per process (default: the recipe's).")]
LrOpt = Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate (default: the recipe's).")]
WdOpt = Annotated[Optional[float], typer.Option("--weight-decay", help="Weight decay (default: the recipe's).")]
SchedOpt = Annotated[Optional[str], typer.Option("--scheduler", help="cosine|multistep|none (default: the recipe's).")]
WarmupOpt = Annotated[Optional[int], typer.Option("--warmup-epochs", help="Linear warm-up epochs (default: the recipe's).")]
ImbalanceOpt = Annotated[Optional[float], typer.Option("--imbalance", help="Imbalance factor n_max/n_min (-LT sets; default: the dataset's).")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad", help="Skip (and count) unreadable images instead of failing.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly where its last.pt left off.")]
DeterministicOpt = Annotated[bool, typer.Option("--deterministic", help="Deterministic kernels (slower; exact resume).")]
AmpOpt = Annotated[Amp, typer.Option("--amp", help="Mixed precision: auto = on CUDA only.")]
ClipOpt = Annotated[float, typer.Option("--grad-clip", help="Clip the gradient norm (0 = off).")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="DataLoader worker processes.")]
ShotsOpt = Annotated[Shots, typer.Option("--shots", help="Shot groups: decoupling (many>100, few<20) or oltr (>=100, <=20).")]
ManyOpt = Annotated[Optional[int], typer.Option("--many", help="Many-shot threshold (default: the recipe's).")]
FewOpt = Annotated[Optional[int], typer.Option("--few", help="Few-shot threshold (default: the recipe's).")]


def longtail_run(ctx: typer.Context, *, dataset: str, method: str, loss: str, recipe, model, weights, epochs,
                 batch_size, lr, weight_decay, scheduler, warmup_epochs, imbalance, data_root, download, skip_bad,
                 out, force, resume, deterministic, amp, grad_clip, workers, shots, many, few, device, seed, fmt,
                 quiet, loss_options: dict | None = None):
    """Collect the shared long-tail flags into a ``LongtailRun`` (imported lazily) and the output opts."""
    from toolkit.longtail.train import LongtailRun

    opts = resolve(ctx, device, seed, fmt, quiet)
    overrides = {"model": model, "weights": weights, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                 "weight_decay": weight_decay, "scheduler": scheduler, "warmup_epochs": warmup_epochs}
    spec = LongtailRun(dataset=dataset, method=method, loss=loss, recipe=recipe, overrides=overrides,
                       loss_options=loss_options or {}, data_root=data_root, download=download, imbalance=imbalance,
                       skip_bad=skip_bad, out=out, force=force, resume=resume, device=opts["device"],
                       seed=opts["seed"], deterministic=deterministic, amp=amp.value, grad_clip=grad_clip,
                       workers=workers, shot_convention=shots.value, shot_many=many, shot_few=few)
    return spec, opts


@app.command("ce")
def ce(ctx: typer.Context,
       dataset: Annotated[str, typer.Option("--dataset", help="digits-lt, cifar10-lt, cifar100-lt, imagenet-lt, places-lt, inat2018, ...")] = "digits-lt",
       loss: Annotated[str, typer.Option("--loss", help="ce|balanced-softmax|ldam-drw (see toolkit.longtail.losses).")] = "ce",
       recipe: RecipeOpt = None, model: ModelOpt = None, weights: WeightsOpt = None, epochs: EpochsOpt = None,
       batch_size: BatchOpt = None, lr: LrOpt = None, weight_decay: WdOpt = None, scheduler: SchedOpt = None,
       warmup_epochs: WarmupOpt = None, imbalance: ImbalanceOpt = None, data_root: DataRootOpt = None,
       download: DownloadOpt = False, skip_bad: SkipBadOpt = False, out: OutOpt = None, force: ForceOpt = False,
       resume: ResumeOpt = False, deterministic: DeterministicOpt = False, amp: AmpOpt = Amp.auto,
       grad_clip: ClipOpt = 0.0, workers: WorkersOpt = 0, shots: ShotsOpt = Shots.decoupling, many: ManyOpt = None,
       few: FewOpt = None, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
       quiet: QuietOpt = False) -> None:
    """Train a classifier with a long-tailed baseline loss; print overall/many/medium/few top-1.

    Example: lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
    """
    from toolkit.longtail.train import train_longtail

    spec, opts = longtail_run(ctx, dataset=dataset, method="ce", loss=loss, recipe=recipe, model=model,
                              weights=weights, epochs=epochs, batch_size=batch_size, lr=lr,
                              weight_decay=weight_decay, scheduler=scheduler, warmup_epochs=warmup_epochs,
                              imbalance=imbalance, data_root=data_root, download=download, skip_bad=skip_bad,
                              out=out, force=force, resume=resume, deterministic=deterministic, amp=amp,
                              grad_clip=grad_clip, workers=workers, shots=shots, many=many, few=few, device=device,
                              seed=seed, fmt=fmt, quiet=quiet)
    run(ctx, train_longtail, opts, run=spec)


@app.command("eval")
def eval_(ctx: typer.Context,
          checkpoint: Annotated[str, typer.Argument(help="A checkpoint file or a run dir.")],
          dataset: Annotated[Optional[str], typer.Option("--dataset", help="Dataset whose test split to evaluate on (default: the run's, from its config.json; else digits-lt).")] = None,
          split: Annotated[str, typer.Option("--split", help="test|val")] = "test",
          imbalance: ImbalanceOpt = None, data_root: DataRootOpt = None, download: DownloadOpt = False,
          batch_size: Annotated[int, typer.Option("--batch-size")] = 256, shots: ShotsOpt = Shots.decoupling,
          many: ManyOpt = None, few: FewOpt = None, device: DeviceOpt = None, fmt: FormatOpt = None,
          quiet: QuietOpt = False) -> None:
    """Evaluate a saved model: overall/many/medium/few top-1 (training counts from the dataset).

    The dataset, --data-root and --imbalance default to the run's (its config.json), said on stderr.
    Example: lt train eval runs/bs --format json
    """
    from toolkit.engine.runs import with_run_data
    from toolkit.longtail.train import evaluate_checkpoint

    opts = resolve(ctx, device, None, fmt, quiet)
    fields = {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
              "imbalance": ("imbalance", "--imbalance")}
    fn = with_run_data(evaluate_checkpoint, "checkpoint", fields, defaults={"dataset": "digits-lt"})
    run(ctx, fn, opts, checkpoint=checkpoint, dataset=dataset, data_root=data_root, download=download,
        imbalance=imbalance, device=opts["device"], batch_size=batch_size, shot_convention=shots.value,
        shot_many=many, shot_few=few, split=split)


# Methods in their own modules add their commands here: each module defines register(app).
for _module in ("cli.train_lcreg", "cli.train_mdl", "cli.train_video", "cli.train_muse"):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _e:
        if _e.name != _module:
            raise
