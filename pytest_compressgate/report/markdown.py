"""A Markdown summary for CI job pages (GitHub's $GITHUB_STEP_SUMMARY) and pull-request comments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .rows import baseline_header, columns, failures, notes, row

if TYPE_CHECKING:
    from ..result import GateResult


def render_markdown(comparisons: Sequence[GateResult]) -> str:
    failed = failures(comparisons)
    head = "### Compress gate: " + (f"❌ {len(failed)} failing" if failed else "✅ all tasks within thresholds")
    shown = columns(comparisons)
    header = [baseline_header(comparisons) if c == "vs baseline" else c for c in shown]
    lines = [head, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(shown)]
    for comparison in comparisons:
        values = row(comparison)
        if values["verdict"] == "FAIL":
            values["verdict"] = "❌ FAIL"
        elif values["verdict"] == "PASS":
            values["verdict"] = "✅ PASS"
        lines.append("| " + " | ".join(values[c] for c in shown) + " |")
    listed = notes(comparisons)
    if listed:
        lines += ["", "<details><summary>Notes</summary>", ""]
        lines += [f"- {note}" for note in listed]
        lines += ["", "</details>"]
    if failed:
        lines += ["", "<details><summary>Why it failed</summary>", "", "```"]
        lines += [f"{c.task}[{c.target}]: " + "; ".join(c.failures) for c in failed]
        lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"
