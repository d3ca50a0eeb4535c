"""The terminal summary: one rich table, one row per task x target (and per stage of stacked recipes)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .rows import baseline_header, columns, row

if TYPE_CHECKING:
    from ..result import GateResult

STYLE = {"PASS": "bold green", "FAIL": "bold red", "stage": "dim"}


def render_table(comparisons: Sequence[GateResult], *, width: int = 160, color: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="compress gate", header_style="bold", show_lines=False)
    shown = columns(comparisons)
    for column in shown:
        table.add_column(baseline_header(comparisons) if column == "vs baseline" else column,
                         justify="right" if column not in ("task", "target", "stage", "metric") else "left",
                         no_wrap=True)
    for comparison in comparisons:
        values = row(comparison)
        table.add_row(*(values[c] for c in shown), style=STYLE.get(values["verdict"]) if color else None)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None)
    console.print(table)
    return buffer.getvalue()
