"""``lt prune``: layer-adaptive weight pruning (rate-distortion DP; LAMP/global/uniform/ERK baselines).

    lt prune --ratio 0.7 resnet50                 # default command (same as: lt prune run ...)
    lt prune curves MODEL                         # measure and cache the curves only
    lt prune additivity MODEL                     # joint / (d_i + d_j) over layer pairs
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeviceOpt,
    DownloadOpt,
    ForceOpt,
    FormatOpt,
    LtTyper,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    SeedOpt,
    opt,
    parse_fraction,
    refuse_unused,
    resolve,
    run,
    split_list,
)

DEFAULT_COMMAND = "run"


class DefaultGroup(TyperGroup):
    """A group whose first token, when it is not a subcommand name (or help), goes to ``run``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = LtTyper(cls=DefaultGroup, no_args_is_help=True,
              help="Layer-adaptive pruning. `lt prune --ratio 0.7 MODEL` runs `lt prune run`.")


class Method(str, Enum):
    rd = "rd"
    lamp = "lamp"
    global_ = "global"
    uniform = "uniform"
    uniform_plus = "uniform-plus"
    erk = "erk"


# Options of the prune commands; each declared once here (vocabulary flags through cli.common.opt).
ModelArg = Annotated[str, typer.Argument(help="Model to prune: an architecture name (see `lt models`; random init "
                                              "unless --weights), a checkpoint file or a run dir.")]
WeightsOpt = Annotated[Optional[str], opt("--weights", "For a MODEL name only (a checkpoint or run dir carries its "
                                                       "own). Default: random init.")]
DatasetOpt = Annotated[Optional[str], opt("--dataset", "Here: the calibration data (a seeded subset of its training "
                                                       "split, test-time transforms; its test split gives top-1), or "
                                                       "noise: N(0,1) images, no data. Default: a run dir MODEL's own "
                                                       "dataset, else noise.")]
CalibSizeOpt = Annotated[int, typer.Option("--calib-size", help="Calibration images.")]
BatchOpt = Annotated[int, opt("--batch-size", "Here: calibration and fine-tuning batch.")]
ImageSizeOpt = Annotated[Optional[int], opt("--image-size", "Here: of the noise images (default: the model's; 32 lt "
                                                            "nets, 224 torchvision, 299 Inception). A dataset fixes "
                                                            "its own.")]
GridOpt = Annotated[int, typer.Option("--grid", help="Grid steps per layer K (K+1 points a_k = k/K); at least 2.")]
WorstOpt = Annotated[bool, typer.Option("--worst-case/--no-worst-case",
                                        help="Distortion: max over images instead of mean.")]
FxSplitOpt = Annotated[bool, typer.Option("--fx-split/--no-fx-split", help="Measure curves on the torch.fx-split "
                                                                          "network (faster, same numbers) or with "
                                                                          "the plain loop.")]
CacheOpt = Annotated[str, opt("--cache-dir", "Here: the curves cache.")]
CurvesOutOpt = Annotated[Optional[str], opt("--out", "lt prune curves writes one only when given (the curves go to "
                                                     "the cache either way).")]
CACHE_DEFAULT = "$LT_CACHE_DIR/prune"

# For a run dir MODEL, flags not given default to what the run recorded (toolkit.engine.runs).
RUN_FIELDS = {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
              "image_size": ("image_size", "--image-size")}


@app.command(DEFAULT_COMMAND)
def run_cmd(ctx: typer.Context, model: ModelArg,
            ratio: Annotated[str, typer.Option("--ratio", help="Target fraction of zero weights, in (0, 1) (a "
                                                               "fraction such as 16/25 is accepted).")],
            method: Annotated[Method, typer.Option("--method", help="Layer allocation.")] = Method.rd,
            weights: WeightsOpt = None, dataset: DatasetOpt = None, calib_size: CalibSizeOpt = 256,
            batch_size: BatchOpt = 64, image_size: ImageSizeOpt = None, grid: GridOpt = 100,
            worst_case: WorstOpt = False,
            iterations: Annotated[int, typer.Option("--iterations", help="Prune steps (1 = one-shot).")] = 1,
            finetune_epochs: Annotated[Optional[int], typer.Option(
                "--finetune-epochs", help="Epochs after each step (default 1 if --iterations > 1, else 0).")] = None,
            finetune_lr: Annotated[float, typer.Option("--finetune-lr",
                                                       help="SGD lr for fine-tuning (cosine).")] = 0.01,
            buckets: Annotated[int, typer.Option("--buckets",
                                                 help="DP budget buckets (exact at >= survivors).")] = 10_000,
            allow_empty: Annotated[bool, typer.Option(
                "--allow-empty/--no-allow-empty", help="Let the DP prune a whole layer (the paper: never).")] = False,
            fx_split: FxSplitOpt = True, cache_dir: CacheOpt = CACHE_DEFAULT, out: OutOpt = None,
            force: ForceOpt = False, data_root: DataRootOpt = None, download: DownloadOpt = False,
            config: ConfigOpt = None, print_config: PrintConfigOpt = False, device: DeviceOpt = None,
            seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Prune MODEL to --ratio zeros; writes the pruned checkpoint, masks, curves and plots to --out.

    For a run dir MODEL, --dataset, --data-root and --image-size default to the run's (its config.json;
    a pruned run's own MODEL run when it was calibrated on noise), said on stderr.

    Example: lt prune --ratio 0.5 runs/bs --calib-size 256 --out runs/p50
    """
    if finetune_epochs == 0 or (finetune_epochs is None and iterations == 1):  # no fine-tuning
        refuse_unused(ctx, {"finetune_lr": "--finetune-lr"},
                      "without fine-tuning (give --finetune-epochs > 0, or --iterations > 1)")
    if method != Method.rd:  # only rd measures curves and runs the DP
        refuse_unused(ctx, {"grid": "--grid", "buckets": "--buckets", "allow_empty": "--allow-empty",
                            "fx_split": "--fx-split", "cache_dir": "--cache-dir"},
                      f"with --method {method.value} (they shape rd's curves and DP)")
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.run import prune_model

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, with_run_data(prune_model, "model", RUN_FIELDS), opts, model=model,
        ratio=parse_fraction(ratio, "--ratio"), method=method.value, weights=weights, dataset=dataset,
        calib_size=calib_size, batch_size=batch_size, image_size=image_size, grid=grid, worst_case=worst_case,
        iterations=iterations, finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, buckets=buckets,
        allow_empty=allow_empty, fx_split=fx_split, cache_dir=cache_dir, out=out, force=force, data_root=data_root,
        download=download, device=opts["device"], seed=opts["seed"])


@app.command("curves")
def curves_cmd(ctx: typer.Context, model: ModelArg, weights: WeightsOpt = None, dataset: DatasetOpt = None,
               calib_size: CalibSizeOpt = 256, batch_size: BatchOpt = 64, image_size: ImageSizeOpt = None,
               grid: GridOpt = 100, worst_case: WorstOpt = False, fx_split: FxSplitOpt = True,
               cache_dir: CacheOpt = CACHE_DEFAULT, out: CurvesOutOpt = None, force: ForceOpt = False,
               data_root: DataRootOpt = None, download: DownloadOpt = False, config: ConfigOpt = None,
               print_config: PrintConfigOpt = False, device: DeviceOpt = None, seed: SeedOpt = None,
               fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Measure (or re-use) and cache the rate-distortion curves of MODEL.

    Example: lt prune curves runs/bs --grid 50 --out runs/bs-curves
    """
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.analysis import curves_report

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, with_run_data(curves_report, "model", RUN_FIELDS), opts, model=model, weights=weights,
        dataset=dataset, calib_size=calib_size, batch_size=batch_size, image_size=image_size, grid=grid,
        worst_case=worst_case, fx_split=fx_split, cache_dir=cache_dir, out=out, force=force, data_root=data_root,
        download=download, device=opts["device"], seed=opts["seed"])


@app.command("additivity")
def additivity_cmd(ctx: typer.Context, model: ModelArg,
                   sparsities: Annotated[str, typer.Option(
                       "--sparsities", help="Comma list of per-layer sparsities.")] = "0.2,0.5,0.8",
                   pairs: Annotated[int, typer.Option("--pairs", help="Random layer pairs (seeded).")] = 30,
                   weights: WeightsOpt = None, dataset: DatasetOpt = None, calib_size: CalibSizeOpt = 256,
                   batch_size: BatchOpt = 64, image_size: ImageSizeOpt = None, worst_case: WorstOpt = False,
                   data_root: DataRootOpt = None, download: DownloadOpt = False, device: DeviceOpt = None,
                   seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Measure the additivity ratio joint / (d_i + d_j) over layer pairs (writes no files).

    Example: lt prune additivity runs/bs --sparsities 0.2,0.5,0.8 --pairs 30
    """
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.analysis import additivity_report

    opts = resolve(ctx, device, seed, fmt, quiet)
    values = [parse_fraction(s, "--sparsities") for s in split_list(sparsities)]
    run(ctx, with_run_data(additivity_report, "model", RUN_FIELDS), opts, model=model, sparsities=values,
        pairs=pairs, weights=weights, dataset=dataset, calib_size=calib_size, batch_size=batch_size,
        image_size=image_size, worst_case=worst_case, data_root=data_root, download=download,
        device=opts["device"], seed=opts["seed"])
