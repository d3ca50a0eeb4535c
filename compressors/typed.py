"""Build typed config dataclasses from plain mappings (TOML tables), with errors that name the key path."""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

_NONE = type(None)


def describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(describe(a) for a in typing.get_args(tp) if a is not _NONE)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {describe(args[0])}" if args else "a list"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert: int -> float, str -> Enum) a value against a type hint."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or (origin is not None and origin.__name__ == "UnionType"):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        for arg in args:
            try:
                return coerce(value, arg, where)
            except ConfigError as exc:
                last = exc
        if len(args) == 1:  # "x | None": the one type's own message (say, why nan is not a number here)
            raise last
        raise ConfigError(f"{where} = {value!r} is invalid: expected {describe(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r} is invalid: expected {describe(tp)}")
        (item_tp,) = typing.get_args(tp)[:1] or (Any,)
        items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"{where} = {value!r} is invalid: expected {describe(tp)}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, float) and not math.isfinite(value):  # TOML spells nan and inf
        raise ConfigError(f"{where} = {value!r} is invalid: expected a finite number")
    if tp in (bool, int, float, str):
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where} = {value!r} is invalid: expected {describe(tp)}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a dataclass type, never an instance, is a hint
        return from_mapping(tp, value, where)
    if tp is dict or typing.get_origin(tp) is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise ConfigError(f"{where} = {value!r} is invalid: expected a table")
    return value


def from_mapping(cls: type[T], data: Any, where: str, *, ignore: tuple[str, ...] = ()) -> T:
    """Instantiate dataclass ``cls`` from ``data``; unknown or missing keys raise ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key in ignore:
            continue
        if key not in fields:
            raise ConfigError(
                f"{where}.{key}: unknown key.{did_you_mean(key, fields)} Valid keys: {', '.join(sorted(fields))}."
            )
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name} is required ({describe(hints[name])})")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc


# -- path fields ------------------------------------------------------------------------------------

def path_field(default: Any = None, *, required: bool = False, **kwargs: Any) -> Any:
    """A dataclass field that holds a file path (or, for a ``dict`` field, a table of named paths).

    Declared, never guessed: the gate resolves exactly these against the config file's folder when the
    config loads, keys cached results by those files' bytes and checks in preflight that they exist and
    are not empty. ``path_field()`` defaults to None; ``required=True`` gives no default; pass
    ``default_factory=dict`` for a table."""
    if required or "default_factory" in kwargs:
        return dataclasses.field(metadata={"path": True}, **kwargs)
    return dataclasses.field(default=default, metadata={"path": True}, **kwargs)


def path_fields(cls_or_instance: Any) -> tuple[str, ...]:
    """The names of the declared path fields of a dataclass (none for anything else)."""
    if not dataclasses.is_dataclass(cls_or_instance):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls_or_instance) if f.metadata.get("path"))


def declared_paths(config: Any) -> dict[str, str]:
    """Every path a config's declared fields hold, by key path relative to the config ("calibration",
    "files.train"); unset fields are left out."""
    found: dict[str, str] = {}
    for name in path_fields(config):
        value = getattr(config, name)
        if isinstance(value, str) and value:
            found[name] = value
        elif isinstance(value, Mapping):
            found.update({f"{name}.{k}": v for k, v in value.items() if isinstance(v, str) and v})
    return found


def map_paths(config: T, change: typing.Callable[[str], str]) -> T:
    """``config`` with ``change`` applied to each path its declared fields hold (the same object when it has
    none to change)."""
    updates: dict[str, Any] = {}
    for name in path_fields(config):
        value = getattr(config, name)
        if isinstance(value, str) and value:
            updates[name] = change(value)
        elif isinstance(value, Mapping) and value:
            updates[name] = {k: change(v) if isinstance(v, str) and v else v for k, v in value.items()}
    return dataclasses.replace(config, **updates) if updates else config


def resolve_paths(config: T, root: Any) -> T:
    """``config`` with its declared paths made absolute against ``root`` (the config file's folder)."""
    from pathlib import Path

    return map_paths(config, lambda p: str(Path(root) / p))


def relative_paths(config: T, root: Any) -> T:
    """``config`` with its declared paths under ``root`` written relative to it again, as the user wrote
    them: what cache keys hold, so moving a checkout does not change them (the files' bytes are keyed)."""
    import os
    from pathlib import Path

    def relative(path: str) -> str:
        if not Path(path).is_absolute():
            return path
        rel = os.path.relpath(path, root)
        return path if rel.startswith("..") else Path(rel).as_posix()

    return map_paths(config, relative)
