"""Where lt keeps what it can recompute: one cache root, one folder per kind.

The root is ``$LT_CACHE_DIR`` when set, else ``~/.cache/lt`` (the XDG habit). Each kind of cache
has its own folder under it (``cache_dir("prune")`` -> ``~/.cache/lt/prune``):

==================  ===============================================================
``prune``           rate-distortion curves of ``lt prune`` (keyed by model fingerprint)
``ukd``             UKD teacher logits of ``lt distill ukd`` (keyed by teacher + views)
``audio-features``  log-mel / MFCC / stats features of ``lt audio`` (keyed by file hash)
``synthetic-snore`` generated snore sets (``--dataset synthetic-snore``)
``synthetic-dark``  generated dark videos (``--dataset synthetic-dark``)
``synthetic-muse``  generated MuSe sets (``--dataset synthetic-muse``)
==================  ===============================================================

Command-line defaults name a folder as ``$LT_CACHE_DIR/KIND`` (so ``--help`` and ``config.json`` say
where, whatever the machine); :func:`resolve_path` turns that spelling into the real folder, also
when ``LT_CACHE_DIR`` is unset. ``lt cache list`` shows each kind's entries and bytes; ``lt cache clear
[--kind K]`` removes them. Only the standard library is imported (the CLI may import this module).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

ENV = "LT_CACHE_DIR"
PREFIX = "$" + ENV
KINDS = {
    "prune": "rate-distortion curves (lt prune, lt prune curves)",
    "ukd": "UKD teacher logits (lt distill ukd)",
    "audio-features": "audio features (lt audio features, lt audio ssbpr)",
    "synthetic-snore": "generated snore sets (--dataset synthetic-snore)",
    "synthetic-dark": "generated dark videos (--dataset synthetic-dark)",
    "synthetic-muse": "generated MuSe sets (--dataset synthetic-muse)",
}


def cache_root() -> Path:
    """``$LT_CACHE_DIR``, else ``~/.cache/lt`` (not created here; writers create what they write)."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lt"


def cache_dir(kind: str) -> Path:
    """The folder of one kind of cache, e.g. ``cache_dir("prune")`` -> ``~/.cache/lt/prune``."""
    _check_kind(kind)
    return cache_root() / kind


def default_spec(kind: str) -> str:
    """The command-line spelling of a kind's default folder: ``$LT_CACHE_DIR/prune``."""
    _check_kind(kind)
    return f"{PREFIX}/{kind}"


def resolve_path(path: str | os.PathLike) -> Path:
    """A cache folder given by the user or by a default: a leading ``$LT_CACHE_DIR`` (or ``~``) expanded."""
    text = os.fspath(path)
    if text == PREFIX or text.startswith(PREFIX + "/") or text.startswith(PREFIX + os.sep):
        return cache_root() / text[len(PREFIX):].lstrip("/" + os.sep)
    return Path(text).expanduser()


def marker_matches(marker: Path, want: dict) -> bool:
    """Whether a generated set's JSON marker file records exactly ``want`` (absent or unreadable: no)."""
    try:
        return json.loads(Path(marker).read_text()) == want
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        from .errors import LtError

        raise LtError(f"unknown cache kind '{kind}'; valid: {', '.join(KINDS)}")


def _usage(folder: Path) -> tuple[int, int]:
    """(top-level entries, bytes of every file below) of ``folder`` (0, 0 when absent)."""
    if not folder.is_dir():
        return 0, 0
    entries = sum(1 for _ in folder.iterdir())
    size = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # removed while we walked
                pass
    return entries, size


def _kinds(kind: str | None) -> list[str]:
    if kind is None:
        return list(KINDS)
    _check_kind(kind)
    return [kind]


def list_caches(kind: str | None = None):
    """A Report: one row per kind (kind, entries, bytes, path, what it holds).

    ``lt cache list [--kind prune]``
    """
    from .report import Report

    rows = []
    for k in _kinds(kind):
        entries, size = _usage(cache_dir(k))
        rows.append({"kind": k, "entries": entries, "bytes": size, "path": str(cache_dir(k)), "holds": KINDS[k]})
    summary = {"root": str(cache_root()), "entries": sum(r["entries"] for r in rows),
               "bytes": sum(r["bytes"] for r in rows)}
    return Report("lt caches", rows=rows, summary=summary)


def clear_caches(kind: str | None = None):
    """Remove every entry of one kind (``kind``) or of every kind; a Report of what was removed.

    Only the known kind folders under the root are touched (never other files in ``$LT_CACHE_DIR``).
    ``lt cache clear [--kind prune]``
    """
    from .report import Report, log

    rows = []
    for k in _kinds(kind):
        folder = cache_dir(k)
        entries, size = _usage(folder)
        if folder.is_dir():
            shutil.rmtree(folder)
        if entries:
            log(f"removed {folder} ({entries} entries, {size} bytes)")
        rows.append({"kind": k, "removed_entries": entries, "removed_bytes": size, "path": str(folder)})
    summary = {"root": str(cache_root()), "removed_entries": sum(r["removed_entries"] for r in rows),
               "removed_bytes": sum(r["removed_bytes"] for r in rows)}
    return Report("lt cache clear", rows=rows, summary=summary)


__all__ = ["ENV", "KINDS", "cache_root", "cache_dir", "default_spec", "resolve_path", "list_caches", "clear_caches"]
