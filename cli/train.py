"""``lt train``: long-tailed baselines (``ce``), evaluation (``eval``), and the methods that plug in
through ``cli/train_*.py`` modules (``lcreg``, ``mdl``, ``video``, ``muse``)."""

from __future__ import annotations

import importlib
from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeterministicOpt,
    DeviceOpt,
    DownloadOpt,
    ForceOpt,
    FormatOpt,
    LtTyper,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    fail,
    opt,
    resolve,
    run,
    split_list,
)

app = LtTyper(help="Train models.", no_args_is_help=True)


class Shots(str, Enum):
    decoupling = "decoupling"
    oltr = "oltr"


class Amp(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


def recipe_defaults(field: str) -> str:
    """``"Default: the recipe's (cifar-lt 200, imagenet-lt 90, ...)."`` for a recipe field (pure data, no torch)."""
    from toolkit.longtail.recipes import RECIPES

    def show(v):
        return ",".join(map(str, v)) if isinstance(v, tuple) else ("none" if v in (None, ()) else v)

    return "Default: the recipe's (" + ", ".join(f"{n} {show(getattr(r, field))}" for n, r in RECIPES.items()) + ")."


# Options shared by every long-tailed training command (ce, lcreg): recipe fields and run control.
RecipeOpt = Annotated[Optional[str], typer.Option(
    "--recipe", help="Training recipe: cifar-lt|imagenet-lt|places-lt|inat2018|digits-lt (default: the dataset's); "
                     "every field below overrides it.")]
ModelOpt = Annotated[Optional[str], opt("--model", recipe_defaults("model"))]
WeightsOpt = Annotated[Optional[str], opt("--weights", "Default: random init (places-lt needs weights).")]
EpochsOpt = Annotated[Optional[int], opt("--epochs", recipe_defaults("epochs"))]
BatchOpt = Annotated[Optional[int], opt("--batch-size", recipe_defaults("batch_size"))]
LrOpt = Annotated[Optional[float], opt("--lr", recipe_defaults("lr"))]
WdOpt = Annotated[Optional[float], opt("--weight-decay", recipe_defaults("weight_decay"))]
SchedOpt = Annotated[Optional[str], opt("--scheduler", recipe_defaults("scheduler"))]
WarmupOpt = Annotated[Optional[int], typer.Option(
    "--warmup-epochs", help="Linear warm-up epochs. " + recipe_defaults("warmup_epochs"))]
MilestonesOpt = Annotated[Optional[str], typer.Option(
    "--milestones", help="Multistep lr epochs, e.g. 160,180. " + recipe_defaults("milestones"))]
FactorsOpt = Annotated[Optional[str], typer.Option(
    "--lr-factors", help="lr multiplier from each milestone on, e.g. 0.01,0.0001. " + recipe_defaults("lr_factors"))]
MomentumOpt = Annotated[Optional[float], typer.Option(
    "--momentum", help="SGD momentum. " + recipe_defaults("momentum"))]
ImbalanceOpt = Annotated[Optional[float], typer.Option("--imbalance", help="Imbalance factor n_max/n_min of "
                                                                           "-LT sets (default: the dataset's).")]
SkipBadOpt = Annotated[bool, opt("--skip-bad")]
AmpOpt = Annotated[Amp, typer.Option("--amp", help="Mixed precision: auto = on CUDA only.")]
ClipOpt = Annotated[float, typer.Option("--grad-clip", help="Clip the gradient norm (0 = off).")]
WorkersOpt = Annotated[int, opt("--workers")]
ShotsOpt = Annotated[Shots, typer.Option("--shots", help="Shot groups: decoupling (many>100, "
                                                         "few<20) or oltr (>=100, <=20).")]
ManyOpt = Annotated[Optional[int], typer.Option("--many", help="Many-shot threshold. " + recipe_defaults("shot_many"))]
FewOpt = Annotated[Optional[int], typer.Option("--few", help="Few-shot threshold. " + recipe_defaults("shot_few"))]


def numbers(text: Optional[str], kind: type, flag: str) -> Optional[tuple]:
    """``"160,180"`` -> (160, 180); None stays None; a bad entry is one ``Error:`` line."""
    if text is None:
        return None
    try:
        return tuple(kind(v) for v in split_list(text))
    except ValueError:
        fail(f"{flag} must be a comma-separated list of numbers (got '{text}')")
        raise  # unreachable


def longtail_run(ctx: typer.Context, *, dataset: str, method: str, loss: str, recipe, model, weights, epochs,
                 batch_size, lr, weight_decay, scheduler, warmup_epochs, milestones, lr_factors, momentum, imbalance,
                 data_root, download, skip_bad, out, force, resume, deterministic, amp, grad_clip, workers, shots,
                 many, few, device, seed, fmt, quiet, loss_options: dict | None = None, own: tuple = (), **rest):
    """Collect the shared long-tail flags into a ``LongtailRun`` (imported lazily) and the output opts.

    A command passes ``**ctx.params``: ``config``/``print_config`` are read by the lifecycle from the
    context, and ``own`` names the method's own options, which the command passes on itself. Any other
    option would be parsed and then ignored: that is a programming error.
    """
    from toolkit.longtail.train import LongtailRun

    stray = set(rest) - {"config", "print_config", *own}
    if stray:
        raise TypeError(f"longtail_run: options not passed on: {', '.join(sorted(stray))}")

    opts = resolve(ctx, device, seed, fmt, quiet)
    overrides = {"model": model, "weights": weights, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                 "weight_decay": weight_decay, "scheduler": scheduler, "warmup_epochs": warmup_epochs,
                 "milestones": numbers(milestones, int, "--milestones"),
                 "lr_factors": numbers(lr_factors, float, "--lr-factors"), "momentum": momentum}
    spec = LongtailRun(dataset=dataset, method=method, loss=loss, recipe=recipe, overrides=overrides,
                       loss_options=loss_options or {}, data_root=data_root, download=download, imbalance=imbalance,
                       skip_bad=skip_bad, out=out, force=force, resume=resume, device=opts["device"],
                       seed=opts["seed"], deterministic=deterministic, amp=amp.value, grad_clip=grad_clip,
                       workers=workers, shot_convention=shots.value, shot_many=many, shot_few=few)
    return spec, opts


@app.command("ce")
def ce(ctx: typer.Context,
       dataset: Annotated[str, opt("--dataset", "digits-lt, cifar10-lt, cifar100-lt, imagenet-lt, "
                                                "places-lt, inat2018, ...")] = "digits-lt",
       loss: Annotated[str, opt("--loss", "ce|balanced-softmax|ldam-drw|isda.")] = "ce",
       recipe: RecipeOpt = None, model: ModelOpt = None, weights: WeightsOpt = None, epochs: EpochsOpt = None,
       batch_size: BatchOpt = None, lr: LrOpt = None, weight_decay: WdOpt = None, scheduler: SchedOpt = None,
       warmup_epochs: WarmupOpt = None, milestones: MilestonesOpt = None, lr_factors: FactorsOpt = None,
       momentum: MomentumOpt = None, imbalance: ImbalanceOpt = None, data_root: DataRootOpt = None,
       download: DownloadOpt = False, skip_bad: SkipBadOpt = False, out: OutOpt = None, force: ForceOpt = False,
       resume: ResumeOpt = False, deterministic: DeterministicOpt = False, amp: AmpOpt = Amp.auto,
       grad_clip: ClipOpt = 0.0, workers: WorkersOpt = 0, shots: ShotsOpt = Shots.decoupling, many: ManyOpt = None,
       few: FewOpt = None, config: ConfigOpt = None, print_config: PrintConfigOpt = False,
       device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Train a classifier with a long-tailed baseline loss; print overall/many/medium/few top-1.

    Example: lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
    """
    from toolkit.longtail.train import train_longtail

    spec, opts = longtail_run(ctx, method="ce", **ctx.params)
    run(ctx, train_longtail, opts, run=spec)


@app.command("eval")
def eval_(ctx: typer.Context,
          checkpoint: Annotated[str, typer.Argument(help="A checkpoint file or a run dir.")],
          dataset: Annotated[Optional[str], opt("--dataset", "Its test split is evaluated (default: the run's, "
                                                             "from its config.json; else digits-lt).")] = None,
          split: Annotated[str, typer.Option("--split", help="Partition to evaluate: test|val.")] = "test",
          imbalance: ImbalanceOpt = None, data_root: DataRootOpt = None, download: DownloadOpt = False,
          batch_size: Annotated[int, opt("--batch-size")] = 256, shots: ShotsOpt = Shots.decoupling,
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
