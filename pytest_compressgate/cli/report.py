"""``compressgate report``: the last JSON report again, as the gate's summary, Markdown or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import CliError, emit, load_config

DEFAULT_REPORT_DIR = ".compressgate/report"


def add_parser(commands) -> None:
    report = commands.add_parser("report", help="re-render the last JSON report")
    report.add_argument("--from", dest="from_dir", metavar="DIR", default=DEFAULT_REPORT_DIR,
                        help=f"folder holding the JSON report. Default: {DEFAULT_REPORT_DIR}.")
    report.add_argument("--format", choices=("table", "markdown", "json"), default="table",
                        help="output format. Default: table.")
    report.add_argument("--output", metavar="FILE", help="write to FILE. Default: standard output.")
    report.add_argument("--baseline", metavar="FILE",
                        help="another compressgate.json (say, the main branch's): add how each row's drop moved "
                             "since then. Default: none.")
    report.add_argument("--config", metavar="PATH",
                        help="resolve a relative --from against this config's folder. Default: the working directory.")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """The table is the gate's own summary (``report.summary``: table, notes, the rerun hint), minus the
    reports and the job page, which the gate run that wrote this report already wrote."""
    from ..report import render_markdown
    from ..report.summary import Summary, Writer, annotate, write_summary

    path = _last_report(args)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON ({exc}); rerun the gate to write it again") from None
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("compressgate-report/") \
            or not isinstance(document.get("comparisons"), list):
        raise CliError(f"{path} is not a compress gate report (no 'schema': 'compressgate-report/1'); "
                       "pass --from the folder given to --compress-gate-report")
    from ..report.json_report import results_of

    try:
        results = results_of(document["comparisons"])
    except ValueError as exc:
        raise CliError(f"{path} {exc}; rerun the gate to write it again") from None
    summary = Summary(baseline=_baseline(args.baseline))
    if args.format == "table":
        parts: list[str] = []
        write_summary(Writer(line=lambda line: parts.append(line + "\n"), text=parts.append), results, summary)
        text = "".join(parts)
    elif args.format == "markdown":
        annotate(results, summary)
        text = render_markdown(results)
    else:
        annotate(results, summary)
        document["comparisons"] = [r.to_json() for r in results]
        text = json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    emit(text, args.output, what="report")
    return 0


def _last_report(args: argparse.Namespace) -> Path:
    folder = Path(args.from_dir)
    if args.config and not folder.is_absolute():
        folder = load_config(args.config).root / folder
    if not folder.is_dir():
        raise CliError(f"no report folder {folder}: run `pytest --compress-gate --compress-gate-report={folder}` "
                       "first, or pass --from DIR")
    reports = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise CliError(f"no JSON report in {folder}: run `pytest --compress-gate "
                       f"--compress-gate-report={folder}` first")
    return reports[-1]


def _baseline(ref: str | None):
    if not ref:
        return None
    from ..report.baseline import BaselineError, load_baseline

    try:
        return ref, load_baseline(ref, Path(ref))
    except BaselineError as exc:
        raise CliError(exc.message("--baseline ")) from None
