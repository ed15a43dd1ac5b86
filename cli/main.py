"""The root command ``lt``: global options, the six groups, and the listings ``models`` / ``datasets``.

    lt [--device D] [--seed S] [--format F] [--quiet] GROUP COMMAND [OPTIONS]
    lt models [PATTERN] | lt models weights NAME | lt datasets [PATTERN]
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Optional

import typer

from .common import Fmt

GROUPS = {
    "train": ("cli.train", "Train models: long-tailed recognition (CE, LCReg), MDL, video teachers, MuSe."),
    "prune": ("cli.prune", "Layer-adaptive weight pruning (rate-distortion DP; LAMP/global/uniform/ERK)."),
    "attack": ("cli.attack", "Transfer attacks (FGSM family, DTA/VDTA, NP, FTM) and transfer evaluation."),
    "defend": ("cli.defend", "Defenses (FACM) and honest robustness evaluation."),
    "distill": ("cli.distill", "Knowledge distillation: KD and UKD (multi-teacher, dark video)."),
    "audio": ("cli.audio", "Snore-sound sleep body position recognition (SSBPR) and audio features."),
}

app = typer.Typer(name="lt", help="lt: one command-line toolkit for nine research methods.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("lt-toolkit")
        except PackageNotFoundError:
            v = "unknown"
        typer.echo(f"lt {v}")
        raise typer.Exit()


@app.callback()
def root(ctx: typer.Context,
         device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda|cuda:N|mps")] = "auto",
         seed: Annotated[int, typer.Option("--seed", help="Global random seed.")] = 0,
         fmt: Annotated[Optional[Fmt], typer.Option("--format", "-f", help="table|json|jsonl|csv (default: table on "
                                                                           "a terminal, jsonl when piped).")] = None,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Silence progress and logs on stderr.")] = False,
         version: Annotated[bool, typer.Option(
             "--version", callback=_version, is_eager=True, help="Print the version.")] = False) -> None:
    """Global options apply to every command unless the command's own flag is given."""
    ctx.obj = {"device": device, "seed": seed, "format": fmt.value if fmt else None, "quiet": quiet}


for _name, (_module, _help) in GROUPS.items():
    app.add_typer(importlib.import_module(_module).app, name=_name, help=_help)

# What the registries hold (`lt attack list` lists the attacks).
from . import registry as _registry  # noqa: E402

app.add_typer(_registry.models_app, name="models", help="List model names and their "
                                                        "torchvision weights (hub cache files).")
app.command("datasets", help="List dataset names and the layout each expects under --data-root.")(_registry.datasets)

from . import cache as _cache  # noqa: E402

app.add_typer(_cache.app, name="cache", help="List and clear lt's caches ($LT_CACHE_DIR, default ~/.cache/lt).")


def main() -> None:
    """Console entry point: usage errors become one ``Error:`` line with exit code 2.

    Typer (vendored click in recent versions) raises usage errors as exceptions carrying
    ``format_message()`` and ``exit_code``; they are matched by that interface, not by class.
    """
    try:
        rc = app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.stderr.write("Error: aborted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - only click-style usage errors are handled here
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        sys.stderr.write(f"Error: {e.format_message()}\n")
        sys.exit(e.exit_code or 2)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
