"""``compressgate build``: every target's artifacts, stage by stage through the cache, then the registry."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..names import parse_targets, unknown_targets
from ..report.format import compact, size
from .common import CliError, load_config


def add_parser(commands) -> None:
    build = commands.add_parser("build", help="build every target's artifacts (no scoring) and register them")
    build.add_argument("--config", metavar="PATH", help="gate config. Default: ./compressgate.toml, else "
                                                          "./pyproject.toml with [tool.compressgate].")
    build.add_argument("--source", metavar="DIR", type=_parse_dir,
                       help="the source model's folder, instead of the conftest.py hook or source.model. "
                            "Default: the hook's answer, else source.model.")
    build.add_argument("--targets", metavar="NAMES", type=parse_targets,
                       help="comma-separated targets to build. Default: every declared target.")
    build.add_argument("--rebuild", action="store_true", help="ignore cached artifacts. Default: off.")
    build.add_argument("--no-registry", action="store_true",
                       help="do not record the artifacts in the registry. Default: record them.")
    build.set_defaults(handler=cmd_build)


def _parse_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a model folder (config.json and weights), got {value!r}: no such folder")
    return path.resolve()


def cmd_build(args: argparse.Namespace) -> int:
    from rich.console import Console

    from compressors.errors import ConfigError

    from ..gate import GateOptions, GateSession
    from ..project_hooks import source_builder
    from ..registry import new_run_id, open_registry, record_run

    config = load_config(args.config)
    problem = unknown_targets(args.targets, config.targets)
    if problem:
        raise CliError(f"--targets: {problem}")
    targets = args.targets or tuple(config.targets)
    build_source, origin = source_builder(config, args.source)
    session = GateSession(config, GateOptions(enabled=True, targets=targets, rebuild=args.rebuild),
                          build_source=build_source)
    try:
        source_dir = session.source_dir
    except (ConfigError, OSError) as exc:
        raise CliError(f"{exc}; or pass --source DIR, or return the folder from pytest_compressgate_build_source "
                       "in the conftest.py beside the config") from None
    if origin:
        print(f"source: {source_dir} ({origin})")
    from ..preflight import check_recipe_files, check_source_dir

    check_recipe_files(session)  # a missing calibration file is one line now, not a failure mid-build
    check_source_dir(source_dir)
    status_console = Console(stderr=True)
    try:
        for name in targets:
            started = time.perf_counter()
            if status_console.is_terminal:
                steps = len(config.targets[name].recipe)
                with status_console.status(f"[bold]{name}[/]: building {steps} stage(s)") as status:
                    session.say = lambda line: status.update(line)
                    built = session.build(name)
            else:  # CI logs: the status lines themselves
                session.say = lambda line: print(line, file=sys.stderr, flush=True)
                built = session.build(name)
            cached = sum(stage.cache_hit for stage in built.stages)
            print(f"{name}: {len(built.stages)} stage(s), {len(built.stages) - cached} built, {cached} from cache, "
                  f"{time.perf_counter() - started:.1f}s")
            for stage in built.stages:
                manifest = stage.artifact.manifest
                print(f"  {stage.name}  key {stage.key[:12]}  {size(manifest.get('bytes_on_disk'))}  "
                      f"{manifest.get('format', '?')}  {stage.artifact.path}")
                if stage.artifact.stats:
                    stats = sorted(stage.artifact.stats.items())
                    print("    stats: " + ", ".join(f"{k}={compact(v)}" for k, v in stats))
        if not args.no_registry:
            with open_registry(config.registry, base_dir=config.root) as registry:
                counts = record_run(registry, session.built_stages(), session.comparisons, new_run_id())
                print(f"registry: {counts['artifacts']} new artifact record(s) in {registry.url}")
    finally:
        session.close()
    return 0
