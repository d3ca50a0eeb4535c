#!/usr/bin/env bash
# Build the distribution, then install the wheel (not editable) the way a team would: into a clean venv that
# already holds its own torch and transformers 5. Fails if pip would change either, then runs a real gate
# (example_suite/faq_retrieval) with the installed plugin.
#   bash scripts/check_wheel.sh            (uses .venv's python -m build; writes dist/ and a venv under $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOCK=locks/transformers5.txt
WORK=$(mktemp -d "${TMPDIR:-/tmp}/compressgate-wheel.XXXXXX")
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1

rm -rf dist && .venv/bin/python -m build -q --sdist --wheel --outdir dist . >/dev/null
WHEEL=$(ls dist/*.whl)
echo "built $(ls dist | tr '\n' ' ')"
# The CUDA sources the INT4 kernels build from on first use travel in the wheel.
for source in compressors/kernels/cuda/int4_gemv.cu compressors/kernels/cuda/int4_gemv.cpp \
              compressors/kernels/marlin/marlin_cuda_kernel.cu compressors/kernels/marlin/marlin_cuda.cpp; do
  python3 -c "import sys, zipfile; sys.exit(sys.argv[2] not in zipfile.ZipFile(sys.argv[1]).namelist())" "$WHEEL" "$source" \
    || { echo "the wheel lacks $source (pyproject.toml's package-data)" >&2; exit 1; }
done

python3 -m venv "$WORK/venv"
pip_() {  # the venv's pip, without the index's "Location ... is ignored" lines (one per package, on some machines)
  "$WORK/venv/bin/pip" "$@" 2>&1 | sed "/^WARNING: Location 'file:/d"
}
PIP=pip_
# The team's own stack, installed before the plugin (exact versions from the lock, as a team would pin them).
"$PIP" install -q -c "$LOCK" torch ninja setuptools-scm "setuptools>=77" wheel
"$PIP" install -q -c "$LOCK" transformers
"$WORK/venv/bin/pip" freeze | grep -iE '^(torch|transformers)==' | sort > "$WORK/before.txt"

# What pip would do: its JSON report lists every distribution it would install or replace.
BUILD_CUDA_EXT=0 GPTQMODEL_FORCE_BUILD=1 "$PIP" install -q --dry-run --no-build-isolation \
  --report "$WORK/report.json" "$WHEEL[all]"
python3 - "$WORK/report.json" "$WORK/before.txt" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
kept = dict(line.strip().split("==") for line in open(sys.argv[2]))
planned = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
print(f"pip's report: {len(planned)} distributions to install; the user's stack: "
      + ", ".join(f"{k} {v}" for k, v in sorted(kept.items())))
touched = {name: planned[name] for name in kept if name in planned}
for name, version in sorted(touched.items()):
    print(f"  pip would replace {name} {kept[name]} with {version}")
sys.exit(1 if touched else 0)
PY

BUILD_CUDA_EXT=0 GPTQMODEL_FORCE_BUILD=1 "$PIP" install -q --no-build-isolation "$WHEEL[all]"
"$WORK/venv/bin/pip" freeze | grep -iE '^(torch|transformers)==' | sort > "$WORK/after.txt"
diff "$WORK/before.txt" "$WORK/after.txt" && echo "after installing the wheel: $(tr '\n' ' ' < "$WORK/after.txt")(unchanged)"

# A real gate with the installed (not editable) plugin, from outside the checkout.
cp -r example_suite/faq_retrieval "$WORK/project"
rm -rf "$WORK/project/.compressgate"
(cd "$WORK/project" && "$WORK/venv/bin/python" -c "import pytest_compressgate, sys; assert '$ROOT' not in pytest_compressgate.__file__, pytest_compressgate.__file__" \
  && "$WORK/venv/bin/python" -m pytest --compress-gate -p no:cacheprovider -q)
rm -rf "$WORK"
