"""Long-tail profile, sampling, shot groups (both conventions) and the embedded digits-lt set."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.data import get_dataset, list_datasets
from toolkit.data.longtail import exp_profile, longtail_indices, shot_groups
from toolkit.engine.errors import DataError, LtError


@pytest.mark.parametrize("n_max,classes,totals", [(5000, 10, (12406, 13996, 20431)), (500, 100, (10847, 12608, 19573))])
def test_cifar_lt_totals_from_formula(n_max, classes, totals):
    for imbalance, total in zip((100, 50, 10), totals, strict=True):
        counts = exp_profile(n_max, classes, imbalance)
        assert sum(counts) == total
        assert counts[0] == n_max and counts[-1] == n_max // imbalance


def test_cifar100_lt_if100_shot_groups_both_conventions():
    counts = exp_profile(500, 100, 100)
    dec = shot_groups(counts, "decoupling")
    assert [len(dec[g]) for g in ("many", "medium", "few")] == [35, 35, 30]
    oltr = shot_groups(counts, "oltr")
    # OLTR's inclusive bounds move the classes with exactly 20 (or 100) images.
    moved_to_few = [c for c in dec["medium"] if counts[c] == 20]
    moved_to_many = [c for c in dec["medium"] if counts[c] == 100]
    assert moved_to_few and not moved_to_many
    assert oltr["few"] == sorted(dec["few"] + moved_to_few)
    assert oltr["many"] == dec["many"]
    assert [len(oltr[g]) for g in ("many", "medium", "few")] == [35, 35 - len(moved_to_few), 30 + len(moved_to_few)]


def test_shot_group_boundaries_and_custom_thresholds():
    counts = [101, 100, 99, 21, 20, 19]
    assert shot_groups(counts, "decoupling") == {"many": [0], "medium": [1, 2, 3, 4], "few": [5]}
    assert shot_groups(counts, "oltr") == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
    assert shot_groups([30, 10, 3], "decoupling", many=20, few=5) == {"many": [0], "medium": [1], "few": [2]}
    with pytest.raises(LtError, match="valid: decoupling, oltr"):
        shot_groups(counts, "nope")


@settings(max_examples=60, deadline=None)
@given(n_max=st.integers(1, 600), classes=st.integers(2, 60), imbalance=st.floats(1.0, 300.0))
def test_profile_is_monotone_and_spans_the_imbalance(n_max, classes, imbalance):
    counts = exp_profile(n_max, classes, imbalance)
    assert len(counts) == classes and counts[0] == n_max
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    assert counts[-1] == math.floor(n_max / imbalance + 1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), data=st.data())
def test_longtail_indices_sample_without_replacement(seed, data):
    labels = np.repeat(np.arange(5), 12)
    np.random.default_rng(seed).shuffle(labels)
    counts = data.draw(st.lists(st.integers(0, 12), min_size=5, max_size=5))
    idx = longtail_indices(labels, counts, seed=seed)
    assert len(idx) == len(set(idx)) == sum(counts)
    assert np.bincount(labels[idx], minlength=5).tolist() == counts
    assert idx == longtail_indices(labels, counts, seed=seed)


def test_longtail_indices_refuses_more_than_available():
    with pytest.raises(LtError, match="class 0 has 2 samples"):
        longtail_indices([0, 0, 1], [3, 1])


@pytest.mark.parametrize("imbalance", [1, 5, 10])
def test_digits_lt_is_long_tailed_with_balanced_test(imbalance):
    b = get_dataset("digits-lt", imbalance=imbalance, augment=False)
    assert b.train_counts == exp_profile(b.train_counts[0], 10, imbalance)
    assert b.train_counts[-1] == math.floor(b.train_counts[0] / imbalance + 1e-9)
    assert sum(b.train_counts) == len(b.train) and b.train_counts[0] >= 60
    test_counts = np.bincount(b.test.targets, minlength=10).tolist()
    assert len(set(test_counts)) == 1 and test_counts[0] > 0
    assert len(set(np.bincount(b.val.targets, minlength=10).tolist())) == 1
    x, y = b.train[0]
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_digits_lt_rejects_imbalance_below_one():
    with pytest.raises(LtError, match="imbalance must be >= 1"):
        get_dataset("digits-lt", imbalance=0.5)


REAL = ["cifar10-lt", "cifar100-lt", "cifar10", "cifar100", "mnist", "fashion-mnist",
        "imagenet-lt", "places-lt", "inat2018"]


def test_registry_lists_every_loader():
    assert set(REAL) | {"digits-lt", "digits"} <= set(list_datasets())


@pytest.mark.parametrize("name", REAL)
def test_real_dataset_without_data_root_says_what_is_needed(name, tmp_path, monkeypatch):
    from toolkit.data import mnist as M

    monkeypatch.setattr(M, "SYSTEM_DIR", tmp_path / "none")  # the sets with a default folder: absent there too
    monkeypatch.delenv("LT_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="needs --data-root: a directory with"):
        get_dataset(name)


@pytest.mark.parametrize("name", REAL)
def test_real_dataset_with_missing_root_dir(name, tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        get_dataset(name, root=str(tmp_path / "absent"))


def test_unknown_dataset_and_option():
    with pytest.raises(LtError, match="valid: .*cifar10-lt"):
        get_dataset("cifar10lt")
    with pytest.raises(LtError, match="does not take option"):
        get_dataset("mnist", imbalance=10)
