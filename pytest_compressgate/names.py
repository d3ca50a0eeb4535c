"""The names a user types for targets and baselines, parsed once for the plugin's flags and the command's.

No pytest here: the ``compressgate`` command shares these parsers without importing pytest. Each parser
raises ``argparse.ArgumentTypeError`` naming the expected form, which both argparse front ends print.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable

NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def parse_targets(value: str) -> tuple[str, ...]:
    """``"cpu-int8, gpu-int4"`` -> ``("cpu-int8", "gpu-int4")``."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names or any(not NAME.match(n) for n in names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated target names like 'cpu-int8,gpu-int4', got {value!r}")
    return names


def parse_ref(value: str) -> str:
    """A baseline: a saved name (``main``) or the path of a compressgate.json report."""
    if not (NAME.match(value) or value.endswith(".json")):
        raise argparse.ArgumentTypeError(
            f"expected a baseline name of letters, digits, '.', '_' or '-' (like 'main'), or a path to a "
            f"compressgate.json report, got {value!r}")
    return value


def unknown_targets(wanted: Iterable[str] | None, declared: Iterable[str]) -> str | None:
    """Why ``wanted`` names targets the config does not declare (each caller prefixes its own flag), or None."""
    declared = list(declared)
    unknown = [t for t in wanted or () if t not in declared]
    if not unknown:
        return None
    return f"unknown target(s) {', '.join(unknown)}; declared: {', '.join(declared) or 'none'}"
