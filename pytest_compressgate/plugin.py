"""The pytest plugin: options, collection of declared gates, fixtures and the summary. Kept thin.

Importing this module never imports torch: pytest loads every ``pytest11`` plugin on every run, so the
heavy machinery is imported only when a project declares a gate and a gate item actually runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from . import hookspecs
from .locate import ConfigNotFound, find_config
from .options import addoption, option_or_ini

if TYPE_CHECKING:
    from .session import GateSession

SESSION = pytest.StashKey["GateSession"]()
CONFIG_PATH = pytest.StashKey["Path | None"]()
REGISTRY_PROBLEM = pytest.StashKey[str]()
# The gates ran and their reports are written, but nothing was recorded: not a test failure (1), not a
# usage error (4); pytest's code for "something outside the tests went wrong" is the honest one.
REGISTRY_EXIT = pytest.ExitCode.INTERNAL_ERROR
OFF_REASON = "compress gate is off: run `pytest --compress-gate` to build and score the compressed models"


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("compress_gate_gpu_per_worker"):  # before anything in this worker initializes CUDA
        from .gpus import pin_worker_gpu

        pin_worker_gpu(os.environ)
    config.addinivalue_line("markers", "compress_gate(targets=None): narrow `compressed_model` to these targets")
    config.pluginmanager.register(ResultCollector(config), "compressgate-results")
    try:
        path = find_config(config.rootpath, option_or_ini(config, "compress_gate_config"))
    except ConfigNotFound as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONFIG_PATH] = path
    if path is None:
        if config.getoption("compress_gate"):
            raise pytest.UsageError(
                f"--compress-gate found no config in {config.rootpath}: add a [tool.compressgate] table to "
                "pyproject.toml or a compressgate.toml (or pass --compress-gate-config=PATH)"
            )
        return
    from .config import ConfigError, load_config
    from .session import GateOptions, GateSession

    try:
        gate_config = load_config(path)
    except ConfigError as exc:
        raise pytest.UsageError(f"compress gate config error: {exc}") from None
    targets = config.getoption("compress_gate_targets")
    unknown = [t for t in targets or () if t not in gate_config.targets]
    if unknown:
        raise pytest.UsageError(
            f"--compress-gate-targets: unknown target(s) {', '.join(unknown)}; "
            f"declared: {', '.join(gate_config.targets)}"
        )
    report = option_or_ini(config, "compress_gate_report")
    baseline = config.getoption("compress_gate_baseline") or config.getini("compress_gate_baseline") or None
    options = GateOptions(
        enabled=config.getoption("compress_gate"),
        targets=targets,
        rebuild=config.getoption("compress_gate_rebuild"),
        early_stop=bool(option_or_ini(config, "compress_gate_early_stop")),
        require_hardware=bool(option_or_ini(config, "compress_gate_require_hardware")),
        report_dir=Path(report) if report else None,
        baseline=baseline,
        baseline_path=_baseline_path(baseline, gate_config, config),
        save_baseline=config.getoption("compress_gate_save_baseline"),
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        """Status lines reach the terminal even while a test's output is being captured."""
        if reporter is None or config.get_verbosity() < 0:
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)

    session = config.stash[SESSION] = GateSession(
        gate_config, options, say=say,
        build_source=lambda cfg: _uncaptured(capture, config.hook.pytest_compressgate_build_source, gate_config=cfg),
    )
    if options.enabled and baseline:  # a missing or broken baseline is a usage error now, not mid-run
        from .report.baseline import BaselineError

        try:
            session.baseline_rows  # noqa: B018  (read once per process; the gates and the summary reuse it)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    if options.enabled:
        _preflight(config, session, path)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if options.enabled and not explicit and not _is_collected(config, path):
        config.args.append(str(path))  # testpaths that miss the config file still run the gate


def _preflight(config: pytest.Config, session: GateSession, path: Path) -> None:
    """The files the config names, checked before anything is built (one line, exit 4, for a bad one);
    and a loud line when the source's own Python code will run."""
    import sys

    from .config import ConfigError
    from .config.loading import one_line
    from .preflight import preflight, remote_code_notice

    if not config.option.collectonly:
        try:
            preflight(session)
        except ConfigError as exc:
            raise pytest.UsageError(one_line(f"compress gate config error: {path.name}: {exc}")) from None
    if session.config.source.trust_remote_code:
        local = Path(session.config.resolve(session.config.source.model))
        directory = local if local.is_dir() else None if config.option.collectonly else session.source_dir
        notice = remote_code_notice(directory, session.config.source.model)
        sys.stderr.write(f"WARNING: compress gate: {notice}\n")
        config.issue_config_time_warning(UserWarning(f"compress gate: {notice}"), stacklevel=2)
    session.cache.sweep()  # temporary directories of killed builds (kept while their build still runs)


def _baseline_path(ref: str | None, gate_config, config: pytest.Config) -> Path | None:
    if not ref:
        return None
    from .report.baseline import baseline_path

    return baseline_path(ref, cache_dir=gate_config.cache_dir, root=config.rootpath)


def _uncaptured(capture, function, **kwargs):
    """Run ``function`` with output capture off, so a long build's progress bar reaches the terminal."""
    if capture is None:
        return function(**kwargs)
    with capture.global_and_fixture_disabled():
        return function(**kwargs)


def _is_collected(config: pytest.Config, path: Path) -> bool:
    """Whether the command line's paths already reach the config file (so its items are collected)."""
    for arg in config.args:
        candidate = Path(arg.split("::")[0])
        candidate = candidate if candidate.is_absolute() else Path(config.invocation_params.dir) / candidate
        inside = candidate.is_dir() and path.resolve().is_relative_to(candidate.resolve())
        if candidate.resolve() == path.resolve() or inside:
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    path = parent.config.stash.get(CONFIG_PATH, None)
    if path is not None and file_path.resolve() == path.resolve() and SESSION in parent.config.stash:
        return GateFile.from_parent(parent, path=file_path)
    return None


class GateFile(pytest.File):
    """The config file as a collector: one item per declared task x target."""

    def collect(self):
        session = self.config.stash[SESSION]
        targets = session.options.targets or tuple(session.config.targets)
        for task in session.config.tasks:
            for target in targets:
                item = GateItem.from_parent(self, name=f"{task}[{target}]", task=task, target=target)
                if not session.options.enabled:
                    item.add_marker(pytest.mark.skip(reason=OFF_REASON))
                yield item


class GateItem(pytest.Item):
    def __init__(self, *, task: str, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.target = task, target
        self.add_marker(pytest.mark.compress_gate(targets=[target]))

    def runtest(self) -> None:
        from .assertions import GateFailure

        session = self.config.stash[SESSION]
        missing = session.hardware_skip_reason(self.target)
        if missing:
            artifact = session.artifact(self.target)  # what can be built here is built (and cached)
            message = f"{missing}; artifact built at {artifact.path}"
            if session.options.require_hardware:
                pytest.fail(f"{message} (--compress-gate-require-hardware is set)", pytrace=False)
            skip_at_item(message)
        comparison = session.compare(self.task, self.target)
        for c in session.comparisons_for(self.task, self.target):
            # JSON text, not a dict: --junitxml writes properties as text, and JSON stays machine-readable there
            self.user_properties.append(("compressgate", json.dumps({**c.to_json(), "nodeid": self.nodeid},
                                                                    default=str)))
            self.config.hook.pytest_compressgate_comparison(comparison=c)
        self.user_properties.extend(junit_properties(comparison))
        if not comparison.passed:
            raise GateFailure(comparison)

    def repr_failure(self, excinfo, style=None):
        from .assertions import GateFailure

        from .cache.store import CacheValueError
        from .config import ConfigError

        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, (ConfigError, CacheValueError)):  # the user's to fix: one paragraph
            return f"compress gate: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"compress gate {self.task}[{self.target}]"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Register what this process built and scored (each pytest-xdist worker records its own)."""
    gate = session.config.stash.get(SESSION, None)
    if gate is None or not gate.comparisons:
        return
    from .registry import new_run_id, open_registry, record_session

    try:
        registry = open_registry(gate.config.registry, base_dir=gate.config.root)
        try:
            record_session(registry, gate, os.environ.get("COMPRESSGATE_RUN_ID") or new_run_id())
        finally:
            registry.close()
    except Exception as exc:  # the reports must still be written: say what was not recorded, and fail the run
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        session.config.stash[REGISTRY_PROBLEM] = f"{type(exc).__name__}: {first}"
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = REGISTRY_EXIT
    finally:
        gate.close()


def skip_at_item(reason: str) -> None:
    """Skip, reported at the test's own location (the config file for gate items), not at this plugin's line.
    ``_use_item_location`` is how pytest itself places skips from marks; a pytest without it still skips."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:
        pytest.skip(reason)
    raise exc


def junit_properties(c) -> list[tuple[str, str]]:
    """The verdict's numbers as flat properties, which ``--junitxml`` reports show per test case."""
    numbers = {"metric": c.metric, "source_score": f"{c.source_score:.4f}",
               "compressed_score": f"{c.compressed_score:.4f}", "drop": f"{c.drop:+.4f}",
               "allowed_drop": f"{c.allowed_drop:.4f}", "n": str(c.n),
               "p_value": "" if c.p_value is None else f"{c.p_value:.3g}", "verdict": "PASS" if c.passed else "FAIL"}
    if c.interval is not None:
        numbers["interval"] = f"[{c.interval.low:+.4f}, {c.interval.high:+.4f}]"
    numbers["outcome"] = c.outcome  # PASS, FAIL or INCONCLUSIVE (which "verdict" passes or fails by policy)
    if c.p_test:
        numbers["p_test"] = c.p_test
    return [(f"compressgate.{name}", value) for name, value in numbers.items()]


class ResultCollector:
    """Gathers comparisons from test reports, so results from pytest-xdist workers reach one summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.results.extend(json.loads(cast(str, value))  # JSON text, as runtest() stores it
                                for name, value in report.user_properties if name == "compressgate")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        session = self.config.stash.get(SESSION, None)
        if self.results:
            write_summary(terminalreporter, self.config, self.results,
                          session.options.report_dir if session else None)
        problem = self.config.stash.get(REGISTRY_PROBLEM, None)
        if problem and session is not None:
            terminalreporter.write_line(
                f"compress gate: the registry {session.config.registry} was NOT written ({problem}); the results "
                f"above and any reports are complete, the run exits {int(REGISTRY_EXIT)}. Fix or move the registry "
                "and rerun: cached results make the rerun fast", red=True, bold=True)


def write_summary(terminalreporter, config: pytest.Config, results: list[dict[str, Any]],
                  report_dir: Path | None) -> None:
    from .report import render_markdown, render_table, write_json, write_plot

    session = config.stash.get(SESSION, None)
    if session is not None and session.config.holm:
        from .report.rows import adjust_holm

        adjust_holm(results)
    if session is not None and session.options.enabled and session.options.baseline:
        from .report.baseline import attach

        attach(results, session.baseline_rows, session.options.baseline)
    terminalreporter.write_sep("=", "compress gate")
    width = max(config.get_terminal_writer().fullwidth, 240)  # never elide numbers; CI logs do not wrap
    terminalreporter.write(render_table(results, width=width, color=terminalreporter.hasmarkup))
    from .report.rows import notes

    for note in notes(results):
        terminalreporter.write_line(f"note: {note}")
    markdown = render_markdown(results)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(markdown)
    if report_dir is not None:
        report_dir = report_dir if report_dir.is_absolute() else config.rootpath / report_dir
        write_json(report_dir / "compressgate.json", results)
        (report_dir / "compressgate.md").write_text(markdown, encoding="utf-8")
        write_plot(report_dir / "compressgate.png", results)
        terminalreporter.write_line(f"compress gate reports written to {report_dir}")
    if session is not None and session.options.save_baseline:
        from .report.baseline import baseline_path, save_baseline

        ref = session.options.save_baseline
        path = save_baseline(baseline_path(ref, cache_dir=session.config.cache_dir, root=config.rootpath), results)
        terminalreporter.write_line(f"compress gate baseline {ref!r} saved to {path}")
    failed = [r for r in results if not r["passed"] and not r.get("stage")]
    if failed:
        first = failed[0].get("nodeid") or f"-k '{failed[0]['task']} and {failed[0]['target']}'"
        terminalreporter.write_line(
            f"{len(failed)} gate(s) failed. Rerun one with: pytest --compress-gate '{first}' -vv")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compress_gate(request: pytest.FixtureRequest) -> GateSession:
    """The gate session: config, ``.source_dir``, ``.artifact(target)``, ``.evaluate(...)``, ``.compare(...)``."""
    session = request.config.stash.get(SESSION, None)
    if session is None:
        pytest.fail("compress_gate needs a [tool.compressgate] table in pyproject.toml or a compressgate.toml",
                    pytrace=False)
    if not session.options.enabled:
        pytest.skip(OFF_REASON)
    return session


@pytest.fixture(scope="session")
def source_model(compress_gate: GateSession):
    """The source model, loaded for inference (a ``LoadedModel``: ``.model`` and ``.tokenizer``)."""
    return compress_gate.load(compress_gate.source_dir, "source", compress_gate.source_device)


@pytest.fixture
def compressed_model(request: pytest.FixtureRequest, compress_gate: GateSession):
    """The final compressed model of one target; tests using it run once per declared target."""
    target = request.param
    missing = compress_gate.hardware_skip_reason(target)
    if missing:
        if compress_gate.options.require_hardware:
            pytest.fail(f"{missing} (--compress-gate-require-hardware is set)", pytrace=False)
        skip_at_item(missing)
    return compress_gate.compressed_model(target)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "compressed_model" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash.get(SESSION, None)
    targets = list(session.options.targets or session.config.targets) if session else []
    marker = metafunc.definition.get_closest_marker("compress_gate")
    wanted = marker.kwargs.get("targets") if marker else None
    if wanted:
        declared = list(session.config.targets) if session else []
        unknown = [t for t in wanted if t not in declared]
        if unknown:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: @pytest.mark.compress_gate names unknown target(s) "
                f"{', '.join(unknown)}; declared: {', '.join(declared) or 'none'}"
            )
        targets = [t for t in targets if t in wanted]
    metafunc.parametrize("compressed_model", targets, indirect=True, ids=targets)
