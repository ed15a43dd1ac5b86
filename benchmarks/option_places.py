"""Where an option is spelled: lines in ``cli/`` and the places ``--eps``, ``--ratio``, ``--resume`` are
written out, at two revisions side by side (issue 18's "each flag one edit").

    python -m benchmarks.option_places [--before b5b8ebb] [--after HEAD]

A *place* is a line of ``cli/`` naming the option (docstrings and comments left out), or a place in
``toolkit/`` that only carries it along: a parameter of that name, a keyword ``eps=eps``/``eps=o.eps``, a
dict key ``"eps"``, a dataclass field ``eps: float``. Uses of the value (``self.eps * ...``) are not counted.
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


def _plumbing(tree: ast.AST, name: str) -> int:
    """Places in a module that only carry option ``name`` along: a function parameter of that name, a
    keyword argument ``name=name`` / ``name=x.name``, a dict key ``"name"``, a dataclass field ``name: T``."""
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
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


def places(rev: str, name: str) -> int:
    """Lines of ``cli/`` naming the option, plus the places in ``toolkit/`` that only carry it along."""
    flag = re.compile(rf"""(--{name.replace('_', '-')}\b)|(\b{name}\b)""")
    count = 0
    for path in _files(rev, "cli"):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
        count += sum(1 for line in _code_lines(text) if flag.search(line))
    for path in _files(rev, "toolkit"):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True).stdout
        count += _plumbing(ast.parse(text), name)
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
