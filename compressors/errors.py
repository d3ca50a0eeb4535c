"""Errors shared by the compressors and the gate; each names what was wrong and what is valid."""

from __future__ import annotations


class ConfigError(ValueError):
    """A user-supplied setting is invalid. The message names the key path, the value and what is valid."""


def did_you_mean(value: str, choices) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices``, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class BackendMissingError(ImportError):
    """An optional backend is not installed; the message names the extra that provides it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'pytest-compressgate[{extra}]'"
        )


class CompressionError(RuntimeError):
    """A compression step ran but its result cannot be trusted (for example, nothing was quantized)."""


def require(module: str, *, extra: str, purpose: str):
    """Import an optional backend module, or raise an error naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and not module.startswith(exc.name.split(".")[0]):
            raise  # the backend is there but something it needs is broken: show the real error
        raise BackendMissingError(module.split(".")[0], extra, purpose) from exc
