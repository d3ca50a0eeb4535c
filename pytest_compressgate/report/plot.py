"""A plot of every gate: the drop and its interval against the allowed drop, one row per task x target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..result import GateResult


def write_plot(path: Path, comparisons: Sequence[GateResult]) -> Path | None:
    """Write a PNG; returns None when matplotlib (the ``plot`` extra) is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [c for c in comparisons if not c.stage]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    for y, c in enumerate(rows):
        color = "tab:green" if c.passed else "tab:red"
        if c.interval is not None:
            ax.plot([c.interval.low, c.interval.high], [y, y], color=color, linewidth=3, alpha=0.5)
        ax.plot([c.drop], [y], "o", color=color)
        ax.plot([c.allowed_drop], [y], "|", color="black", markersize=18)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [f"{c.task} [{c.target}] ({c.metric})" for c in rows])
    ax.invert_yaxis()
    ax.set_xlabel("drop (positive = compressed is worse); bar = interval, | = allowed drop")
    ax.set_title("compress gate")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
