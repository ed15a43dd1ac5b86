"""The options of every attack and of ``lt attack NAME`` / ``eval`` / ``list``, defined once (pure Python).

One options class per attack (:data:`ATTACK_OPTIONS`): the library's ``get_attack(name, model, **options)``
validates through it, the attack class reads its values from it, and ``lt attack NAME`` gets its flags
from :data:`COMMAND_OPTIONS` (the same class plus the transfer run's options), so ``lt attack NAME --help``
lists only the options attack NAME takes. An option name is the ``get_attack`` keyword, the field and
the flag (``--inner-steps`` is ``inner_steps``). ``seed`` of an attack seeds its private generator
(library); ``lt attack NAME --seed S`` is the run's seed and seeds batch b with ``S + b``.

The budget ``eps`` defaults to 16/255 everywhere (library and CLI): the DTA paper's (Yang et al., Inf.
Sci. 2023). ``eps``, ``alpha`` and ``multistep_alpha`` are fractions: ``16/255`` on the CLI, floats (or
the same text) in the library.

See ``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json`` key and a rule.

    >>> options_of("fgsm")[:3]
    ('eps', 'targeted', 'random_start')
    >>> defaults_of("vdta")["inner_decay"]
    0.8
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..engine.errors import LtError
from ..engine.options import (
    BatchOptions,
    Default,
    DeviceOptions,
    Options,
    OutputOptions,
    RunData,
    SeedOptions,
    flag,
    option,
    options,
    refuse,
)

#: the budget's one default: 16/255, the DTA paper's (library and CLI alike)
EPS_DEFAULT = 16 / 255
#: the attack losses (``toolkit.attacks.losses``)
ATTACK_LOSSES = ("ce", "margin", "dlr")
TARGET_MODES = ("random", "least-likely")
KERNELS = ("gaussian", "linear", "uniform")
#: FTM's kappa, kappa_wrong, tau with ``--ftm`` when not given (the authors' harness)
FTM_DEFAULTS = {"kappa": 1.0, "kappa_wrong": 0.9, "tau": 1.5}
#: input-transform defense -> its options (``toolkit.attacks.input_defenses``)
DEFENSE_OPTIONS: dict[str, tuple[str, ...]] = {
    "none": (), "jpeg": ("jpeg_quality",), "bitdepth": ("bits",), "rp": (), "fd": (),
    "rs": ("rs_sigma", "rs_samples", "rs_alpha"),
}
DEFENSES = tuple(DEFENSE_OPTIONS)


# ------------------------------------------------------------------------------------------------
# The attack options (what get_attack takes), in groups.
@options
class AttackOptions(Options):
    """The options every attack takes (the base loop's)."""

    eps: float = option(EPS_DEFAULT, "L-inf budget in (0, 1]: a number or a fraction such as 8/255.", kind="fraction",
                        gt=0, max=1, default_text="16/255 (the DTA paper's)")
    targeted: bool = option(False, "Aim at the data's target classes (images.csv TargetClass, labels.csv target).",
                            flag="--targeted/--untargeted")
    random_start: bool = option(False, "Start from a uniform point in the eps-ball.",
                                flag="--random-start/--no-random-start")
    seed: int | None = option(None, "Seed of the attack's private generator (None: the global torch RNG).",
                              min=0, cli=False)
    loss: str = option("ce", "Loss function. Attack loss: ce, margin (CW: max_{j≠y} z_j − z_y) or dlr "
                             "(Croce & Hein 2020; needs >= 3 classes).", choices=ATTACK_LOSSES)
    kappa: float = option(1.0, "FTM true-class logit scale (1 = off).", gt=0)
    kappa_wrong: float = option(1.0, "FTM top-wrong-class logit scale (1 = off).", gt=0)
    tau: float = option(1.0, "Softmax temperature τ (logits are divided by τ). Here: FTM's (1 = off).", gt=0)
    np_rate: float | None = option(None, "NP: prune this fraction gamma in [0, 1) of the surrogate's penultimate "
                                         "features per gradient.", min=0, lt=1, default_text="NP off")
    fast: bool = option(False, "bf16 autocast + channels_last (CUDA only; no effect on CPU).", flag="--fast/--no-fast")
    target_mode: str | None = option(None, "Targeted, targets drawn from the surrogate (data without targets).",
                                     choices=TARGET_MODES)


@options
class SteppedOptions(AttackOptions):
    """Iterative attacks: T steps of alpha (every attack but FGSM)."""

    #: the default alpha is alpha_factor * eps / steps (pgd: 2.5)
    alpha_factor: ClassVar[float] = 1.0

    alpha: float | None = option(None, "Attack step size: a number or a fraction such as 1.6/255.", kind="fraction",
                                 gt=0, default_text="eps/steps (pgd: 2.5*eps/steps)")
    steps: int = option(10, "Attack iterations. The outer iterations T.", min=1)
    multistep_alpha: tuple[float, ...] = option((), "Per-step alpha factors, one per step, e.g. 1,1,0.5 (the DTA "
                                                    "authors' schedule; default 1 at every step).", gt=0)

    def _resolve(self):
        if self.alpha is None:
            return self.replace(alpha=self.alpha_factor * self.eps / self.steps)
        return self

    def _rules(self) -> None:
        if self.multistep_alpha and len(self.multistep_alpha) != self.steps:
            raise LtError(f"--multistep-alpha needs one factor per step ({self.steps}); got "
                          f"{len(self.multistep_alpha)}")


@options
class MomentumOptions(SteppedOptions):
    decay: float = option(1.0, "Momentum mu1: weight of the accumulated gradient.", min=0)


@options
class VarianceOptions(Options):
    n_samples: int = option(20, "Variance tuning: neighbours N per gradient.", min=1)
    beta: float = option(1.5, "Variance tuning: neighbourhood radius beta*eps.", gt=0)


@options
class DIOptions(Options):
    """DI: a random resize-and-pad copy per gradient (on when either option is set)."""

    resize_rate: float | None = option(None, "DI: resize to [rate*W, W) then pad back (not 1).", gt=0,
                                       default_text="DI off; giving it or --diversity-prob turns DI on, 0.9")
    diversity_prob: float | None = option(None, "DI: probability of the resize-and-pad.", min=0, max=1,
                                          default_text="DI off; giving it or --resize-rate turns DI on, 0.5")

    def _resolve(self):
        if self.resize_rate is None and self.diversity_prob is None:
            return self
        return self.replace(resize_rate=0.9 if self.resize_rate is None else self.resize_rate,
                            diversity_prob=0.5 if self.diversity_prob is None else self.diversity_prob)

    def _rules(self) -> None:
        if self.resize_rate == 1:
            raise LtError("--resize-rate must not be 1 (the resize-and-pad would do nothing)")


@options
class TIOptions(Options):
    """TI: the gradient smoothed by a kernel (always on where there is no ``ti`` switch)."""

    kernel_name: str | None = option(None, "TI kernel.", choices=KERNELS, default_text="gaussian (with TI)")
    len_kernel: int | None = option(None, "TI kernel side, odd.", min=1, default_text="15 (with TI)")
    nsig: float | None = option(None, "TI Gaussian range in sigmas.", gt=0, default_text="3 (with TI)")

    def ti_on(self) -> bool:
        return bool(getattr(self, "ti", True))

    def _resolve(self):
        if not self.ti_on():
            return self
        return self.replace(kernel_name=self.kernel_name or "gaussian",
                            len_kernel=15 if self.len_kernel is None else self.len_kernel,
                            nsig=3.0 if self.nsig is None else self.nsig)

    def _rules(self) -> None:
        if not self.ti_on():
            refuse(self, ["kernel_name", "len_kernel", "nsig"], "without --ti")
        elif self.len_kernel % 2 != 1:
            raise LtError(f"--len-kernel must be odd (got {self.len_kernel})")


@options
class TISwitchOptions(Options):
    ti: bool = option(False, "TI: smooth every gradient with a kernel (--kernel-name, --len-kernel, --nsig).",
                      flag="--ti/--no-ti")


@options
class SIOptions(Options):
    n_scales: int = option(1, "SI: mean gradient over the copies x/2^i, i < m (1 = SI off).", min=1)


@options
class DTAStepOptions(Options):
    inner_steps: int = option(10, "DTA inner steps K per outer step.", min=1)
    inner_decay: float = option(0.0, "DTA inner momentum mu2.", min=0)


# One class per attack (the field order is the order resolved_options / --help list them).
@options
class FGSMOptions(AttackOptions):
    """``fgsm``: one step of size eps (no alpha, steps, multistep_alpha)."""


@options
class IFGSMOptions(SteppedOptions):
    """``ifgsm``."""


@options(random_start=True)
class PGDOptions(SteppedOptions):
    """``pgd``: random start on, alpha 2.5*eps/steps."""

    alpha_factor: ClassVar[float] = 2.5


@options
class MIFGSMOptions(MomentumOptions):
    """``mifgsm``, ``nifgsm``."""


@options
class VMIFGSMOptions(VarianceOptions, MomentumOptions):
    """``vmifgsm``, ``vnifgsm``."""


@options(decay=0.0, resize_rate=Default(0.9), diversity_prob=Default(0.5))
class DIFGSMOptions(DIOptions, MomentumOptions):
    """``difgsm``: DI on (momentum off by default)."""


@options(decay=0.0, resize_rate=Default(0.9), diversity_prob=Default(0.5))
class TIFGSMOptions(TIOptions, DIOptions, MomentumOptions):
    """``tifgsm``: DI and TI on (momentum off by default)."""


@options(n_scales=5)
class SIFGSMOptions(SIOptions, MomentumOptions):
    """``sifgsm``, ``sinifgsm``: SI with 5 copies."""


@options
class DTAOptions(SIOptions, TIOptions, TISwitchOptions, DIOptions, DTAStepOptions, MomentumOptions):
    """``dta``: DI/TI/SI off until their options are given."""


@options(inner_decay=0.8)
class VDTAOptions(SIOptions, TIOptions, TISwitchOptions, DIOptions, VarianceOptions, DTAStepOptions, MomentumOptions):
    """``vdta``."""


ATTACK_OPTIONS: dict[str, type[AttackOptions]] = {
    "fgsm": FGSMOptions, "ifgsm": IFGSMOptions, "pgd": PGDOptions,
    "mifgsm": MIFGSMOptions, "nifgsm": MIFGSMOptions,
    "vmifgsm": VMIFGSMOptions, "vnifgsm": VMIFGSMOptions,
    "difgsm": DIFGSMOptions, "tifgsm": TIFGSMOptions, "sifgsm": SIFGSMOptions, "sinifgsm": SIFGSMOptions,
    "dta": DTAOptions, "vdta": VDTAOptions,
}
ATTACK_NAMES = tuple(ATTACK_OPTIONS)


def _known(name: str) -> type[AttackOptions]:
    if name not in ATTACK_OPTIONS:
        from ..engine.registry import unknown_name_message

        raise LtError(unknown_name_message("attack", name, ATTACK_OPTIONS))
    return ATTACK_OPTIONS[name]


def _names(cls: type[Options]) -> tuple[str, ...]:
    return tuple(f.name for f in cls.option_fields())


#: the options every attack takes (the base loop's; FGSM: no alpha, steps, multistep_alpha)
COMMON_OPTIONS = _names(AttackOptions) + ("alpha", "steps", "multistep_alpha")


def options_of(name: str) -> tuple[str, ...]:
    """Every option attack ``name`` takes: the common ones, then its own (the class's field order)."""
    fields = _names(_known(name))
    return tuple(o for o in COMMON_OPTIONS if o in fields) + tuple(o for o in fields if o not in COMMON_OPTIONS)


def own_options_of(name: str) -> tuple[str, ...]:
    """The options of attack ``name`` beyond the common ones."""
    return tuple(o for o in options_of(name) if o not in COMMON_OPTIONS)


def defaults_of(name: str) -> dict[str, Any]:
    """The options of attack ``name`` whose default is one plain value (not None, not depending on others)."""
    return {f.name: f.default for f in _known(name).option_fields()
            if f.default is not None and f.default != () and f.name != "seed"}


def attack_options(name: str, opts: AttackOptions | None = None, **values: Any) -> AttackOptions:
    """The validated options of attack ``name``: ``values`` (None = not given) over ``opts`` or the defaults.

    An option attack ``name`` does not take is an :class:`LtError` naming its flag."""
    cls = _known(name)
    given = {k: v for k, v in values.items() if v is not None}
    taken = options_of(name)
    extra = sorted(k for k in given if k not in taken)
    if extra:
        raise LtError(f"attack '{name}' does not use option(s): {', '.join(flag(k) for k in extra)} "
                      f"(its options: {', '.join(flag(k) for k in taken if k != 'seed')})")
    if opts is not None and not isinstance(opts, cls):
        opts = cls.of(**{k: getattr(opts, k) for k in _names(cls) if hasattr(opts, k)})
    return cls.of(opts, **given).validate()


# ------------------------------------------------------------------------------------------------
# lt attack NAME: the transfer run around the attack's options.
@options(batch_size=16)
class VictimOptions(BatchOptions, SeedOptions, DeviceOptions):
    """The models a transfer result is scored on, and the data they read (``lt attack NAME`` and ``eval``)."""

    victims: tuple[str, ...] = option(help="Comma-separated victims (model names, checkpoints, run dirs).")
    weights: str | None = option(None, "Initial weights: a torchvision weights name (read from the hub cache, never "
                                       "downloaded) or a file. For named models (--surrogate, --victims), e.g. "
                                       "DEFAULT.")
    num_classes: int | None = option(None, "Classes of named models.", min=1,
                                     default_text="the dataset's, else the model's")
    data_root: str | None = option(None, "Folder the dataset is read from.")


@options(seed=Default(0, help="Random seed (default: the global --seed, 0). Batch b is attacked with seed + b."))
class TransferRunOptions(VictimOptions, OutputOptions):
    """What ``lt attack NAME`` takes around the attack's options (``toolkit.attacks.transfer.run_attack``)."""

    run_data = RunData("surrogate", {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
                                     "image_size": ("image_size", "--image-size"),
                                     "num_classes": ("num_classes", "--num-classes")}, required="dataset")

    surrogate: str = option(help="Model the adversarial examples are crafted on: a model name, checkpoint or run dir. "
                                 "a,b,c = an ensemble (logits averaged).")
    dataset: str | None = option(None, "Dataset: a registered name (see `lt datasets`). Its test split is attacked; "
                                       "or a folder: NIPS-2017 dir, TransferAttack dir, ImageFolder.",
                                 default_text="the --surrogate run's dataset")
    ftm: bool = option(False, flag="--ftm/--no-ftm", help="FTM fuzziness-tuned logits on every gradient (any attack); "
                                                            "--kappa, --kappa-wrong, "
                              "--tau not given: the authors' 1.0, 0.9, 1.5.")
    score: str = option("png", "Score the saved PNGs (png, ours) or the float tensors (float, authors' harness).",
                        choices=("png", "float"))
    image_size: int | None = option(None, "Image side in pixels. Every image is resized to this square side before "
                                          "the attack (all images must share one size).", min=1, default_text="as read")
    limit: int | None = option(None, "Use only the first N examples.", min=1)

    def _resolve(self):
        if self.ftm:
            return self.replace(**{k: FTM_DEFAULTS[k] if getattr(self, k) is None else getattr(self, k)
                                   for k in FTM_DEFAULTS})
        return self.replace(**{k: 1.0 if getattr(self, k) is None else getattr(self, k) for k in FTM_DEFAULTS})

    def _rules(self) -> None:
        on = [f"{flag(k)} {getattr(self, k):g}" for k in FTM_DEFAULTS if getattr(self, k) != 1.0]
        if not self.ftm and on:
            raise LtError(f"--kappa, --kappa-wrong and --tau need --ftm (got {', '.join(on)}; without --ftm FTM is "
                          "off: 1, 1, 1)")

    def attack_values(self) -> dict[str, Any]:
        """The attack's own options out of this command's (the run's seed is not the attack's)."""
        fields = set(_names(_known(self.attack)))
        return {k: getattr(self, k) for k in fields if k != "seed"}


FTM_TEXT = {"kappa": "FTM true-class logit scale (with --ftm; default 1.0).",
            "kappa_wrong": "FTM top-wrong-class logit scale (with --ftm; default 0.9).",
            "tau": "Softmax temperature τ (logits are divided by τ). Here: FTM's (with --ftm; default 1.5)."}


def _command_class(name: str, attack_cls: type[AttackOptions]) -> type:
    """``lt attack NAME``'s options: the run's and attack NAME's (FTM's kappa.. "not given" until --ftm)."""
    ftm = {k: Default(None, "1 = off; --ftm: " + str(v), help=FTM_TEXT[k]) for k, v in FTM_DEFAULTS.items()}
    klass = type(f"{attack_cls.__name__[:-len('Options')]}CommandOptions_{name}", (TransferRunOptions, attack_cls),
                 {"__doc__": f"``lt attack {name}``.", "__module__": __name__, "attack": name,
                  "__annotations__": {}})
    return options(**ftm)(klass)


#: attack name -> the options class of ``lt attack NAME``
COMMAND_OPTIONS: dict[str, type] = {n: _command_class(n, c) for n, c in ATTACK_OPTIONS.items()}


# ------------------------------------------------------------------------------------------------
@options(weights=Default(None, help="Initial weights: a torchvision weights name (read from the hub cache, never "
                                    "downloaded) or a file. For named models (--victims), e.g. DEFAULT."),
         num_classes=Default(None, "the recorded one, else the model's"),
         seed=Default(0, help="Random seed (default: the global --seed, 0). Seeds the randomized defenses (rp, rs)."))
class AttackEvalOptions(VictimOptions):
    """``lt attack eval``: saved adversarial images scored on victims (``toolkit.attacks.transfer.eval_adv_dir``)."""

    adv_dir: str = option(help="Output dir of `lt attack <name>` (images/ + labels.csv).")
    dataset: str | None = option(None, "Dataset: a registered name (see `lt datasets`). Or a folder: the clean images.",
                                 default_text="the one recorded in --adv-dir's config.json")
    defense: str = option("none", "Input-transform defense around every victim.", choices=DEFENSES)
    jpeg_quality: int | None = option(None, "JPEG quality (jpeg).", min=1, max=100, default_text="75")
    bits: int | None = option(None, "Bits per channel, 2^bits levels (bitdepth).", min=1, max=8, default_text="4")
    rs_sigma: float | None = option(None, "Noise std (rs).", gt=0, default_text="0.25")
    rs_samples: int | None = option(None, "Noisy copies n per image (rs).", min=1, default_text="100")
    rs_alpha: float | None = option(None, "Abstention test level (rs).", gt=0, lt=1, default_text="0.001")

    def _rules(self) -> None:
        check_defense_options(self.defense, **{k: getattr(self, k) for o in DEFENSE_OPTIONS.values() for k in o})

    def defense_values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFENSE_OPTIONS[self.defense] if getattr(self, k) is not None}


def check_defense_options(name: str, **values: Any) -> dict[str, Any]:
    """The options given (not None) for defense ``name``; one that ``name`` does not use is an ``LtError``."""
    if name not in DEFENSE_OPTIONS:
        raise LtError(f"unknown defense '{name}'; valid: {', '.join(DEFENSES)}")
    given = {k: v for k, v in values.items() if v is not None}
    other = sorted(k for k in given if k not in DEFENSE_OPTIONS[name])
    if other:
        owners = {o: d for d, opts in DEFENSE_OPTIONS.items() for o in opts}
        detail = ", ".join(f"{flag(o)} (--defense {owners.get(o, '?')})" for o in other)
        own = " ".join(flag(o) for o in DEFENSE_OPTIONS[name]) or "none"
        raise LtError(f"--defense {name} does not use {detail}; its options: {own}")
    return given


@options
class AttackListOptions(Options):
    """``lt attack list``: no options."""


__all__ = ["ATTACK_LOSSES", "ATTACK_NAMES", "ATTACK_OPTIONS", "AttackEvalOptions", "AttackListOptions",
           "AttackOptions", "COMMAND_OPTIONS", "COMMON_OPTIONS", "DEFENSES", "DEFENSE_OPTIONS", "EPS_DEFAULT",
           "FTM_DEFAULTS", "KERNELS", "TARGET_MODES", "TransferRunOptions", "attack_options", "check_defense_options",
           "defaults_of", "options_of", "own_options_of"]
