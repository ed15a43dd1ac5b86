"""Shared CLI plumbing: common options, global-option fallback, error handling, output.

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


DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto|cpu|cuda|cuda:N|mps (default: global --device, auto)")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (default: global --seed, 0).")]
FormatOpt = Annotated[Optional[Fmt], typer.Option("--format", "-f", help="Output: table on a terminal, jsonl when piped.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Silence progress and logs on stderr.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Write into an existing, non-empty --out.")]
OutOpt = Annotated[Optional[str], typer.Option("--out", help="Run dir (default runs/<group>-<method>-<time>).")]
DataRootOpt = Annotated[Optional[str], typer.Option("--data-root", help="Where the real dataset lives.")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Allow torchvision to download the dataset.")]

# Options never replayed from a --config file (they say how to run, not what the run is); mirrors
# toolkit.engine.lifecycle.RUN_CONTROL, kept here so that parsing imports no torch.
_NOT_REPLAYED = frozenset({"config", "print_config", "force", "resume", "quiet", "fmt", "format", "device",
                           "workers", "num_workers"})


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


def apply_config(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """Eager ``--config FILE`` callback: the file's options become this command's defaults.

    Accepts a run's ``config.json`` (its ``resolved`` options; its ``command`` must be this one) or a
    plain JSON object of options. Flags given on the command line still win (click's ``default_map``).
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
    known = {p.name for p in ctx.command.params}
    for key in options:
        if key not in known:
            fail(f"--config '{value}': unknown option '{key}' for 'lt {' '.join(command)}'")
    replay = {k: v for k, v in options.items() if k not in _NOT_REPLAYED and v is not None}
    ctx.default_map = {**(ctx.default_map or {}), **replay}
    return value


ConfigOpt = Annotated[Optional[str], typer.Option(
    "--config", is_eager=True, callback=apply_config, metavar="FILE",
    help="Replay a run: a config.json (or a JSON object of options); flags given here override it.")]
PrintConfigOpt = Annotated[bool, typer.Option(
    "--print-config", help="Print the resolved config (JSON, stdout) and exit without running.")]


def globals_of(ctx: typer.Context | None) -> dict:
    """The root command's global options (device, seed, format, quiet)."""
    while ctx is not None and ctx.parent is not None:
        ctx = ctx.parent
    return dict(ctx.obj or {}) if ctx is not None and isinstance(ctx.obj, dict) else {}


def resolve(ctx: typer.Context | None, device: str | None = None, seed: int | None = None,
            fmt: Fmt | None = None, quiet: bool = False) -> dict:
    """Merge a command's options with the root's globals (the command's win)."""
    g = globals_of(ctx)
    return {"device": device or g.get("device") or "auto",
            "seed": seed if seed is not None else g.get("seed", 0),
            "format": (fmt.value if fmt else None) or g.get("format"),
            "quiet": quiet or g.get("quiet", False)}


def parse_fraction(text: str, name: str = "value") -> float:
    """``16/255``, ``1.6/255`` or ``0.0627`` -> float; a bad value is a one-line user error."""
    try:
        if "/" not in text:
            return float(text)
        num, den = text.split("/")
        return float(num) / float(den)  # what the Python literal 1.6/255 gives
    except (ValueError, ZeroDivisionError):
        fail(f"{name} must be a number or a fraction like 16/255 (got '{text}')")
        raise  # unreachable


def split_list(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


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


def run(ctx: typer.Context | None, fn: Callable[..., Any], opts: dict, **kwargs: Any) -> Any:
    """Call one toolkit function and print its Report; LtError -> ``Error:`` line, exit code 2.

    ``opts`` comes from :func:`resolve`; its device/seed are passed on when ``fn`` takes them.
    """
    from toolkit.engine.errors import LtError
    from toolkit.engine.lifecycle import ConfigPrinted, cli_context, reset_cli_context
    from toolkit.engine.report import emit, set_quiet

    set_quiet(opts.get("quiet", False))
    debug = os.environ.get("LT_DEBUG") == "1"
    params = dict(ctx.params) if ctx is not None else {}
    token = cli_context(_command_of(ctx) if ctx is not None else (), params, bool(params.get("print_config")))
    try:
        result = fn(**kwargs)
    except ConfigPrinted as printed:
        import json

        sys.stdout.write(json.dumps(printed.config, indent=2) + "\n")
        return None
    except LtError as e:
        if debug:
            raise
        fail(str(e), getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    finally:
        reset_cli_context(token)
    if result is not None and hasattr(result, "to_dict"):
        emit(result, opts.get("format"))
    return result
