"""MDL: the divergence term's invariants, the objective, and ``lt train mdl`` (CLI, bad input)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_user_error
from toolkit.defense.mdl import MDLObjective, class_mask, divergence_term, mdl_loss

probs = st.integers(min_value=0, max_value=10_000).map(lambda s: torch.Generator().manual_seed(s))


def _p(gen: torch.Generator, n: int = 6, c: int = 7) -> torch.Tensor:
    return (torch.randn(n, c, generator=gen) * 3).softmax(1)


@settings(max_examples=40, deadline=None)
@given(probs, st.floats(min_value=1e-3, max_value=1e3), st.floats(min_value=1e-3, max_value=1e3))
def test_term_symmetric_bounded_scale_invariant(gen, a, b):
    p1, p2 = _p(gen), _p(gen)
    y = torch.randint(0, 7, (6,), generator=gen)
    m = class_mask(y, 7)
    t = divergence_term(p1, p2, m)
    assert torch.allclose(t, divergence_term(p2, p1, m), atol=1e-6)
    assert (t >= 0).all() and (t <= 1 + 1e-6).all()
    assert torch.allclose(t, divergence_term(a * p1, b * p2, m), atol=1e-5)


def test_label_mask_gradient_on_true_logit_is_zero():
    torch.manual_seed(0)
    o1, o2 = torch.randn(8, 5, requires_grad=True), torch.randn(8, 5, requires_grad=True)
    y = torch.randint(0, 5, (8,))
    term = divergence_term(o1.softmax(1), o2.softmax(1), class_mask(y, 5, "label")).sum()
    g1, g2 = torch.autograd.grad(term, (o1, o2))
    assert g1.abs().sum() > 1e-4  # the other logits do get a gradient
    assert torch.allclose(g1.gather(1, y[:, None]), torch.zeros(8, 1), atol=1e-7)
    assert torch.allclose(g2.gather(1, y[:, None]), torch.zeros(8, 1), atol=1e-7)


def test_lambda_zero_is_mean_ce_of_two_passes():
    torch.manual_seed(1)
    o1, o2, y = torch.randn(10, 4), torch.randn(10, 4), torch.randint(0, 4, (10,))
    ce = 0.5 * (F.cross_entropy(o1, y) + F.cross_entropy(o2, y))
    assert torch.allclose(mdl_loss(o1, o2, y, lam=0.0, mask=class_mask(y, 4)), ce)
    assert mdl_loss(o1, o2, y, lam=1.0, mask=class_mask(y, 4)) > ce


def test_shared_dropout_mask_puts_term_at_one_with_zero_gradient():
    torch.manual_seed(2)
    o = torch.randn(8, 6, requires_grad=True)
    y = torch.randint(0, 6, (8,))
    p = o.softmax(1)
    term = divergence_term(p, p, class_mask(y, 6)).mean()  # two passes that shared one dropout mask
    assert abs(float(term.detach()) - 1.0) < 1e-6
    (g,) = torch.autograd.grad(term, o)
    assert g.abs().max() < 1e-5


def test_random_mask_drops_true_class_and_keeps_rows_nonempty():
    y = torch.arange(10).repeat(40)
    m = class_mask(y, 10, "random", keep=0.3, generator=torch.Generator().manual_seed(0))
    assert (m.gather(1, y[:, None]) == 0).all()
    assert (m.sum(1) >= 1).all()
    assert 0.25 < float(m.sum()) / (400 * 9) < 0.45  # about keep (+ refilled empty rows)


def test_objective_uses_two_different_dropout_passes():
    from toolkit.defense.common import add_head_dropout
    from toolkit.models import get_model

    torch.manual_seed(3)
    net = get_model("mlp", num_classes=5, in_features=3 * 8 * 8, hidden=32)
    add_head_dropout(net, 0.5)
    net.train()
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 5, (16,))
    assert not torch.equal(net(x), net(x))  # dropout is live: two passes differ
    loss, logits, tgt = MDLObjective(lam=1.0).loss(net, (x, y), 0)
    assert loss.requires_grad and logits.shape == (16, 5) and torch.equal(tgt, y)
    net.eval()
    assert torch.equal(net(x), net(x))  # off in eval mode
    assert set(net.state_dict()) == set(get_model("mlp", num_classes=5, in_features=192, hidden=32).state_dict())


def test_objective_refuses_bad_arguments():
    from toolkit.engine.errors import LtError

    with pytest.raises(LtError, match="--lambda"):
        MDLObjective(lam=-0.1)
    with pytest.raises(LtError, match="--mask"):
        MDLObjective(mask="nope")


def test_adversarial_variant_trains_on_points_in_the_eps_ball():
    from toolkit.defense.common import add_head_dropout, make_adversary
    from toolkit.models import get_model

    torch.manual_seed(4)
    net = get_model("mlp", num_classes=3, in_features=3 * 4 * 4, hidden=16)
    add_head_dropout(net, 0.3)
    seen = []
    adv = make_adversary("pgd", eps=0.1, steps=3)

    def spy(model, x, y):
        out = adv(model, x, y)
        seen.append((x, out))
        return out

    net.train()
    x, y = torch.rand(8, 3, 4, 4), torch.randint(0, 3, (8,))
    loss = MDLObjective(adversary=spy).loss(net, (x, y), 0)[0]
    loss.backward()
    (x0, xa), = seen
    assert (xa - x0).abs().max() <= 0.1 + 1e-6 and not torch.equal(xa, x0)
    assert net.training  # mode restored after the attack


def test_cli_help(invoke):
    r = invoke("train", "mdl", "--help")
    assert r.exit_code == 0 and "--lambda" in r.stdout and "--adversarial" in r.stdout


@pytest.mark.slow
def test_cli_train_mdl_end_to_end(invoke, tmp_path):
    from toolkit.models import load_model

    out = tmp_path / "mdl"
    r = invoke("train", "mdl", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--lr", "0.05",
               "--batch-size", "64", "--out", out, "--format", "json", "--quiet", "--seed", "0")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["test_top1"] > 0.5 and 0.0 <= rep["pass_cosine"] <= 1.0
    assert (out / "best.pt").is_file() and (out / "metrics.json").is_file() and (out / "config.json").is_file()
    model = load_model(str(out), num_classes=10)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("args, frag", [
    (["--lambda", "-1"], "--lambda must be >= 0"),
    (["--dropout", "1.0"], "--dropout must be < 1"),
    (["--dropout", "-0.1"], "--dropout must be >= 0"),
    (["--adversarial", "pgd", "--eps", "0"], "--eps must be > 0"),
    (["--adversarial", "fgsm", "--eps", "1.5"], "--eps must be <= 1"),
    (["--adversarial", "pgd", "--steps", "0"], "--steps must be >= 1"),
    (["--mask", "random", "--mask-keep", "0"], "--mask-keep must be > 0"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
])
def test_cli_bad_input(invoke, tmp_path, args, frag):
    r = invoke("train", "mdl", "--out", tmp_path / "x", "--epochs", "1", *args)
    assert_user_error(r, frag)


def test_cli_print_config_resolves_alpha_and_mask_keep(invoke, tmp_path):
    r = invoke("train", "mdl", "--adversarial", "pgd", "--eps", "8/255", "--steps", "4", "--out", tmp_path / "x",
               "--print-config")
    assert r.exit_code == 0, r.output
    assert "deprecated" not in r.stderr
    config = json.loads(r.stdout)
    assert config["command"] == ["train", "mdl"]
    resolved = config["resolved"]
    assert resolved["steps"] == 4 and resolved["lam"] == 1.0 and resolved["mask_keep"] is None  # --mask label
    assert resolved["alpha"] == pytest.approx(2.5 * (8 / 255) / 4)  # the pgd default, resolved to a number
    assert not (tmp_path / "x").exists()
    r = invoke("train", "mdl", "--mask", "random", "--adversarial", "fgsm", "--out", tmp_path / "x", "--print-config")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["mask_keep"] == 0.5 and resolved["eps"] == pytest.approx(8 / 255)  # resolved where they apply
    assert resolved["alpha"] is None and resolved["steps"] is None  # fgsm: one step of size eps
    assert not (tmp_path / "x").exists()


def test_every_engine_option_is_a_flag_and_reaches_the_config(invoke, tmp_path):
    r = invoke("train", "mdl", "--optimizer", "adamw", "--scheduler", "multistep", "--milestones", "5",
               "--warmup-epochs", "1", "--grad-clip", "1", "--amp", "off", "--early-stop", "3", "--workers", "0",
               "--image-size", "16", "--out", tmp_path / "x", "--print-config")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["optimizer"] == "adamw" and resolved["momentum"] is None and resolved["milestones"] == [5]
    assert resolved["grad_clip"] == 1.0 and resolved["early_stop"] == 3 and resolved["image_size"] == 16
    assert resolved["lr"] == 0.05 and resolved["weight_decay"] == 5e-4 and resolved["epochs"] == 10  # MDL's defaults


@pytest.mark.parametrize("args, frag", [
    (["--eps", "0.1"], "--eps: not used with --adversarial none"),
    (["--adversarial", "none", "--alpha", "0.01", "--steps", "3"], "--alpha, --steps: not used with "
                                                                   "--adversarial none"),
    (["--adversarial", "fgsm", "--steps", "3"], "--steps: not used with --adversarial fgsm (one step of size --eps"),
    (["--adversarial", "fgsm", "--alpha", "1/255"], "--alpha: not used with --adversarial fgsm"),
    (["--mask-keep", "0.3"], "--mask-keep: not used with --mask label"),
])
def test_cli_refuses_a_typed_flag_the_run_would_ignore(invoke, tmp_path, args, frag):
    r = invoke("train", "mdl", *args, "--out", tmp_path / "x", "--print-config")
    assert_user_error(r, frag)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, values", [
    (["--eps", "0.1"], {"eps": 0.1}),
    (["--adversarial", "none", "--alpha", "0.01", "--steps", "3"], {"adversarial": "none", "alpha": 0.01, "steps": 3}),
    (["--adversarial", "fgsm", "--steps", "3"], {"adversarial": "fgsm", "steps": 3}),
    (["--adversarial", "fgsm", "--alpha", "1/255"], {"adversarial": "fgsm", "alpha": "1/255"}),
    (["--mask-keep", "0.3"], {"mask": "label", "mask_keep": 0.3}),
])
def test_library_call_refuses_with_the_cli_message(invoke, tmp_path, args, values):
    """train_mdl(...) with an option that does not apply raises the LtError the CLI prints (nothing runs)."""
    from toolkit.defense.mdl import train_mdl
    from toolkit.engine.errors import LtError

    r = invoke("train", "mdl", *args, "--out", tmp_path / "x")
    assert_user_error(r)
    with pytest.raises(LtError) as e:
        train_mdl(out=str(tmp_path / "y"), **values)
    assert r.stderr.strip() == f"Error: {e.value}"
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_config_replay_of_a_run_without_adversary_is_not_refused(invoke, tmp_path):
    """A config records --eps/--steps/--mask-keep for every run; replayed, they are not 'typed'."""
    printed = invoke("train", "mdl", "--out", tmp_path / "x", "--print-config")
    assert printed.exit_code == 0, printed.output
    (tmp_path / "config.json").write_text(printed.stdout)
    r = invoke("train", "mdl", "--config", tmp_path / "config.json", "--out", tmp_path / "y", "--print-config")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved == json.loads(printed.stdout)["resolved"] | {"out": str(tmp_path / "y")}
    r = invoke("train", "mdl", "--config", tmp_path / "config.json", "--adversarial", "pgd", "--steps", "3",
               "--out", tmp_path / "z", "--print-config")
    assert r.exit_code == 0, r.output  # typed with the attack that uses them: taken
    assert json.loads(r.stdout)["resolved"]["steps"] == 3
