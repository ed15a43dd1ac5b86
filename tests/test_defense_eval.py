"""Robustness evaluator: report invariants, counts over all examples, BPDA for votes, AutoAttack agreement, CLI."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from conftest import assert_user_error
from toolkit.defense.evaluate import Spec, curve_eps, evaluate_robustness, run_spec, sanity_checks
from toolkit.defense.whitebox import PGD, Square
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
    xs, ys = zip(*[bundle.test[i] for i in range(n)], strict=True)
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


def test_eot_pgd_counts_its_passes_and_is_seeded(trained):
    model = load_model(str(trained["ce"]), num_classes=10)
    x, y = _batch(trained["bundle"], 16)
    atk = PGD(model, eps=8 / 255, steps=2, seed=3, eot=3)
    a = atk(x, y)
    assert atk.grad_calls == 6 and torch.equal(a, PGD(model, eps=8 / 255, steps=2, seed=3, eot=3)(x, y))


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
    rep = evaluate_robustness(model=str(trained["ce"]), dataset="digits", eps=8 / 255, steps=5, limit=64,
                              square_queries=50, apgd_steps=10, apgd_targets=2, curve_eps=[0.0, 8 / 255, 0.5],
                              out=str(tmp_path / "e"), device="cpu")
    rows = _check_report(rep)
    assert not any("@backbone" in k for k in rows) and {"square", "pgd-dlr", "apgd-ce", "apgd-t"} <= set(rows)
    assert rep.summary["facm_pipeline"] is False
    checks = {c["check"]: c["pass"] for c in rep.sections[0].rows}
    assert checks["robust <= clean (counts, every attack)"] and checks["accuracy -> ~0 at large eps"]
    assert set(checks) >= {"iterative <= single-step", "2x steps changes pgd-ce < 1 point",
                           "white-box <= black-box (square)"}
    assert (tmp_path / "e" / "metrics.json").is_file() and (tmp_path / "e" / "robustness_curve.png").is_file()


@pytest.mark.slow
def test_adaptive_attack_on_facm_is_at_least_as_strong_as_paper_protocol(trained, tmp_path):
    rep = evaluate_robustness(model=str(trained["facm"]), dataset="digits", eps=4 / 255, steps=5, limit=64,
                              square_queries=0, apgd_steps=10, apgd_targets=2, surrogate=str(trained["ce"]),
                              curve_eps=[0.0, 4 / 255], out=str(tmp_path / "e"), device="cpu")
    rows = _check_report(rep)
    assert rep.summary["facm_pipeline"] is True
    for name in ("fgsm", "pgd-ce", "pgd-dlr"):
        assert rows[name] <= rows[f"{name}@backbone"] + 1e-9, (name, rows)
    assert rep.summary["adaptive_pgd_acc"] <= rep.summary["paper_protocol_pgd_acc"]


def test_sanity_checks_flag_failures():
    robust = {"worst-case": 20, "fgsm": 10, "pgd-ce": 30, "pgd-ce-2x": 10, "transfer": 25, "autoattack": 15}
    rows = {r["check"]: r["pass"]
            for r in sanity_checks(100, 90, robust, [{"eps": 0.5, "robust_acc": 0.4}], own_worst=20)}
    assert rows == {"robust <= clean (counts, every attack)": True, "iterative <= single-step": False,
                    "2x steps changes pgd-ce < 1 point": False, "accuracy -> ~0 at large eps": False,
                    "white-box <= black-box (transfer)": False, "own worst case within 1 point of AutoAttack": False}
    over = sanity_checks(100, 9, {"worst-case": 5, "fgsm": 10}, [])
    assert over[0]["pass"] is False and "fgsm" in over[0]["value"]
    assert sanity_checks(100, 50, {"worst-case": 20, "autoattack": 19}, [], own_worst=20)[-1]["pass"] is True


class _Threshold(torch.nn.Module):
    """Class 0 iff the mean pixel is above 0.5."""

    def forward(self, x):
        s = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([s - 0.5, 0.5 - s], 1)


def test_robust_is_counted_over_all_examples_not_only_the_clean_correct_ones():
    model = _Threshold()
    x, y = torch.tensor([0.49, 0.7]).view(2, 1, 1, 1).expand(2, 1, 2, 2).contiguous(), torch.tensor([0, 0])
    push_up = Spec("up", "test", model, lambda m, e, s: (lambda xb, yb: (xb + e).clamp(0, 1)))
    ok = run_spec(push_up, model, x, y, 0.05, 0)
    assert ok.tolist() == [True, True]  # example 0 is wrong clean and right after the "attack": it counts
    clean = run_spec(push_up, model, x, y, 0.0, 0)
    checks = sanity_checks(2, int(clean.sum()), {"up": int(ok.sum()), "worst-case": int(ok.sum())}, [])
    assert clean.tolist() == [False, True] and checks[0]["pass"] is False


def test_curve_eps_default_starts_at_zero_and_ends_large():
    pts = curve_eps(8 / 255, None)
    assert pts[0] == 0.0 and pts[-1] >= 0.5 and 8 / 255 in pts


def test_autoattack_agrees_with_the_default_attacks_where_accuracy_is_mid_range(trained, tmp_path):
    # eps 20/255: the 3-epoch MLP keeps ~45 % under AutoAttack, so neither side saturates
    rep = evaluate_robustness(model=str(trained["ce"]), dataset="digits", eps=20 / 255, limit=64,
                              square_queries=0, curve=False, autoattack=True, out=str(tmp_path / "e"), device="cpu")
    s = rep.summary
    assert 0.2 <= s["autoattack_acc"] <= 0.8 and s["clean_acc"] > s["autoattack_acc"]
    assert s["own_worst_case_acc"] - s["autoattack_acc"] <= 0.01  # our defaults find what AutoAttack finds
    assert s["autoattack_acc"] - s["own_worst_case_acc"] <= 0.1  # and AutoAttack is wired to the same model
    assert s["worst_case_acc"] <= min(s["autoattack_acc"], s["own_worst_case_acc"])
    checks = {c["check"]: c["pass"] for c in rep.sections[0].rows}
    assert checks["own worst case within 1 point of AutoAttack"]


# ---------------------------------------------------------------- CLI
def test_cli_help(invoke):
    r = invoke("defend", "eval", "--help")
    assert r.exit_code == 0 and "--surrogate" in r.stdout and "--eot" in r.stdout and "--autoattack" in r.stdout
    assert "--apgd-steps" in r.stdout and "--apgd-targets" in r.stdout


@pytest.mark.slow
def test_cli_eval_facm_end_to_end(invoke, trained, tmp_path):
    r = invoke("defend", "eval", trained["facm"], "--dataset", "digits", "--limit", "32", "--steps", "3",
               "--apgd-steps", "5",
               "--square-queries", "20", "--curve-eps", "0,8/255", "--surrogate", trained["ce"],
               "--out", tmp_path / "e", "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    names = [row["attack"] for row in rep["rows"]]
    assert {"pgd-ce@backbone", "pgd-ce", "transfer", "square", "worst-case"} <= set(names)
    assert rep["facm_pipeline"] is True and "sanity_checks" in rep and "rows" in rep["sanity_checks"]


QUICK = ["--limit", "16", "--steps", "2", "--restarts", "1", "--apgd-steps", "0", "--square-queries", "0",
         "--curve-eps", "0,0.5"]


def test_cli_eval_writes_the_one_config_and_replays_it(invoke, trained, tmp_path):
    r = invoke("defend", "eval", trained["ce"], "--dataset", "digits", *QUICK, "--out", tmp_path / "e",
               "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "e" / "config.json").read_text())
    assert config["command"] == ["defend", "eval"] and config["info"]["num_classes"] == 10
    resolved = config["resolved"]
    assert resolved["model"] == str(trained["ce"]) and resolved["limit"] == 16 and resolved["curve_eps"] == [0.0, 0.5]
    assert resolved["eps"] == pytest.approx(8 / 255) and resolved["surrogate"] is None
    again = invoke("defend", "eval", trained["ce"], "--config", tmp_path / "e" / "config.json", "--out", tmp_path / "a",
                   "--format", "json", "--quiet")
    assert again.exit_code == 0, again.output
    first, second = json.loads(r.stdout), json.loads(again.stdout)
    assert first.pop("out") != second.pop("out") and first.pop("notes") != second.pop("notes")  # the run dirs
    assert first == second
    assert 0.0 <= first["clean_acc"] <= 1.0 and all(0.0 <= row["robust_acc"] <= 1.0 for row in first["rows"])


def test_cli_eval_print_config_resolves_the_defaults(invoke, trained, tmp_path):
    r = invoke("defend", "eval", trained["ce"], "--limit", "7", "--eps", "4/255", "--out", tmp_path / "e",
               "--print-config")
    assert r.exit_code == 0, r.output
    assert "deprecated" not in r.stderr
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["limit"] == 7 and resolved["apgd_targets"] == 9
    assert resolved["curve_eps"] == pytest.approx(curve_eps(4 / 255, None))  # the default curve, resolved
    assert not (tmp_path / "e").exists()
    r = invoke("defend", "eval", trained["ce"], "--apgd-steps", "0", "--no-curve", "--out", tmp_path / "e",
               "--print-config")
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["apgd_targets"] is None and resolved["curve_eps"] == []  # not used: not recorded


@pytest.mark.parametrize("args, frag", [
    (["--eps", "0"], "--eps must be > 0"),
    (["--limit", "0"], "--limit must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--eps", "2"], "--eps must be <= 1"),
    (["--eot", "0"], "--eot must be >= 1"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--apgd-steps", "-1"], "--apgd-steps must be >= 0"),
    (["--apgd-targets", "-2"], "--apgd-targets must be >= 0"),
    (["--curve-eps", "0,1.5"], "--curve-eps must be <= 1"),
    (["--curve-eps", "0,-0.1"], "--curve-eps must be >= 0"),
    (["--restarts", "0"], "--restarts must be >= 1"),
    (["--square-queries", "-1"], "--square-queries must be >= 0"),
])
def test_cli_eval_bad_input(invoke, trained, tmp_path, args, frag):
    r = invoke("defend", "eval", trained["ce"], "--dataset", "digits", "--out", tmp_path / "e", *args)
    assert_user_error(r, frag)


def test_cli_autoattack_without_torchattacks(invoke, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import torchattacks -> ImportError
    r = invoke("defend", "eval", trained["ce"], "--dataset", "digits", "--autoattack", "--out", tmp_path / "e")
    assert_user_error(r, "--autoattack needs torchattacks", "pip install")


def test_cli_eval_missing_model(invoke, tmp_path):
    r = invoke("defend", "eval", tmp_path / "missing.pt", "--dataset", "digits", "--out", tmp_path / "e")
    assert_user_error(r, "does not exist")


def _vote_facm():
    from toolkit.defense.facm import build_facm

    torch.manual_seed(0)
    net = get_model("smallcnn", num_classes=4, width=4)
    return net, build_facm(net, None, 4, (3, 8, 8), decision="vote").eval()


def test_vote_decision_masks_gradients_and_the_bpda_view_does_not():
    from toolkit.defense.bpda import EndToEndView

    net, facm = _vote_facm()
    x = torch.rand(3, 3, 8, 8, requires_grad=True)
    w = torch.randn(3, 4)
    (g_vote,) = torch.autograd.grad((facm(x) * w).sum(), x)
    # the vote counts are piecewise constant: only the 0.5 x backbone tie-break term carries gradient
    (g_bb,) = torch.autograd.grad((0.5 * net(x).softmax(1) * w).sum(), x)
    assert torch.allclose(g_vote, g_bb, atol=1e-7)
    view = EndToEndView(facm)
    assert torch.equal(view(x), facm(x))  # the values are the vote's
    (g_view,) = torch.autograd.grad((view(x) * w).sum(), x)
    (g_mean,) = torch.autograd.grad((facm.surrogate(x) * w).sum(), x)
    assert torch.equal(g_view, g_mean) and not torch.allclose(g_view, g_vote)


def test_autoattack_and_every_white_box_attack_see_the_bpda_gradient():
    from toolkit.defense.bpda import EndToEndView, make_autoattack
    from toolkit.defense.evaluate import build_specs

    net, facm = _vote_facm()
    atk = make_autoattack(facm, 8 / 255, 4, seed=0)
    x = torch.rand(3, 3, 8, 8)
    w = torch.randn(3, 4)
    assert len(atk._autoattack.attacks) == 4  # the standard version's four stages, none left unchecked
    for stage in atk._autoattack.attacks:  # APGD-CE, APGD-T, FAB-T, Square: the logits each stage differentiates
        xg = x.clone().requires_grad_(True)
        out = stage.get_logits(xg)
        assert torch.equal(out.detach(), facm(x).detach())
        (g,) = torch.autograd.grad((out * w).sum(), xg)
        xs = x.clone().requires_grad_(True)
        (g_mean,) = torch.autograd.grad((facm.surrogate(xs) * w).sum(), xs)
        assert torch.equal(g, g_mean)
    specs = build_specs(facm, eps=8 / 255, steps=2, restarts=1, eot=1, num_classes=4, surrogate=None, square_queries=0,
                        apgd_steps=3, apgd_targets=2)
    end_to_end = [s for s in specs if not s.name.endswith("@backbone")]
    assert {s.name for s in end_to_end} == {"fgsm", "pgd-ce", "pgd-dlr", "pgd-ce-2x", "apgd-ce", "apgd-t"}
    assert all(isinstance(s.target, EndToEndView) and s.target.facm is facm for s in end_to_end)
    assert all(s.target is net for s in specs if s.name.endswith("@backbone"))


@pytest.mark.parametrize("args, frag", [
    (["--no-curve", "--curve-eps", "0,0.5"], "--curve-eps: not used with --no-curve"),
    (["--apgd-steps", "0", "--apgd-targets", "3"], "--apgd-targets: not used with --apgd-steps 0"),
])
def test_cli_eval_refuses_a_typed_flag_the_run_would_ignore(invoke, tmp_path, args, frag):
    r = invoke("defend", "eval", tmp_path / "any.pt", *args, "--out", tmp_path / "e")
    assert_user_error(r, frag)
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("args, values", [
    (["--no-curve", "--curve-eps", "0,0.5"], {"curve": False, "curve_eps": [0.0, 0.5]}),
    (["--apgd-steps", "0", "--apgd-targets", "3"], {"apgd_steps": 0, "apgd_targets": 3}),
])
def test_library_call_refuses_with_the_cli_message(invoke, tmp_path, args, values):
    """evaluate_robustness(...) with an option that does not apply raises the LtError the CLI prints."""
    from toolkit.engine.errors import LtError

    r = invoke("defend", "eval", tmp_path / "any.pt", *args, "--out", tmp_path / "e")
    assert_user_error(r)
    with pytest.raises(LtError) as e:
        evaluate_robustness(model=str(tmp_path / "any.pt"), out=str(tmp_path / "f"), **values)
    assert r.stderr.strip() == f"Error: {e.value}"
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()


def test_eval_keeps_no_checkpoints_so_it_has_no_resume(invoke, tmp_path):
    from toolkit.engine.errors import LtError

    res = invoke("defend", "eval", tmp_path / "any.pt", "--resume")
    assert res.exit_code == 2 and "No such option: --resume" in res.output
    with pytest.raises(LtError, match="unknown option.*--resume"):
        evaluate_robustness(model=str(tmp_path / "any.pt"), resume=True)
