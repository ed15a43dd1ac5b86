"""Typer commands generated from the toolkit's option groups (``toolkit/engine/options.py``).

A command is declared once, by its options class and its toolkit entry point::

    command(app, "ce", CEOptions, "toolkit.longtail.train:train_ce", run=("train", "ce"))

Every field of the class becomes one parameter (``batch_size`` -> ``--batch-size``), with the field's
help, choices, unit and default; the output options (``--format``, ``--quiet``) and the replay options
(``--config``, ``--print-config``) are added around them. The body converts the parsed values into the
options class, calls its ``validate()`` (the same checks a library call gets) and the entry point,
and prints the entry point's report; ``--print-config`` prints the config the run would write and
returns without running.

Only typer, the standard library and the torch-free ``toolkit.engine.options`` are imported at module top.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from dataclasses import MISSING
from typing import Annotated, Any, Callable, List, Optional

import typer

from toolkit.engine.options import Options, base_type, element_type

from .common import ConfigOpt, FormatOpt, PrintConfigOpt, QuietOpt, globals_of, invoke

_P = inspect.Parameter
# Options whose CLI default comes from the root command's globals (lt --device cuda train ...).
GLOBAL = ("device", "seed")
OUTPUT = ("config", "print_config", "fmt", "quiet")


def _default_of(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return _P.empty


def _cli_text(value: Any) -> Any:
    """A default as the CLI shows and parses it: tuples as ``a,b``."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else None
    return value


def help_of(f) -> str:
    """A field's help: its meaning, then its choices, unit and default text."""
    m = f.metadata
    text = m.get("help", "")
    if m.get("choices"):
        text += f" One of: {'|'.join(m['choices'])}."
    if m.get("unit"):
        text += f" Unit: {m['unit']}."
    if m.get("default_text"):
        text += f" Default: {m['default_text']}."
    return text


def parameter(cls: type[Options], f, overrides: dict[str, Any] | None = None) -> _P:
    """One Typer parameter for option field ``f`` of ``cls``."""
    m = f.metadata
    hint, optional = base_type(cls.hints()[f.name])
    default = _default_of(f)
    decls = (m.get("flag") or "--" + f.name.replace("_", "-"),)
    variadic = bool(m.get("argument")) and getattr(hint, "__origin__", None) in (tuple, list)
    if variadic:
        annotation = List[element_type(hint)]  # a variadic argument (FILES..., RUN...): one value per word
        default = _P.empty if default is _P.empty else (list(default) if default else None)
    elif hint is bool:
        if default is True and "/" not in decls[0]:
            decls = (f"{decls[0]}/--no-{decls[0][2:]}",)
        annotation: Any = bool
    elif m.get("kind") in ("fraction", "list") or m.get("kind") is None and getattr(hint, "__origin__", None) in (
            tuple, list):
        annotation, optional = str, True
        default = _cli_text(default) if default is not _P.empty else default
        if default is not None and default is not _P.empty and m.get("kind") == "fraction":
            default = str(default)
    else:
        annotation = hint
    if f.name in GLOBAL:
        default, optional = None, True
    if optional or default is None:
        annotation = Optional[annotation]
    kwargs = {"help": help_of(f), "show_default": m.get("default_text") is None}
    if m.get("metavar"):
        kwargs["metavar"] = m["metavar"]
    if m.get("argument"):
        if not variadic:  # typer shows a variadic one as name...
            kwargs.setdefault("metavar", f.name.upper())
        info = typer.Argument(**kwargs)
    else:
        info = typer.Option(*decls, *((m["short"],) if m.get("short") else ()), **kwargs)
    return _P(f.name, _P.KEYWORD_ONLY, annotation=Annotated[annotation, info], default=default)


def signature(cls: type[Options]) -> inspect.Signature:
    """The command's parameters: positional arguments first, every CLI field, then the output options."""
    fs = sorted((f for f in cls.option_fields() if f.metadata.get("cli", True)), key=lambda f: _depth(cls, f.name))
    fs = [f for f in fs if f.metadata.get("argument")] + [f for f in fs if not f.metadata.get("argument")]
    params = [_P("ctx", _P.KEYWORD_ONLY, annotation=typer.Context)] + [parameter(cls, f) for f in fs]
    params += [_P("config", _P.KEYWORD_ONLY, annotation=ConfigOpt, default=None),
               _P("print_config", _P.KEYWORD_ONLY, annotation=PrintConfigOpt, default=False),
               _P("fmt", _P.KEYWORD_ONLY, annotation=FormatOpt, default=None),
               _P("quiet", _P.KEYWORD_ONLY, annotation=QuietOpt, default=False)]
    return inspect.Signature(params)


def _depth(cls: type, name: str) -> int:
    """How far up the class tree option ``name`` is declared (0: the command's own class): its own options
    are listed first, the shared groups' (training, run control) after them."""
    for depth, klass in enumerate(cls.__mro__):
        own = klass.__dict__.get("__annotations__", {})
        if name in own and name not in klass.__dict__.get("__option_overrides__", ()):
            return depth
    return len(cls.__mro__)


def values_of(ctx: typer.Context, cls: type[Options], params: dict[str, Any]) -> dict[str, Any]:
    """The parsed CLI values as the options class takes them (globals filled in; text forms are parsed
    by the class's ``validate``)."""
    g = globals_of(ctx)
    values = {k: v for k, v in params.items() if k not in OUTPUT}
    for name in GLOBAL:
        if name in values and values[name] is None:
            values[name] = g.get(name, "auto" if name == "device" else 0)
    hints = cls.hints()
    for k, v in list(values.items()):
        hint, _ = base_type(hints[k])
        if v is None and getattr(hint, "__origin__", None) in (tuple, list):
            values[k] = ()
    return values


def resolve_entry(entry: str | Callable) -> Callable:
    if callable(entry):
        return entry
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)


def command(app: typer.Typer, name: str, cls: type[Options], entry: str | Callable, *, doc: str,
            run: tuple[str, ...] | None = None, prepare: Callable[[Any], Any] | None = None) -> Callable:
    """Add ``name`` to ``app``: flags from ``cls``, body ``entry(cls(**flags).validate())``.

    ``entry`` is ``"module:function"`` (imported when the command runs) or a function; ``run`` is the
    command path recorded in ``config.json`` (``--print-config`` prints that config; None for a command
    that writes no run dir).
    """

    def body(ctx: typer.Context, **params: Any) -> None:
        values = values_of(ctx, cls, params)
        invoke(ctx, lambda: _call(cls, values, entry, run, params.get("print_config", False)),
               params.get("fmt"), params.get("quiet", False))

    body.__name__ = f"{'_'.join(run or (name,))}_command"
    body.__doc__ = doc
    body.__signature__ = signature(cls)  # typer reads the parameters from here
    body.options_class = cls
    app.command(name)(body)
    return body


def _call(cls: type[Options], values: dict, entry, run, print_config: bool):
    opts = cls(**values).validate()
    if print_config:
        from toolkit.engine.lifecycle import build_config

        sys.stdout.write(json.dumps(build_config(run or (), opts.to_dict()), indent=2) + "\n")
        return None
    return resolve_entry(entry)(opts)


__all__ = ["command", "help_of", "parameter", "signature", "values_of"]
