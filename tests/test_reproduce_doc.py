"""docs/reproduce.md: every `lt` command in its bash blocks parses and validates (run with --print-config)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "reproduce.md"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("lt ")]


def test_the_page_has_a_command_per_seed_paper():
    text = " ".join(commands())
    for needle in ("train lcreg", "train mdl", "defend facm", "prune", "attack dta"):
        assert needle in text


@pytest.mark.parametrize("line", commands())
def test_command_validates_with_print_config(invoke, line):
    args = [a.replace("~", "/nonexistent") for a in shlex.split(line)[1:]]
    res = invoke(*args, "--print-config")
    assert res.exit_code == 0, (line, res.output)
    assert '"command"' in res.stdout
