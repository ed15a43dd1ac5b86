"""Shared CLI plumbing: the flag vocabulary, deprecated spellings, run options, error handling, output.

One meaning per flag name across the whole tree: every flag that more than one command takes is
declared here once (:data:`VOCAB`, built with :func:`opt`), and ``tests/test_vocabulary.py`` walks
the Typer tree and fails when a flag name has two types or two meanings. Old spellings keep working
for one release through :data:`DEPRECATED` (rewritten by :class:`LtCommand`, with one line on stderr).

Only typer and the standard library are imported at module top (``lt --help`` stays fast).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperCommand


class Fmt(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


# ------------------------------------------------------------------------------------------------
# The vocabulary: flag -> (value type, its one meaning). A command's help for the flag is the meaning
# followed by the command's own detail (choices, default, units), see opt().
VOCAB: dict[str, tuple[type, str]] = {
    # what to run on
    "--dataset": (str, "Dataset: a registered name (see `lt datasets`)."),
    "--data-root": (str, "Folder the dataset is read from."),
    "--download": (bool, "Allow torchvision to download the dataset (never by default)."),
    "--model": (str, "Architecture name (see `lt models`)."),
    "--weights": (str, "Initial weights: a torchvision weights name (read from the hub cache, never downloaded) "
                       "or a file."),
    "--num-classes": (int, "Classes of named models."),
    "--image-size": (int, "Image side in pixels."),
    "--limit": (int, "Use only the first N examples."),
    "--features": (str, "Features to compute or read."),
    "--workers": (int, "Worker processes for data loading or feature extraction."),
    "--skip-bad": (bool, "Skip (and count) unreadable inputs instead of failing."),
    "--cache-dir": (str, "Cache folder (LT_CACHE_DIR defaults to ~/.cache/lt)."),
    # training recipe
    "--epochs": (int, "Training epochs."),
    "--batch-size": (int, "Samples per batch (per process under torchrun)."),
    "--lr": (float, "Peak learning rate."),
    "--weight-decay": (float, "Weight decay."),
    "--optimizer": (str, "Optimizer: sgd|adam|adamw."),
    "--scheduler": (str, "Learning-rate schedule: cosine|multistep|none."),
    "--loss": (str, "Loss function."),
    "--balanced": (bool, "Class-balanced sampling."),
    "--tau": (float, "Softmax temperature τ (logits are divided by τ)."),
    "--hop-length": (int, "Hop between successive analysis windows."),
    # attacks
    "--eps": (str, "L-inf budget in (0, 1]: a number or a fraction such as 8/255."),
    "--alpha": (str, "Attack step size: a number or a fraction such as 1.6/255."),
    "--steps": (int, "Attack iterations."),
    "--surrogate": (str, "Model the adversarial examples are crafted on: a model name, checkpoint or run dir."),
    # run control
    "--out": (str, "Run dir (default runs/<group>-<method>-<time>)."),
    "--force": (bool, "Write into an existing, non-empty --out."),
    "--resume": (bool, "Continue the run in --out where its checkpoints left off (the same options; bit-exact "
                       "with --deterministic)."),
    "--deterministic": (bool, "Deterministic kernels (slower; bit-exact resume)."),
    "--config": (str, "Replay a run: its config.json (or a JSON object of options); flags given here override it."),
    "--print-config": (bool, "Print the resolved config (JSON, stdout) and exit without running."),
    "--device": (str, "auto|cpu|cuda|cuda:N|mps (default: the global --device, auto)."),
    "--seed": (int, "Random seed (default: the global --seed, 0)."),
    "--format": (Fmt, "Output: table|json|jsonl|csv (default: table on a terminal, jsonl when piped)."),
    "--quiet": (bool, "Silence progress and logs on stderr."),
}

# Old spellings, rewritten to the current flag for one release (with a line on stderr). Keys: "*" for
# every command, else the command path ("train video"). A rewrite applies only where the old flag is
# not itself an option of the command.
DEPRECATED: dict[str, dict[str, str]] = {
    "*": {"--attack-steps": "--steps", "--n": "--limit", "--size": "--image-size", "--input-size": "--image-size",
          "--hop-len": "--hop-length", "--win-len": "--win-length", "--calib-data": "--dataset",
          "--data": "--dataset"},
    "train lcreg": {"--combine": "--head-input"},
    "train video": {"--split": "--official-split", "--views": "--test-views"},
    "distill kd": {"--alpha": "--ce-weight", "--split": "--official-split"},
    "distill ukd": {"--alpha": "--ce-weight", "--split": "--official-split"},
    "defend facm": {"--layers": "--feature-layers", "--latent": "--latent-dim"},
    "audio features": {"--kind": "--features"},
    "audio ssbpr train": {"--split": "--cv"},
    "audio ssbpr predict": {"--model": "--checkpoint"},
    "prune run": {"--fast": "--fx-split", "--no-fast": "--no-fx-split"},
    "prune curves": {"--fast": "--fx-split", "--no-fast": "--no-fx-split"},
}
REMOVED_IN = "0.3"


def opt(decls: str, detail: str = "", *more: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` for a vocabulary flag: help = its meaning + ``detail``.

    ``decls`` is the flag as typer takes it (``"--balanced/--no-balanced"``); ``more`` adds short
    names (``"-f"``). A flag missing from :data:`VOCAB` is a programming error.
    """
    name = decls.split("/")[0]
    if name not in VOCAB:
        raise KeyError(f"{name} is not in cli.common.VOCAB; add its one meaning there")
    meaning = VOCAB[name][1]
    return typer.Option(decls, *more, help=f"{meaning} {detail}".strip(), **kwargs)


def deprecated_rewrite(command: str, args: list[str], current: set[str]) -> tuple[list[str], list[str]]:
    """``args`` with deprecated flags replaced by their current names; and one warning per rewrite."""
    table = {**DEPRECATED["*"], **DEPRECATED.get(command, {})}
    out, warnings = [], []
    for i, arg in enumerate(args):
        if arg == "--":  # everything after is positional
            return out + args[i:], warnings
        flag, sep, value = arg.partition("=")
        new = table.get(flag)
        if new is not None and flag not in current and new in current:
            warnings.append(f"lt {command}: '{flag}' is deprecated, use '{new}' (the old spelling goes in lt "
                            f"{REMOVED_IN})")
            arg = new + sep + value
        out.append(arg)
    return out, warnings


class LtCommand(TyperCommand):
    """A Typer command that accepts the deprecated spellings of its flags (see :data:`DEPRECATED`)."""

    def parse_args(self, ctx, args):
        current = {o for p in self.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
        args, warnings = deprecated_rewrite(" ".join(_command_of(ctx)), list(args), current)
        for w in warnings:
            sys.stderr.write(w + "\n")
        return super().parse_args(ctx, args)


class LtTyper(typer.Typer):
    """``typer.Typer`` whose commands are :class:`LtCommand` (deprecated spellings accepted)."""

    def command(self, name: Optional[str] = None, *, cls: Any = None, **kwargs: Any):
        return super().command(name, cls=cls or LtCommand, **kwargs)


# ------------------------------------------------------------------------------------------------
# Options every command of a kind shares.
DeviceOpt = Annotated[Optional[str], opt("--device")]
SeedOpt = Annotated[Optional[int], opt("--seed")]
FormatOpt = Annotated[Optional[Fmt], opt("--format", "", "-f")]
QuietOpt = Annotated[bool, opt("--quiet", "", "-q")]
ForceOpt = Annotated[bool, opt("--force")]
OutOpt = Annotated[Optional[str], opt("--out")]
ResumeOpt = Annotated[bool, opt("--resume")]
DeterministicOpt = Annotated[bool, opt("--deterministic")]
DataRootOpt = Annotated[Optional[str], opt("--data-root")]
DownloadOpt = Annotated[bool, opt("--download")]

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


def _param_names(ctx: typer.Context, command: list[str]) -> dict[str, Any]:
    """Option key -> parameter, also under the parameter names of deprecated spellings."""
    params = {p.name: p for p in ctx.command.params}
    by_flag = {o: p for p in ctx.command.params for o in getattr(p, "opts", ())}
    table = {**DEPRECATED["*"], **DEPRECATED.get(" ".join(command), {})}
    for old, new in table.items():
        key = old.lstrip("-").replace("-", "_")
        if key not in params and new in by_flag:
            params[key] = by_flag[new]
    return params


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
    from toolkit.engine.lifecycle import ALWAYS_RECORDED, RUN_CONTROL  # stdlib only at its top: no torch

    params = _param_names(ctx, command)
    replay = {}
    for key, v in options.items():
        if key in ALWAYS_RECORDED and key not in params:
            continue
        if key not in params:
            fail(f"--config '{value}': unknown option '{key}' for 'lt {' '.join(command)}'")
        if key not in RUN_CONTROL and v is not None:
            replay[params[key].name] = _cli_value(params[key], v)
    ctx.default_map = {**(ctx.default_map or {}), **replay}
    return value


ConfigOpt = Annotated[Optional[str], opt("--config", "", is_eager=True, callback=apply_config, metavar="FILE")]
PrintConfigOpt = Annotated[bool, opt("--print-config")]


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


def refuse_unused(ctx: typer.Context, flags: dict[str, str], reason: str) -> None:
    """One ``Error:`` line (exit 2) when any of ``flags`` (parameter name -> flag) was typed on the command
    line although the run will not use it; ``reason`` says when it is unused (``"with --mask label"``).

    Only what the user typed is refused: defaults, and the values a ``--config`` file replays (click's
    ``default_map``), are not.
    """
    typed = [flag for name, flag in flags.items()
             if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]
    if typed:
        fail(f"{', '.join(typed)}: not used {reason}")


def invoke(ctx: typer.Context | None, thunk: Callable[[], Any], fmt: Fmt | None = None, quiet: bool = False) -> Any:
    """Call ``thunk`` (one toolkit call) and print its Report; LtError -> one ``Error:`` line, exit code 2.

    A run dir the call created and left holding nothing but its config is removed when the call fails,
    so the same command can simply be run again.
    """
    from toolkit.engine.errors import LtError
    from toolkit.engine.lifecycle import discard_failed_run
    from toolkit.engine.report import drop_pending, emit, flush_pending, set_quiet

    opts = resolve(ctx, None, None, fmt, quiet)
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


def run(ctx: typer.Context | None, fn: Callable[..., Any], opts: dict, **kwargs: Any) -> Any:
    """Call one toolkit function ``fn(**kwargs)`` and print its Report (see :func:`invoke`).

    ``opts`` comes from :func:`resolve`. For commands not generated from an options class: the
    command's parsed options are handed to the run lifecycle (``config.json``, ``--print-config``).
    """
    from toolkit.engine.lifecycle import ConfigPrinted, cli_context, reset_cli_context

    params = dict(ctx.params) if ctx is not None else {}
    token = cli_context(_command_of(ctx) if ctx is not None else (), params, bool(params.get("print_config")))

    def call():
        try:
            return fn(**kwargs)
        except ConfigPrinted as printed:
            import json

            sys.stdout.write(json.dumps(printed.config, indent=2) + "\n")
            return None
        finally:
            reset_cli_context(token)

    fmt = Fmt(opts["format"]) if opts.get("format") else None
    return invoke(ctx, call, fmt, opts.get("quiet", False))
