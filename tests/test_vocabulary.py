"""One vocabulary: a flag name has one type and one meaning across the whole ``lt`` tree.

Walks every command of the Typer tree. Flags in ``cli.common.VOCAB`` must state its meaning first
and have its type; any other flag that several commands take must be declared identically in all
of them. Old spellings (``cli.common.DEPRECATED``) keep working with one line on stderr.
"""

from __future__ import annotations

import enum
import json
import typing
from collections import defaultdict

import pytest
import typer

from cli.common import DEPRECATED, VOCAB, deprecated_rewrite
from cli.main import app

_CLICK_TYPES = {"text": str, "integer": int, "float": float, "boolean": bool, "choice": str}


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


def _vocab_type(flag: str) -> type:
    kind = VOCAB[flag][0]
    return str if issubclass(kind, enum.Enum) else kind


def test_the_tree_is_walked():
    commands = {c for c, _ in OPTIONS}
    assert {"train ce", "train lcreg", "prune run", "attack dta", "defend eval", "distill ukd",
            "audio ssbpr train"} <= commands


def test_vocabulary_flags_state_their_meaning_and_type():
    bad = []
    for command, p in OPTIONS:
        flag = p.opts[0]
        if flag in VOCAB:
            meaning = VOCAB[flag][1]
            if not (p.help or "").startswith(meaning):
                bad.append(f"{command} {flag}: help does not start with its meaning {meaning!r}")
            if _value_type(p) is not _vocab_type(flag):
                bad.append(f"{command} {flag}: type {_value_type(p).__name__}, vocabulary {_vocab_type(flag).__name__}")
    assert not bad, "\n".join(bad)


def test_one_type_and_one_meaning_per_flag_name():
    uses = defaultdict(list)
    for command, p in OPTIONS:
        for flag in (*p.opts, *getattr(p, "secondary_opts", ())):
            uses[flag].append((command, _value_type(p), p.help or ""))
    bad = []
    for flag, where in sorted(uses.items()):
        types = {t for _, t, _ in where}
        if len(types) > 1:
            bad.append(f"{flag}: {len(types)} types: " + "; ".join(f"{c} {t.__name__}" for c, t, _ in where))
        helps = {h for _, _, h in where}
        if flag not in VOCAB and len(helps) > 1:
            bad.append(f"{flag}: {len(helps)} meanings (declare it once in cli.common.VOCAB or share one "
                       "declaration): " + "; ".join(sorted({f'{c}: {h[:60]}' for c, _, h in where})))
    assert not bad, "\n".join(bad)


def test_model_is_an_architecture_everywhere():
    for command, p in OPTIONS:
        if "--model" in p.opts:
            assert (p.help or "").startswith(VOCAB["--model"][1]), command


def test_every_deprecated_spelling_points_at_a_live_flag():
    flags = defaultdict(set)
    for command, p in OPTIONS:
        flags[command].update((*p.opts, *getattr(p, "secondary_opts", ())))
    for scope, table in DEPRECATED.items():
        commands = list(flags) if scope == "*" else [scope]
        assert scope == "*" or scope in flags, f"DEPRECATED names an unknown command '{scope}'"
        for old, new in table.items():
            live = [c for c in commands if new in flags[c] and old not in flags[c]]
            assert live, f"{scope}: {old} -> {new} applies to no command"


def test_rewrite_keeps_values_and_positionals():
    args, warnings = deprecated_rewrite("train mdl", ["--attack-steps", "3", "--eps=8/255", "--", "--n"],
                                        {"--steps", "--eps"})
    assert args == ["--steps", "3", "--eps=8/255", "--", "--n"]
    assert len(warnings) == 1 and "'--attack-steps' is deprecated, use '--steps'" in warnings[0]
    assert deprecated_rewrite("x", ["--data=a"], {"--data", "--dataset"})[0] == ["--data=a"]  # still its own flag


@pytest.mark.parametrize("old, new, key, value", [
    ("--data", "--dataset", "dataset", "digits"),
])
def test_deprecated_spelling_runs_with_one_warning(runner, tmp_path, old, new, key, value):
    res = runner.invoke(app, ["train", "ce", "--model", "mlp", old, value, "--print-config",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert res.stderr.count("deprecated") == 1 and f"use '{new}'" in res.stderr
    assert json.loads(res.stdout)["resolved"][key] == value
