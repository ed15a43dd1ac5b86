"""Exact resume after Ctrl-C at the engine level (every command's resume and torchrun runs are in
tests/test_every_trainer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.data import get_dataset
from toolkit.engine.checkpoint import load_checkpoint
from toolkit.engine.loop import Interrupted, Objective, TrainConfig, fit
from toolkit.engine.seed import seed_everything
from toolkit.models import get_model

CFG = dict(epochs=2, batch_size=64, lr=0.05, warmup_epochs=1, deterministic=True, seed=5)


class _StopAt(Objective):
    """Plain CE that raises KeyboardInterrupt when epoch ``stop`` starts (a simulated Ctrl-C)."""

    def __init__(self, stop: int):
        self.stop = stop

    def on_epoch_start(self, epoch, model):
        if epoch == self.stop:
            raise KeyboardInterrupt


def _train(out: Path, objective: Objective | None = None, resume: Path | None = None):
    seed_everything(5, deterministic=True)
    bundle = get_dataset("digits-lt")
    model = get_model("smallcnn", 10, dropout=0.3)  # dropout: the global RNG matters too
    fit(model, bundle.train, bundle.val, cfg=TrainConfig(**CFG), device=torch.device("cpu"),
        objective=objective, out_dir=out, resume=resume)
    return model


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    straight = _train(tmp_path / "a")
    with pytest.raises(Interrupted, match="resumable checkpoint"):
        _train(tmp_path / "b", objective=_StopAt(1))
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    resumed = _train(tmp_path / "b", resume=tmp_path / "b")
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    a_csv = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    b_csv = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]  # drop the timing column
    assert strip(a_csv) == strip(b_csv)
