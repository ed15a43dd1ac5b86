"""``lt train muse``: MuSe 2022 humor / reaction / stress (lstm, gru-sa, temma); registered into ``lt train``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import DataRootOpt, DeviceOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt, resolve, run, split_list


def muse(ctx: typer.Context,
         task: Annotated[str, typer.Option("--task", help="humor|reaction|stress.")] = "humor",
         dataset: Annotated[str, typer.Option("--dataset", help="muse (official layout under --data-root) or synthetic-muse (generated into --data-root or the cache).")] = "muse",
         features: Annotated[Optional[str], typer.Option("--features", help="Comma-separated feature folders, fused early (default per task, e.g. egemaps,vggface2,bert-4-sentence-level).")] = None,
         model: Annotated[str, typer.Option("--model", help="lstm (official baseline) | gru-sa | temma.")] = "gru-sa",
         loss: Annotated[Optional[str], typer.Option("--loss", help="humor: bce|focal; reaction: mse; stress: ccc (default: the task's first).")] = None,
         epochs: Annotated[int, typer.Option("--epochs")] = 30,
         batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
         lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
         weight_decay: Annotated[float, typer.Option("--weight-decay")] = 0.0,
         seeds: Annotated[int, typer.Option("--seeds", help="Train this many seeds (from --seed); the best on devel is kept.")] = 1,
         d_model: Annotated[Optional[int], typer.Option("--d-model", help="Model width (default: lstm/gru-sa 64, temma 128).")] = None,
         layers: Annotated[Optional[int], typer.Option("--layers", help="RNN layers (lstm 2, gru-sa 1) or TEMMA blocks (4).")] = None,
         win_len: Annotated[int, typer.Option("--win-len", help="Stress training window (steps).")] = 200,
         hop_len: Annotated[int, typer.Option("--hop-len", help="Stress training hop (steps).")] = 100,
         targets: Annotated[Optional[str], typer.Option("--targets", help="Stress only: per-dim (one model per dimension, the baseline's; default) | joint (one model, arousal and valence outputs).")] = None,
         noise: Annotated[float, typer.Option("--noise", help="Std of Gaussian feature noise on train sequences (0 = off).")] = 0.0,
         time_mask: Annotated[float, typer.Option("--time-mask", help="Zero one random span of up to this fraction of each train sequence (0 = off).")] = 0.0,
         balanced: Annotated[bool, typer.Option("--balanced/--no-balanced", help="Class-balanced sampling (humor).")] = False,
         resplit_seed: Annotated[Optional[int], typer.Option("--resplit-seed", help="Redraw train/devel by subject with this seed (default: official partition).")] = None,
         devel_fraction: Annotated[float, typer.Option("--devel-fraction", help="Devel share of subjects on --resplit-seed.")] = 0.2,
         predict: Annotated[bool, typer.Option("--predict/--no-predict", help="Write test predictions in the submission CSV shape.")] = False,
         late_fusion: Annotated[Optional[str], typer.Option("--late-fusion", help="RUN,RUN,...: fuse these runs' predictions instead of training.")] = None,
         fusion: Annotated[str, typer.Option("--fusion", help="mean|learned (logistic/linear regression fitted on devel).")] = "mean",
         data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False, device: DeviceOpt = None,
         seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Train a MuSe 2022 model and print the challenge metric (protocol named), or late-fuse runs.

    Example: lt train muse --task humor --dataset synthetic-muse --model gru-sa --seeds 3 --out runs/humor
    """
    from toolkit.muse.train import train_muse

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_muse, opts, task=task, dataset=dataset, data_root=data_root, features=split_list(features) or None,
        model=model, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seeds=seeds,
        seed=opts["seed"], d_model=d_model, layers=layers, win_len=win_len, hop_len=hop_len, noise=noise,
        time_mask=time_mask, balanced=balanced, resplit_seed=resplit_seed, devel_fraction=devel_fraction, predict=predict,
        late=split_list(late_fusion) or None, fusion=fusion, out=out, force=force, device=opts["device"], targets=targets)


def register(app: typer.Typer) -> None:
    """Add ``muse`` to the ``lt train`` group."""
    app.command("muse")(muse)
