"""Robustness evaluator: Square/EOT plug-ins, report invariants, adaptive <= paper protocol, CLI."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_user_error
from toolkit.attacks import get_attack
from toolkit.defense.attacks import EOTPGD, Square
from toolkit.defense.evaluate import curve_eps, evaluate_robustness, sanity_checks
from toolkit.models import get_model, load_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits MLP (3 epochs) and a FACM pipeline on it (1 epoch, FGSM half-batches)."""
    from toolkit.data import get_dataset
    from toolkit.defense.facm import train_facm
    from toolkit.engine.loop import TrainConfig, fit

    root = tmp_path_factory.mktemp("eval")
    bundle = get_dataset("digits", augment=False)
    torch.manual_seed(0)
    net = get_model("mlp", num_classes=10, hidden=64)
    fit(net, bundle.train, bundle.val, cfg=TrainConfig(epochs=3, batch_size=64, lr=0.05), device=torch.device("cpu"),
        out_dir=root / "ce")
    train_facm(backbone=str(root / "ce" / "best.pt"), dataset="digits", adv_attack="fgsm", epochs=1, lr=2e-2,
               out=str(root / "facm"), device="cpu")
    return {"ce": root / "ce" / "best.pt", "facm": root / "facm" / "best.pt", "root": root, "bundle": bundle}


def _batch(bundle, n=64):
    xs, ys = zip(*[bundle.test[i] for i in range(n)])
    return torch.stack(xs), torch.tensor(ys)


def test_square_stays_in_ball_and_lowers_accuracy(trained):
    model = load_model(str(trained["ce"]), num_classes=10)
    x, y = _batch(trained["bundle"])
    atk = Square(model, eps=8 / 255, steps=50, seed=0)
    adv = atk(x, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        clean, robust = (model(x).argmax(1) == y).float().mean(), (model(adv).argmax(1) == y).float().mean()
    assert robust < clean
    assert torch.equal(adv, Square(model, eps=8 / 255, steps=50, seed=0)(x, y))  # seeded


def test_eotpgd_with_one_pass_is_the_library_pgd(trained):
    model = load_model(str(trained["ce"]), num_classes=10)
    x, y = _batch(trained["bundle"], 16)
    a = EOTPGD(model, eps=8 / 255, steps=5, seed=3)(x, y)
    b = get_attack("pgd", model, eps=8 / 255, steps=5, seed=3)(x, y)
    assert torch.equal(a, b)
    atk = EOTPGD(model, eps=8 / 255, steps=2, seed=3, eot=3)
    atk(x, y)
    assert atk.grad_calls == 6


def _check_report(rep, clean_key="clean_acc"):
    rows = {r["attack"]: r["robust_acc"] for r in rep.rows}
    clean = rep.summary[clean_key]
    singles = {k: v for k, v in rows.items() if k not in ("worst-case", "autoattack")}
    assert all(rows["worst-case"] <= v + 1e-9 for v in singles.values())
    assert all(v <= clean + 1e-9 for v in rows.values())
    curve = {r["eps"]: r["robust_acc"] for r in rep.sections[1].rows}
    assert curve[0.0] == pytest.approx(clean)
    return rows


@pytest.mark.slow
def test_plain_model_report_invariants(trained, tmp_path):
    rep = evaluate_robustness(model=str(trained["ce"]), dataset="digits", eps=8 / 255, steps=5, n_examples=64,
                              square_queries=50, curve_points=[0.0, 8 / 255, 0.5], out=str(tmp_path / "e"),
                              device="cpu")
    rows = _check_report(rep)
    assert not any("@backbone" in k for k in rows) and "square" in rows and "pgd-dlr" in rows
    assert rep.summary["facm_pipeline"] is False
    checks = {c["check"]: c["pass"] for c in rep.sections[0].rows}
    assert checks["robust <= clean"] and checks["accuracy -> ~0 at large eps"]
    assert set(checks) >= {"iterative <= single-step", "2x steps changes pgd-ce < 1 point", "white-box <= black-box (square)"}
    assert (tmp_path / "e" / "metrics.json").is_file() and (tmp_path / "e" / "robustness_curve.png").is_file()


@pytest.mark.slow
def test_adaptive_attack_on_facm_is_at_least_as_strong_as_paper_protocol(trained, tmp_path):
    rep = evaluate_robustness(model=str(trained["facm"]), dataset="digits", eps=4 / 255, steps=5, n_examples=64,
                              square_queries=0, surrogate=str(trained["ce"]), curve_points=[0.0, 4 / 255],
                              out=str(tmp_path / "e"), device="cpu")
    rows = _check_report(rep)
    assert rep.summary["facm_pipeline"] is True
    for name in ("fgsm", "pgd-ce", "pgd-dlr"):
        assert rows[name] <= rows[f"{name}@backbone"] + 1e-9, (name, rows)
    assert rep.summary["adaptive_pgd_acc"] <= rep.summary["paper_protocol_pgd_acc"]


def test_sanity_checks_flag_failures():
    acc = {"worst-case": 0.2, "fgsm": 0.1, "pgd-ce": 0.3, "pgd-ce-2x": 0.1, "transfer": 0.25}
    rows = {r["check"]: r["pass"] for r in sanity_checks(0.9, acc, [{"eps": 0.5, "robust_acc": 0.4}])}
    assert rows == {"robust <= clean": True, "iterative <= single-step": False,
                    "2x steps changes pgd-ce < 1 point": False, "accuracy -> ~0 at large eps": False,
                    "white-box <= black-box (transfer)": False}


def test_curve_eps_default_starts_at_zero_and_ends_large():
    pts = curve_eps(8 / 255, None)
    assert pts[0] == 0.0 and pts[-1] >= 0.5 and 8 / 255 in pts


@pytest.mark.slow
def test_autoattack_reference_runs(trained, tmp_path):
    # a large eps keeps it fast: APGD-CE breaks every example, so the later AutoAttack stages have no work
    rep = evaluate_robustness(model=str(trained["ce"]), dataset="digits", eps=0.3, steps=5, n_examples=16,
                              square_queries=0, curve=False, autoattack=True, out=str(tmp_path / "e"), device="cpu")
    rows = {r["attack"]: r["robust_acc"] for r in rep.rows}
    assert rep.summary["clean_acc"] > 0.5
    assert rows["autoattack"] == 0.0 and rows["worst-case"] == 0.0  # both evaluators agree at eps 0.3


# ---------------------------------------------------------------- CLI
def test_cli_help(invoke):
    r = invoke("defend", "eval", "--help")
    assert r.exit_code == 0 and "--surrogate" in r.stdout and "--eot" in r.stdout and "--autoattack" in r.stdout


@pytest.mark.slow
def test_cli_eval_facm_end_to_end(invoke, trained, tmp_path):
    r = invoke("defend", "eval", trained["facm"], "--dataset", "digits", "--n", "32", "--steps", "3",
               "--square-queries", "20", "--curve-eps", "0,8/255", "--surrogate", trained["ce"],
               "--out", tmp_path / "e", "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    names = [row["attack"] for row in rep["rows"]]
    assert {"pgd-ce@backbone", "pgd-ce", "transfer", "square", "worst-case"} <= set(names)
    assert rep["facm_pipeline"] is True and "sanity_checks" in rep and "rows" in rep["sanity_checks"]


@pytest.mark.parametrize("args, frag", [
    (["--eps", "0"], "--eps must be in (0, 1]"),
    (["--eps", "2"], "--eps must be in (0, 1]"),
    (["--eot", "0"], "--eot must be >= 1"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--curve-eps", "0,1.5"], "--curve-eps values must be in [0, 1]"),
])
def test_cli_eval_bad_input(invoke, trained, tmp_path, args, frag):
    r = invoke("defend", "eval", trained["ce"], "--out", tmp_path / "e", *args)
    assert_user_error(r, frag)


def test_cli_autoattack_without_torchattacks(invoke, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import torchattacks -> ImportError
    r = invoke("defend", "eval", trained["ce"], "--autoattack", "--out", tmp_path / "e")
    assert_user_error(r, "--autoattack needs torchattacks", "pip install")


def test_cli_eval_missing_model(invoke, tmp_path):
    r = invoke("defend", "eval", tmp_path / "missing.pt", "--out", tmp_path / "e")
    assert_user_error(r, "does not exist")


def test_vote_decision_masks_gradients_and_the_surrogate_does_not():
    from toolkit.defense.evaluate import SurrogateView
    from toolkit.defense.facm import build_facm

    torch.manual_seed(0)
    net = get_model("smallcnn", num_classes=4, width=4)
    facm = build_facm(net, None, 4, (3, 8, 8), decision="vote").eval()
    x = torch.rand(3, 3, 8, 8, requires_grad=True)
    (g_vote,) = torch.autograd.grad(facm(x)[:, 0].sum(), x)
    (g_sur,) = torch.autograd.grad(SurrogateView(facm)(x)[:, 0].sum(), x)
    # the vote counts are piecewise constant: only the 0.5 x backbone tie-break term carries gradient
    (g_bb,) = torch.autograd.grad(0.5 * net(x).softmax(1)[:, 0].sum(), x)
    assert torch.allclose(g_vote, g_bb, atol=1e-7)
    assert g_sur.abs().sum() > 0 and not torch.allclose(g_sur, g_vote)


@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=1 / 255, max_value=1.0), st.integers(min_value=0, max_value=1000))
def test_square_never_leaves_the_ball_or_unit_box(eps, seed):
    torch.manual_seed(seed)
    model = get_model("mlp", num_classes=3, in_features=3 * 6 * 6, hidden=8)
    x, y = torch.rand(4, 3, 6, 6), torch.randint(0, 3, (4,))
    adv = Square(model, eps=eps, steps=15, seed=seed)(x, y)
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
