"""``lt train compare``: runs grouped by method and paired by seed; golden statistics against scipy; the same
numbers in every --format; method labels; run discovery (globs, nested seed dirs); every bad input one Error line.

The fake runs are copies of one tiny real ``lt train ce`` run (session-scoped), with their seed, loss and metrics
changed: the exact config.json / metrics.json a trainer writes.
"""

from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pytest
from scipy import stats as ss

from conftest import assert_user_error

RNG = np.random.default_rng(1)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    from toolkit.engine.report import set_quiet
    from toolkit.longtail.train import train_ce

    out = tmp_path_factory.mktemp("compare") / "ce-real"
    set_quiet(True)
    train_ce(dataset="digits-lt", model="mlp", epochs=1, out=str(out))
    set_quiet(False)
    return out


@pytest.fixture
def make_run(real_run, tmp_path):
    """``make_run(name, seed, loss=..., metrics={...}, command=(...), info={...}, **resolved)`` -> a run dir."""
    config = json.loads((real_run / "config.json").read_text())
    metrics = json.loads((real_run / "metrics.json").read_text())

    def make(name, seed, *, metrics_=None, command=None, info=None, drop=(), **resolved):
        d = tmp_path / name
        d.mkdir(parents=True)
        c = copy.deepcopy(config)
        c["resolved"].update(seed=seed, out=str(d), **resolved)
        for key in drop:
            c["resolved"].pop(key)
        if command:
            c["command"] = list(command)
        c["info"]["dataset_info"].update(info or {})
        (d / "config.json").write_text(json.dumps(c, indent=2))
        (d / "metrics.json").write_text(json.dumps({**copy.deepcopy(metrics), **(metrics_ or {})}, indent=2))
        return d

    return make


def _acc(top1=None):
    return {k: float(RNG.uniform(0.3, 0.9)) for k in ("top1", "many", "medium", "few")} | (
        {"top1": top1} if top1 is not None else {})


def _json(res):
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_a_real_run_is_read_as_trainers_write_it(invoke, real_run, make_run, tmp_path, monkeypatch):
    metrics = json.loads((real_run / "metrics.json").read_text())
    other = make_run("bs-s0", 0, loss="balanced-softmax", metrics_={"top1": metrics["top1"] + 0.01})
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*")) + sorted(p.name for p in real_run.rglob("*"))
    out = _json(invoke("train", "compare", real_run, other, "--format", "json"))
    assert sorted(p.name for p in tmp_path.rglob("*")) + sorted(p.name for p in real_run.rglob("*")) == before
    assert out["baseline"] == "ce/ce" and out["dataset"] == "digits-lt" and out["imbalance"] == 10
    rows = {(r["method"], r["metric"]): r for r in out["rows"]}
    assert [m for m, _ in rows][::4] == ["ce/ce", "ce/balanced-softmax"]
    assert rows["ce/ce", "top1"]["mean"] == pytest.approx(100 * metrics["top1"])
    assert rows["ce/ce", "few"]["n"] == 1 and rows["ce/ce", "few"]["std"] is None  # one seed: no spread
    d = rows["ce/balanced-softmax", "top1"]
    assert d["delta"] == pytest.approx(1.0) and (d["pairs"], d["wins"], d["ties"], d["losses"]) == (1, 1, 0, 0)


def test_golden_statistics_against_scipy_and_one_table_in_every_format(invoke, make_run):
    seeds = range(5)
    runs, values = [], {}
    for loss in ("balanced-softmax", "ce", "logit-adjust"):
        for s in seeds:
            values[loss, s] = _acc()
            runs.append(make_run(f"{loss}-s{s}", s, loss=loss, metrics_=values[loss, s]))
    outs = {fmt: invoke("train", "compare", *runs, "--baseline", "balanced-softmax", "--format", fmt)
            for fmt in ("json", "jsonl", "csv", "table")}
    rows = _json(outs["json"])["rows"]
    assert len(rows) == 3 * 4
    for r in rows:
        loss = r["method"].split("/")[1]
        mine = np.array([100 * values[loss, s][r["metric"]] for s in seeds])
        base = np.array([100 * values["balanced-softmax", s][r["metric"]] for s in seeds])
        assert r["n"] == 5 and r["mean"] == pytest.approx(mine.mean(), rel=1e-12)
        assert r["std"] == pytest.approx(mine.std(ddof=1), rel=1e-12)
        if loss == "balanced-softmax":
            assert r["delta"] is None and r["pairs"] is None
            continue
        ci = ss.ttest_rel(mine, base).confidence_interval(0.95)
        assert r["delta"] == pytest.approx((mine - base).mean(), rel=1e-10)
        assert r["ci95"] == pytest.approx((ci.high - ci.low) / 2, rel=1e-10)
        assert r["delta_std"] == pytest.approx((mine - base).std(ddof=1), rel=1e-10)
        assert (r["wins"], r["ties"], r["losses"]) == (int((mine > base).sum()), 0, int((mine < base).sum()))
    # the same numbers, to the last bit, in jsonl and csv; the table shows them rounded
    assert [json.loads(line) for line in outs["jsonl"].stdout.splitlines()] == rows
    table = list(csv.DictReader(io.StringIO(outs["csv"].stdout)))
    assert [list(t) for t in table] == [list(r) for r in rows]
    for t, r in zip(table, rows, strict=True):
        for k, v in r.items():
            assert (t[k] == "") if v is None else (t[k] == v if isinstance(v, str) else float(t[k]) == v), k
    text = outs["table"].stdout
    for r in rows:
        for k in ("mean", "delta", "ci95"):
            if r[k] is not None:
                assert f"{r[k]:.4g}" in text


def test_ece_is_compared_where_every_run_records_it_and_lower_wins(invoke, make_run):
    a = make_run("a", 0, metrics_={"ece": 0.10, "ece_few": 0.2, "ece_many": 0.05, "ece_medium": 0.1})
    b = make_run("b", 0, loss="balanced-softmax", metrics_={"ece": 0.05, "ece_few": 0.3, "ece_many": 0.05,
                                                             "ece_medium": 0.1})
    rows = _json(invoke("train", "compare", a, b, "--format", "json"))["rows"]
    assert [r["metric"] for r in rows[:8]] == ["top1", "many", "medium", "few", "ece", "ece_many", "ece_medium",
                                               "ece_few"]
    got = {r["metric"]: r for r in rows if r["method"] == "ce/balanced-softmax"}
    assert got["ece"]["delta"] == pytest.approx(-5.0) and got["ece"]["wins"] == 1  # lower ECE is better
    assert got["ece_few"]["losses"] == 1 and got["ece_many"]["ties"] == 1
    c = make_run("c", 1, loss="balanced-softmax")  # records no ECE: ECE is left out, said in a note
    out = _json(invoke("train", "compare", a, b, c, "--format", "json"))
    assert {r["metric"] for r in out["rows"]} == {"top1", "many", "medium", "few"}
    assert any("not compared (ece" in n for n in out["notes"])
    only = _json(invoke("train", "compare", a, b, "--metrics", "few,ece", "--format", "json"))["rows"]
    assert [r["metric"] for r in only] == ["few", "ece"] * 2


def test_methods_are_labelled_by_command_loss_and_the_options_that_differ(invoke, make_run):
    lc = ("train", "lcreg")
    runs = [make_run(f"lc{k}-s{s}", s, command=lc, drop=("loss",), latent_k=k, tau=0.05)
            for k in (16, 0) for s in (0, 1)]
    runs.append(make_run("lc16-s2", 2, command=lc, drop=("loss",), latent_k=16, tau=0.05))
    runs.append(make_run("lc-tau-s0", 0, command=lc, drop=("loss",), latent_k=16, tau=0.1, weights="/x/w.pt"))
    base = make_run("bs-s0", 0, loss="balanced-softmax")
    out = _json(invoke("train", "compare", base, *runs, "--format", "json"))
    n = {r["method"]: r["n"] for r in out["rows"]}
    # the usual values (latent_k 16, tau 0.05) are not named; a path (weights, out) is not part of a method
    assert n == {"ce/balanced-softmax": 1, "lcreg": 3, "lcreg --latent-k 0": 2, "lcreg --tau 0.1": 1}
    # an option naming another run counts as that run's method: a second stage on CE vs on Balanced Softmax
    dec = ("train", "decouple")
    stages = [make_run(f"crt-{src.name}", 0, command=dec, drop=("loss",), method="crt", checkpoint=str(src))
              for src in (base, runs[0])]
    out = _json(invoke("train", "compare", base, *stages, "--format", "json"))
    assert {r["method"] for r in out["rows"]} == {"ce/balanced-softmax", "decouple/crt",
                                                  "decouple/crt --checkpoint <lcreg>"}  # a tie: the first is usual


def test_folders_of_runs_nested_seed_dirs_and_duplicates(invoke, make_run, tmp_path):
    for s in range(3):
        make_run(f"sweep/ce/seed{s}", s)
        make_run(f"sweep/bs/seed{s}", s, loss="balanced-softmax")
    out = _json(invoke("train", "compare", tmp_path / "sweep", tmp_path / "sweep/bs/seed1", "--baseline",
                       tmp_path / "sweep/bs/seed0", "--format", "json"))
    assert out["runs"] == 6 and out["baseline"] == "ce/balanced-softmax"
    assert {r["pairs"] for r in out["rows"] if r["method"] == "ce/ce"} == {3}
    (tmp_path / "sweep/notes.txt").write_text("a file next to the runs is not a run")
    assert _json(invoke("train", "compare", tmp_path / "sweep", "--format", "json"))["runs"] == 6


def test_unpaired_seeds_are_said_and_left_out_of_the_delta(invoke, make_run):
    runs = [make_run(f"ce-s{s}", s) for s in (0, 1, 2)]
    runs += [make_run(f"bs-s{s}", s, loss="balanced-softmax") for s in (1, 2, 3)]
    out = _json(invoke("train", "compare", *runs, "--format", "json"))
    bs = [r for r in out["rows"] if r["method"] == "ce/balanced-softmax"]
    assert {(r["n"], r["pairs"]) for r in bs} == {(3, 2)}
    assert any("paired on 2 seeds; seeds 3 not run by the baseline; baseline seeds 0 not run" in n
               for n in out["notes"])


# -- bad input: one Error: line each --------------------------------------------------------------
def test_runs_of_different_datasets_or_imbalance_are_refused(invoke, make_run):
    a = make_run("a", 0)
    b = make_run("b", 0, loss="balanced-softmax", dataset="cifar10-lt")
    assert_user_error(invoke("train", "compare", a, b), "different data", "digits-lt", "cifar10-lt", str(a), str(b))
    c = make_run("c", 0, loss="balanced-softmax", imbalance=30.0, info={"imbalance": 30.0})
    assert_user_error(invoke("train", "compare", a, c), "different data", "imbalance 10", "imbalance 30", str(c))


def test_a_method_without_a_seed_shared_with_the_baseline_is_refused(invoke, make_run):
    runs = [make_run("ce-s0", 0), make_run("ce-s1", 1), make_run("bs-s5", 5, loss="balanced-softmax"),
            make_run("la-s1", 1, loss="logit-adjust")]
    assert_user_error(invoke("train", "compare", *runs), "no seed in common with the baseline ce/ce (seeds 0,1)",
                      "ce/balanced-softmax (seeds 5)")


def test_a_dir_that_is_not_a_finished_run_is_refused(invoke, make_run, tmp_path):
    a = make_run("a", 0)
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke("train", "compare", a, tmp_path / "empty"), str(tmp_path / "empty"), "holds no run")
    unfinished = make_run("unfinished", 1)
    (unfinished / "metrics.json").unlink()
    assert_user_error(invoke("train", "compare", a, unfinished), str(unfinished), "no metrics.json")
    assert_user_error(invoke("train", "compare", a, tmp_path / "nope"), str(tmp_path / "nope"), "does not exist")
    (unfinished / "metrics.json").write_text("{not json")
    assert_user_error(invoke("train", "compare", a, unfinished), str(unfinished / "metrics.json"), "not readable")


def test_a_baseline_that_names_no_method_lists_the_methods(invoke, make_run):
    runs = [make_run("a", 0), make_run("b", 0, loss="balanced-softmax")]
    assert_user_error(invoke("train", "compare", *runs, "--baseline", "lcreg"), "--baseline 'lcreg'",
                      "ce/ce, ce/balanced-softmax")
    assert _json(invoke("train", "compare", *runs, "--baseline", "ce", "--format", "json"))["baseline"] == "ce/ce"
    dec = ("train", "decouple")
    runs += [make_run(f"crt{e}", 0, command=dec, drop=("loss",), method="crt", epochs=e) for e in (1, 2)]
    assert_user_error(invoke("train", "compare", *runs, "--baseline", "crt"), "--baseline 'crt' matches several",
                      "decouple/crt, decouple/crt --epochs 2")


def test_two_runs_of_one_method_with_one_seed_and_a_missing_metric_are_refused(invoke, make_run):
    a, b = make_run("a", 0), make_run("b", 0)
    assert_user_error(invoke("train", "compare", a, b), "two runs of method ce/ce have seed 0", str(a), str(b))
    assert_user_error(invoke("train", "compare", a, "--metrics", "ece"), "--metrics ece", str(a))


# -- the pieces other code uses -------------------------------------------------------------------
def test_variadic_arguments_are_generated_from_a_tuple_field():
    import typing

    import typer

    from cli.options import parameter
    from toolkit.engine.options import Options, option, options

    @options
    class Many(Options):
        things: tuple[str, ...] = option(help="Things.", argument=True)
        maybe: tuple[int, ...] = option((), "Optional numbers.", argument=True)

    fields = {f.name: f for f in Many.option_fields()}
    required, optional = parameter(Many, fields["things"]), parameter(Many, fields["maybe"])
    hint, info = typing.get_args(required.annotation)
    assert hint == typing.List[str] and isinstance(info, typer.models.ArgumentInfo)
    assert required.default is required.empty and optional.default is None
    assert typing.get_args(typing.get_args(optional.annotation)[0]) == (typing.List[int], type(None))
    assert Many(things=["a", "b"]).validate().things == ("a", "b")


def test_the_benchmark_uses_the_toolkit_statistics():
    from benchmarks.lcreg_compare import summarise
    from toolkit.engine.stats import paired_delta

    results = {m: {s: {"top1": float(RNG.uniform(60, 80)), "few": float(RNG.uniform(20, 40)), "many": 90.0,
                       "medium": 70.0} for s in range(4)} for m in ("balanced-softmax", "lcreg")}
    row = next(r for r in summarise(results, list(range(4))) if r["method"] == "lcreg")
    d = paired_delta([results["lcreg"][s]["few"] for s in range(4)],
                     [results["balanced-softmax"][s]["few"] for s in range(4)])
    assert (row["d_few"], row["d_few_std"], row["d_few_ci95"]) == (d.mean, d.std, d.half_width)


def test_compare_reads_runs_without_importing_torch(make_run, tmp_path):
    """`lt train compare` is bookkeeping over JSON files: toolkit.engine.runs stays torch-free at import."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    a, b = make_run("a", 0), make_run("b", 0, loss="balanced-softmax")
    code = ("import sys; from toolkit.longtail.compare import compare_runs; "
            f"r = compare_runs(runs=[{str(a)!r}, {str(b)!r}]); "
            "assert len(r.rows) == 8, r.rows; assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
