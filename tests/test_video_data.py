"""ARID layout reader, PyAV decoding, clip sampling, streams, synthetic-dark, and bad data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures.video import arid_v10

from toolkit.data import get_dataset, list_datasets
from toolkit.data.video import ARID_CLASSES, ClipSpec, decode_video, gamma_lut, read_flow, read_split
from toolkit.data.video_synthetic import generate_synthetic_dark
from toolkit.engine.errors import DataError, LtError

CLIPS = "raw/data"


@pytest.fixture
def arid_root(tmp_path):
    """ARID v1.0 as the official repo lays it out (raw/data + raw/list_cvt), lossless .avi clips."""
    root = tmp_path / "ARID"
    return root, arid_v10(root, labels=(0, 3), per_class=2)


def test_datasets_registered():
    assert {"arid", "synthetic-dark"} <= set(list_datasets())


def test_gamma_lut_equals_formula():
    for gamma in (0.5, 1.0, 1.8, 3.0):
        lut = gamma_lut(gamma)
        expected = np.round(255.0 * (np.arange(256) / 255.0) ** (1.0 / gamma)).astype(np.uint8)
        assert lut.dtype == torch.uint8 and lut.tolist() == expected.tolist()
    with pytest.raises(LtError, match="--gamma"):
        gamma_lut(0.0)


def test_read_split_parses_official_lines(tmp_path):
    f = tmp_path / "ARID_split1_train.txt"
    f.write_text("0\t0\tDrink/Drink_1_1.avi\n1\t10\tWave/Wave_3_2.avi\n\n")
    assert read_split(f) == [(0, "Drink/Drink_1_1.avi"), (10, "Wave/Wave_3_2.avi")]
    f.write_text("0\tDrink/Drink_1_1.avi\n")
    with pytest.raises(DataError, match="ARID_split1_train.txt:1"):
        read_split(f)


def test_arid_loader_reads_split_files_and_avi(arid_root):
    root, frames = arid_root
    b = get_dataset("arid", root=str(root), split=1, size=16, frames=4, interval=2, views=2, stream="rgb")
    assert b.num_classes == 11 and b.class_names == list(ARID_CLASSES) and b.info["release"] == "v1.0"
    assert len(b.train) == 2 and len(b.test) == 2 and b.train_counts[0] == 1 and b.train_counts[3] == 1
    rel = "Drink/Drink_1_1.avi"
    decoded = decode_video(root / CLIPS / rel)
    assert torch.equal(decoded, torch.from_numpy(frames[rel]))  # FFV1 is lossless
    x, y = b.test[0]
    assert x.shape == (2, 3, 4, 16, 16) and y == 0
    starts = ClipSpec(4, 2, 16, views=2).starts(10)
    assert starts == [0, 3]
    want = torch.from_numpy(frames[rel][[3, 5, 7, 9]]).permute(3, 0, 1, 2).float() / 255
    torch.testing.assert_close(x[1], want)
    xt, yt = b.train[1]
    assert xt.shape == (3, 4, 16, 16) and 0.0 <= float(xt.min()) and float(xt.max()) <= 1.0


def test_gamma_stream_applies_the_lut(arid_root):
    root, frames = arid_root
    b = get_dataset("arid", root=str(root), size=16, frames=4, views=1, stream="gamma", gamma=2.2)
    x, _ = b.test[0]
    idx = ClipSpec(4, 2, 16, views=1).indices(ClipSpec(4, 2, 16, views=1).starts(10)[0], 10)
    raw = torch.from_numpy(frames["Drink/Drink_1_1.avi"][idx])
    want = gamma_lut(2.2)[raw.long()].permute(3, 0, 1, 2).float() / 255
    torch.testing.assert_close(x[0], want)


def test_frame_folder_layout_is_an_alternative(tmp_path):
    from PIL import Image

    root = tmp_path / "A"
    arid_v10(root, labels=(0, 3), per_class=2)
    avi = root / CLIPS / "Pour" / "Pour_2_1.avi"
    frames = decode_video(avi).numpy()
    folder = avi.with_suffix("")
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"img_{i + 1:05d}.png")
    avi.unlink()
    b = get_dataset("arid", root=str(root), size=16, frames=4, views=1)
    assert any(p == folder for p, _ in b.test.items)
    assert torch.equal(decode_video(folder), torch.from_numpy(frames))


def test_flow_stream_reads_precomputed_frames_and_names_the_missing_folder(arid_root):
    from PIL import Image

    root, _ = arid_root
    b = get_dataset("arid", root=str(root), size=16, frames=4, views=1, stream="flow")
    with pytest.raises(DataError, match=r"expected folder '.*flow/Drink/Drink_1_1' does not exist"):
        b.test[0]
    rng = np.random.default_rng(0)
    for p, _ in b.train.items + b.test.items:
        d = root / "raw" / "flow" / p.parent.name / p.stem
        d.mkdir(parents=True)
        for i in range(1, 10):
            for axis in "xy":
                Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(d / f"{axis}_{i:05d}.jpg")
    x, _ = b.test[0]
    assert x.shape == (1, 3, 4, 16, 16)
    raw = read_flow(root / "raw" / "flow" / "Drink" / "Drink_1_1", [0])
    fx, fy, mag = raw[0].float().unbind(-1)
    expected = (((fx - 128) ** 2 + (fy - 128) ** 2).sqrt() * 2 ** 0.5).clamp(0, 255).round()
    assert torch.equal(mag, expected)


def test_missing_video_is_named_and_skip_bad_skips_it(arid_root):
    root, _ = arid_root
    (root / CLIPS / "Pour" / "Pour_1_1.avi").unlink()
    with pytest.raises(DataError,
                       match=r"Pour/Pour_1_1.avi' listed in ARID_split1_train.txt does not exist.*--skip-bad"):
        get_dataset("arid", root=str(root), size=16)
    b = get_dataset("arid", root=str(root), size=16, skip_bad=True)
    assert len(b.train) == 1


def test_undecodable_video_is_named(arid_root):
    root, _ = arid_root
    bad = root / CLIPS / "Drink" / "Drink_1_1.avi"
    bad.write_bytes(b"not a video at all" * 10)
    b = get_dataset("arid", root=str(root), size=16, frames=4, views=1)
    with pytest.raises(DataError, match=r"video '.*Drink_1_1.avi' could not be decoded"):
        b.test[0]
    b = get_dataset("arid", root=str(root), size=16, frames=4, views=1, skip_bad=True)
    assert len(b.test) == 1


def test_arid_needs_a_root_and_never_downloads(tmp_path):
    with pytest.raises(DataError, match="--data-root"):
        get_dataset("arid")
    with pytest.raises(LtError, match="cannot be downloaded"):
        get_dataset("arid", root=str(tmp_path), download=True)
    with pytest.raises(LtError, match="--official-split"):
        get_dataset("arid", root=str(tmp_path), split=4)


def test_clip_spec_views_and_looping():
    s = ClipSpec(frames=4, interval=2, size=None, views=3)
    assert s.starts(20) == [0, 6, 13]
    assert s.indices(0, 5) == [0, 2, 4, 1]  # short videos loop
    with pytest.raises(LtError, match="--views"):
        ClipSpec(views=0).validate()


def test_synthetic_dark_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for dest, seed in ((a, 3), (b, 3), (c, 4)):
        generate_synthetic_dark(dest, videos_per_class=2, n_frames=6, size=8, seed=seed)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".avi"]) == 22
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    va, vc = decode_video(a / CLIPS / "Run/Run_1_1.avi"), decode_video(c / CLIPS / "Run/Run_1_1.avi")
    assert not torch.equal(va, vc)
    assert float(va.float().mean()) < 40  # dark


def test_synthetic_dark_dataset_reads_back_through_the_arid_loader(tmp_path):
    b = get_dataset("synthetic-dark", root=str(tmp_path), videos_per_class=3, video_frames=10, video_size=16,
                    frames=4, views=2)
    assert b.name == "synthetic-dark" and b.num_classes == 11
    assert len(b.train) == 22 and len(b.test) == 11 and b.input_shape == (3, 4, 16, 16)
    again = get_dataset("synthetic-dark", root=str(tmp_path), videos_per_class=3, video_frames=10, video_size=16,
                        frames=4, views=2)
    torch.testing.assert_close(b.test[5][0], again.test[5][0])
    assert len(list(tmp_path.iterdir())) == 1  # cached, not regenerated


def test_a_teacher_sees_the_gamma_stream_at_its_own_gamma(arid_root):
    """``gamma@G`` renders the same clip at gamma G (a live KD teacher trained at another gamma than the
    student's --gamma); plain ``gamma`` keeps the spec's."""
    root, _ = arid_root
    at_18 = get_dataset("arid", root=str(root), size=16, frames=4, views=1, stream="rgb", gamma=1.8).test
    at_25 = get_dataset("arid", root=str(root), size=16, frames=4, views=1, stream="gamma", gamma=2.5).test
    clips = at_18.render(0, 0, ["gamma", "gamma@2.5"])
    torch.testing.assert_close(clips["gamma@2.5"], at_25.render(0, 0, ["gamma"])["gamma"])
    assert not torch.equal(clips["gamma"], clips["gamma@2.5"])


def test_the_stream_choices_of_the_options_are_the_data_layers():
    """``--stream`` / ``--teacher-streams`` choices (torch-free ``toolkit.distill.options``) equal ``STREAMS``."""
    from toolkit.data.video import STREAMS
    from toolkit.distill.options import STREAMS as OPTION_STREAMS

    assert OPTION_STREAMS == STREAMS
