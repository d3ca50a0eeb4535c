#!/usr/bin/env bash
# Create a venv, install pytest-compressgate with every backend from a lock file, then run the example gate.
#   bash scripts/setup.sh                 install the default stack into .venv, then run the example gate
#   bash scripts/setup.sh --install-only  install only
# STACK picks the lock file: transformers5 (default: transformers 5.x, the current stack) or
# transformers4.57 (the oldest supported; also installs optimum, which only the ONNX benchmark compares
# against). VENV names the venv (default .venv, or .venv-tf457 for the old stack).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STACK=${STACK:-transformers5}
LOCK=locks/$STACK.txt
if [ ! -f "$LOCK" ]; then
  echo "setup.sh: STACK=$STACK has no lock file $LOCK; use one of: $(ls locks | sed 's/\.txt$//' | tr '\n' ' ')" >&2
  exit 2
fi
if [ "$STACK" = transformers5 ]; then VENV=${VENV:-.venv}; else VENV=${VENV:-.venv-tf457}; fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip() {  # pip, without the index's "Location ... is ignored" lines (one per package, on some machines)
  command pip "$@" 2>&1 | sed "/^WARNING: Location 'file:/d"
}

# torch first and alone, at the lock's version: a range left open lets pip pull a multi-GB CUDA build on
# CPU-only machines (torch 2.13.0 is a CPU build on disk here).
pip install -q -c "$LOCK" torch ninja setuptools-scm "setuptools>=77" wheel
# gptqmodel compiles from source; without CUDA it must be built without build isolation and without
# its CUDA extension (on a GPU machine, BUILD_CUDA_EXT=1 builds its CUDA kernels, Marlin among them).
# setuptools-scm (above) keeps seqeval's version readable under --no-build-isolation.
BUILD_CUDA_EXT=${BUILD_CUDA_EXT:-0} GPTQMODEL_FORCE_BUILD=1 \
  pip install -q --no-build-isolation -c "$LOCK" -e ".[all,lint]"
if [ "$STACK" = transformers4.57 ]; then
  pip install -q -c "$LOCK" optimum optimum-onnx  # for benchmarks/quantize_minilm.py's side-by-side only
fi
python -c "import pytest_compressgate, compressors, transformers; print('pytest-compressgate', pytest_compressgate.__version__, 'installed in $VENV with transformers', transformers.__version__)"

if [ "${1:-}" != "--install-only" ]; then
  cd example_suite
  exec python -m pytest --compress-gate
fi
