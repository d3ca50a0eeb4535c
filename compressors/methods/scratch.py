"""Run a library that writes into the working directory inside a throw-away one.

A helper module: it registers no method. gptqmodel writes ``gptq_log_*.log`` (and, unless told
otherwise, ``gptqmodel_offload/``) and neural-compressor writes ``nc_workspace/`` into the current
directory; left alone they land in the user's repository. The working directory is process-wide, so
callers resolve their own paths first and must not run two such steps in parallel threads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_cwd(prefix: str) -> Iterator[Path]:
    """chdir into a fresh temporary directory; on exit go back and delete it with all it holds."""
    previous = os.getcwd()
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    os.chdir(scratch)
    try:
        yield scratch
    finally:
        os.chdir(previous)
        shutil.rmtree(scratch, ignore_errors=True)
