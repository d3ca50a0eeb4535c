"""The gate's session moved to ``pytest_compressgate.gate``; this name is kept for imports of it."""

from .gate import BuiltTarget, GateOptions, GateSession, Stage

__all__ = ["BuiltTarget", "GateOptions", "GateSession", "Stage"]
