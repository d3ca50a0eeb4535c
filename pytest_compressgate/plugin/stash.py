"""What the plugin keeps in ``config.stash``, and the words and exit code its modules share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..gate import GateSession

SESSION: pytest.StashKey[GateSession] = pytest.StashKey()
CONFIG_PATH: pytest.StashKey[Path | None] = pytest.StashKey()
REGISTRY_PROBLEM = pytest.StashKey[str]()
WORKER_REGISTRY_PROBLEM = "compressgate_registry_problem"  # the key in a pytest-xdist worker's workeroutput
# The gates ran and their reports are written, but nothing was recorded: not a test failure (1), not a
# usage error (4); pytest's code for "something outside the tests went wrong" is the honest one.
REGISTRY_EXIT = pytest.ExitCode.INTERNAL_ERROR
OFF_REASON = "compress gate is off: run `pytest --compress-gate` to build and score the compressed models"
