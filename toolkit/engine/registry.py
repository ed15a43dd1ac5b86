"""Name -> builder registries with helpful errors (``list_*`` / ``get_*`` are built on these)."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from typing import Any, Callable, Iterable

from .errors import LtError


def unknown_name_message(kind: str, name: str, valid: Iterable[str]) -> str:
    """``unknown model 'resnt50'; did you mean: resnet50? valid: a, b, c`` (close matches first)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f"; did you mean: {', '.join(close)}?" if close else ";"
    shown = ", ".join(valid) if len(valid) <= 40 else ", ".join(valid[:40]) + f", ... ({len(valid)} in all)"
    return f"unknown {kind} '{name}'{hint} valid: {shown}"


def matches(name: str, pattern: str | None) -> bool:
    """A glob (``resnet*``) or, without glob characters, a substring (``resnet``); None matches all."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def load_plugins(modules: Iterable[str], kind: str) -> None:
    """Import each module that registers ``kind`` entries; one that fails to import is an LtError naming it
    (never a silently missing set of names)."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - any import failure: name the module and the cause
            raise LtError(f"the {kind} plugin module '{mod}' failed to import ({type(e).__name__}: {e}); "
                          f"reinstall lt-toolkit or fix that module") from e


class Registry:
    """A table ``name -> builder``.

    Builders may be registered eagerly (``@REG.register("name")``) or lazily by module path
    (``REG.register_lazy("name", "toolkit.x.y:Builder")``) so heavy imports happen only on use.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Callable:
        def deco(o: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = o
            return o

        return deco(obj) if obj is not None else deco

    def register_lazy(self, name: str, target: str) -> None:
        self.register(name, _Lazy(target))

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise LtError(unknown_name_message(self.kind, name, self._items))
        item = self._items[name]
        if isinstance(item, _Lazy):
            item = self._items[name] = item.resolve()
        return item

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


class _Lazy:
    def __init__(self, target: str):
        self.target = target

    def resolve(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)
