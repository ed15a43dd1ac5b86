"""``lt cache``: what lt keeps under ``$LT_CACHE_DIR`` (default ``~/.cache/lt``), and removing it.

    lt cache list [--kind KIND]      # kind, entries, bytes, path of each cache
    lt cache clear [--kind KIND]     # remove (asks nothing) and print what was removed
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import FormatOpt, QuietOpt, run

app = typer.Typer(no_args_is_help=True, help="List and clear lt's caches ($LT_CACHE_DIR, default ~/.cache/lt).")

KindOpt = Annotated[Optional[str], typer.Option(
    "--kind", help="One cache: prune, ukd, audio-features, synthetic-snore, synthetic-dark, synthetic-muse "
                   "(default: all).")]


@app.command("list")
def list_cmd(ctx: typer.Context, kind: KindOpt = None, fmt: FormatOpt = None) -> None:
    """List each cache kind with its entries, bytes and folder.

    Example: lt cache list --format json
    """
    from toolkit.engine.cache import list_caches

    run(ctx, list_caches, fmt, kind=kind)


@app.command("clear")
def clear_cmd(ctx: typer.Context, kind: KindOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Remove the entries of one cache kind (--kind) or of all; prints what it removed. Asks nothing.

    Only lt's own kind folders are removed, never anything else under $LT_CACHE_DIR.
    Example: lt cache clear --kind prune
    """
    from toolkit.engine.cache import clear_caches

    run(ctx, clear_caches, fmt, quiet, kind=kind)
