"""Results gathered from test reports (where pytest-xdist delivers its workers'), and the run's summary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

import pytest

from .stash import REGISTRY_EXIT, REGISTRY_PROBLEM, SESSION

if TYPE_CHECKING:
    from ..result import GateResult


class ResultCollector:
    """Gathers results from test reports, so results from pytest-xdist workers reach one summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[GateResult] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            from ..result import GateResult

            self.results.extend(GateResult.from_json(json.loads(cast(str, value)))  # JSON text, as runtest() stores it
                                for name, value in report.user_properties if name == "compressgate")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        session = self.config.stash.get(SESSION, None)
        if self.results:
            from ..report.summary import Writer, write_summary

            terminalreporter.write_sep("=", "compress gate")
            writer = Writer(line=terminalreporter.write_line, text=terminalreporter.write,
                            color=terminalreporter.hasmarkup,
                            width=max(self.config.get_terminal_writer().fullwidth, 240))
            write_summary(writer, self.results, summary_of(self.config))
        problem = self.config.stash.get(REGISTRY_PROBLEM, None)
        if problem and session is not None:
            terminalreporter.write_line(
                f"compress gate: the registry {session.config.registry} was NOT written ({problem}); the results "
                f"above and any reports are complete, the run exits {int(REGISTRY_EXIT)}. Fix or move the registry "
                "and rerun: cached results make the rerun fast", red=True, bold=True)


def summary_of(config: pytest.Config):
    """What this run's summary does besides the table, from the session's options."""
    from ..report.baseline import baseline_path
    from ..report.summary import Summary, github_step_summary

    session = config.stash.get(SESSION, None)
    if session is None:
        return Summary(step_summary=github_step_summary())
    options = session.options
    report_dir = options.report_dir
    if report_dir is not None and not report_dir.is_absolute():
        report_dir = config.rootpath / report_dir
    saved = options.save_baseline
    return Summary(
        holm=session.config.holm,
        baseline=(options.baseline, session.baseline_rows) if options.enabled and options.baseline else None,
        report_dir=report_dir,
        save_baseline=(saved, baseline_path(saved, cache_dir=session.config.cache_dir, root=config.rootpath))
        if saved else None,
        step_summary=github_step_summary(),
    )
