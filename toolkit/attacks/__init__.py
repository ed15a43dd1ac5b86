"""Transfer attacks with a torchattacks-shaped API.

>>> from toolkit.attacks import get_attack, list_attacks
>>> atk = get_attack("dta", model, eps=16/255, steps=10, inner_steps=10, np_rate=0.1)
>>> adv = atk(images, labels)          # [0,1] images in, [0,1] images in the eps-ball out
>>> adv = get_attack("dta", model, targeted=True)(images, labels, targets)   # true labels + targets
>>> adv = get_attack("mifgsm", model, target_mode="least-likely")(images, labels)

Every attack takes the common options (``eps alpha steps targeted random_start seed loss kappa
kappa_wrong tau np_rate fast target_mode multistep_alpha``; FGSM takes no ``alpha``, ``steps`` or
``multistep_alpha``) plus its own (``list_attacks(with_options=True)``); an option the chosen attack
does not take is an ``LtError``. Options set to None count as not given. ``eps`` defaults to 16/255
(the DTA paper's) here and on the CLI. Each attack's options are one class of
:mod:`toolkit.attacks.options` (torch-free; what ``lt attack NAME --help`` lists).
"""

from __future__ import annotations

from typing import Any

from ..engine.registry import Registry
from .options import COMMON_OPTIONS, AttackListOptions, AttackOptions, attack_options, own_options_of

ATTACKS = Registry("attack")
for _name, _target in {
    "fgsm": "fgsm:FGSM", "ifgsm": "fgsm:IFGSM", "pgd": "fgsm:PGD",
    "mifgsm": "momentum:MIFGSM", "nifgsm": "momentum:NIFGSM",
    "vmifgsm": "variance:VMIFGSM", "vnifgsm": "variance:VNIFGSM",
    "difgsm": "transforms:DIFGSM", "tifgsm": "transforms:TIFGSM", "sifgsm": "transforms:SIFGSM",
    "sinifgsm": "transforms:SINIFGSM",
    "dta": "dta:DTA", "vdta": "dta:VDTA",
}.items():
    ATTACKS.register_lazy(_name, f"toolkit.attacks.{_target}")



def list_attacks(with_options: bool = False) -> list[str] | dict[str, tuple[str, ...]]:
    """Attack names (sorted), or ``{name: its own options}``."""
    if with_options:
        return {n: own_options_of(n) for n in ATTACKS.names()}
    return ATTACKS.names()


def get_attack(name: str, model: Any, opts: AttackOptions | None = None, **options: Any):
    """Build attack ``name`` on ``model`` from its options (``opts`` and/or keywords, None = not given;
    validated by its options class, :data:`toolkit.attacks.options.ATTACK_OPTIONS`); unknown names and
    options it does not take are ``LtError``s."""
    return ATTACKS.get(name)(model, attack_options(name, opts, **options))


def attack_table(opts: AttackListOptions | None = None):
    """A Report listing every attack, its own options and its class docstring's first line (``lt attack list``)."""
    from ..engine.report import Report

    rows = []
    for name in ATTACKS.names():
        cls = ATTACKS.get(name)
        rows.append({"attack": name, "options": " ".join(own_options_of(name)) or "-",
                     "what": ((cls.__doc__ or "").strip().splitlines() or ["-"])[0]})
    common = f"common options: {' '.join(COMMON_OPTIONS)} (fgsm: no alpha, steps, multistep_alpha)"
    return Report("attacks", rows=rows, notes=[common])


__all__ = ["ATTACKS", "COMMON_OPTIONS", "attack_table", "get_attack", "list_attacks"]
