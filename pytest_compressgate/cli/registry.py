"""``compressgate registry``: list, show, approve, reject and card the artifacts a registry holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..report.format import interval, num, release_status, size
from .common import CliError, Parser, emit, load_config

DEFAULT_REGISTRY = "sqlite:///.compressgate/registry.db"
KEY_HELP = "artifact key or a unique prefix of at least 6 characters"


def add_parser(commands) -> None:
    where = Parser(add_help=False)
    source = where.add_argument_group("registry location")
    source.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="use the registry the gate config names. Default: the config found in the "
                             "working directory, else " + DEFAULT_REGISTRY + ".")
    source.add_argument("--url", metavar="URL", default=argparse.SUPPRESS,
                        help="registry URL: sqlite:///path.db or mlflow://<tracking-uri>.")
    registry = commands.add_parser("registry", parents=[where], help="list, show, approve, reject, card")
    actions = registry.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    listing = actions.add_parser("list", parents=[where], help="every artifact with its verdict and status")
    listing.add_argument("--target", metavar="NAME", help="only this target's artifacts. Default: all.")
    listing.add_argument("--json", action="store_true", help="print JSON. Default: a table.")
    show = actions.add_parser("show", parents=[where], help="everything about one artifact")
    show.add_argument("key", metavar="KEY", help=KEY_HELP)
    show.add_argument("--json", action="store_true", help="print JSON. Default: text.")
    approve = actions.add_parser("approve", parents=[where], help="approve an artifact for release")
    reject = actions.add_parser("reject", parents=[where], help="reject an artifact")
    for sub, verb in ((approve, "approval"), (reject, "rejection")):
        sub.add_argument("key", metavar="KEY", help=KEY_HELP)
        sub.add_argument("--why", metavar="TEXT", required=True, help=f"the reason for the {verb} (required)")
        sub.add_argument("--who", metavar="NAME", help="who decides. Default: $COMPRESSGATE_USER, else git "
                                                       "user.name, else the OS user.")
    approve.add_argument("--force", action="store_true",
                         help="approve although the latest verdict is FAIL (recorded as forced). Default: off.")
    card = actions.add_parser("card", parents=[where], help="a Markdown model card")
    card.add_argument("key", metavar="KEY", help=KEY_HELP)
    card.add_argument("--output", metavar="FILE", help="write to FILE. Default: standard output.")
    for sub, handler in ((listing, cmd_list), (show, cmd_show), (approve, cmd_approve), (reject, cmd_reject),
                         (card, cmd_card)):
        sub.set_defaults(handler=handler)


def _open(args: argparse.Namespace):
    from ..locate import find_config
    from ..registry import open_registry

    config_path, url = getattr(args, "config", None), getattr(args, "url", None)
    if config_path and url:
        raise CliError("pass either --config or --url, not both")
    if url:
        return open_registry(url, create=False)
    if config_path or find_config(Path.cwd()) is not None:
        config = load_config(config_path)
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
    rows += [[s["key"][:12], s["target"], s["stage"], s["hardware"], size(s["bytes_on_disk"]), s["verdict"],
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
    print(f"size       {size(a.bytes_on_disk)}")
    print(f"recipe     {json.dumps(a.recipe, sort_keys=True)}")
    print(f"libraries  {', '.join(f'{k} {v}' for k, v in sorted(a.libraries.items())) or '—'}")
    print(f"source     {a.source_key}  (built from {a.parent_key or '—'})")
    print(f"registered {a.created_at}")
    print(f"verdict    {details.verdict.value}")
    print(f"status     {release_status(details)}")
    print(f"evaluations ({len(details.evaluations)}, oldest first):")
    for e in details.evaluations:
        bounds = "" if e.interval_low is None else f" CI {interval(e.interval_low, e.interval_high)}"
        verdict = ("PASS" if e.passed else "FAIL") if e.gated else "ungated"
        print(f"  {e.recorded_at[:19]}  run {e.run_id}  {e.task}[{e.target}] {e.metric} {num(e.source_score)} -> "
              f"{num(e.compressed_score)}, drop {num(e.drop, '+.4f')}{bounds}, allowed {num(e.allowed_drop)}, "
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
    emit(text, args.output, what="model card")
    return 0


def _summary(details: Any) -> dict[str, Any]:
    a = details.artifact
    return {"key": a.key, "target": a.target, "stage": a.stage, "hardware": a.hardware,
            "bytes_on_disk": a.bytes_on_disk, "verdict": details.verdict.value, "status": details.status.value,
            "created_at": a.created_at, "path": a.path}
