#!/usr/bin/env bash
# Lint: ruff on the whole tree, mypy on the packages (settings in pyproject.toml), and the workflows.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
if [ -f scripts/lint-workflows.sh ]; then bash scripts/lint-workflows.sh; fi
