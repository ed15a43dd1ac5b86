"""Shared CLI plumbing: the output and replay options every command takes, error handling, output.

Every other flag is generated from the toolkit's option groups (``toolkit/engine/options.py``, see
``cli/options.py``): one definition per option, so one meaning per flag name across the tree
(``tests/test_vocabulary.py`` walks the Typer tree to prove it). The 0.2 spellings (``--data``,
``--n``, ...) were removed in 0.3.

Only typer and the standard library are imported at module top (``lt --help`` stays fast).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated, Any, Callable, Optional

import typer


class Fmt(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def _command_of(ctx: typer.Context) -> list[str]:
    """``["train", "ce"]`` for ``lt train ce``: the context chain's names without the root."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return names[::-1]


def _read_config_file(path: str) -> dict:
    import json

    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        fail(f"--config '{path}' does not exist")
    except OSError as e:
        fail(f"--config '{path}' could not be read: {e.strerror}")
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"--config '{path}' is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    if not isinstance(cfg, dict):
        fail(f"--config '{path}' must hold a JSON object (an lt config.json or a dict of options)")
    return cfg


def _cli_value(param: Any, value: Any) -> Any:
    """A resolved value in the form the option parses: lists back to ``a,b,c`` for text options."""
    if isinstance(value, list) and not getattr(param, "multiple", False) and getattr(param, "nargs", 1) == 1:
        return ",".join(str(v) for v in value)
    return value


def apply_config(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """Eager ``--config FILE`` callback: the file's options become this command's defaults.

    Accepts a run's ``config.json`` (its ``resolved`` options; its ``command`` must be this one) or a
    plain JSON object of options. Flags given on the command line still win (click's ``default_map``);
    run-control options (device, workers, format, ...) are not replayed.
    """
    if not value:
        return value
    cfg = _read_config_file(value)
    command = _command_of(ctx)
    if "resolved" in cfg:
        if cfg.get("command") and list(cfg["command"]) != command:
            fail(f"--config '{value}' is a config of 'lt {' '.join(cfg['command'])}', not of 'lt {' '.join(command)}'")
        options = cfg["resolved"]
    else:
        options = cfg
    if not isinstance(options, dict):
        fail(f"--config '{value}': 'resolved' must be a JSON object of options")
    from toolkit.engine.lifecycle import ALWAYS_RECORDED, run_control  # stdlib only at its top: no torch

    params = {p.name: p for p in ctx.command.params}
    ignore, replay = run_control(), {}
    for key, v in options.items():
        if key in ALWAYS_RECORDED and key not in params:
            continue
        if key not in params:
            fail(f"--config '{value}': unknown option '{key}' for 'lt {' '.join(command)}'")
        if key not in ignore and v is not None:
            replay[params[key].name] = _cli_value(params[key], v)
    ctx.default_map = {**(ctx.default_map or {}), **replay}
    return value


ConfigOpt = Annotated[Optional[str], typer.Option(
    "--config", is_eager=True, callback=apply_config, metavar="FILE",
    help="Replay a run: its config.json (or a JSON object of options); flags given here override it.")]
PrintConfigOpt = Annotated[bool, typer.Option(
    "--print-config", help="Print the resolved config (JSON, stdout) and exit without running.")]
FormatOpt = Annotated[Optional[Fmt], typer.Option(
    "--format", "-f", help="Output: table|json|jsonl|csv (default: table on a terminal, jsonl when piped).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Silence progress and logs on stderr.")]


def globals_of(ctx: typer.Context | None) -> dict:
    """The root command's global options (device, seed, format, quiet)."""
    while ctx is not None and ctx.parent is not None:
        ctx = ctx.parent
    return dict(ctx.obj or {}) if ctx is not None and isinstance(ctx.obj, dict) else {}


def output_options(ctx: typer.Context | None, fmt: Fmt | None = None, quiet: bool = False) -> dict:
    """A command's ``--format``/``--quiet`` merged with the root's globals (the command's win)."""
    g = globals_of(ctx)
    return {"format": (fmt.value if fmt else None) or g.get("format"), "quiet": quiet or g.get("quiet", False)}


def one_line(message: str) -> str:
    """A message as one line; an error re-raised from a DataLoader worker keeps only its own text."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if len(lines) > 1 and "Original Traceback" in message:
        return lines[-1].split(": ", 1)[-1]
    return " ".join(ln.strip() for ln in lines)


def fail(message: str, code: int = 2) -> None:
    """Print one ``Error:`` line on stderr and exit with ``code``."""
    sys.stderr.write(f"Error: {one_line(message)}\n")
    raise typer.Exit(code)


def invoke(ctx: typer.Context | None, thunk: Callable[[], Any], fmt: Fmt | None = None, quiet: bool = False) -> Any:
    """Call ``thunk`` (one toolkit call) and print its Report; LtError -> one ``Error:`` line, exit code 2.

    A run dir the call created and left holding nothing but its config is removed when the call fails,
    so the same command can simply be run again.
    """
    from toolkit.engine.errors import LtError
    from toolkit.engine.lifecycle import discard_failed_run
    from toolkit.engine.report import drop_pending, emit, flush_pending, set_quiet

    opts = output_options(ctx, fmt, quiet)
    set_quiet(opts["quiet"])
    try:
        result = thunk()
    except LtError as e:
        drop_pending()  # a user error raised before any output stays the only stderr line
        discard_failed_run()
        if os.environ.get("LT_DEBUG") == "1":
            raise
        fail(str(e), getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        discard_failed_run()
        fail("interrupted", 130)
    except BaseException:
        discard_failed_run()
        raise
    flush_pending()
    if result is not None and hasattr(result, "to_dict"):
        emit(result, opts.get("format"))
    return result


def run(ctx: typer.Context | None, fn: Callable[..., Any], fmt: Fmt | None = None, quiet: bool = False,
        **kwargs: Any) -> Any:
    """Call ``fn(**kwargs)`` (a listing: ``lt models``, ``lt cache``) and print its Report (see :func:`invoke`)."""
    return invoke(ctx, lambda: fn(**kwargs), fmt, quiet)
