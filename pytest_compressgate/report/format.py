"""How numbers, sizes and release statuses read, in the terminal table, the command's output and model cards.

One place, so a drop or a size reads the same in every report a reviewer sees.
"""

from __future__ import annotations

import json
from typing import Any

MISSING = "—"


def num(value: float | None, spec: str = ".4f") -> str:
    """A score, drop or p-value (``spec``: ``.4f``, ``+.4f`` for drops, ``.3g`` for p-values); a dash for none."""
    return MISSING if value is None else format(value, spec)


def size(value: int | None, *, exact: bool = False) -> str:
    """Bytes in binary units (``1.2 MiB``); ``exact`` adds the byte count, as a model card shows it."""
    if value is None:
        return "unknown"
    amount, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            break
        amount /= 1024
    if unit == "B":
        return f"{value:,} B"
    return f"{amount:.1f} {unit}" + (f" ({value:,} bytes)" if exact else "")


def compact(value: Any) -> str:
    """A compression statistic in a line: floats to 4 significant digits, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def release_status(details: Any) -> str:
    """An artifact's release status with its latest decision (``ArtifactDetails``: ``status``, ``approvals``)."""
    if not details.approvals:
        return "pending (no decision yet)"
    last = details.approvals[-1]
    forced = " (forced past a FAIL verdict)" if last.forced else ""
    return f"{details.status.value} by {' '.join(str(last.who).split())} at {last.decided_at[:19]}{forced}"


def interval(low: float | None, high: float | None) -> str:
    """A drop's interval, ``[-0.0050, +0.0300]``; a dash when there is none."""
    return MISSING if low is None or high is None else f"[{low:+.4f}, {high:+.4f}]"


def examples(n: int, used: int | None) -> str:
    """How many examples decided a verdict: ``150``, or ``60/150`` when early stopping used fewer."""
    return str(n) if not used or used >= n else f"{used}/{n}"
