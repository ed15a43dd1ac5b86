"""Sequence models (lstm, gru-sa, temma): any length, masks respected, registry round trip."""

from __future__ import annotations

import pytest
import torch

from toolkit.engine.errors import LtError
from toolkit.models import get_model, list_models
from toolkit.models.sequence import SEQUENCE_MODELS, build_sequence_model


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
@pytest.mark.parametrize("n_to_1", [True, False])
@pytest.mark.parametrize("t_max", [1, 5, 23])
def test_any_length_and_padding_never_leaks(name, n_to_1, t_max):
    torch.manual_seed(0)
    m = build_sequence_model(name, [3, 2, 4], 2, n_to_1, d_model=8, layers=1).eval()
    lengths = torch.tensor([t_max, max(1, t_max // 2), 1])
    x = torch.randn(3, t_max, 9)
    mask = torch.arange(t_max)[None] < lengths[:, None]
    x_noisy = torch.where(mask[..., None], x, torch.randn_like(x) * 100)  # garbage in the padding
    with torch.no_grad():
        y = m(x_noisy, mask)
        assert y.shape == ((3, 2) if n_to_1 else (3, t_max, 2))
        for i, n in enumerate(lengths.tolist()):
            alone = m(x[i:i + 1, :n], None)[0]
            got = y[i] if n_to_1 else y[i, :n]
            torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_trains_one_step_and_registry_builds_it(name):
    assert name in list_models(include_torchvision=False)
    m = build_sequence_model(name, [4], 1, True, d_model=8, layers=1)
    assert m.arch == name and m.model_args["input_dims"] == [4]
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    x, y = torch.randn(6, 7, 4), torch.randint(0, 2, (6, 1)).float()
    before = torch.nn.functional.binary_cross_entropy_with_logits(m(x), y)
    before.backward()
    opt.step()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    wrapped = get_model(name, num_classes=1, input_dims=[4], d_model=8, layers=1)  # pass-through normalisation
    assert wrapped.mean.numel() == 0 and wrapped(torch.randn(2, 5, 4)).shape == (2, 1)


def test_unknown_sequence_model_lists_valid():
    with pytest.raises(LtError, match="unknown sequence model 'gru'.*gru-sa"):
        build_sequence_model("gru", [2], 1, True)


def test_muse_options_name_the_tasks_and_models_the_code_has():
    """``toolkit/muse/options.py`` (torch-free) repeats the task and model names: they must stay equal."""
    from toolkit.data.muse_layout import DEFAULT_FEATURES, TASKS
    from toolkit.muse import options as mo
    from toolkit.muse.losses import LOSSES

    assert mo.TASKS == TASKS == tuple(DEFAULT_FEATURES) == tuple(mo.TASK_LOSSES) == tuple(mo.DEFAULT_LOSS)
    assert mo.MODELS == SEQUENCE_MODELS
    assert {n for names in mo.TASK_LOSSES.values() for n in names} == set(LOSSES.names())


def test_muse_options_import_no_torch():
    """The CLI imports the options class at startup: no torch (nor the data layer) behind it."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, toolkit.muse.options, cli.train_muse; "
            "print(sorted(m for m in ('torch', 'toolkit.data', 'toolkit.models') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[1])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
