"""What the commands share: the one-line error, the argument parser that raises it, the config and output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn


class CliError(Exception):
    """A usage or input error: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + message; one line is enough
        raise CliError(f"{message} (see `{self.prog} --help`)")


def load_config(explicit: str | None):
    """The gate config: ``explicit``, else the one found in the working directory."""
    from ..config import load_config as load
    from ..locate import find_config

    path = find_config(Path.cwd(), explicit)
    if path is None:
        raise CliError(f"no compress gate config in {Path.cwd()}: add a [tool.compressgate] table to pyproject.toml "
                       "or a compressgate.toml, or pass --config PATH")
    return load(path)


def emit(text: str, output: str | None, *, what: str) -> None:
    """``text`` to standard output, or to the file ``output`` (saying so on standard error)."""
    if output is None:
        sys.stdout.write(text)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"{what} written to {path}", file=sys.stderr)
