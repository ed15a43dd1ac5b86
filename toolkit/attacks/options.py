"""Which options each attack takes, and their plain defaults — pure Python, no torch.

The attack classes know their options (``Attack.common_options`` + ``Attack.options``, consumed by
``__init__``/``configure``); this table says the same without importing torch, so that ``lt attack
NAME --help`` lists only the options attack NAME takes (``cli/attack.py`` builds every command's
signature from :func:`options_of`). ``tests/test_attacks.py`` checks that the table equals what the
classes accept (every listed option accepted, every other one refused) and that :func:`defaults_of`
equals the values an attack built without options runs with.

An option name is both the ``get_attack`` keyword and the CLI parameter name (``--inner-steps`` is
``inner_steps``); ``seed`` (the attack's private generator) is the library's only option the CLI
does not list: ``lt attack NAME --seed S`` seeds batch b with ``S + b``.

    >>> options_of("fgsm")[:3]
    ('eps', 'targeted', 'random_start')
    >>> defaults_of("vdta")["inner_decay"]
    0.8
"""

from __future__ import annotations

from typing import Any

#: the options every attack takes (the base loop's), in the order ``resolved_options`` records them
COMMON_OPTIONS = ("eps", "alpha", "steps", "targeted", "random_start", "seed", "loss", "kappa",
                  "kappa_wrong", "tau", "np_rate", "fast", "target_mode", "multistep_alpha")
#: common options that FGSM does not take: it makes one step of size eps
STEPPED = ("alpha", "steps", "multistep_alpha")
#: DI (resize_rate, diversity_prob), TI (ti, kernel_name, len_kernel, nsig) and SI (n_scales)
TRANSFORMS = ("resize_rate", "diversity_prob", "ti", "kernel_name", "len_kernel", "nsig", "n_scales")

#: attack -> the options of its own (beyond the common ones), as its class declares them
OWN_OPTIONS: dict[str, tuple[str, ...]] = {
    "fgsm": (), "ifgsm": (), "pgd": (),
    "mifgsm": ("decay",), "nifgsm": ("decay",),
    "vmifgsm": ("decay", "n_samples", "beta"), "vnifgsm": ("decay", "n_samples", "beta"),
    "difgsm": ("decay", "resize_rate", "diversity_prob"),
    "tifgsm": ("decay", "resize_rate", "diversity_prob", "kernel_name", "len_kernel", "nsig"),
    "sifgsm": ("decay", "n_scales"), "sinifgsm": ("decay", "n_scales"),
    "dta": ("decay", "inner_steps", "inner_decay") + TRANSFORMS,
    "vdta": ("decay", "inner_steps", "inner_decay", "n_samples", "beta") + TRANSFORMS,
}
ATTACK_NAMES = tuple(OWN_OPTIONS)

# Defaults that are one plain value (the rest depend on other options: alpha = eps/steps, pgd
# 2.5·eps/steps; kappa, kappa_wrong, tau 1 = FTM off; np_rate None = NP off; DI/TI in dta/vdta off
# until one of their options is given). Papers' values, see each attack's module docstring.
_COMMON_DEFAULTS = {"steps": 10, "targeted": False, "random_start": False, "loss": "ce", "fast": False}
_OWN_DEFAULTS: dict[str, dict[str, Any]] = {
    "pgd": {"random_start": True},
    "mifgsm": {"decay": 1.0}, "nifgsm": {"decay": 1.0},
    "vmifgsm": {"decay": 1.0, "n_samples": 20, "beta": 1.5},
    "vnifgsm": {"decay": 1.0, "n_samples": 20, "beta": 1.5},
    "difgsm": {"decay": 0.0, "resize_rate": 0.9, "diversity_prob": 0.5},
    "tifgsm": {"decay": 0.0, "resize_rate": 0.9, "diversity_prob": 0.5, "kernel_name": "gaussian",
               "len_kernel": 15, "nsig": 3.0},
    "sifgsm": {"decay": 1.0, "n_scales": 5}, "sinifgsm": {"decay": 1.0, "n_scales": 5},
    "dta": {"decay": 1.0, "inner_steps": 10, "inner_decay": 0.0, "ti": False, "n_scales": 1},
    "vdta": {"decay": 1.0, "inner_steps": 10, "inner_decay": 0.8, "n_samples": 20, "beta": 1.5, "ti": False,
             "n_scales": 1},
}


def _known(name: str) -> None:
    if name not in OWN_OPTIONS:
        from ..engine.errors import LtError
        from ..engine.registry import unknown_name_message

        raise LtError(unknown_name_message("attack", name, OWN_OPTIONS))


def common_of(name: str) -> tuple[str, ...]:
    """The common options attack ``name`` takes (all of them, but FGSM takes no alpha/steps/multistep_alpha)."""
    _known(name)
    return tuple(o for o in COMMON_OPTIONS if not (name == "fgsm" and o in STEPPED))


def options_of(name: str) -> tuple[str, ...]:
    """Every option attack ``name`` takes: its common ones, then its own."""
    return common_of(name) + OWN_OPTIONS[name]


def defaults_of(name: str) -> dict[str, Any]:
    """The options of attack ``name`` whose default is one plain value, with that value."""
    taken = set(options_of(name))
    return {k: v for k, v in {**_COMMON_DEFAULTS, **_OWN_DEFAULTS.get(name, {})}.items() if k in taken}


__all__ = ["ATTACK_NAMES", "COMMON_OPTIONS", "OWN_OPTIONS", "STEPPED", "TRANSFORMS", "common_of", "defaults_of",
           "options_of"]
