"""Engine units: registry, device, checkpoints, seeds, reports, schedules, metrics."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.engine.checkpoint import load_checkpoint, save_checkpoint, strip_prefixes
from toolkit.engine.device import resolve_device
from toolkit.engine.errors import CheckpointError, DeviceError, LtError
from toolkit.engine.loop import LrSchedule, TrainConfig
from toolkit.engine.metrics import longtail_metrics, per_class_accuracy, topk_accuracy
from toolkit.engine.registry import Registry
from toolkit.engine.report import Report, render
from toolkit.engine.seed import rng_state, seed_everything, set_rng_state


def test_registry_unknown_name_lists_valid_and_close_matches():
    reg = Registry("thing")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    assert reg.get("beta") == 2 and reg.names() == ["alpha", "beta"]
    with pytest.raises(LtError, match=r"unknown thing 'alpah'; did you mean: alpha\? valid: alpha, beta"):
        reg.get("alpah")
    with pytest.raises(ValueError):
        reg.register("alpha", 3)


def test_registry_lazy_resolves_on_first_use():
    reg = Registry("thing")
    reg.register_lazy("sqrt", "math:sqrt")
    assert reg.get("sqrt") is math.sqrt


def test_device_selection():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    with pytest.raises(LtError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(DeviceError):
        resolve_device("cuda:1")


def test_checkpoint_roundtrip_is_atomic_and_strips_prefixes(tmp_path):
    sd = {"module._orig_mod.w": torch.arange(3.0)}
    path = save_checkpoint(tmp_path / "c.pt", {"arch": "x", "model_args": {}, "state_dict": sd, "epoch": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    ck = load_checkpoint(path)
    assert list(ck["state_dict"]) == ["w"] and ck["format_version"] == 1 and ck["epoch"] == 1
    assert strip_prefixes({"module.a": 1, "_orig_mod.module.b": 2}) == {"a": 1, "b": 2}


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_that_pickles_code_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "state_dict": {}, "payload": _Evil()}, p)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(p)


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_corrupt_missing_or_foreign_checkpoints(tmp_path, content):
    p = tmp_path / "bad.pt"
    if content is None:
        torch.save({"weights": torch.zeros(1)}, p)  # a torch file, but not an lt checkpoint
    else:
        p.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_roundtrip():
    seed_everything(3)
    state = rng_state()
    a = (torch.rand(3), np.random.rand(2), __import__("random").random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(2), __import__("random").random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_report_formats():
    rep = Report("t", rows=[{"a": 1, "b": 0.5}, {"a": 2, "b": float("nan")}], summary={"n": 2})
    d = json.loads(render(rep, "json"))
    assert d["rows"][1]["b"] is None and d["n"] == 2
    lines = [json.loads(x) for x in render(rep, "jsonl").splitlines()]
    assert lines == [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]  # rows only; the summary is in json
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    assert rows[0]["a"] == "1" and rows[1]["b"] == ""
    assert "t" in render(rep, "table")
    with pytest.raises(LtError):
        render(rep, "yaml")


def test_schedule_warmup_cosine_multistep():
    cfg = TrainConfig(epochs=10, warmup_epochs=2, scheduler="cosine")
    s = LrSchedule(cfg, steps_per_epoch=5)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0) and s(50) == pytest.approx(0.0, abs=1e-12)
    m = LrSchedule(TrainConfig(epochs=200, scheduler="multistep", milestones=(160, 180), lr_factors=(0.01, 1e-4),
                               warmup_epochs=5), 1)
    assert m(0) == pytest.approx(0.2) and m(100) == 1.0 and m(160) == 0.01 and m(199) == 1e-4
    assert LrSchedule(TrainConfig(epochs=3, scheduler="multistep", milestones=(1, 2)), 1)(2) == pytest.approx(0.01)


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -0.1), ("batch_size", 0), ("weight_decay", -1.0),
                                         ("optimizer", "lbfgs"), ("scheduler", "poly")])
def test_train_config_rejects_bad_values(field, value):
    with pytest.raises(LtError):
        TrainConfig(**{field: value}).validate()


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 12), st.integers(1, 60), st.integers(0, 10_000))
def test_metrics_match_sklearn(num_classes, n, seed):
    from sklearn.metrics import recall_score, top_k_accuracy_score

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=g)
    y = torch.randint(0, num_classes, (n,), generator=g)
    labels = list(range(num_classes))
    assert topk_accuracy(logits, y, 1) == pytest.approx(top_k_accuracy_score(y, logits, k=1, labels=labels))
    if num_classes > 2:
        assert topk_accuracy(logits, y, 2) == pytest.approx(top_k_accuracy_score(y, logits, k=2, labels=labels))
    pc = per_class_accuracy(logits, y)
    present = sorted(set(y.tolist()))
    ref = recall_score(y, logits.argmax(1), labels=present, average=None, zero_division=0)
    assert [pc[c] for c in present] == pytest.approx(list(ref))


def test_longtail_metrics_group_means():
    counts = [200, 50, 5]
    logits = torch.eye(3)[[0, 0, 1, 1, 2, 0]]
    y = torch.tensor([0, 0, 1, 0, 2, 2])
    m = longtail_metrics(counts)(logits, y)
    assert m["many"] == pytest.approx(2 / 3) and m["medium"] == 1.0 and m["few"] == 0.5
    assert m["shot_groups"] == {"many": 1, "medium": 1, "few": 1}


def test_label_metrics_with_an_absent_class():
    """Class 2 never occurs in the targets: its recall is NaN and it is left out of UAR and the AUC mean,
    while macro-F1 still averages over all 3 classes (0 for class 2)."""
    from sklearn.metrics import roc_auc_score

    from toolkit.engine.metrics import confusion, macro_f1, ovr_auc, per_class_recall, uar

    y = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 2, 1, 1, 0])
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.3, .2, .5], [.2, .7, .1], [.1, .8, .1], [.5, .4, .1]])
    rec = per_class_recall(y, pred, 3)
    assert rec[:2].tolist() == pytest.approx([2 / 3, 2 / 3]) and np.isnan(rec[2])
    assert uar(y, pred) == pytest.approx(2 / 3)
    assert macro_f1(y, pred, 3) == pytest.approx((2 * 2 / (3 + 3) + 2 * 2 / (3 + 2) + 0) / 3)
    assert confusion(y, pred, 3).tolist() == [[2, 0, 1], [1, 2, 0], [0, 0, 0]]
    both = [roc_auc_score(y == c, probs[:, c]) for c in (0, 1)]
    assert ovr_auc(probs, y) == pytest.approx(np.mean(both))
    assert np.isnan(uar([], [])) and np.isnan(macro_f1([], [], 3)) and confusion([], [], 2).sum() == 0
