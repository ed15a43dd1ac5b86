"""Where an option is spelled: lines in ``cli/`` and the places ``--eps``, ``--ratio``, ``--resume`` are
written out, at two revisions side by side (issue 18's "each flag one edit").

    python -m benchmarks.option_places [--before b5b8ebb] [--after HEAD]

A *place* is a line of ``cli/`` whose code names the option (not prose in a help text), or a place in
``toolkit/`` that only carries it along: a parameter of that name of a function the CLI calls, a keyword
``eps=eps``/``eps=o.eps``, a dict key ``"eps"``, a dataclass field ``eps: float``. Uses of the value
(``self.eps * ...``, an algorithm's own ``ratio`` parameter) are not counted.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess


def _files(rev: str, folder: str) -> list[str]:
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, folder], capture_output=True, text=True,
                         check=True).stdout
    return [f for f in out.split() if f.endswith(".py")]


def _code_lines(text: str) -> list[str]:
    """Source lines without docstrings and comments."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text.splitlines()
    doc = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    return [ln.split("#")[0] for i, ln in enumerate(text.splitlines(), 1) if i not in doc]


def _entry_points(rev: str) -> set[tuple[str, str]]:
    """(module path, function) of every toolkit function the CLI calls: ``from toolkit.x import f`` in a CLI
    module, or a ``"toolkit.x:f"`` entry string."""
    found = set()
    for path in _files(rev, "cli"):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
        for mod, names in re.findall(r"from (toolkit[\w.]*) import ([\w, ()\n]+)", text):
            found |= {(mod.replace(".", "/") + ".py", n.strip()) for n in re.split(r"[,\s()]+", names) if n.strip()}
        found |= {(m.replace(".", "/") + ".py", f) for m, f in re.findall(r'"(toolkit[\w.]+):(\w+)"', text)}
    return found


def _plumbing(tree: ast.AST, name: str, path: str, entries: set[tuple[str, str]]) -> int:
    """Places in a module that only carry option ``name`` along: a parameter of that name of a function the
    CLI calls, a keyword argument ``name=name`` / ``name=x.name``, a dict key ``"name"``, a field ``name: T``."""
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (path, node.name) in entries:
            args = node.args
            n += any(a.arg == name for a in (*args.args, *args.kwonlyargs, *args.posonlyargs))
        elif isinstance(node, ast.keyword) and node.arg == name:
            v = node.value
            n += (isinstance(v, ast.Name) and v.id == name) or (isinstance(v, ast.Attribute) and v.attr == name)
        elif isinstance(node, ast.Dict):
            n += sum(isinstance(k, ast.Constant) and k.value == name for k in node.keys)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            n += 1
    return n


def _cli_lines_naming(tree: ast.AST, name: str) -> set[int]:
    """Lines of a CLI module whose code names the option: a parameter, keyword, variable or attribute of that
    name, its flag as a declaration (``"--eps"``) or its name as a key (``"eps"``); prose in help texts
    that mentions the flag is not a place."""
    flag = "--" + name.replace("_", "-")
    lines = set()
    for node in ast.walk(tree):
        named = {ast.arg: "arg", ast.keyword: "arg", ast.Name: "id", ast.Attribute: "attr"}.get(type(node))
        hit = (named is not None and getattr(node, named) == name) or (
            isinstance(node, ast.Constant) and isinstance(node.value, str)
            and (node.value in (name, flag) or node.value.startswith(flag + "/")))
        if hit:
            lines.add(node.lineno)
    return lines


def places(rev: str, name: str) -> int:
    """Lines of ``cli/`` naming the option, plus the places in ``toolkit/`` that only carry it along."""
    count, entries = 0, _entry_points(rev)
    for path in _files(rev, "cli"):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
        count += len(_cli_lines_naming(ast.parse(text), name))
    for path in _files(rev, "toolkit"):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
        count += _plumbing(ast.parse(text), name, path, entries)
    return count


def cli_lines(rev: str) -> int:
    total = 0
    for path in _files(rev, "cli"):
        total += len(subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
                     .splitlines())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="b5b8ebb")
    ap.add_argument("--after", default="HEAD")
    args = ap.parse_args()
    print(f"{'figure':<28}{args.before:>12}{args.after:>12}{'ratio':>8}")
    b, a = cli_lines(args.before), cli_lines(args.after)
    print(f"{'lines in cli/':<28}{b:>12}{a:>12}{a / b:>8.2f}")
    for name in ("eps", "ratio", "resume"):
        b, a = places(args.before, name), places(args.after, name)
        print(f"{'places spelling --' + name:<28}{b:>12}{a:>12}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
