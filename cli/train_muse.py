"""``lt train muse``: MuSe 2022 humor / reaction / stress (lstm, gru-sa, temma); registered into ``lt train``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeterministicOpt,
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    opt,
    refuse_unused,
    resolve,
    run,
    split_list,
)

# What a --late-fusion run does not use: it fuses trained runs' saved predictions, it trains nothing.
TRAINING_FLAGS = {"dataset": "--dataset", "data_root": "--data-root", "features": "--features", "model": "--model",
                  "loss": "--loss", "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
                  "weight_decay": "--weight-decay", "seeds": "--seeds", "d_model": "--d-model", "layers": "--layers",
                  "win_length": "--win-length", "hop_length": "--hop-length", "targets": "--targets",
                  "noise": "--noise", "time_mask": "--time-mask", "balanced": "--balanced",
                  "resplit_seed": "--resplit-seed", "devel_fraction": "--devel-fraction", "predict": "--predict"}


def _refuse_ignored(ctx: typer.Context, task: str, resplit_seed: Optional[int], late_fusion: Optional[str]) -> None:
    """A flag typed where this run would not use it is one ``Error:`` line (see :func:`refuse_unused`)."""
    if late_fusion:
        refuse_unused(ctx, TRAINING_FLAGS, "with --late-fusion (it fuses the runs' saved predictions)")
        return
    refuse_unused(ctx, {"fusion": "--fusion"}, "without --late-fusion")
    if task != "stress":
        refuse_unused(ctx, {"win_length": "--win-length", "hop_length": "--hop-length"},
                      f"with --task {task} (windows cut stress training sequences only)")
    if resplit_seed is None:
        refuse_unused(ctx, {"devel_fraction": "--devel-fraction"}, "without --resplit-seed (the official "
                                                                    "partition has its own devel)")


# Flags only lt train muse takes (declared once, here).
WinLengthOpt = Annotated[int, typer.Option("--win-length", help="Stress training window, in label steps "
                                                                "(500 ms; 200 is the baseline's).")]


def muse(ctx: typer.Context,
         task: Annotated[str, typer.Option("--task", help="humor|reaction|stress.")] = "humor",
         dataset: Annotated[str, opt("--dataset", "muse (official layout under --data-root) or synthetic-muse "
                                                  "(generated into --data-root or the cache).")] = "muse",
         features: Annotated[Optional[str], opt("--features", "Comma-separated feature folders, fused early (default "
                                                              "per task: humor egemaps,vggface2,bert-4-sentence-level; "
                                                              "reaction eGeMAPS,VGGFace2,FAUs; "
                                                              "stress egemaps,vggface2,bert-4).")] = None,
         model: Annotated[str, opt("--model", "lstm (official baseline) | gru-sa | temma.")] = "gru-sa",
         loss: Annotated[Optional[str], opt("--loss", "humor: bce|focal; reaction: mse; stress: "
                                                      "ccc (default: the task's first).")] = None,
         epochs: Annotated[int, opt("--epochs")] = 30,
         batch_size: Annotated[int, opt("--batch-size")] = 64,
         lr: Annotated[float, opt("--lr", "Adam, cosine schedule.")] = 1e-3,
         weight_decay: Annotated[float, opt("--weight-decay")] = 0.0,
         seeds: Annotated[int, typer.Option("--seeds", help="Train this many seeds (from --seed); "
                                                            "the best on devel is kept.")] = 1,
         d_model: Annotated[Optional[int], typer.Option("--d-model", help="Model width (default: lstm/gru-sa "
                                                                          "64, temma 128).")] = None,
         layers: Annotated[Optional[int], typer.Option("--layers", help="RNN layers (default lstm 2, gru-sa 1) "
                                                                        "or TEMMA blocks (default 4).")] = None,
         win_length: WinLengthOpt = 200,
         hop_length: Annotated[int, opt("--hop-length", "Stress training windows: label steps between "
                                                        "window starts (100 is the baseline's).")] = 100,
         targets: Annotated[Optional[str], typer.Option(
             "--targets", help="Stress only: per-dim (one model per dimension, the baseline's; "
                               "default) | joint (one model, arousal and valence outputs).")] = None,
         noise: Annotated[float, typer.Option("--noise", help="Std of Gaussian feature noise on "
                                                              "train sequences (0 = off).")] = 0.0,
         time_mask: Annotated[float, typer.Option("--time-mask", help="Zero one random span of up to this fraction "
                                                                      "of each train sequence (0 = off).")] = 0.0,
         balanced: Annotated[bool, opt("--balanced", "Humor only; not under torchrun.")] = False,
         resplit_seed: Annotated[Optional[int], typer.Option(
             "--resplit-seed", help="Redraw train/devel by subject with this "
                                    "seed (default: official partition).")] = None,
         devel_fraction: Annotated[float, typer.Option("--devel-fraction", help="Devel share of subjects "
                                                                                "on --resplit-seed.")] = 0.2,
         predict: Annotated[bool, typer.Option("--predict/--no-predict", help="Write test predictions in the "
                                                                              "submission CSV shape.")] = False,
         late_fusion: Annotated[Optional[str], typer.Option(
             "--late-fusion", help="RUN,RUN,...: fuse these runs' predictions instead of training.")] = None,
         fusion: Annotated[str, typer.Option("--fusion", help="mean|learned (logistic/linear "
                                                              "regression fitted on devel).")] = "mean",
         data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False, resume: ResumeOpt = False,
         deterministic: DeterministicOpt = False, config: ConfigOpt = None, print_config: PrintConfigOpt = False,
         device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Train a MuSe 2022 model and print the challenge metric (protocol named), or late-fuse runs.

    Each seed is a sub-run in OUT/seed<k> (stress per-dim: OUT/seed<k>/<dim>); --resume continues the interrupted one and re-uses the finished ones.

    Example: lt train muse --task humor --dataset synthetic-muse --model gru-sa --seeds 3 --out runs/humor
    """  # noqa: E501 (help text: Typer keeps a docstring's line breaks, wrapping would change --help)
    _refuse_ignored(ctx, task, resplit_seed, late_fusion)
    from toolkit.muse.train import train_muse

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_muse, opts, task=task, dataset=dataset, data_root=data_root, features=split_list(features) or None,
        model=model, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seeds=seeds,
        seed=opts["seed"], d_model=d_model, layers=layers, win_length=win_length, hop_length=hop_length, noise=noise,
        time_mask=time_mask, balanced=balanced, resplit_seed=resplit_seed, devel_fraction=devel_fraction,
        predict=predict, late_fusion=split_list(late_fusion) or None, fusion=fusion, targets=targets, out=out,
        force=force, resume=resume, device=opts["device"], deterministic=deterministic)


def register(app: typer.Typer) -> None:
    """Add ``muse`` to the ``lt train`` group."""
    app.command("muse")(muse)
