"""The UKD teacher-logit cache: equals live eval-mode logits, keyed by weights, resumable, per teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.data import get_dataset
from toolkit.data.video_synthetic import generate_synthetic_dark
from toolkit.distill.cache import cache_key, cache_teacher_logits, fill_cache, fingerprint_state, teacher_fingerprint
from toolkit.distill.ukd import CachedViews, read_teachers, teacher_tables, teacher_view
from toolkit.engine.checkpoint import save_checkpoint
from toolkit.engine.errors import LtError
from toolkit.models import get_model, list_models
from toolkit.models.video import build_video_model

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("arid") / "tree"
    generate_synthetic_dark(root, videos_per_class=2, n_frames=10, size=16, seed=0)
    return root


@pytest.fixture
def bundle(tree):
    return get_dataset("arid", root=str(tree), size=16, frames=4, interval=2, views=2)


def _teacher(seed: int, num_classes: int = 11) -> torch.nn.Module:
    torch.manual_seed(seed)
    m = build_video_model("tiny3d", num_classes)
    for mod in m.modules():  # non-trivial BN statistics, so eval mode differs from train mode
        if isinstance(mod, torch.nn.BatchNorm3d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m


def _save(m, path: Path, stream: str = "rgb", gamma: float = 1.8) -> str:
    """A teacher checkpoint whose embedded config is in the one run schema (as ``lt train video`` writes)."""
    save_checkpoint(path, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict(),
                           "config": {"command": ["train", "video"], "resolved": {"stream": stream, "gamma": gamma}}})
    return str(path)


@pytest.mark.parametrize("name", ["tiny3d", "r3d_18", "mc3_18", "r2plus1d_18", "s3d"])
def test_video_models_build_by_name_and_rebuild_from_checkpoints(name):
    from toolkit.models import build_from_checkpoint

    assert name in list_models()
    torch.manual_seed(0)
    m = build_video_model(name, 5).eval()
    x = torch.rand(1, 3, 8, 32, 32)  # s3d needs >= 8 frames
    with torch.no_grad():
        out = m(x)
        assert out.shape == (1, 5)
        again = build_from_checkpoint({"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
        torch.testing.assert_close(again.eval()(x), out)
    assert m.model_args["mean"] == pytest.approx([0.43216, 0.394666, 0.37645])


def test_cached_logits_equal_live_eval_mode_logits_on_the_same_view(bundle, tmp_path):
    model = _teacher(0)
    views = bundle.train.with_options(mode="views", stream="gamma", views=2)
    logits, status = cache_teacher_logits(model, views, tmp_path / "c.pt", {"k": 1}, device=CPU, batch_size=3)
    assert status == "computed" and logits.shape == (len(views), 11)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        for k in (0, 1, 7, len(views) - 1):
            i, v = divmod(k, 2)
            clip = bundle.train.with_options(stream="gamma", views=2).render(i, v, ["gamma"])["gamma"]
            torch.testing.assert_close(logits[k], model(clip[None])[0], atol=1e-5, rtol=1e-5)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(state) == {"format", "meta", "logits", "done"} and bool(state["done"].all())


def test_interrupted_caching_resumes_where_it_stopped(bundle, tmp_path):
    model = _teacher(1)
    views = bundle.train.with_options(mode="views", views=2)
    full, _ = cache_teacher_logits(model, views, tmp_path / "full.pt", {}, device=CPU, batch_size=4)
    calls = {"n": 0}

    class Flaky(torch.nn.Module):
        def __init__(self, net, fail_at):
            super().__init__()
            self.net, self.fail_at = net, fail_at

        def forward(self, x):
            calls["n"] += 1
            if calls["n"] == self.fail_at:
                raise KeyboardInterrupt
            return self.net(x)

    path = tmp_path / "part.pt"
    with pytest.raises(KeyboardInterrupt):
        cache_teacher_logits(Flaky(model, 4), views, path, {}, device=CPU, batch_size=4, flush_every=100)
    assert int(torch.load(path, weights_only=True)["done"].sum()) == 12  # 3 batches saved on interruption
    calls["n"] = 0
    logits, status = cache_teacher_logits(Flaky(model, -1), views, path, {}, device=CPU, batch_size=4)
    assert status == "resumed" and calls["n"] == -(-(len(views) - 12) // 4)
    torch.testing.assert_close(logits, full)
    calls["n"] = 0
    _, status = cache_teacher_logits(Flaky(model, -1), views, path, {}, device=CPU)
    assert status == "reused" and calls["n"] == 0



def test_fill_cache_in_one_process_continues_a_partial_file_and_loads_the_teacher_only_when_needed(bundle, tmp_path):
    model = _teacher(2)
    views = bundle.train.with_options(mode="views", views=2)
    full, _ = cache_teacher_logits(model, views, tmp_path / "full.pt", {}, device=CPU, batch_size=4)
    path = tmp_path / "part.pt"
    half = torch.load(tmp_path / "full.pt", weights_only=True)
    half["done"][5:], half["logits"][5:] = False, 0.0
    torch.save(half, path)  # as an interrupted run leaves it
    loads = []

    def load():
        loads.append(1)
        return model

    logits, status = fill_cache(load, views, path, {}, device=CPU, batch_size=4)
    assert status == "resumed" and loads == [1] and not logits.requires_grad
    torch.testing.assert_close(logits, full)
    assert bool(torch.load(path, weights_only=True)["done"].all())
    _, status = fill_cache(load, views, path, {}, device=CPU)
    assert status == "reused" and loads == [1]  # a complete file: the teacher is never loaded

def test_cache_is_invalidated_by_weight_changes_and_reused_otherwise(bundle, tmp_path):
    m = _teacher(2)
    p = _save(m, tmp_path / "t1.pt")
    meta, cdir = {"dataset": "arid"}, tmp_path / "cache"
    [t] = read_teachers([p], None, 11)
    _, st = teacher_tables([t], bundle.train, 2, meta, cdir, CPU, 8, 0, "train")
    assert st == ["computed"]
    save_checkpoint(p, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict(), "epoch": 7,
                        "config": {"resolved": {"stream": "rgb"}}})  # same weights, other metadata
    [t] = read_teachers([p], None, 11)
    table, st = teacher_tables([t], bundle.train, 2, meta, cdir, CPU, 8, 0, "train")
    assert st == ["reused"] and table.shape == (len(bundle.train), 2, 1, 11)
    with torch.no_grad():
        m.net.fc.weight.add_(0.01)
    _save(m, Path(p))
    [t2] = read_teachers([p], None, 11)
    assert t2.fingerprint != t.fingerprint
    _, st = teacher_tables([t2], bundle.train, 2, meta, cdir, CPU, 8, 0, "train")
    assert st == ["computed"] and len(list(cdir.glob("*.pt"))) == 2


def test_adding_a_teacher_later_computes_only_that_teacher(bundle, tmp_path):
    p1, p2 = _save(_teacher(3), tmp_path / "a.pt"), _save(_teacher(4), tmp_path / "b.pt", stream="gamma")
    cdir = tmp_path / "cache"
    t1 = read_teachers([p1], None, 11)
    teacher_tables(t1, bundle.train, 2, {}, cdir, CPU, 8, 0, "train")
    both = read_teachers([p1, p2], None, 11)
    assert [t.stream for t in both] == ["rgb", "gamma"]
    table, st = teacher_tables(both, bundle.train, 2, {}, cdir, CPU, 8, 0, "train")
    assert st == ["reused", "computed"] and table.shape[2] == 2
    ds = CachedViews(bundle.train, table)
    x, y, t = ds[3]
    assert x.shape == (3, 4, 16, 16) and t.shape == (2, 11) and y == bundle.train.items[3][1]


def test_keys_depend_on_views_and_stream_and_teachers_must_match_classes(tmp_path):
    fp = teacher_fingerprint({"arch": "tiny3d", "model_args": {}, "state_dict": {"w": torch.ones(2)}})
    assert fp == teacher_fingerprint({"arch": "tiny3d", "model_args": {}, "state_dict": {"w": torch.ones(2)}})
    assert fingerprint_state({"w": torch.ones(2)}) != fingerprint_state({"w": torch.ones(2) * 2})
    assert cache_key(fp, {"views": 2}) != cache_key(fp, {"views": 3})
    assert cache_key(fp, {"stream": "rgb"}) != cache_key(fp, {"stream": "gamma"})
    p = _save(get_model("tiny3d", num_classes=5), tmp_path / "five.pt")
    with pytest.raises(LtError, match="predicts 5 classes but the student and data have 11"):
        read_teachers([p], None, 11)


def test_teacher_stream_and_gamma_from_the_run_schema_and_from_old_teacher_runs(tmp_path):
    assert teacher_view({"resolved": {"stream": "gamma", "gamma": 2.2}, "info": {}}) == ("gamma", 2.2)
    assert teacher_view({"command": "train video", "data": {"stream": "flow", "gamma": 1.8}}) == ("flow", 1.8)
    assert teacher_view(None) == (None, None) and teacher_view({"resolved": {}}) == (None, None)
    m = _teacher(5)
    old = tmp_path / "old.pt"  # a teacher run of lt 0.1 (config.data), as existing run dirs hold
    save_checkpoint(old, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict(),
                          "config": {"command": "train video", "data": {"stream": "gamma", "gamma": 2.5}}})
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    new = _save(m, tmp_path / "new.pt", stream="gamma", gamma=2.5)
    got = read_teachers([str(old), new, str(bare)], None, 11)
    assert [(t.stream, t.gamma) for t in got] == [("gamma", 2.5), ("gamma", 2.5), ("rgb", 1.8)]
    assert got[0].fingerprint == got[1].fingerprint  # same weights: the same cache entries
    assert [t.stream for t in read_teachers([str(old)], ["rgb"], 11)] == ["rgb"]  # --teacher-streams wins
