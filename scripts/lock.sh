#!/usr/bin/env bash
# Rewrite locks/STACK.txt from what STACK's venv holds now (after installing or upgrading in it).
#   bash scripts/lock.sh transformers5      reads .venv
#   bash scripts/lock.sh transformers4.57   reads .venv-tf457
set -euo pipefail
cd "$(dirname "$0")/.."
STACK=${1:?usage: scripts/lock.sh transformers5|transformers4.57}
if [ "$STACK" = transformers5 ]; then VENV=${VENV:-.venv}; else VENV=${VENV:-.venv-tf457}; fi
{
  echo "# Exact versions of the $STACK stack that scripts/setup.sh and CI install (pip constraints)."
  echo "# Regenerate: bash scripts/lock.sh $STACK  (after changing what the stack holds)"
  "$VENV/bin/pip" freeze --exclude-editable | grep -v -iE '^pytest[-_]compressgate' | sed 's/^torch==\(.*\)+cpu$/torch==\1/'
} > "locks/$STACK.txt"
echo "wrote locks/$STACK.txt ($(grep -vc '^#' "locks/$STACK.txt") packages)"
