"""Attack library: torchattacks golden outputs, DTA/VDTA reductions, FTM, NP, gradient counts, properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.attacks import COMMON_OPTIONS, get_attack, list_attacks
from toolkit.attacks.ftm import ftm_logits
from toolkit.attacks.np import np_mask
from toolkit.engine.errors import LtError
from toolkit.engine.options import flag
from toolkit.models import get_model

ALL = ["difgsm", "dta", "fgsm", "ifgsm", "mifgsm", "nifgsm", "pgd", "sifgsm", "sinifgsm", "tifgsm", "vdta", "vmifgsm",
       "vnifgsm"]
# small inner loops so every attack runs in well under a second on the tiny model
SMALL = {"dta": {"inner_steps": 2}, "vdta": {"inner_steps": 2, "n_samples": 2},
         "vmifgsm": {"n_samples": 2}, "vnifgsm": {"n_samples": 2}, "sifgsm": {"n_scales": 2},
         "sinifgsm": {"n_scales": 2}}



@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return get_model("smallcnn", num_classes=10, width=4).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(3)
    return torch.rand(4, 3, 12, 12, generator=g), torch.randint(0, 10, (4,), generator=g)


def _run(name, model, x, y, stream=1, **kw):
    steps = kw.pop("steps", 3)
    steps = None if name == "fgsm" else steps
    atk = get_attack(name, model, eps=kw.pop("eps", 8 / 255), steps=steps, **{**SMALL.get(name, {}), **kw})
    torch.manual_seed(stream)
    return atk(x, y), atk


def test_registry_names():
    assert list_attacks() == ALL
    opts = list_attacks(with_options=True)
    transforms = ("resize_rate", "diversity_prob", "ti", "kernel_name", "len_kernel", "nsig", "n_scales")
    assert opts["dta"] == ("decay", "inner_steps", "inner_decay") + transforms
    assert set(opts["vdta"]) == {"decay", "inner_steps", "inner_decay", "n_samples", "beta", *transforms}


@pytest.mark.parametrize("ours,theirs,extra", [
    ("ifgsm", "BIM", {}), ("mifgsm", "MIFGSM", {}), ("nifgsm", "NIFGSM", {}),
    ("vmifgsm", "VMIFGSM", {"N": 3}), ("vnifgsm", "VNIFGSM", {"N": 3}),
    ("difgsm", "DIFGSM", {}), ("tifgsm", "TIFGSM", {}), ("pgd", "PGD", {})])
def test_matches_torchattacks(model, batch, ours, theirs, extra):
    import torchattacks

    x, y = batch
    kw = {"n_samples": extra["N"]} if extra else {}
    torch.manual_seed(5)
    a = get_attack(ours, model, eps=8 / 255, alpha=2 / 255, steps=6, **kw)(x, y)
    torch.manual_seed(5)
    b = getattr(torchattacks, theirs)(model, eps=8 / 255, alpha=2 / 255, steps=6, **extra)(x, y)
    assert (a - b).abs().max().item() <= 1e-6
    assert (a - x).abs().max().item() > 7.9 / 255  # the attack moved


@pytest.mark.parametrize("dta_kw,base,base_kw", [
    ({"inner_steps": 1, "inner_decay": 0.0}, "nifgsm", {}),
    ({"inner_steps": 1, "inner_decay": 0.0, "decay": 0.0}, "ifgsm", {}),
    ({"inner_steps": 1, "inner_decay": 0.0, "decay": 0.5}, "nifgsm", {"decay": 0.5})])
def test_dta_reductions(model, batch, dta_kw, base, base_kw):
    x, y = batch
    a, _ = _run("dta", model, x, y, steps=5, **dta_kw)
    b, _ = _run(base, model, x, y, steps=5, **base_kw)
    assert torch.equal(a, b)


def test_vdta_reduces_to_vnifgsm(model, batch):
    x, y = batch
    a, _ = _run("vdta", model, x, y, steps=4, inner_steps=1, inner_decay=0.0, n_samples=3)
    b, _ = _run("vnifgsm", model, x, y, steps=4, n_samples=3)
    assert torch.equal(a, b)


def test_dta_with_more_inner_steps_differs(model, batch):
    x, y = batch
    a, _ = _run("dta", model, x, y, steps=4, inner_steps=3)
    b, _ = _run("nifgsm", model, x, y, steps=4)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_ftm_ones_is_base_bit_exact(model, batch, name):
    x, y = batch
    a, _ = _run(name, model, x, y)
    b, _ = _run(name, model, x, y, kappa=1.0, kappa_wrong=1.0, tau=1.0)
    c, _ = _run(name, model, x, y, kappa=0.8, kappa_wrong=0.9, tau=2.0)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)  # FTM reaches every attack's gradient


def test_ftm_gradient_identity():
    torch.manual_seed(0)
    z = torch.randn(6, 5, dtype=torch.float64)
    y = z.argmax(dim=1)  # correctly classified: only kappa applies
    kappa, tau = 0.7, 1.8
    zr = z.clone().requires_grad_(True)
    loss = F.cross_entropy(ftm_logits(zr, y, kappa, 0.9, tau), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, zr)
    zt = z.clone()
    zt[torch.arange(6), y] *= kappa
    p = torch.softmax(zt / tau, dim=1)
    expected = p / tau
    expected[torch.arange(6), y] = kappa * (p[torch.arange(6), y] - 1) / tau
    assert torch.allclose(g, expected, atol=1e-12)


def test_ftm_scales_top_wrong_class_of_misclassified():
    z = torch.tensor([[1.0, 3.0, 2.0], [3.0, 1.0, 2.0]])
    y = torch.tensor([0, 0])
    out = ftm_logits(z, y, kappa=2.0, kappa_wrong=0.5, tau=1.0)
    assert torch.equal(out, torch.tensor([[2.0, 1.5, 2.0], [6.0, 1.0, 2.0]]))


@pytest.mark.parametrize("name,kw,expected", [
    ("dta", {"inner_steps": 4}, 3 * 4),
    ("vdta", {"inner_steps": 4, "n_samples": 3}, 3 * 4 * (1 + 3)),
    ("dta", {"inner_steps": 4, "np_rate": 0.2}, 2 * 3 * 4),
    ("vdta", {"inner_steps": 2, "n_samples": 3, "np_rate": 0.2}, 3 * 2 * (2 + 3)),
    ("mifgsm", {}, 3), ("sifgsm", {"n_scales": 3}, 9)])
def test_gradient_call_counter(model, batch, name, kw, expected):
    x, y = batch
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        _, atk = _run(name, model, x, y, steps=3, **kw)
    finally:
        handle.remove()
    assert atk.grad_calls == expected
    # NP reuses the body forward: forwards = gradients of the unpruned loop
    assert len(calls) == (expected // 2 if name == "dta" and "np_rate" in kw else
                          expected - (3 * 2 if name == "vdta" and "np_rate" in kw else 0))


def test_np_rate_zero_equals_no_np(model, batch):
    x, y = batch
    a, _ = _run("dta", model, x, y, inner_steps=2)
    b, _ = _run("dta", model, x, y, inner_steps=2, np_rate=0.0)
    c, _ = _run("dta", model, x, y, inner_steps=2, np_rate=0.5)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_np_mask_equals_explicit_quantile():
    import numpy as np

    g = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))
    for rate in (0.1, 0.25, 0.5, 0.9):
        mask = np_mask(g, rate)
        a = g.abs().numpy()
        expected = (a >= np.quantile(a, rate, axis=1, keepdims=True)).astype(np.float32)
        assert np.array_equal(mask.numpy(), expected)
        assert (mask.sum(1) == 64 - int(np.floor(rate * 63)) - 1).all()  # pruned count per sample


@pytest.mark.parametrize("arch", ["resnet20", "mlp", "mobilenet_v2"])
def test_np_hooks_other_architectures(arch):
    torch.manual_seed(0)
    kw = {"in_features": 3 * 16 * 16, "hidden": 16} if arch == "mlp" else {}
    m = get_model(arch, num_classes=10, **kw).eval()
    x, y = torch.rand(2, 3, 16, 16), torch.tensor([1, 2])
    atk = get_attack("mifgsm", m, eps=4 / 255, steps=1, np_rate=0.3)
    adv = atk(x, y)
    assert atk.grad_calls == 2 and (adv - x).abs().max() <= 4 / 255 + 1e-7


def test_unused_and_unknown_options_are_errors(model):
    with pytest.raises(LtError, match="does not use option.*decay"):
        get_attack("ifgsm", model, decay=1.0)
    with pytest.raises(LtError, match="--inner-steps"):
        get_attack("mifgsm", model, inner_steps=3)
    with pytest.raises(LtError, match="fgsm"):
        get_attack("fgsm", model, steps=5)
    with pytest.raises(LtError, match="valid: .*dta"):
        get_attack("dtaa", model)
    for eps in (0.0, -0.1, 1.5):
        with pytest.raises(LtError, match="eps"):
            get_attack("pgd", model, eps=eps)
    with pytest.raises(LtError, match="loss"):
        get_attack("pgd", model, loss="hinge")
    get_attack("ifgsm", model, decay=None)  # None counts as not given
    assert "random_start" in COMMON_OPTIONS and "loss" in COMMON_OPTIONS
    with pytest.raises(LtError, match="does not use option.*--multistep-alpha"):
        get_attack("fgsm", model, multistep_alpha=[1.0])
    with pytest.raises(LtError, match="--multistep-alpha"):  # the class itself refuses it, too
        from toolkit.attacks.fgsm import FGSM

        FGSM(model, multistep_alpha=[1.0])


# A valid value for every option (and what it needs alongside), to ask each attack whether it takes it.
SAMPLE = {"eps": 4 / 255, "alpha": 1 / 255, "steps": 2, "targeted": True, "random_start": True, "seed": 1,
          "loss": "margin", "kappa": 0.9, "kappa_wrong": 0.9, "tau": 1.5, "np_rate": 0.1, "fast": True,
          "target_mode": "random", "multistep_alpha": [1.0] * 10, "decay": 0.5, "inner_steps": 2, "inner_decay": 0.1,
          "n_samples": 2, "beta": 1.2, "resize_rate": 0.8, "diversity_prob": 0.4, "ti": True,
          "kernel_name": "linear", "len_kernel": 3, "nsig": 2.0, "n_scales": 2}
NEEDS = {"kernel_name": {"ti": True}, "len_kernel": {"ti": True}, "nsig": {"ti": True}}


def test_torch_free_table_equals_what_the_classes_accept(model):
    """toolkit.attacks.options (what `lt attack NAME --help` lists) against the attack classes."""
    from toolkit.attacks import ATTACKS
    from toolkit.attacks.options import ATTACK_NAMES, options_of

    assert sorted(ATTACK_NAMES) == list_attacks()
    assert set(SAMPLE) == {o for n in ATTACK_NAMES for o in options_of(n)}  # every option is asked about
    for name in ATTACK_NAMES:
        assert ATTACKS.get(name).accepted_options() == options_of(name), name
        for option, value in SAMPLE.items():
            extra = {k: v for k, v in NEEDS.get(option, {}).items() if k in options_of(name)}
            if option in options_of(name):
                atk = get_attack(name, model, **{option: value, **extra})  # taken ...
                assert option in atk.resolved_options(), (name, option)
            else:
                with pytest.raises(LtError, match=f"does not use option.*{flag(option)}"):  # ... or refused
                    get_attack(name, model, **{option: value, **extra})


def test_torch_free_defaults_equal_the_attacks_defaults(model):
    """The defaults `lt attack NAME --help` shows are the ones the attack runs with when not given."""
    from toolkit.attacks.options import ATTACK_NAMES, defaults_of

    for name in ATTACK_NAMES:
        resolved = get_attack(name, model).resolved_options()
        assert defaults_of(name) == {k: resolved[k] for k in defaults_of(name)}, name
        assert set(defaults_of(name)) >= {"targeted", "random_start", "loss", "fast"}


@pytest.mark.parametrize("loss", ["margin", "dlr"])
def test_other_losses_raise_the_loss(model, batch, loss):
    from toolkit.attacks.base import attack_loss

    x, y = batch
    adv, _ = _run("pgd", model, x, y, steps=5, loss=loss, eps=16 / 255)
    with torch.no_grad():
        assert attack_loss(model(adv), y, loss) > attack_loss(model(x), y, loss)


def test_targeted_moves_towards_target(model, batch):
    x, y = batch
    t = torch.full((4,), 3)
    adv = get_attack("mifgsm", model, eps=32 / 255, steps=10, targeted=True)(x, y, t)
    with torch.no_grad():
        assert F.cross_entropy(model(adv), t) < F.cross_entropy(model(x), t)


def test_seed_gives_reproducible_private_stream(model, batch):
    x, y = batch
    a, _ = _run("vmifgsm", model, x, y, seed=7, stream=1)
    b, _ = _run("vmifgsm", model, x, y, seed=7, stream=2)
    c, _ = _run("vmifgsm", model, x, y, seed=8, stream=1)
    assert torch.equal(a, b) and not torch.equal(a, c)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(eps=st.sampled_from([1 / 255, 4 / 255, 16 / 255, 0.5]), seed=st.integers(0, 1000),
       train=st.booleans(), random_start=st.booleans())
@pytest.mark.parametrize("name", ALL)
def test_properties(model, name, eps, seed, train, random_start):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 12, 12, generator=g)
    x[0, 0, :2] = 0.0
    x[1, 1, :2] = 1.0  # pixels at the [0,1] borders
    y = torch.randint(0, 10, (3,), generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]
    model.train(train)
    try:
        adv, _ = _run(name, model, x, y, eps=eps, steps=2, seed=seed, random_start=random_start)
        assert all(m.training == train for m in model.modules())
    finally:
        model.eval()
    assert adv.shape == x.shape and adv.dtype == x.dtype and adv.device == x.device
    assert (adv - x).abs().max().item() <= eps + 1e-6
    assert adv.min().item() >= 0 and adv.max().item() <= 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
