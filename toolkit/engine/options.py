"""Options, defined once: typed groups whose fields carry their type, default, unit, range and help.

Every option of every command lives in exactly one field of one group here or in its method's
package (``toolkit/longtail/options.py``, ...). From that one definition come:

- the library's keyword: a toolkit entry point takes the group (``train_ce(CEOptions(epochs=3))``,
  or the same fields as keywords, ``train_ce(epochs=3)``);
- the CLI's flag: ``cli/options.py`` generates the Typer parameters of a command from its group
  (field ``batch_size`` is ``--batch-size``; its help, default and choices are the field's);
- ``config.json``'s ``resolved``: :meth:`Options.to_dict` of the validated group, keyed by the field
  names, which ``--config FILE`` replays into the same fields;
- the rules: :meth:`Options.validate` checks every field's range and choices, then each group's
  ``_rules`` (which options go together), after each group's ``_resolve`` (defaults that depend on
  other options, such as a recipe's). The library and the CLI call the same ``validate``, so a library
  call with an option that does not apply raises the same :class:`LtError` the CLI prints.

Conventions:

- a field whose default is ``None`` means "not given": ``_resolve`` fills it where it applies (the
  recipe's epochs, rd's grid), and ``_rules`` refuses it, named by its flag, where it does not apply
  (``--grid: not used with --method lamp``). Options that do not apply stay ``None`` in ``resolved``.
- messages name options by their flag (:func:`flag`): toolkit names equal flag names.
- group classes are made with :func:`options`, which also lets a subclass change an inherited
  field's default without repeating its definition: ``@options(lr=0.05)``.

Pure Python (no torch): the CLI builds every command's signature from these classes at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from .errors import LtError

T = TypeVar("T", bound="Options")


# ------------------------------------------------------------------------------------------------
# One field: option(default, help, ...)
def option(default: Any = MISSING, help: str = "", *, flag: str | None = None, short: str | None = None,
           min: float | None = None, max: float | None = None, gt: float | None = None, lt: float | None = None,
           choices: tuple[str, ...] | None = None, unit: str = "", kind: str | None = None,
           argument: bool = False, cli: bool = True, default_text: str | None = None,
           metavar: str | None = None, run_control: bool = False) -> Any:
    """A dataclass field that is an option.

    Args:
        default: the value used when the option is not given (``None``: "not given", resolved later).
        help: what the option means (one sentence; the CLI's help starts with it).
        flag: the CLI declaration when it is not ``--name-with-dashes`` (``"--ftm/--no-ftm"``,
            ``"--lambda"``).
        short: a short alias (``"-f"``).
        min, max: inclusive bounds; gt, lt: exclusive bounds (checked by :meth:`Options.validate`).
        choices: the valid values of a text option.
        unit: shown after the help (``"pixels"``, ``"epochs"``).
        kind: how the CLI text becomes the value: ``"fraction"`` (``8/255``), ``"list"`` (comma-separated,
            items of the field's element type); otherwise the field's own type.
        argument: a positional argument on the CLI.
        cli: False for library-only fields (never a flag).
        default_text: what the help says the default is when it is not a plain value.
        metavar: the CLI's placeholder (``PATIENCE``).
        run_control: how to run, not what is run (device, workers, ...): never compared on ``--resume``.
    """
    meta = {"help": help, "flag": flag, "short": short, "min": min, "max": max, "gt": gt, "lt": lt,
            "choices": tuple(choices) if choices else None, "unit": unit, "kind": kind, "argument": argument,
            "cli": cli, "default_text": default_text, "metavar": metavar, "run_control": run_control}
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


class Default:
    """A new default for an inherited option: ``@options(epochs=Default(None, "the recipe's"))``."""

    def __init__(self, value: Any, text: str | None = None, **meta: Any):
        self.value, self.text, self.meta = value, text, meta


def options(cls: type | None = None, /, **defaults: Any):
    """Make ``cls`` an option group: a keyword-only dataclass; ``defaults`` replace inherited defaults.

    ``@options(lr=0.05)`` keeps the inherited ``lr`` field (its help, range, flag) and changes only
    its default; ``Default(value, text, **meta)`` also changes the help's default text or metadata.
    """

    def wrap(klass: type) -> type:
        inherited = {f.name: (f, base) for base in reversed(klass.__mro__[1:])
                     for f in getattr(base, "__dataclass_fields__", {}).values()}
        annotations = dict(klass.__dict__.get("__annotations__", {}))
        for name, value in defaults.items():
            if name not in inherited:
                raise TypeError(f"{klass.__name__}: no inherited option '{name}' to give a default")
            old, base = inherited[name]
            new = value if isinstance(value, Default) else Default(value)
            meta = {**old.metadata, **new.meta}
            if new.text is not None:
                meta["default_text"] = new.text
            annotations[name] = typing.get_type_hints(base)[name] if new.value is not None else \
                typing.Optional[typing.get_type_hints(base)[name]]
            setattr(klass, name, field(default=new.value, metadata=meta))
        klass.__annotations__ = annotations
        klass.__option_overrides__ = frozenset(defaults)
        return dataclass(kw_only=True)(klass)

    return wrap(cls) if cls is not None else wrap


def flag(name: str) -> str:
    """The CLI flag of option ``name`` (``batch_size`` -> ``--batch-size``; a declared flag wins)."""
    for group in _ALL_GROUPS:
        f = getattr(group, "__dataclass_fields__", {}).get(name)
        if f is not None and f.metadata.get("flag"):
            return f.metadata["flag"].split("/")[0]
    return "--" + name.replace("_", "-")


_ALL_GROUPS: list[type] = []


# ------------------------------------------------------------------------------------------------
# Parsing the CLI's text forms (one place: the CLI and --config replay use them).
def parse_fraction(text: Any, name: str) -> float:
    """``16/255``, ``1.6/255`` or ``0.0627`` -> float; a bad value is an :class:`LtError` naming ``name``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        s = str(text)
        if "/" not in s:
            return float(s)
        num, den = s.split("/")
        return float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        raise LtError(f"{name} must be a number or a fraction like 16/255 (got '{text}')") from None


def parse_list(text: Any, item: type, name: str) -> tuple:
    """``"160,180"`` -> (160, 180) with items of type ``item``; a list or tuple is converted item-wise."""
    if text is None:
        return ()
    parts = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    try:
        if item is float:
            return tuple(parse_fraction(p, name) for p in parts)
        return tuple(item(p) for p in parts)
    except (TypeError, ValueError):
        what = "numbers" if item in (int, float) else "values"
        raise LtError(f"{name} must be a comma-separated list of {what} (got '{text}')") from None


def base_type(hint: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``tuple[int, ...]`` -> (tuple[int, ...], False)."""
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def element_type(hint: Any) -> type:
    """The item type of ``tuple[int, ...]`` (str when unknown)."""
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    return args[0] if args else str


# ------------------------------------------------------------------------------------------------
class RunData:
    """Declared on an options class (``run_data = RunData("checkpoint", {...})``): when the field ``run_field``
    names a run dir or checkpoint, the fields in ``fields`` left None are filled from what that run recorded
    (``{field: (recorded key, flag)}``; said on stderr) by :meth:`Options.validate`, before any ``_resolve``;
    ``required``: a field that must end up set; ``defaults``: values for fields neither given nor recorded.
    So ``--print-config`` shows the values the run will use (``lt train eval RUN``, ``lt prune RUN``)."""

    def __init__(self, run_field: str, fields: dict[str, tuple[str, str]], required: str | None = None,
                 defaults: dict[str, Any] | None = None):
        self.run_field, self.fields, self.required, self.defaults = run_field, fields, required, defaults


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _missing_path(spec: Any) -> bool:
    """A run spec that names a file or dir that does not exist: nothing to read (the command itself says it
    does not exist, after the option rules)."""
    import os
    from pathlib import Path

    text = str(spec)
    return "," not in text and not Path(text).exists() and (os.sep in text or text.endswith((".pt", ".pth")))


class Options:
    """Base of every option group (see the module docstring)."""

    run_data: typing.ClassVar[RunData | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _ALL_GROUPS.append(cls)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def of(cls: type[T], opts: T | None = None, **values: Any) -> T:
        """``opts`` (or the defaults) with ``values`` replaced; an unknown keyword is an :class:`LtError`."""
        names = {f.name for f in fields(cls)}
        bad = sorted(set(values) - names)
        if bad:
            raise LtError(f"unknown option(s) {', '.join(flag(b) for b in bad)}; valid: "
                          f"{', '.join(flag(n) for n in sorted(names))}")
        if opts is None:
            return cls(**values)
        if not isinstance(opts, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(opts).__name__}")
        return dataclasses.replace(opts, **values)

    @classmethod
    def option_fields(cls) -> tuple[dataclasses.Field, ...]:
        return fields(cls)

    @classmethod
    def hints(cls) -> dict[str, Any]:
        """The fields' types (evaluated once per class: the CLI asks for every field of every command)."""
        return _hints(cls)

    def to_dict(self) -> dict[str, Any]:
        """Every option under its name, with its value (``config.json``'s ``resolved``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def replace(self: T, **values: Any) -> T:
        return dataclasses.replace(self, **values)

    # -- validation ---------------------------------------------------------------------------
    def validate(self: T) -> T:
        """A copy with defaults that depend on other options resolved, checked field by field and by
        every group's rules; raises :class:`LtError` naming the flag. Idempotent."""
        out = self._coerced()
        spec = type(out).run_data
        if spec is not None and getattr(out, spec.run_field) and not _missing_path(getattr(out, spec.run_field)):
            from .runs import fill_from_run  # reads the run's config.json (or its checkpoint's config)

            given = {k: getattr(out, k) for k in spec.fields}
            out = out.replace(**fill_from_run(str(getattr(out, spec.run_field)), given, spec.fields, spec.required,
                                              spec.defaults))
        elif spec is not None and spec.defaults:  # nothing to read: the defaults alone
            out = out.replace(**{k: v for k, v in spec.defaults.items() if getattr(out, k) is None})
        for klass in reversed(type(out).__mro__):
            hook = klass.__dict__.get("_resolve")
            if hook is not None:
                out = hook(out) or out
        out._check_fields()
        for klass in reversed(type(out).__mro__):
            hook = klass.__dict__.get("_rules")
            if hook is not None:
                hook(out)
        return out

    def _coerced(self: T) -> T:
        """Text forms converted to the fields' types (fractions, lists), so a library call may pass either."""
        hints, changes = self.hints(), {}
        for f in fields(self):
            value, kind = getattr(self, f.name), f.metadata.get("kind")
            if value is None:
                continue
            hint, _ = base_type(hints[f.name])
            if kind == "fraction":
                changes[f.name] = parse_fraction(value, flag(f.name))
            elif kind == "list" or typing.get_origin(hint) in (tuple, list):
                changes[f.name] = parse_list(value, element_type(hint), flag(f.name))
            elif hint is float and isinstance(value, int) and not isinstance(value, bool):
                changes[f.name] = float(value)
        return dataclasses.replace(self, **changes) if changes else self

    def _check_fields(self) -> None:
        hints = self.hints()
        for f in fields(self):
            value, m = getattr(self, f.name), f.metadata
            if value is None:
                continue
            name = flag(f.name)
            hint, _ = base_type(hints[f.name])
            if hint in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise LtError(f"{name} must be a number (got {value!r})")
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise LtError(f"{name} must be a whole number (got {value})")
            if m.get("choices") and value not in m["choices"]:
                raise LtError(f"{name} must be one of {', '.join(m['choices'])} (got '{value}')")
            items = value if isinstance(value, tuple) else (value,)
            for v in items:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    _check_range(name, v, m)


_OPS = (("min", ">=", lambda v, b: v >= b), ("gt", ">", lambda v, b: v > b), ("max", "<=", lambda v, b: v <= b),
        ("lt", "<", lambda v, b: v < b))


def _check_range(name: str, v: float, m: Any) -> None:
    """A number outside the field's range (or, where a range is set, not finite) is an LtError naming the
    bound it breaks: ``--epochs must be >= 1 (got 0)``, ``--lr must be a finite number > 0 (got nan)``."""
    bounds = [(op, m[k], test) for k, op, test in _OPS if m.get(k) is not None]
    if not bounds:
        return
    if not math.isfinite(v):
        raise LtError(f"{name} must be a finite number {' and '.join(f'{op} {b}' for op, b, _ in bounds)} (got {v})")
    broken = [f"{op} {b}" for op, b, test in bounds if not test(v, b)]
    if broken:
        raise LtError(f"{name} must be {' and '.join(broken)} (got {v})")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def run_control_names() -> frozenset[str]:
    """Options that say how to run, not what the run is (``run_control=True`` in any group loaded): never
    compared on ``--resume``, never replayed by ``--config`` (device, workers, force, resume, caches)."""
    return frozenset(f.name for group in _ALL_GROUPS for f in getattr(group, "__dataclass_fields__", {}).values()
                     if f.metadata.get("run_control"))


def refuse(opts: Options, names: typing.Iterable[str], reason: str) -> None:
    """:class:`LtError` when any of ``names`` was given (differs from its field's default: for the usual
    ``None`` default, any value, ``False`` included) although the run will not use it:
    ``--mask-keep: not used with --mask label``."""
    defaults = {f.name: f.default for f in fields(opts)}
    given = [flag(n) for n in names if getattr(opts, n) != defaults[n]]
    if given:
        raise LtError(f"{', '.join(given)}: not used {reason}")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise LtError(message)


# ------------------------------------------------------------------------------------------------
# The groups every command of a kind shares.
@options
class DeviceOptions(Options):
    """Which device a command computes on."""

    device: str = option("auto", "auto|cpu|cuda|cuda:N|mps (default: the global --device, auto).",
                         run_control=True)


@options
class SeedOptions(Options):
    """The seed of a command's randomness."""

    seed: int = option(0, "Random seed (default: the global --seed, 0).", min=0, max=2**32 - 1)


@options
class OutputOptions(SeedOptions, DeviceOptions):
    """Where a run writes and how it starts (every command that writes a run dir)."""

    out: str | None = option(None, "Run dir (default runs/<group>-<method>-<time>).")
    force: bool = option(False, "Write into an existing, non-empty --out.", run_control=True)
    deterministic: bool = option(False, "Deterministic kernels (slower; bit-exact resume).")


@options
class RunOptions(OutputOptions):
    """A run that keeps checkpoints to continue from (every trainer)."""

    resume: bool = option(False, "Continue the run in --out where its checkpoints left off (the same options; "
                                 "bit-exact with --deterministic).", run_control=True)


@options
class DataOptions(Options):
    """What data a command reads."""

    dataset: str = option("digits-lt", "Dataset: a registered name (see `lt datasets`).")
    data_root: str | None = option(None, "Folder the dataset is read from.")
    download: bool = option(False, "Allow torchvision to download the dataset (never by default).")


@options
class SelectionOptions(Options):
    """Which split picks the reported epoch of a trainer (``toolkit.data.selection``): never test unless named."""

    select_on: str = option("val", "Split the reported epoch is picked on: val (the dataset's; else carved from "
                                   "train, see --val-fraction), last (no selection), test (biased: warned).",
                            choices=("val", "last", "test"))
    val_fraction: float | None = option(None, "Share of each class of train held out as val (stratified, fixed "
                                              "seed) when the dataset has no val split.", gt=0, lt=1,
                                        default_text="0.1 with --select-on val")

    def _resolve(self):
        if self.select_on == "val" and self.val_fraction is None:
            return self.replace(val_fraction=0.1)
        return self

    def _rules(self) -> None:
        if self.select_on != "val":
            refuse(self, ["val_fraction"], f"with --select-on {self.select_on} (no val split is carved)")


@options
class BatchOptions(Options):
    """How many samples a step takes."""

    batch_size: int = option(128, "Samples per batch (per process under torchrun).", min=1)


@options
class TrainOptions(BatchOptions):
    """The training engine's options: every trainer takes all of them (``toolkit.engine.loop.fit``)."""

    epochs: int = option(10, "Training epochs.", min=1)
    lr: float = option(0.1, "Peak learning rate.", gt=0)
    optimizer: str = option("sgd", "Optimizer.", choices=("sgd", "adam", "adamw"))
    momentum: float | None = option(None, "SGD momentum (sgd only).", min=0, lt=1, default_text="0.9 with sgd")
    weight_decay: float = option(5e-4, "Weight decay.", min=0)
    scheduler: str = option("cosine", "Learning-rate schedule (stepped per iteration after the warm-up).",
                            choices=("cosine", "multistep", "none"))
    warmup_epochs: int = option(0, "Linear warm-up epochs.", min=0)
    milestones: tuple[int, ...] = option((), "Multistep lr epochs, e.g. 160,180 (--scheduler multistep).", min=1)
    lr_factors: tuple[float, ...] = option((), "lr multiplier from each milestone on, e.g. 0.01,0.0001 "
                                               "(default 0.1, 0.01, ...).", gt=0)
    grad_clip: float = option(0.0, "Clip the gradient norm (0 = off).", min=0)
    amp: str = option("auto", "Mixed precision: auto = on CUDA only.", choices=("auto", "on", "off"))
    channels_last: bool = option(False, "channels_last memory format for the model and its 4-D image inputs.")
    compile: bool = option(False, "torch.compile the model (opt-in; the first steps are slower).")
    workers: int = option(0, "Worker processes for data loading or feature extraction.", min=0, run_control=True)
    early_stop: int = option(0, "Stop when the selection metric has not improved for PATIENCE epochs (0 = off).",
                             min=0, metavar="PATIENCE")

    def _resolve(self):
        if self.optimizer == "sgd" and self.momentum is None:
            return self.replace(momentum=0.9)
        return self

    def _rules(self) -> None:
        if self.optimizer != "sgd":
            refuse(self, ["momentum"], f"with --optimizer {self.optimizer} (SGD only)")
        if self.scheduler != "multistep":
            refuse(self, ["milestones", "lr_factors"], f"with --scheduler {self.scheduler}")
        if self.lr_factors and len(self.lr_factors) != len(self.milestones):
            raise LtError(f"--lr-factors gives {len(self.lr_factors)} factor(s) for {len(self.milestones)} "
                          f"--milestones; give one per milestone")

    def train_fields(self) -> dict[str, Any]:
        """This group's values (what ``toolkit.engine.loop.TrainConfig`` inherits)."""
        return {f.name: getattr(self, f.name) for f in fields(TrainOptions)}


__all__ = ["BatchOptions", "DataOptions", "Default", "DeviceOptions", "Options", "OutputOptions", "RunData",
           "RunOptions", "SeedOptions", "SelectionOptions", "TrainOptions", "base_type", "element_type", "flag",
           "option", "options", "parse_fraction", "parse_list", "refuse", "require", "run_control_names"]
