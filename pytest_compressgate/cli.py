"""The ``compressgate`` command: build artifacts, re-render reports and govern the registry, without pytest.

    compressgate build [--config PATH] [--source DIR] [--targets a,b] [--rebuild] [--no-registry]
    compressgate report [--from DIR] [--format table|markdown|json] [--output FILE]
    compressgate registry [--config PATH | --url URL] list [--target NAME] [--json]
    compressgate registry ... show KEY [--json] | card KEY [--output FILE]
    compressgate registry ... approve KEY --why TEXT [--who NAME] [--force]
    compressgate registry ... reject KEY --why TEXT [--who NAME]

Every error prints one line (what is wrong, what to do) to stderr and exits 2.

``build`` finds the source model as the plugin does: ``--source DIR``, else the project's
``pytest_compressgate_build_source`` hook in the ``conftest.py`` beside the config (imported with the config's
folder on ``sys.path``, as pytest would), else ``source.model`` (a local folder or a hub id).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__

DEFAULT_REPORT_DIR = ".compressgate/report"
DEFAULT_REGISTRY = "sqlite:///.compressgate/registry.db"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class CliError(Exception):
    """A usage or input error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + message; one line is enough
        raise CliError(f"{message} (see `{self.prog} --help`)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 ok, 2 error) instead of exiting."""
    from compressors.errors import CompressionError, ConfigError

    from .locate import ConfigNotFound
    from .registry import RegistryError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except (CliError, RegistryError, ConfigError, ConfigNotFound, CompressionError, ImportError, OSError) as exc:
        print(f"compressgate: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # e.g. a read-only registry file
        print(f"compressgate: error: registry database: {exc}; check the file and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compressgate: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="compressgate", description="Build, report on and govern compressed models.")
    parser.add_argument("--version", action="version", version=f"compressgate (pytest-compressgate) {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    build = commands.add_parser("build", help="build every target's artifacts (no scoring) and register them")
    build.add_argument("--config", metavar="PATH", help="gate config. Default: ./compressgate.toml, else "
                                                          "./pyproject.toml with [tool.compressgate].")
    build.add_argument("--source", metavar="DIR", type=_parse_dir,
                       help="the source model's folder, instead of the conftest.py hook or source.model. "
                            "Default: the hook's answer, else source.model.")
    build.add_argument("--targets", metavar="NAMES", type=_parse_targets,
                       help="comma-separated targets to build. Default: every declared target.")
    build.add_argument("--rebuild", action="store_true", help="ignore cached artifacts. Default: off.")
    build.add_argument("--no-registry", action="store_true",
                       help="do not record the artifacts in the registry. Default: record them.")
    build.set_defaults(handler=cmd_build)

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

    where = _Parser(add_help=False)
    source = where.add_argument_group("registry location")
    source.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="use the registry the gate config names. Default: the config found in the "
                             "working directory, else " + DEFAULT_REGISTRY + ".")
    source.add_argument("--url", metavar="URL", default=argparse.SUPPRESS,
                        help="registry URL: sqlite:///path.db or mlflow://<tracking-uri>.")
    registry = commands.add_parser("registry", parents=[where], help="list, show, approve, reject, card")
    actions = registry.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    listing = actions.add_parser("list", parents=[where], help="every artifact with its verdict and status")
    listing.add_argument("--target", metavar="NAME", help="only this target's artifacts. Default: all.")
    listing.add_argument("--json", action="store_true", help="print JSON. Default: a table.")
    show = actions.add_parser("show", parents=[where], help="everything about one artifact")
    show.add_argument("key", metavar="KEY", help="artifact key or a unique prefix of at least 6 characters")
    show.add_argument("--json", action="store_true", help="print JSON. Default: text.")
    approve = actions.add_parser("approve", parents=[where], help="approve an artifact for release")
    reject = actions.add_parser("reject", parents=[where], help="reject an artifact")
    for sub, verb in ((approve, "approval"), (reject, "rejection")):
        sub.add_argument("key", metavar="KEY", help="artifact key or a unique prefix of at least 6 characters")
        sub.add_argument("--why", metavar="TEXT", required=True, help=f"the reason for the {verb} (required)")
        sub.add_argument("--who", metavar="NAME", help="who decides. Default: $COMPRESSGATE_USER, else git "
                                                       "user.name, else the OS user.")
    approve.add_argument("--force", action="store_true",
                         help="approve although the latest verdict is FAIL (recorded as forced). Default: off.")
    card = actions.add_parser("card", parents=[where], help="a Markdown model card")
    card.add_argument("key", metavar="KEY", help="artifact key or a unique prefix of at least 6 characters")
    card.add_argument("--output", metavar="FILE", help="write to FILE. Default: standard output.")
    for sub, handler in ((listing, cmd_list), (show, cmd_show), (approve, cmd_approve), (reject, cmd_reject),
                         (card, cmd_card)):
        sub.set_defaults(handler=handler)
    return parser


def _parse_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a model folder (config.json and weights), got {value!r}: no such folder")
    return path.resolve()


def _parse_targets(value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names or any(not _NAME.match(n) for n in names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated target names like 'cpu-int8,gpu-int4', got {value!r}")
    return names


# -- build ------------------------------------------------------------------------------------


def _load_config(explicit: str | None):
    from .config import load_config
    from .locate import find_config

    path = find_config(Path.cwd(), explicit)
    if path is None:
        raise CliError(f"no compress gate config in {Path.cwd()}: add a [tool.compressgate] table to pyproject.toml "
                       "or a compressgate.toml, or pass --config PATH")
    return load_config(path)


def cmd_build(args: argparse.Namespace) -> int:
    from rich.console import Console

    from compressors.errors import ConfigError

    from .project_hooks import source_builder
    from .registry import new_run_id, open_registry, record_session
    from .session import GateOptions, GateSession

    config = _load_config(args.config)
    unknown = [t for t in args.targets or () if t not in config.targets]
    if unknown:
        raise CliError(f"--targets: unknown target(s) {', '.join(unknown)}; declared: {', '.join(config.targets)}")
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
                print(f"  {stage.name}  key {stage.key[:12]}  {_size(manifest.get('bytes_on_disk'))}  "
                      f"{manifest.get('format', '?')}  {stage.artifact.path}")
                if stage.artifact.stats:
                    stats = sorted(stage.artifact.stats.items())
                    print("    stats: " + ", ".join(f"{k}={_compact(v)}" for k, v in stats))
        if not args.no_registry:
            with open_registry(config.registry, base_dir=config.root) as registry:
                counts = record_session(registry, session, new_run_id())
                print(f"registry: {counts['artifacts']} new artifact record(s) in {registry.url}")
    finally:
        session.close()
    return 0


# -- report -----------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from .report import render_markdown, render_table

    folder = Path(args.from_dir)
    if args.config and not folder.is_absolute():
        folder = _load_config(args.config).root / folder
    if not folder.is_dir():
        raise CliError(f"no report folder {folder}: run `pytest --compress-gate --compress-gate-report={folder}` "
                       "first, or pass --from DIR")
    reports = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise CliError(f"no JSON report in {folder}: run `pytest --compress-gate "
                       f"--compress-gate-report={folder}` first")
    path = reports[-1]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON ({exc}); rerun the gate to write it again") from None
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("compressgate-report/") \
            or not isinstance(document.get("comparisons"), list):
        raise CliError(f"{path} is not a compress gate report (no 'schema': 'compressgate-report/1'); "
                       "pass --from the folder given to --compress-gate-report")
    comparisons = document["comparisons"]
    if args.baseline:
        from .report.baseline import BaselineError, attach, load_baseline

        try:
            attach(comparisons, load_baseline(args.baseline, Path(args.baseline)), args.baseline)
        except BaselineError as exc:
            raise CliError(str(exc).replace("--compress-gate-baseline=", "--baseline ")) from None
    if args.format == "table":
        text = render_table(comparisons, width=240)
    elif args.format == "markdown":
        text = render_markdown(comparisons)
    else:
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    _emit(text, args.output, what="report")
    return 0


# -- registry ---------------------------------------------------------------------------------


def _open(args: argparse.Namespace):
    from .registry import open_registry

    config_path, url = getattr(args, "config", None), getattr(args, "url", None)
    if config_path and url:
        raise CliError("pass either --config or --url, not both")
    if url:
        return open_registry(url, create=False)
    from .locate import find_config

    if config_path or find_config(Path.cwd()) is not None:
        config = _load_config(config_path)
        return open_registry(config.registry, base_dir=config.root, create=False)
    return open_registry(DEFAULT_REGISTRY, create=False)


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        items = registry.list_artifacts(target=args.target)
        if args.json:
            print(json.dumps([_summary(d) for d in items], indent=2))
            return 0
        if not items:
            where = f" for target {args.target!r}" if args.target else ""
            print(f"no artifacts{where} in {registry.url} yet: run `pytest --compress-gate` or `compressgate build`")
            return 0
    rows = [["KEY", "TARGET", "STAGE", "HARDWARE", "SIZE", "VERDICT", "STATUS", "REGISTERED"]]
    rows += [[s["key"][:12], s["target"], s["stage"], s["hardware"], _size(s["bytes_on_disk"]), s["verdict"],
              s["status"], s["created_at"][:19]] for s in map(_summary, items)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        details = registry.show(args.key)
    if args.json:
        print(json.dumps(details.to_json(), indent=2, sort_keys=True, default=str))
        return 0
    a = details.artifact
    print(f"artifact   {a.key}")
    print(f"target     {a.target}, stage {a.stage} of {len(a.recipe)}, hardware {a.hardware}, format {a.format}")
    print(f"path       {a.path}")
    print(f"size       {_size(a.bytes_on_disk)}")
    print(f"recipe     {json.dumps(a.recipe, sort_keys=True)}")
    print(f"libraries  {', '.join(f'{k} {v}' for k, v in sorted(a.libraries.items())) or '—'}")
    print(f"source     {a.source_key}  (built from {a.parent_key or '—'})")
    print(f"registered {a.created_at}")
    print(f"verdict    {details.verdict.value}")
    print(f"status     {_status(details)}")
    print(f"evaluations ({len(details.evaluations)}, oldest first):")
    for e in details.evaluations:
        interval = "" if e.interval_low is None else f" CI [{e.interval_low:+.4f}, {e.interval_high:+.4f}]"
        verdict = ("PASS" if e.passed else "FAIL") if e.gated else "ungated"
        print(f"  {e.recorded_at[:19]}  run {e.run_id}  {e.task}[{e.target}] {e.metric} {_num(e.source_score)} -> "
              f"{_num(e.compressed_score)}, drop {_num(e.drop, '+.4f')}{interval}, allowed {_num(e.allowed_drop)}, "
              f"n={e.n}: {verdict}" + (f" ({'; '.join(e.failures)})" if e.failures else ""))
    print(f"decisions ({len(details.approvals)}, oldest first):")
    for d in details.approvals:
        forced = " [forced past FAIL]" if d.forced else ""
        print(f"  {d.decided_at[:19]}  {d.decision.value} by {d.who}{forced}: {d.why or '—'}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        record = registry.approve(args.key, who=args.who, why=args.why, force=args.force)
        details = registry.show(record.artifact_key)
    forced = " (forced past a FAIL verdict)" if record.forced else ""
    print(f"approved {record.artifact_key[:12]} ({details.artifact.target} {details.artifact.stage}) "
          f"as {record.who}{forced}: {record.why}")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        record = registry.reject(args.key, who=args.who, why=args.why)
        details = registry.show(record.artifact_key)
    print(f"rejected {record.artifact_key[:12]} ({details.artifact.target} {details.artifact.stage}) "
          f"as {record.who}: {record.why}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        text = registry.card(args.key)
    _emit(text, args.output, what="model card")
    return 0


# -- helpers ----------------------------------------------------------------------------------


def _emit(text: str, output: str | None, *, what: str) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"{what} written to {path}", file=sys.stderr)


def _summary(details: Any) -> dict[str, Any]:
    a = details.artifact
    return {"key": a.key, "target": a.target, "stage": a.stage, "hardware": a.hardware,
            "bytes_on_disk": a.bytes_on_disk, "verdict": details.verdict.value, "status": details.status.value,
            "created_at": a.created_at, "path": a.path}


def _status(details: Any) -> str:
    if not details.approvals:
        return "pending (no decision yet)"
    last = details.approvals[-1]
    return f"{details.status.value} by {last.who} at {last.decided_at[:19]}" + (" (forced)" if last.forced else "")


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _num(value: float | None, spec: str = ".4f") -> str:
    return "—" if value is None else format(value, spec)


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
