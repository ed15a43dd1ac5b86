"""Audio family (SSBPR): names, layouts, clips, features vs librosa, cache, validation, splits, metrics."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.audio import classical, metrics
from toolkit.audio.models import SpecAugment, get_audio_model, list_audio_models
from toolkit.data import audio_features as features
from toolkit.data import audio_splits as splits
from toolkit.data import snore_synthetic as synth
from toolkit.data import ssbpr_layout as io
from toolkit.data.audio_features import FeatureParams
from toolkit.data.ssbpr_prepare import prepare
from toolkit.engine.errors import DataError, LtError

SR, DUR = 8000, 1.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """4 patients x 6 classes x 2 clips, 8 kHz, 1 s, released layout."""
    root = tmp_path_factory.mktemp("syn")
    synth.generate(root, subjects=4, clips=2, sample_rate=SR, duration=DUR, seed=3)
    return root


def _params(kind: str = "logmel", **kw) -> FeatureParams:
    return FeatureParams(kind=kind, sample_rate=SR, duration=DUR, **kw).resolved()


# -- names and layouts ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,subject,label", [("female/12-3-4.wav", "female/12-3", 4),
                                                ("data/male/007/7-1-0.wav", "male/7-1", 0),
                                                ("male/night2/P9-x-5.wav", "male/P9-x", 5)])
def test_parse_name(name, subject, label):
    assert io.parse_name(name) == (subject, label)


@pytest.mark.parametrize("name,fragment", [("female/12-3.wav", "does not parse"),
                                           ("male/a-b-c-d.wav", "does not parse"),
                                           ("male/1-2-7.wav", "outside 0-5"), ("male/1-2-x.wav", "not an integer"),
                                           ("male/7-1-0_015.wav", "not an integer")])  # no _K suffix in the release
def test_parse_name_errors_name_the_file(name, fragment):
    with pytest.raises(DataError, match=fragment) as e:
        io.parse_name(name)
    assert Path(name).name.split(".")[0] in str(e.value)


def test_find_items_released_and_manifest(tiny, tmp_path):
    items, layout = io.find_items(tiny)
    assert layout == "released" and len(items) == 4 * 6 * 2
    assert {it.label for it in items} == set(range(6)) and len({it.subject for it in items}) == 4
    man = tmp_path / "m.csv"
    with open(man, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "path", "subject"])
        for it in items[:5]:
            w.writerow([it.label, it.path, it.subject])
    got, layout = io.find_items(man)
    assert layout == "manifest" and got == items[:5]
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "manifest.csv").write_text("path,label\nx.wav,3\n")
    got, _ = io.find_items(tmp_path / "dir")
    assert got == [io.Item(str(tmp_path / "dir" / "x.wav"), 3, "")]


def test_find_items_errors(tmp_path):
    with pytest.raises(DataError, match="neither the released layout"):
        io.find_items(tmp_path)
    (tmp_path / "bad.csv").write_text("file,y\na.wav,1\n")
    with pytest.raises(DataError, match="path,label"):
        io.find_items(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="does not exist"):
        io.find_items(tmp_path / "nope")


# -- clips and features -----------------------------------------------------------------------------
def test_load_clip_resamples_trims_and_repeats(tiny):
    import librosa
    import soundfile as sf

    path = sorted(tiny.rglob("*.wav"))[0]
    raw, sr = sf.read(path, dtype="float32")
    y = io.load_clip(path, sample_rate=4000, duration=3.0)
    trimmed, _ = librosa.effects.trim(librosa.resample(raw, orig_sr=sr, target_sr=4000), top_db=60)
    assert y.shape == (12000,) and y.dtype == np.float32
    np.testing.assert_allclose(y[: trimmed.size], trimmed, atol=1e-6)
    np.testing.assert_allclose(y[trimmed.size: 2 * trimmed.size],
                               trimmed[: max(0, min(trimmed.size, 12000 - trimmed.size))], atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 50), target=st.integers(1, 200))
def test_fix_length_property(n, target):
    y = np.arange(n, dtype=np.float32)
    out = io.fix_length(y, target)
    assert out.shape == (target,) and np.array_equal(out, y[np.arange(target) % n])


def test_features_equal_direct_librosa(tiny):
    import librosa

    path = sorted(tiny.rglob("*.wav"))[5]
    y = io.load_clip(path, SR, DUR)
    kw = dict(sr=SR, n_fft=1024, hop_length=512, n_mels=64, fmin=50.0, fmax=4000.0)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, **kw), ref=np.max, top_db=80.0)
    got = features.compute(y, _params("logmel"))
    assert got.shape == (64, 1 + int(SR * DUR) // 512)
    np.testing.assert_allclose(got, mel, rtol=1e-5, atol=1e-4)
    m = librosa.feature.mfcc(y=y, n_mfcc=20, **kw)
    ref = np.concatenate([m, librosa.feature.delta(m), librosa.feature.delta(m, order=2)])
    np.testing.assert_allclose(features.compute(y, _params("mfcc")), ref, rtol=1e-5, atol=1e-3)
    extra = [librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=1024, hop_length=512),
             librosa.feature.spectral_bandwidth(y=y, sr=SR, n_fft=1024, hop_length=512),
             librosa.feature.spectral_rolloff(y=y, sr=SR, n_fft=1024, hop_length=512),
             librosa.feature.zero_crossing_rate(y, frame_length=1024, hop_length=512),
             librosa.feature.rms(y=y, frame_length=1024, hop_length=512)]
    full = np.concatenate([ref, *extra])
    stats = features.compute(y, _params("stats"))
    assert stats.shape == (6 * 20 + 10,)
    np.testing.assert_allclose(stats, np.concatenate([full.mean(1), full.std(1)]), rtol=1e-4, atol=1e-3)


def test_feature_params_errors():
    with pytest.raises(LtError, match="--duration must be > 0"):
        FeatureParams(duration=0).resolved()
    with pytest.raises(LtError, match="cannot be resampled"):
        FeatureParams(sample_rate=10).resolved()
    with pytest.raises(LtError, match="sample_rate/2"):
        FeatureParams(sample_rate=16000, fmax=9000).resolved()
    with pytest.raises(LtError, match="unknown feature kind"):
        FeatureParams(kind="cqt").resolved()
    assert FeatureParams(sample_rate=8000).resolved().fmax == 4000.0


def test_cache_hit_identical_and_invalidated(tiny, tmp_path):
    import shutil

    src = sorted(tiny.rglob("*.wav"))[:4]
    files = []
    for i, s in enumerate(src[:3]):
        files.append(tmp_path / f"c{i}.wav")
        shutil.copy(s, files[-1])
    cache, p = tmp_path / "cache", _params()
    first, reasons, hits = features.compute_many(files, p, cache_dir=cache)
    assert hits == 0 and reasons == [""] * 3 and len(list(cache.glob("*.npy"))) == 3
    second, _, hits = features.compute_many(files, p, cache_dir=cache)
    assert hits == 3 and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    shutil.copy(src[3], files[0])  # the file changed: its entry misses
    changed, _, hits = features.compute_many(files, p, cache_dir=cache)
    assert hits == 2 and not np.array_equal(changed[0], first[0])
    _, _, hits = features.compute_many(files, _params(n_mels=32), cache_dir=cache)  # parameters changed
    assert hits == 0
    par, _, hits = features.compute_many(files, _params(n_mels=32), cache_dir=cache, workers=2)
    assert hits == 3 and par[1].shape == (32, 16)
    shutil.copy(src[2], files[0])  # same bytes as another file: keyed by content, so a hit
    _, _, hits = features.compute_many(files, p, cache_dir=cache)
    assert hits == 3


def _bad_files(folder: Path, clip: np.ndarray) -> dict[str, str]:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "90-1-0.wav").write_bytes(b"RIFF\x00\x00garbage, not audio")
    sf.write(folder / "91-1-1.wav", np.zeros(0, np.float32), SR)
    sf.write(folder / "92-1-2.wav", np.zeros(SR, np.float32), SR)
    nan = clip.copy()
    nan[10] = np.nan
    sf.write(folder / "93-1-3.wav", nan, SR, subtype="FLOAT")
    return {"90-1-0.wav": "unreadable", "91-1-1.wav": "empty", "92-1-2.wav": "silent", "93-1-3.wav": "NaN"}


def test_bad_files_are_skipped_and_listed(tiny, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    expect = _bad_files(root / "male", io.load_clip(sorted(tiny.rglob("*.wav"))[0], SR, DUR))
    out = tmp_path / "run"
    out.mkdir()
    data = prepare(root, _params(), max_bad=0.2, cache_dir=tmp_path / "cache", out_dir=out)
    assert len(data.items) == 48 and len(data.feats) == 48
    rows = list(csv.DictReader(open(out / "skipped.csv")))
    assert {Path(r["path"]).name: r["reason"] for r in rows}.keys() == expect.keys()
    for r in rows:
        assert expect[Path(r["path"]).name] in r["reason"]
    with pytest.raises(DataError, match="4 of 52 files are bad"):
        prepare(root, _params(), cache_dir=tmp_path / "cache")


def test_class_missing_after_validation_and_drop(tiny, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny, root)
    for p in root.rglob("*-5.wav"):
        p.write_bytes(b"broken")
    with pytest.raises(DataError, match=r"class 5 \(prone\) has no valid files.*--drop-classes 5"):
        prepare(root, _params(), max_bad=1.0, cache_dir=None)
    data = prepare(root, _params(), drop_classes=[5], cache_dir=None)
    assert data.class_names == list(io.CLASS_NAMES[:5]) and set(data.labels.tolist()) == set(range(5))


# -- splits -----------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n_subj=st.integers(3, 9), folds=st.integers(2, 3), seed=st.integers(0, 99), data=st.data())
def test_subject_split_never_shares_a_patient(n_subj, folds, seed, data):
    n = data.draw(st.integers(max(n_subj * 2, 20), 60))
    subjects = [f"p{i % n_subj}" for i in range(n)]
    labels = data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    got = splits.make_folds(labels, subjects, "subject", folds, seed)
    assert len(got) == folds
    assert sorted(np.concatenate([te for _, te in got]).tolist()) == list(range(n))
    for tr, te in got:
        assert not {subjects[i] for i in tr} & {subjects[i] for i in te}


def test_random_split_is_stratified_and_errors():
    labels = [c for c in range(6) for _ in range(5)]
    for _tr, te in splits.make_folds(labels, [""] * 30, "random", 5, 0):
        assert sorted(np.asarray(labels)[te].tolist()) == list(range(6))
    with pytest.raises(LtError, match="needs at least 5 patients"):
        splits.make_folds(labels, ["a", "b"] * 15, "subject", 5)
    with pytest.raises(LtError, match="at least 6 files per class"):
        splits.make_folds(labels, [""] * 30, "random", 6)


# -- metrics ----------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(12, 80), c=st.integers(2, 6))
def test_metrics_equal_sklearn(seed, n, c):
    from sklearn.metrics import confusion_matrix, f1_score, recall_score, roc_auc_score

    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y] * rng.random()
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = metrics.audio_metrics(probs, y, c)
    pred = probs.argmax(1)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, labels=range(c), average="macro", zero_division=0))
    assert m["auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro") if c > 2
                                     else roc_auc_score(y, probs[:, 1]))
    assert m["confusion"] == confusion_matrix(y, pred, labels=range(c)).tolist()
    np.testing.assert_allclose(m["recall"], recall_score(y, pred, labels=range(c), average=None, zero_division=0))
    assert m["accuracy"] == pytest.approx(float((pred == y).mean()))
    from sklearn.metrics import balanced_accuracy_score

    assert m["uar"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert m["uar"] == pytest.approx(recall_score(y, pred, labels=range(c), average="macro", zero_division=0),
                                     abs=1e-12)


def test_uar_is_mean_recall_of_present_classes_not_accuracy():
    from toolkit.engine.metrics import uar

    y = np.array([0] * 8 + [1] * 2)
    pred = np.zeros(10, dtype=int)  # always the majority class
    assert uar(y, pred) == pytest.approx(0.5) and float((pred == y).mean()) == pytest.approx(0.8)
    probs = np.eye(3)[[0, 0, 2, 2]]  # class 1 predicted as 2: recalls 1, 0, 1
    assert metrics.audio_metrics(probs, [0, 0, 2, 1], 3)["uar"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)


def test_auc_with_ties_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    from toolkit.engine.metrics import roc_auc

    scores = np.array([0.1, 0.4, 0.4, 0.4, 0.9, 0.2])
    pos = np.array([0, 1, 0, 1, 1, 0], dtype=bool)
    assert roc_auc(scores, pos) == pytest.approx(roc_auc_score(pos, scores))


# -- models -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_audio_models())
def test_audio_models_registry(name):
    spec = get_audio_model(name)
    assert spec.feature == ("logmel" if spec.torch else "stats")
    if spec.torch:
        from toolkit.models import get_model

        net = get_model(spec.arch, num_classes=5)
        assert net(torch.rand(3, 1, 64, 16)).shape == (3, 5)


def test_unknown_audio_model_lists_names():
    with pytest.raises(LtError, match="valid: cnn, crnn, logreg, resnet18, svm"):
        get_audio_model("cnnn")


def test_specaugment_masks_bands_with_the_mean():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 64, 32)
    out = SpecAugment(freq_masks=1, freq_width=10, time_masks=1, time_width=6).augment(x)
    changed = out != x
    mean = x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    assert torch.equal(out[changed], mean[changed])
    for i in range(8):  # masked cells form whole rows (frequency) or whole columns (time)
        rows = changed[i, 0].all(dim=1).sum().item()
        cols = changed[i, 0].all(dim=0).sum().item()
        assert rows <= 10 and cols <= 6
        full = changed[i, 0].all(1, keepdim=True) | changed[i, 0].all(0, keepdim=True)
        assert torch.equal(changed[i, 0], full)
    assert torch.equal(SpecAugment(0, 8, 0, 8).augment(x), x)


@pytest.mark.parametrize("kind", classical.CLASSICAL)
def test_classical_roundtrip_weights_only(kind, tmp_path):
    from toolkit.engine.checkpoint import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 7)), np.arange(60) % 4
    x[:, 0] += y
    model = classical.ClassicalModel(kind, seed=1).fit(x, y)
    save_checkpoint(tmp_path / "m.pt", {"state_dict": {}, "sklearn": model.state()})
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    back = classical.ClassicalModel.from_state(load_checkpoint(tmp_path / "m.pt")["sklearn"])
    assert raw["sklearn"]["kind"] == kind
    p = back.predict_proba(x, 5)
    np.testing.assert_allclose(p, model.predict_proba(x, 5), rtol=0, atol=0)
    assert p.shape == (60, 5) and np.allclose(p.sum(1), 1) and np.all(p[:, 4] == 0)


def test_synthetic_generator_is_seeded(tmp_path):
    import soundfile as sf

    a = synth.generate(tmp_path / "a", subjects=2, clips=1, classes=2, sample_rate=SR, duration=0.5, seed=7)
    b = synth.generate(tmp_path / "b", subjects=2, clips=1, classes=2, sample_rate=SR, duration=0.5, seed=7)
    c = synth.generate(tmp_path / "c", subjects=2, clips=1, classes=2, sample_rate=SR, duration=0.5, seed=8)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert all(np.array_equal(sf.read(p)[0], sf.read(q)[0]) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(sf.read(a[0])[0], sf.read(c[0])[0])
    assert [io.parse_name(p)[1] for p in a] == [0, 1, 0, 1]


def test_dataset_registry_bundles_one_fold(tmp_path):
    from toolkit.data import get_dataset, list_datasets

    assert {"ssbpr", "synthetic-snore"} <= set(list_datasets())
    b = get_dataset("synthetic-snore", root=str(tmp_path / "gen"), subjects=4, clips=1, folds=2, fold=2,
                    sample_rate=SR, duration=DUR, cache_dir=None)
    assert len(b.train) + len(b.test) == 24 and b.num_classes == 6 and sum(b.train_counts) == len(b.train)
    x, y = b.train[0]
    assert x.shape == b.input_shape == (1, 64, 16) and 0 <= x.min() and x.max() <= 1 and 0 <= int(y) < 6
    assert "split=subject" in b.info["split"]
    again = get_dataset("ssbpr", root=str(tmp_path / "gen"), folds=2, fold=2, sample_rate=SR, duration=DUR,
                        cache_dir=None)
    assert torch.equal(again.test.x, b.test.x)
    with pytest.raises(LtError, match="cannot be downloaded"):
        get_dataset("ssbpr", root=str(tmp_path / "gen"), download=True)


def test_registries_and_cli_do_not_import_librosa():
    """The GPU machines have no librosa: loading the registries and ``cli.audio`` must not need it."""
    import subprocess
    import sys

    code = ("import sys, cli.audio; assert 'torch' not in sys.modules; import toolkit.models as m, toolkit.data as d; "
            "m.list_models(False); d.list_datasets(); import toolkit.audio.ssbpr; "
            "print(sorted(k for k in ('librosa', 'soundfile') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
