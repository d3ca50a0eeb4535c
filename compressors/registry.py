"""One generic name -> object registry, shared by compressors, metrics, task types and presets.

Unknown names answer with close matches and the full list; registering a name twice is an error,
so two plugins can never silently shadow each other.

A registry may name an entry-point group (``pytest_compressgate.methods``, ...): the first time it is
asked for a name, it loads its built-ins (``builtins``) and then every entry point of that group once.
An entry point may name a module (importing it registers what it provides, as the built-in modules do)
or an object, which ``adopt`` turns into an item registered under the entry point's name. One that
cannot be loaded is a one-line ``ConfigError`` naming the distribution and the entry point.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists what exists."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a plain sentence.
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, *, group: str | None = None, builtins: Callable[[], None] | None = None,
                 adopt: Callable[[Any], T] | None = None) -> None:
        self.kind = kind
        self.group = group  # the entry-point group installed packages extend this registry through
        self._builtins = builtins
        self._adopt = adopt
        self._loaded = group is None and builtins is None
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> T:
        """Remove ``name`` (a test's own registration, or a plugin replacing nothing): its item."""
        return self._items.pop(name)

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            return self.register(name, item)

        return wrap

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        self._load()
        close = difflib.get_close_matches(str(name), list(self._items), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._items))}."

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    # -- built-ins and entry points, once ------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: the modules imported below register into this registry
        if self._builtins is not None:
            self._builtins()
        if self.group is not None:
            from importlib.metadata import entry_points

            for entry_point in sorted(entry_points(group=self.group), key=lambda e: e.name):
                self._load_entry_point(entry_point)

    def _load_entry_point(self, entry_point: Any) -> None:
        from .errors import ConfigError

        dist = getattr(entry_point, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
        where = f"entry point {entry_point.name!r} = {entry_point.value!r} (group {self.group}) of {origin}"
        before = entry_point.name in self._items
        try:
            loaded = entry_point.load()
            if inspect.ismodule(loaded) or (entry_point.name in self._items and not before):
                return  # importing it registered what it provides
            item = self._adopt(loaded) if self._adopt is not None else loaded
            self.register(entry_point.name, item)
        except Exception as exc:  # a plugin's import can raise anything; the one line names it
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ConfigError(f"{where} cannot be loaded: {type(exc).__name__}: {first}") from None
