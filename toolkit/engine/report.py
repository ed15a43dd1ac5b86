"""Results out: stdout is data (table|json|jsonl|csv), stderr is people (logs, progress bars).

A toolkit function returns a :class:`Report`; the CLI calls :func:`emit` once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

FORMATS = ("table", "json", "jsonl", "csv")

_state = {"quiet": False}
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    return _state["quiet"]


def log(message: str) -> None:
    """A line for people, on stderr (silenced by --quiet; only rank 0 speaks)."""
    from .distributed import is_main

    flush_pending()
    if not _state["quiet"] and is_main():
        stderr.print(message)


_pending: list[str] = []


def log_pending(message: str) -> None:
    """A :func:`log` line held until the next log/warn/progress (or :func:`flush_pending`), so that a
    user error raised first stays the only line on stderr (:func:`drop_pending` forgets it)."""
    _pending.append(message)


def flush_pending() -> None:
    held, _pending[:] = list(_pending), []
    for message in held:
        log(message)


def drop_pending() -> None:
    _pending.clear()


def warn(message: str) -> None:
    """A warning on stderr (shown even with --quiet)."""
    from .distributed import is_main

    flush_pending()
    if is_main():
        stderr.print(f"[yellow]Warning:[/yellow] {message}")


HEARTBEAT_ENV = "LT_HEARTBEAT_S"
HEARTBEAT_S = 30.0


def progress(iterable: Iterable, total: int | None = None, description: str = "") -> Iterator:
    """Iterate with a rich progress bar on stderr; off a terminal (a log, a pipe, SLURM) a :class:`Heartbeat`
    line instead, every ``$LT_HEARTBEAT_S`` seconds (default 30): stage, done/total, elapsed, rate, ETA.
    Plain iteration when quiet or not rank 0."""
    from .distributed import is_main

    flush_pending()
    if _state["quiet"] or not is_main():
        yield from iterable
        return
    if not stderr.is_terminal:  # no bar in logs and pipes
        yield from _heartbeat(iterable, total if total is not None else _len(iterable), description)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total if total is not None else _len(iterable))
        for item in iterable:
            yield item
            bar.advance(task)


def _heartbeat(iterable: Iterable, total: int | None, description: str) -> Iterator:
    with Heartbeat(description, total) as beat:
        for item in iterable:
            yield item
            beat.advance()


def heartbeat_seconds() -> float:
    """``$LT_HEARTBEAT_S`` (default 30 s): how often a heartbeat line is written off a terminal."""
    return float(os.environ.get(HEARTBEAT_ENV) or HEARTBEAT_S)


class Heartbeat:
    """A time-based progress line on stderr: every ``$LT_HEARTBEAT_S`` seconds (a background thread, so
    a line comes even while one long step is still running) ``stage: done/total done, elapsed, rate,
    ETA``. With ``LT_HEARTBEAT_S=0`` a line after every step instead (tests, very verbose logs).

    ``with Heartbeat("curves", total=416) as beat: ... beat.advance()``; silent when quiet or not rank 0.
    """

    def __init__(self, description: str, total: int | None = None, every: float | None = None):
        from .distributed import is_main

        self.description, self.total = description or "working", total
        self.every = heartbeat_seconds() if every is None else float(every)
        self.silent = _state["quiet"] or not is_main()
        self.done, self.t0 = 0, time.monotonic()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self) -> "Heartbeat":
        if not self.silent and self.every > 0:
            self._thread = threading.Thread(target=self._beat, name="lt-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.silent and self.every <= 0:
            self.write()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        of = f"/{self.total}" if self.total is not None else ""
        text = f"{self.description}: {self.done}{of} done, {_clock(elapsed)} elapsed"
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            text += f", {rate:.3g}/s" if rate >= 1 else f", {elapsed / self.done:.3g} s each"
            if self.total is not None:
                text += f", ETA {_clock((self.total - self.done) / rate)}"
        return text

    def write(self) -> None:
        sys.stderr.write(self.line() + "\n")
        sys.stderr.flush()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.write()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _len(it: Iterable) -> int | None:
    try:
        return len(it)  # type: ignore[arg-type]
    except TypeError:
        return None


@dataclass
class Report:
    """A titled table (``rows``), scalar ``summary`` values, and optional sub-reports (``sections``)."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    sections: list["Report"] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"title": self.title, **{k: _plain(v) for k, v in self.summary.items()}}
        if self.rows:
            d["rows"] = [_plain_row(r) for r in self.rows]
        for s in self.sections:
            d[_key(s.title)] = s.to_dict()
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def _key(title: str) -> str:
    return "_".join(title.lower().replace("/", " ").split())


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _plain_row(r: dict) -> dict:
    return {str(k): _plain(v) for k, v in r.items()}


def _csv_value(v: Any) -> Any:
    """A CSV cell: floats at full precision (shortest round-trip repr; CSV is read by programs); lists/dicts as JSON."""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return float(f"{v:.10g}")
    if isinstance(v, list):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


def _fmt(v: Any) -> str:
    v = _plain(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.6g}"
    if v is None:
        return "-"
    if isinstance(v, (list, dict)):
        return json.dumps(_round(v))[:60]
    return str(v)


def _columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(str(k))
    return cols


def _rich_table(report: Report, console: Console) -> None:
    if report.rows:
        t = Table(title=report.title, title_justify="left")
        cols = _columns(report.rows)
        for c in cols:
            first = next((r[c] for r in report.rows if r.get(c) is not None), None)  # the first row's, unless None
            numeric = isinstance(first, (int, float))
            t.add_column(c, justify="right" if numeric else "left",
                         overflow="fold")  # a narrow terminal wraps a cell, never cuts it
        for r in report.rows:
            t.add_row(*[_fmt(r.get(c)) for c in cols])
        console.print(t)
    elif report.summary:
        console.print(f"[bold]{report.title}[/bold]")
    if report.summary:
        width = max(len(k) for k in report.summary)
        for k, v in report.summary.items():
            console.print(f"  {k:<{width}}  {_fmt(v)}", highlight=False)
    for s in report.sections:
        _rich_table(s, console)
    for n in report.notes:
        console.print(f"[dim]{n}[/dim]")


def records(report: Report) -> list[dict]:
    """The one record type of ``jsonl`` / ``csv``: the report's rows (its summary when it has no rows).

    Sections and the summary of a report with rows are only in ``--format json`` (one object), so a
    stream never mixes record types: ``lt train eval RUN --format jsonl | jq '.few'`` prints one number.
    """
    if report.rows:
        return [_plain_row(r) for r in report.rows]
    return [_plain_row(report.summary)] if report.summary else []


def _table_width() -> int:
    """The terminal's columns on a terminal; else $COLUMNS or
    unlimited, so a table written to a file keeps its natural width."""
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((80, 24)).columns, 20)
    env = os.environ.get("COLUMNS", "")
    return int(env) if env.isdigit() and int(env) > 0 else 10_000


def render(report: Report, fmt: str | None = None, width: int | None = None) -> str:
    """The report as text in ``fmt``; None picks ``table`` on a terminal, ``jsonl`` when piped.

    ``json`` and ``csv`` keep full float precision (programs read them); ``table`` rounds to 4
    significant digits for reading. ``width``: table columns (default: the terminal's, see :func:`_table_width`).
    """
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records(report))
    if fmt == "csv":
        rows = records(report)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(v) for k, v in r.items()})
        return buf.getvalue()
    if fmt == "table":
        buf = io.StringIO()
        console = Console(file=buf, force_terminal=sys.stdout.isatty(), width=width or _table_width())
        _rich_table(report, console)
        return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
    from .errors import LtError

    raise LtError(f"unknown format '{fmt}'; valid: {', '.join(FORMATS)}")


def emit(report: Report, fmt: str | None = None) -> None:
    """Print ``report`` on stdout (rank 0 only)."""
    from .distributed import is_main

    if is_main():
        sys.stdout.write(render(report, fmt))
        sys.stdout.flush()
