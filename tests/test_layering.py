"""Imports point down: engine <- data, models <- method families (longtail, defense, attacks, ...).

The engine imports nothing above it, ``toolkit.models`` imports no method family (composite models are
named lazily in ``COMPOSITE_MODELS``), and a checkpoint of a composite model loads in a fresh
interpreter that never imported its family.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = ROOT / "toolkit"
FAMILIES = ("longtail", "defense", "attacks", "prune", "distill", "audio", "muse")
# Subpackages each layer may import (besides itself and the top-level ``toolkit`` package).
ALLOWED = {"engine": set(), "models": {"engine"}, "data": {"engine", "models"}}
# Data adapters that would import a method family: none (the SSBPR and MuSe format readers live under
# toolkit/data). Kept as an explicit, empty list so a new exception has to be argued here.
KNOWN_UP: set[tuple[str, str, str]] = set()


def imported_subpackages(path: Path) -> set[str]:
    """``toolkit.X`` subpackages that ``path`` imports (absolute or relative, at any depth in the file)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts if path.name == "__init__.py" else parts[:-1]
    package = package[:-1] if package[-1] == "__init__" else package
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [".".join(base + [node.module])] if node.module else \
                [".".join(base + [a.name]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("toolkit.") and n.count(".") >= 1}
    return found


def upward_imports(layer: str) -> set[tuple[str, str, str]]:
    out = set()
    for f in sorted((TOOLKIT / layer).rglob("*.py")):
        for sub in imported_subpackages(f) - {layer, "__version__"} - ALLOWED[layer]:
            out.add((layer, f.relative_to(ROOT).as_posix(), sub))
    return out


def test_the_walk_sees_relative_and_absolute_imports(tmp_path, monkeypatch):
    """The checker itself: a relative ``..data`` import, an absolute one and an import in a body count."""
    pkg = tmp_path / "toolkit" / "engine"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("from ..data.longtail import shot_groups\nimport toolkit.models\n"
                                "def f():\n    from toolkit.longtail import lcreg\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imported_subpackages(pkg / "bad.py") == {"data", "models", "longtail"}


@pytest.mark.parametrize("layer", ["engine", "models", "data"])
def test_no_layer_imports_upward(layer):
    """engine imports no other toolkit package (no ``toolkit.data``, ``..data``, models or family);
    models only the engine; data the engine and models."""
    new = upward_imports(layer) - KNOWN_UP
    assert not new, "imports pointing up: " + ", ".join(f"{f} -> toolkit.{s}" for _, f, s in sorted(new))


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_toolkit_models_imports_no_method_family():
    """``import toolkit.models`` and building/listing models loads no method family (nor toolkit.data)."""
    code = ("import sys, toolkit.models as m; m.get_model('resnet20', num_classes=3); m.list_models(False); "
            "print(sorted({k.split('.')[1] for k in sys.modules if k.startswith('toolkit.')}))")
    res = _fresh(code)
    assert res.returncode == 0, res.stderr
    loaded = set(ast.literal_eval(res.stdout.strip()))
    assert "models" in loaded and not loaded & (set(FAMILIES) | {"data"}), loaded


def test_engine_imports_nothing_above_it():
    code = ("import sys, pkgutil, importlib, toolkit.engine as e; "
            "[importlib.import_module('toolkit.engine.' + m.name) for m in pkgutil.iter_modules(e.__path__)]; "
            "print(sorted({k.split('.')[1] for k in sys.modules if k.startswith('toolkit.')}))")
    res = _fresh(code)
    assert res.returncode == 0, res.stderr
    assert ast.literal_eval(res.stdout.strip()) == ["engine"]


def test_every_composite_model_names_a_rebuild_function():
    from toolkit.models import COMPOSITE_MODELS

    assert set(COMPOSITE_MODELS.names()) == {"lcreg", "facm"}
    for name in COMPOSITE_MODELS.names():
        assert callable(COMPOSITE_MODELS.get(name)), name


def test_lcreg_checkpoint_loads_in_a_fresh_interpreter(tmp_path):
    """A saved LCRegNet rebuilds through ``load_model`` where toolkit.longtail was never imported first."""
    import torch

    from toolkit.engine.checkpoint import save_checkpoint
    from toolkit.longtail.lcreg import build_lcreg_model

    torch.manual_seed(0)
    model = build_lcreg_model("smallcnn", 4, latent_k=3).eval()
    save_checkpoint(tmp_path / "m.pt", {"arch": model.arch, "model_args": model.model_args,
                                        "state_dict": model.state_dict()})
    x = torch.rand(5, 3, 16, 16)
    torch.save(x, tmp_path / "x.pt")
    expect = model(x)
    code = ("import sys, torch; from toolkit.models import load_model; "
            "before = 'toolkit.longtail' in sys.modules; "
            f"m = load_model({str(tmp_path / 'm.pt')!r}); x = torch.load({str(tmp_path / 'x.pt')!r}); "
            f"torch.save(m(x), {str(tmp_path / 'y.pt')!r}); print(before, type(m).__name__, m.arch)")
    res = _fresh(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "LCRegNet", "lcreg"]
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expect)


def test_video_reader_does_not_import_the_synthetic_generator():
    """No import circle in the video data: ``video_synthetic`` imports ``video`` (the ARID reader), never
    the other way round (at any depth of the file)."""
    tree = ast.parse((TOOLKIT / "data" / "video.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "video_synthetic" not in names and not any(m.endswith("video_synthetic") for m in modules)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """toolkit module -> the toolkit modules it imports (at any depth of the file: a lazy import counts).

    ``from .x import name`` is an edge to ``...x`` (or to ``...x.name`` when that is a module itself).
    """
    modules = {_module_of(p): p for p in TOOLKIT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                stem = ".".join(p for p in (base, node.module or "") if p)
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_circle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_of_files_anywhere_in_the_toolkit():
    """No two toolkit files import each other, directly or around a circle (lazy imports included); a
    package's ``__init__`` re-exporting its modules counts like any file."""
    cycles = import_cycles(import_graph())
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)
