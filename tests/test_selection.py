"""No model selection on the test split unless asked by name (toolkit.data.selection, --select-on,
--val-fraction): the carved val split, the reports' selected_on, the warning, the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_data_fashion_mnist import small_labels, write_release

from toolkit.data.bundle import DataBundle, TensorImageDataset
from toolkit.data.selection import carve_val, selection_split, stratified_split
from toolkit.engine.errors import LtError


def test_stratified_split_is_per_class_seeded_and_disjoint():
    labels = np.repeat(np.arange(4), [100, 30, 5, 1])
    tr, va = stratified_split(labels, 0.1)
    assert np.bincount(labels[va], minlength=4).tolist() == [10, 3, 1, 0]  # >= 1 where n >= 2; a lone image stays
    assert sorted(tr + va) == list(range(len(labels))) and not set(tr) & set(va)
    assert stratified_split(labels, 0.1) == (tr, va)
    with pytest.raises(LtError, match="--val-fraction must be in"):
        stratified_split(labels, 1.0)


def _bundle() -> DataBundle:
    labels = [0] * 20 + [1] * 10
    images = torch.arange(30, dtype=torch.uint8).view(30, 1, 1, 1).expand(30, 3, 2, 2).contiguous()
    train = TensorImageDataset(images, labels, transform=lambda x: x * 0)
    return DataBundle(name="toy", train=train, test=TensorImageDataset(images[:4], labels[:4]), num_classes=2,
                      train_counts=[20, 10], input_shape=(3, 2, 2))


def test_carved_val_has_no_augmentation_and_counts_follow():
    b = carve_val(_bundle(), 0.2)
    assert b.train_counts == [16, 8] and len(b.val) == 6 and b.val.transform is None
    assert b.train.transform is not None and b.info["val_fraction"] == 0.2
    val_ids = {int(b.val.images[i, 0, 0, 0]) for i in range(6)}
    train_ids = {int(b.train.images[i, 0, 0, 0]) for i in range(24)}
    assert not val_ids & train_ids and len(val_ids | train_ids) == 30


def test_selection_split_modes(capsys):
    b, eval_set, on = selection_split(_bundle(), "val", None)
    assert on == "val" and eval_set is b.val and len(b.val) == 3
    b, eval_set, on = selection_split(_bundle(), "last", None)
    assert on == "last" and eval_set is None and b.val is None
    b, eval_set, on = selection_split(_bundle(), "test", None)
    assert on == "test" and eval_set is b.test and "optimistically biased" in capsys.readouterr().err


@pytest.fixture
def fmnist(tmp_path, monkeypatch):
    from toolkit.data import mnist as M

    monkeypatch.setattr(M, "SYSTEM_DIR", tmp_path / "none")
    write_release(tmp_path / "fm", small_labels(12), small_labels(2))
    return tmp_path / "fm"


def test_ce_on_a_set_without_val_selects_on_a_carved_val(invoke, fmnist, tmp_path):
    res = invoke("train", "ce", "--dataset", "fashion-mnist", "--data-root", fmnist, "--epochs", "1",
                 "--batch-size", "32", "--val-fraction", "0.25", "--out", tmp_path / "r", "--quiet", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["selected_on"] == "val"
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["resolved"]["val_fraction"] == 0.25 and config["resolved"]["select_on"] == "val"
    assert config["info"]["train_counts"] == [9] * 10 and "carved from train" in config["info"]["dataset_info"]["val"]


def test_select_on_test_only_by_name_and_warned(invoke, fmnist, tmp_path):
    res = invoke("train", "ce", "--dataset", "fashion-mnist", "--data-root", fmnist, "--epochs", "1",
                 "--select-on", "test", "--out", tmp_path / "r", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["selected_on"] == "test" and "optimistically biased" in res.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["selected_on"] == "test" and metrics["train_counts"] == [12] * 10


def test_val_fraction_refused_where_nothing_is_carved(invoke, fmnist, tmp_path):
    from conftest import assert_user_error

    assert_user_error(invoke("train", "mdl", "--dataset", "fashion-mnist", "--data-root", fmnist, "--select-on",
                             "last", "--val-fraction", "0.2", "--out", tmp_path / "r"),
                      "--val-fraction: not used with --select-on last")


def test_mdl_selects_on_carved_val_and_last_reports_last(fmnist, tmp_path):
    from toolkit.defense.mdl import train_mdl

    rep = train_mdl(dataset="fashion-mnist", data_root=str(fmnist), epochs=1, batch_size=32, out=str(tmp_path / "a"))
    assert rep.summary["selected_on"] == "val"
    rep = train_mdl(dataset="fashion-mnist", data_root=str(fmnist), epochs=1, batch_size=32, select_on="last",
                    out=str(tmp_path / "b"))
    assert rep.summary["selected_on"] == "last" and any("last epoch" in n for n in rep.notes)
