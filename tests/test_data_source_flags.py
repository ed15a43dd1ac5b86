"""Item 5: --data-root / --download given to a set that cannot use them is one error line, exit 2."""

from __future__ import annotations

import pytest

from conftest import assert_user_error
from toolkit.data import get_dataset
from toolkit.engine.errors import LtError


@pytest.mark.parametrize("name", ["digits", "digits-lt"])
def test_registry_refuses_data_root_and_download_for_embedded_sets(tmp_path, name):
    with pytest.raises(LtError, match=rf"--data-root does not apply to dataset '{name}': it is embedded"):
        get_dataset(name, root=str(tmp_path))
    with pytest.raises(LtError, match=rf"--download does not apply to dataset '{name}'"):
        get_dataset(name, download=True)
    assert len(get_dataset(name).test) == 400  # without the flags it still loads


@pytest.mark.parametrize("name", ["synthetic-dark", "synthetic-snore", "synthetic-muse"])
def test_registry_refuses_download_for_generated_sets(name):
    with pytest.raises(LtError, match=rf"--download does not apply to dataset '{name}': it is generated locally"):
        get_dataset(name, download=True)


def test_train_ce_refuses_both_flags(invoke, tmp_path):
    base = ["train", "ce", "--dataset", "digits-lt", "--epochs", "1", "--out", tmp_path / "run"]
    assert_user_error(invoke(*base, "--data-root", tmp_path / "mine"), "--data-root does not apply", "digits-lt")
    assert_user_error(invoke(*base, "--download"), "--download does not apply", "digits-lt")
    assert not (tmp_path / "run").exists()


def test_attack_refuses_data_root_for_an_embedded_set(invoke, tmp_path):
    r = invoke("attack", "fgsm", "--surrogate", "smallcnn", "--victims", "smallcnn", "--dataset", "digits",
               "--data-root", tmp_path, "--out", tmp_path / "adv", "--device", "cpu")
    assert_user_error(r, "--data-root does not apply to dataset 'digits'")
    assert not (tmp_path / "adv").exists()
