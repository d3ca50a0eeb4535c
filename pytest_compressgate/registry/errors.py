"""Registry errors. Each message says what is wrong and what to do about it."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every registry error; the CLI prints its message on one line and exits 2."""


class UnknownArtifactError(RegistryError):
    """No artifact has this key (or key prefix)."""


class AmbiguousKeyError(RegistryError):
    """A key prefix matches more than one artifact."""


class NotARegistryError(RegistryError):
    """The file at the registry URL is not a compressgate registry."""


class SchemaTooNewError(RegistryError):
    """The registry was written by a newer pytest-compressgate than this one."""


class DecisionRefusedError(RegistryError):
    """An approval or rejection was refused (no reason given, or approving a failing artifact)."""
