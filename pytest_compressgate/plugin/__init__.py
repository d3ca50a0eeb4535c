"""The pytest plugin (the ``pytest11`` entry point): hooks that wire pytest to the gate session. Kept thin.

Everything here imports pytest; nothing below ``pytest_compressgate/`` outside this package does. The
modules: ``options`` (flags and ini keys), ``hookspecs`` (a project's extension points), ``items`` (the
config file's task x target items), ``fixtures``, ``collector`` (results from every worker, and the summary
``report.summary`` writes). Importing this package never imports torch: pytest loads every ``pytest11``
plugin on every run, so the heavy machinery is imported only when a gate item actually runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..locate import ConfigNotFound, find_config
from ..names import unknown_targets
from . import hookspecs
from .collector import ResultCollector
from .fixtures import compress_gate, compressed_model, pytest_generate_tests, source_model
from .items import GateFile, GateItem, junit_properties, skip_at_item
from .options import addoption, option_or_ini
from .stash import CONFIG_PATH, OFF_REASON, REGISTRY_EXIT, REGISTRY_PROBLEM, SESSION, WORKER_REGISTRY_PROBLEM

if TYPE_CHECKING:
    from ..gate import GateSession

# pytest finds fixtures and hooks by name on this module: the ones defined in its submodules are named here.
__all__ = ["CONFIG_PATH", "OFF_REASON", "REGISTRY_EXIT", "REGISTRY_PROBLEM", "SESSION", "GateFile", "GateItem",
           "ResultCollector", "compress_gate", "compressed_model", "junit_properties", "pytest_generate_tests",
           "skip_at_item", "source_model"]


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    # Before anything in this worker initializes CUDA. Only a real xdist worker (it has ``workerinput``) is
    # pinned: a pytest started from inside a worker inherits PYTEST_XDIST_WORKER but is a controller.
    if config.getini("compress_gate_gpu_per_worker") and hasattr(config, "workerinput"):
        from ..gpus import pin_worker_gpu

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
    from ..config import ConfigError, load_config
    from ..gate import GateOptions, GateSession

    try:
        gate_config = load_config(path)
    except ConfigError as exc:
        raise pytest.UsageError(f"compress gate config error: {exc}") from None
    targets = config.getoption("compress_gate_targets")
    problem = unknown_targets(targets, gate_config.targets)
    if problem:
        raise pytest.UsageError(f"--compress-gate-targets: {problem}")
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
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        """Status lines reach the terminal even while a test's output is being captured. The reporter is
        looked up when a line is said: pytest registers it in its own pytest_configure, which may run after
        this one."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
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
        from ..report.baseline import BaselineError

        try:
            session.baseline_rows  # noqa: B018  (read once per process; the gates and the summary reuse it)
        except BaselineError as exc:
            raise pytest.UsageError(exc.message("--compress-gate-baseline=")) from None
    if options.enabled and not hasattr(config, "workerinput"):  # pytest-xdist's controller checked for its workers
        _preflight(config, session, path)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if options.enabled and not explicit and not _is_collected(config, path):
        config.args.append(str(path))  # testpaths that miss the config file still run the gate


def _preflight(config: pytest.Config, session: GateSession, path: Path) -> None:
    """The files the config names, checked before anything is built (one line, exit 4, for a bad one);
    and a loud line when the source's own Python code will run."""
    import sys

    from ..config import ConfigError
    from ..config.loading import one_line
    from ..preflight import preflight, remote_code_notice

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
    from ..report.baseline import baseline_path

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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Register what this process built and scored (each pytest-xdist worker records its own; a worker's
    failure to record reaches the controller through ``workeroutput``, see pytest_testnodedown)."""
    gate = session.config.stash.get(SESSION, None)
    if gate is None:
        return
    if not gate.comparisons:  # nothing of this process's own; a worker may have failed to record its results
        if REGISTRY_PROBLEM in session.config.stash and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = REGISTRY_EXIT
        return
    from ..registry import new_run_id, open_registry, record_run

    try:
        registry = open_registry(gate.config.registry, base_dir=gate.config.root)
        try:
            record_run(registry, gate.built_stages(), gate.comparisons,
                       os.environ.get("COMPRESSGATE_RUN_ID") or new_run_id())
        finally:
            registry.close()
    except Exception as exc:  # the reports must still be written: say what was not recorded, and fail the run
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        problem = session.config.stash[REGISTRY_PROBLEM] = f"{type(exc).__name__}: {first}"
        workeroutput = getattr(session.config, "workeroutput", None)  # a pytest-xdist worker tells its controller
        if workeroutput is not None:
            workeroutput[WORKER_REGISTRY_PROBLEM] = problem
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = REGISTRY_EXIT
    finally:
        gate.close()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: a worker that could not record its results fails the whole run."""
    problem = getattr(node, "workeroutput", {}).get(WORKER_REGISTRY_PROBLEM)
    if problem:
        node.config.stash[REGISTRY_PROBLEM] = problem
