#!/usr/bin/env bash
# Create .venv, install pytest-compressgate with every backend, then run the example gate.
#   bash scripts/setup.sh                 install, then run the example gate (exit code = the gate's)
#   bash scripts/setup.sh --install-only  install only
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first and pinned: anything else lets pip pull a multi-GB CUDA build on CPU-only machines.
pip install -q torch==2.13.0 ninja setuptools-scm "setuptools>=68" wheel
# gptqmodel compiles from source; without CUDA it must be built without build isolation and without
# its CUDA extension (on a GPU machine, BUILD_CUDA_EXT=1 builds its CUDA kernels, Marlin among them).
# setuptools-scm (above) keeps seqeval's version readable under --no-build-isolation.
BUILD_CUDA_EXT=${BUILD_CUDA_EXT:-0} GPTQMODEL_FORCE_BUILD=1 pip install -q --no-build-isolation -e ".[all]"
python -c "import pytest_compressgate, compressors; print('pytest-compressgate', pytest_compressgate.__version__, 'installed in .venv')"

if [ "${1:-}" != "--install-only" ]; then
  cd example_suite
  exec python -m pytest --compress-gate
fi
