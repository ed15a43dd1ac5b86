"""One vocabulary inside and out: a flag name has one type and one meaning across the whole ``lt`` tree,
its toolkit name is the flag's name, and no toolkit string names a flag users can no longer type.

Every command's flags are generated from the toolkit's option groups (toolkit/engine/options.py), so a flag
shared by several commands is one field; this walks the Typer tree to prove it.
"""

from __future__ import annotations

import enum
import re
import typing
from collections import defaultdict
from pathlib import Path

import typer

from cli.main import app

ROOT = Path(__file__).parents[1]
_CLICK_TYPES = {"text": str, "integer": int, "float": float, "boolean": bool, "choice": str}
# Spellings removed in 0.3 (the 0.2 aliases): a toolkit message or docstring must not name them.
REMOVED = ("--data", "--attack-steps", "--calib-data", "--hop-len", "--win-len", "--input-size",
           "--size", "--n", "--latent", "--kind")
_REMOVED_RE = re.compile(r"""[`"' (](%s)(?=[`"' =),.:;]|$)""" % "|".join(re.escape(f) for f in REMOVED), re.M)


def _value_type(param) -> type:
    """The option's value type: bool for flags, str for text and choices, else int/float."""
    if getattr(param, "is_flag", False):
        return bool
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:  # typer >= 0.26 (vendored click)
        ann = desc.annotation
        if typing.get_origin(ann) is typing.Union:
            ann = next(a for a in typing.get_args(ann) if a is not type(None))
        return str if isinstance(ann, type) and issubclass(ann, enum.Enum) else ann
    return _CLICK_TYPES[getattr(param.type, "name", "text")]


def _walk(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))
        return
    for p in command.params:
        if p.param_type_name == "option":
            yield " ".join(path), p


OPTIONS = list(_walk(typer.main.get_command(app)))


def _meaning(help_text: str) -> str:
    """The first sentence of a help text: the flag's meaning (what follows is the command's detail)."""
    return re.split(r"(?<=[.:])\s", (help_text or "").strip(), maxsplit=1)[0]


def test_the_tree_is_walked():
    commands = {c for c, _ in OPTIONS}
    assert {"train ce", "train lcreg", "train mdl", "prune run", "attack dta", "defend eval", "distill ukd",
            "audio ssbpr train", "train muse", "train video"} <= commands


def test_one_type_and_one_meaning_per_flag_name():
    uses = defaultdict(list)
    for command, p in OPTIONS:
        for f in (*p.opts, *getattr(p, "secondary_opts", ())):
            uses[f].append((command, _value_type(p), _meaning(p.help)))
    bad = []
    for f, where in sorted(uses.items()):
        types = {t for _, t, _ in where}
        if len(types) > 1:
            bad.append(f"{f}: {len(types)} types: " + "; ".join(f"{c} {t.__name__}" for c, t, _ in where))
        meanings = {m for _, _, m in where}
        if len(meanings) > 1:
            bad.append(f"{f}: {len(meanings)} meanings: " + "; ".join(sorted({f"{c}: {m}" for c, _, m in where})))
    assert not bad, "\n".join(bad)


def test_toolkit_names_equal_flag_names():
    """Every generated flag is its option field's name with dashes (or the field's declared flag)."""
    from toolkit.engine.options import Options

    def groups(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from groups(sub)

    bad = []
    for cls in set(groups(Options)):
        for name, f in cls.__dataclass_fields__.items():
            declared = f.metadata.get("flag")
            if declared is None and "__" in name:
                bad.append(f"{cls.__qualname__}.{name}")
            if declared and declared.split("/")[0].lstrip("-").replace("-", "_") not in (name, "lambda"):
                bad.append(f"{cls.__qualname__}.{name} is declared as {declared}")
    assert not bad, bad


def test_no_toolkit_string_names_a_removed_spelling():
    hits = []
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _REMOVED_RE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_removed_spellings_are_gone(runner):
    res = runner.invoke(app, ["train", "ce", "--data", "digits-lt", "--print-config"])
    assert res.exit_code == 2 and "No such option" in res.output
    assert "deprecated" not in res.output
