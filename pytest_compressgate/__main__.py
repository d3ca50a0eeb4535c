"""``python -m pytest_compressgate`` runs the ``compressgate`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
