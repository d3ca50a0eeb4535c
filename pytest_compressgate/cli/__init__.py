"""The ``compressgate`` command: build artifacts, re-render reports and govern the registry, without pytest.

    compressgate build [--config PATH] [--source DIR] [--targets a,b] [--rebuild] [--no-registry]
    compressgate report [--from DIR] [--format table|markdown|json] [--output FILE]
    compressgate registry [--config PATH | --url URL] list [--target NAME] [--json]
    compressgate registry ... show KEY [--json] | card KEY [--output FILE]
    compressgate registry ... approve KEY --why TEXT [--who NAME] [--force]
    compressgate registry ... reject KEY --why TEXT [--who NAME]

Every error prints one line (what is wrong, what to do) to stderr and exits 2. One module per command
(``build``, ``report``, ``registry``), each adding its own parser; none imports pytest.

``build`` finds the source model as the plugin does: ``--source DIR``, else the project's
``pytest_compressgate_build_source`` hook in the ``conftest.py`` beside the config (imported with the config's
folder on ``sys.path``, as pytest would), else ``source.model`` (a local folder or a hub id).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from .. import __version__
from . import build, registry, report
from .common import CliError, Parser

__all__ = ["CliError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 ok, 2 error) instead of exiting."""
    from compressors.errors import CompressionError, ConfigError

    from ..locate import ConfigNotFound
    from ..registry import RegistryError

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
    parser = Parser(prog="compressgate", description="Build, report on and govern compressed models.")
    parser.add_argument("--version", action="version", version=f"compressgate (pytest-compressgate) {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for command in (build, report, registry):
        command.add_parser(commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
