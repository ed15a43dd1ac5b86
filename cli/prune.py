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

from .common import (DataRootOpt, DeviceOpt, DownloadOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt,
                     parse_fraction, resolve, run, split_list)

DEFAULT_COMMAND = "run"


class DefaultGroup(TyperGroup):
    """A group whose first token, when it is not a subcommand name (or help), goes to ``run``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=DefaultGroup, no_args_is_help=True,
                  help="Layer-adaptive pruning. `lt prune --ratio 0.7 MODEL` runs `lt prune run`.")


class Method(str, Enum):
    rd = "rd"
    lamp = "lamp"
    global_ = "global"
    uniform = "uniform"
    uniform_plus = "uniform-plus"
    erk = "erk"


ModelArg = Annotated[str, typer.Argument(help="torchvision/lt model name (random init unless --weights), "
                                              "checkpoint file or run dir.")]
WeightsOpt = Annotated[Optional[str], typer.Option("--weights", help="torchvision weights name or file (name MODELs).")]
CalibOpt = Annotated[Optional[str], typer.Option("--calib-data", help="Dataset name (e.g. digits), or noise (zero-data). "
                                                 "Default: a run dir's own dataset, else noise.")]
CalibSizeOpt = Annotated[int, typer.Option("--calib-size", help="Calibration images.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Calibration (and fine-tuning) batch size.")]
InputSizeOpt = Annotated[Optional[int], typer.Option("--input-size", help="Noise image side (default: the model's; 32 lt nets, 224 torchvision).")]
GridOpt = Annotated[int, typer.Option("--grid", help="Grid steps per layer K (K+1 points a_k = k/K).")]
WorstOpt = Annotated[bool, typer.Option("--worst-case/--no-worst-case", help="Distortion: max over images instead of mean.")]
FastOpt = Annotated[bool, typer.Option("--fast/--no-fast", help="fx-split curve measurement (same numbers) or the plain loop.")]
CacheOpt = Annotated[str, typer.Option("--cache-dir", help="Curves cache directory ($LT_CACHE_DIR: ~/.cache/lt when unset).")]


# For a run dir MODEL, flags not given default to what the run recorded (toolkit.engine.runs).
RUN_FIELDS = {"calib_data": ("dataset", "--calib-data"), "data_root": ("data_root", "--data-root"),
              "input_size": ("input_size", "--input-size")}


@app.command(DEFAULT_COMMAND)
def run_cmd(ctx: typer.Context, model: ModelArg,
            ratio: Annotated[str, typer.Option("--ratio", help="Target fraction of zero weights, in (0, 1).")],
            method: Annotated[Method, typer.Option("--method", help="Layer allocation.")] = Method.rd,
            weights: WeightsOpt = None, calib_data: CalibOpt = None, calib_size: CalibSizeOpt = 256,
            batch_size: BatchOpt = 64, input_size: InputSizeOpt = None, grid: GridOpt = 100,
            worst_case: WorstOpt = False,
            iterations: Annotated[int, typer.Option("--iterations", help="Prune steps (1 = one-shot).")] = 1,
            finetune_epochs: Annotated[Optional[int], typer.Option("--finetune-epochs", help="Epochs after each step (default 1 if --iterations > 1, else 0).")] = None,
            finetune_lr: Annotated[float, typer.Option("--finetune-lr", help="SGD lr for fine-tuning (cosine).")] = 0.01,
            buckets: Annotated[int, typer.Option("--buckets", help="DP budget buckets (exact at >= survivors).")] = 10_000,
            fast: FastOpt = True, cache_dir: CacheOpt = "$LT_CACHE_DIR/prune", out: OutOpt = None, force: ForceOpt = False,
            data_root: DataRootOpt = None, download: DownloadOpt = False, device: DeviceOpt = None,
            seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Prune MODEL to --ratio zeros; writes the pruned checkpoint, masks, curves and plots to --out.

    For a run dir MODEL, --calib-data and --data-root default to the run's (its config.json), said on stderr.
    """
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.run import prune_model

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, with_run_data(prune_model, "model", RUN_FIELDS), opts, model=model,
        ratio=parse_fraction(ratio, "--ratio"), method=method.value, weights=weights, calib_data=calib_data,
        calib_size=calib_size, batch_size=batch_size, input_size=input_size, grid=grid, worst_case=worst_case, iterations=iterations,
        finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, buckets=buckets, fast=fast, cache_dir=cache_dir,
        out=out, force=force, data_root=data_root, download=download, device=opts["device"], seed=opts["seed"])


@app.command("curves")
def curves_cmd(ctx: typer.Context, model: ModelArg, weights: WeightsOpt = None, calib_data: CalibOpt = None,
               calib_size: CalibSizeOpt = 256, batch_size: BatchOpt = 64, input_size: InputSizeOpt = None,
               grid: GridOpt = 100, worst_case: WorstOpt = False, fast: FastOpt = True,
               cache_dir: CacheOpt = "$LT_CACHE_DIR/prune", out: OutOpt = None, force: ForceOpt = False,
               data_root: DataRootOpt = None, download: DownloadOpt = False, device: DeviceOpt = None,
               seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Measure (or re-use) and cache the rate-distortion curves of MODEL."""
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.analysis import curves_report

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, with_run_data(curves_report, "model", RUN_FIELDS), opts, model=model, weights=weights,
        calib_data=calib_data, calib_size=calib_size, batch_size=batch_size, input_size=input_size, grid=grid, worst_case=worst_case,
        fast=fast, cache_dir=cache_dir, out=out, force=force, data_root=data_root, download=download,
        device=opts["device"], seed=opts["seed"])


@app.command("additivity")
def additivity_cmd(ctx: typer.Context, model: ModelArg,
                   sparsities: Annotated[str, typer.Option("--sparsities", help="Comma list of per-layer sparsities.")] = "0.2,0.5,0.8",
                   pairs: Annotated[int, typer.Option("--pairs", help="Random layer pairs (seeded).")] = 30,
                   weights: WeightsOpt = None, calib_data: CalibOpt = None, calib_size: CalibSizeOpt = 256,
                   batch_size: BatchOpt = 64, input_size: InputSizeOpt = None, worst_case: WorstOpt = False,
                   data_root: DataRootOpt = None, download: DownloadOpt = False, device: DeviceOpt = None,
                   seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Measure the additivity ratio joint / (d_i + d_j) over layer pairs."""
    from toolkit.engine.runs import with_run_data
    from toolkit.prune.analysis import additivity_report

    opts = resolve(ctx, device, seed, fmt, quiet)
    values = [parse_fraction(s, "--sparsities") for s in split_list(sparsities)]
    run(ctx, with_run_data(additivity_report, "model", RUN_FIELDS), opts, model=model, sparsities=values,
        pairs=pairs, weights=weights, calib_data=calib_data, calib_size=calib_size, batch_size=batch_size,
        input_size=input_size, worst_case=worst_case, data_root=data_root, download=download, device=opts["device"],
        seed=opts["seed"])
