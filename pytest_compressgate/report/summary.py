"""The reporting step of a gate run: one function the plugin and the ``compressgate report`` command share.

``write_summary`` adjusts the printed p-values (Holm), attaches a baseline, prints the table and the notes,
appends the Markdown to the CI job page, writes the JSON/Markdown/PNG reports, saves the run as a baseline
and ends with the command that reruns a failing gate. It writes through a ``Writer`` (one callable for a
line, one for the table, whether colour is on), so pytest's terminal reporter and standard output take it
alike, and it imports neither pytest nor torch.

The job page (``$GITHUB_STEP_SUMMARY``) is the caller's choice, through ``Summary.step_summary``. The plugin
passes the variable's file: the gate's run is the step a reviewer opens. ``compressgate report`` passes
none: it re-renders a report the gate already put on that page (in the same job it would appear twice),
and a user who wants it on another job's page says so with ``--format markdown --output
"$GITHUB_STEP_SUMMARY"``, where an implicit side effect of a re-rendering command would surprise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..result import GateResult


@dataclass(frozen=True)
class Writer:
    """Where the summary goes: ``line`` writes one line, ``text`` writes text as it is (the table)."""

    line: Callable[[str], None]
    text: Callable[[str], None]
    color: bool = False
    width: int = 240  # never elide numbers; CI logs do not wrap


@dataclass(frozen=True)
class Summary:
    """What a run's summary does besides printing the table; each part off unless given."""

    holm: bool = False  # add Holm-adjusted p-values across each target's tasks
    baseline: tuple[str, Sequence[GateResult]] | None = None  # (ref, its results): add each row's drop change
    report_dir: Path | None = None  # write compressgate.json, .md and .png here
    save_baseline: tuple[str, Path] | None = None  # (ref, path): keep this run's rows as that baseline
    step_summary: Path | None = None  # append the Markdown here (a CI job page)


def github_step_summary(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The file GitHub Actions shows on the job's page, when running there."""
    value = environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None


def write_summary(writer: Writer, results: Sequence[GateResult], summary: Summary) -> None:
    """Report ``results`` (their ``p_value_holm`` and ``baseline`` are set here)."""
    from . import render_markdown, render_table, write_json, write_plot
    from .baseline import save_baseline
    from .rows import notes

    annotate(results, summary)
    writer.text(render_table(results, width=writer.width, color=writer.color))
    for note in notes(results):
        writer.line(f"note: {note}")
    markdown = render_markdown(results)
    if summary.step_summary is not None:
        with open(summary.step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    if summary.report_dir is not None:
        write_json(summary.report_dir / "compressgate.json", results)
        (summary.report_dir / "compressgate.md").write_text(markdown, encoding="utf-8")
        write_plot(summary.report_dir / "compressgate.png", results)
        writer.line(f"compress gate reports written to {summary.report_dir}")
    if summary.save_baseline is not None:
        ref, path = summary.save_baseline
        writer.line(f"compress gate baseline {ref!r} saved to {save_baseline(path, results)}")
    hint = rerun_hint(results)
    if hint:
        writer.line(hint)


def annotate(results: Sequence[GateResult], summary: Summary) -> None:
    """What the summary adds to each row before it is shown: Holm-adjusted p-values, the baseline's drop."""
    from .baseline import attach
    from .rows import adjust_holm

    if summary.holm:
        adjust_holm(results)
    if summary.baseline is not None:
        ref, rows = summary.baseline
        attach(results, rows, ref)


def rerun_hint(results: Sequence[GateResult]) -> str | None:
    """The command that reruns the first failing gate, verbosely; None when every gate passed."""
    failed = [r for r in results if not r.passed and not r.stage]
    if not failed:
        return None
    first = failed[0]
    which = f"'{first.nodeid}'" if first.nodeid else f"-k '{first.task} and {first.target}'"
    return f"{len(failed)} gate(s) failed. Rerun one with: pytest --compress-gate {which} -vv"
