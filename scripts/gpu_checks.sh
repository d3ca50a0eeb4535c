#!/usr/bin/env bash
# The checks a CUDA machine runs that a CPU machine cannot: the GPU test files, and the docs_lm example gated
# on each of its GPU targets. Each runs in its own process under its own time limit, one after another (tests
# sharing a GPU machine slow each other several-fold), so one that hangs costs only its own limit and says
# where it hung: at the limit it gets SIGABRT, and Python's faulthandler (on in pytest) prints every thread's
# stack into its log. One line per check on standard output; the logs go to OUT_DIR.
#
#   bash scripts/gpu_checks.sh OUT_DIR [tests|gate|all] [SECONDS_PER_CHECK]
#
# FILES="tests/a.py tests/b.py" narrows the tests to those files (test_gptq.py is not a default one: it needs
# gptqmodel, not a GPU, and CI runs it). TARGETS="gpu-int8 gpu-fp8" narrows the gate to those targets (default:
# every docs_lm target on a CUDA preset; the first one gated on a fresh machine also trains the example model,
# about 100 s on an H200).
# Run it from the repository root with the project importable (installed, or PYTHONPATH holding it).
set -uo pipefail
out=${1:?usage: bash scripts/gpu_checks.sh OUT_DIR [tests|gate|all] [SECONDS_PER_CHECK]}
what=${2:-all}
limit=${3:-300}
python=${PYTHON:-python3}
case "$what" in tests|gate|all) ;; *) echo "gpu_checks.sh: the second argument is tests, gate or all, not '$what'" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
failed=0

check() {  # check NAME COMMAND...: the command's output to OUT_DIR/NAME.log, one line here
  local name=$1 started=$SECONDS status
  shift
  timeout -s ABRT -k 15 "$limit" "$@" > "$out/$name.log" 2>&1
  status=$?
  case $status in
    0) ;;
    124|134|137) echo "$name: did not finish in ${limit} s (stacks in $out/$name.log)"; failed=1; return ;;
    *) failed=1 ;;
  esac
  local said
  said=$(grep -E '[0-9]+ (passed|failed|errors?|skipped)' "$out/$name.log" | tail -1)
  echo "$name: exit $status in $((SECONDS - started)) s: ${said:-$(grep . "$out/$name.log" | tail -1)}"
}

if [ "$what" != gate ]; then
  files=${FILES:-tests/unit/compressors/test_int4_cuda.py tests/unit/compressors/test_int4_marlin.py
    tests/unit/compressors/test_int4_triton.py tests/unit/compressors/test_torchao_gpu.py
    tests/unit/core/test_decoding.py tests/unit/core/test_targets.py tests/plugin/test_cuda_targets.py}
  for file in $files; do
    check "$(basename "$file" .py)" "$python" -m pytest -q -p no:cacheprovider -rs "$file"
  done
fi

if [ "$what" != tests ]; then
  cd example_suite/docs_lm || exit 2
  targets=${TARGETS:-$("$python" -c 'import tomllib; t = tomllib.load(open("pyproject.toml", "rb"))["tool"]["compressgate"]["targets"]
print(" ".join(n for n, v in t.items() if v["hardware"].startswith("cuda")))')}
  for target in $targets; do  # the first one also trains the example model (cached for the rest)
    check "docs_lm-$target" "$python" -m pytest -p no:cacheprovider --compress-gate --compress-gate-require-hardware \
      "--compress-gate-targets=$target" "--compress-gate-report=$out/docs_lm-$target"
  done
fi
exit $failed
