"""Output a person and a pipe can trust: one record type per jsonl stream, rounded display floats,
tables within the terminal's width, files that respect the umask, a heartbeat off a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest

from toolkit.engine import report as rp
from toolkit.engine.checkpoint import atomic_path, save_checkpoint
from toolkit.engine.report import Report, render
from toolkit.engine.runs import write_json

NOISY = 0.1 + 0.2  # 0.30000000000000004


def _report() -> Report:
    rows = [{"split": "test", "top1": 0.95 + 1e-16 * 7, "many": NOISY, "few": 0.5, "name": "x" * 30},
            {"split": "val", "top1": 0.9, "many": 0.8, "few": 0.25, "name": "y" * 30}]
    return Report("eval", rows=rows, summary={"n": 2, "acc": NOISY},
                  sections=[Report("per class", rows=[{"cls": 0, "acc": 1.0}])], notes=["a note"])


def test_jsonl_holds_rows_only_and_json_everything():
    lines = [json.loads(x) for x in render(_report(), "jsonl").splitlines()]
    assert [ln["split"] for ln in lines] == ["test", "val"]
    assert all(set(ln) == {"split", "top1", "many", "few", "name"} for ln in lines)
    full = json.loads(render(_report(), "json"))
    assert full["acc"] == NOISY and full["rows"][0]["many"] == NOISY  # full precision in JSON
    assert full["per_class"]["rows"] == [{"cls": 0, "acc": 1.0}]


def test_jsonl_of_a_summary_only_report_is_one_record():
    lines = render(Report("s", summary={"few": 0.25, "many": NOISY}), "jsonl").splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == {"few": 0.25, "many": NOISY}


def test_csv_keeps_full_precision_and_one_record_type():
    report = _report()
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["split"] for r in rows] == ["test", "val"]
    assert [float(r["many"]) for r in rows] == [r["many"] for r in report.rows]  # round-trips exactly
    assert rows[1]["few"] == "0.25"
    assert "table" not in rows[0]


def test_table_rounds_floats():
    text = render(_report(), "table", width=120)
    assert "0.30000000000000004" not in text and "0.3" in text and "0.9500000000000007" not in text


@pytest.mark.parametrize("width", [80, 60])
def test_table_fits_the_width(width):
    text = render(_report(), "table", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert text.count("x") == 30  # a narrow column wraps the cell, it does not cut it


def test_table_width_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(rp.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(rp.shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((80, 24)))
    assert rp._table_width() == 80
    text = render(_report(), "table")
    assert max(len(_strip_ansi(line)) for line in text.splitlines()) <= 80


def test_table_off_a_terminal_is_not_forced_to_100(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    narrow = Report("t", rows=[{"a": 1}])
    assert max(len(line) for line in render(narrow, "table").splitlines()) < 20


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        write_json(tmp_path / "m.json", {"a": 1})
        save_checkpoint(tmp_path / "c.pt", {"state_dict": {}})
    finally:
        os.umask(old)
    for name in ("a.txt", "m.json", "c.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_heartbeat_off_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("LT_HEARTBEAT_S", "0")
    rp.set_quiet(False)
    assert list(rp.progress(range(3), description="curves")) == [0, 1, 2]
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(", ")[:2] for ln in err] == [[f"curves: {k}/3 done", "0:00:00 elapsed"] for k in (1, 2, 3)]
    assert all(", ETA 0:00:0" in ln for ln in err), err  # rate and ETA follow done/total


def test_heartbeat_is_time_based_while_a_step_runs(monkeypatch, capsys):
    """A step longer than $LT_HEARTBEAT_S still gets its lines (a thread), before the first step ends."""
    import time as _time

    monkeypatch.setenv("LT_HEARTBEAT_S", "0.05")
    rp.set_quiet(False)
    with rp.Heartbeat("curves", total=2) as beat:
        _time.sleep(0.3)
        assert capsys.readouterr().err.count("curves: 0/2 done") >= 2
        beat.advance()
        _time.sleep(0.2)
    assert "curves: 1/2 done" in capsys.readouterr().err


def test_heartbeat_waits_for_its_interval_and_is_quiet_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("LT_HEARTBEAT_S", "3600")
    rp.set_quiet(False)
    list(rp.progress(range(5), description="x"))
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LT_HEARTBEAT_S", "0")
    rp.set_quiet(True)
    try:
        list(rp.progress(range(5), description="x"))
    finally:
        rp.set_quiet(False)
    assert capsys.readouterr().err == ""


def test_eval_jsonl_pipes_one_number_per_row(invoke, tmp_path):
    out = tmp_path / "run"
    r = invoke("train", "ce", "--dataset", "digits-lt", "--model", "mlp", "--epochs", "1", "--out", out, "-q",
               "-f", "json")
    assert r.exit_code == 0, r.output
    r = invoke("train", "eval", out, "--format", "jsonl", "-q")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 1 and isinstance(lines[0]["few"], float) and 0.0 <= lines[0]["few"] <= 1.0
