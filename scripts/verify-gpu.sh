#!/usr/bin/env bash
# Check a GPU machine from a fresh checkout, with no network: build and install with CUDA forced on
# (no build isolation, nothing fetched), `pytest -m cuda`, `pybench verify --device cuda`; every
# artifact goes to results/gpu/<gpu-name>/. Each step runs even when an earlier one failed; the exit
# status is non-zero if any failed. Expects numpy, pybind11, scikit-build-core, CMake, ninja, CuPy,
# PyTorch, pytest and hypothesis in the current Python (mnist1d and dask may be missing).
#   VERIFY_GPU_DRY_RUN=1  check the prerequisites and print the commands, run nothing on the GPU
#   PYTHON=...            the interpreter (default: python3)
#   VERIFY_BUDGET_S=...   `pybench verify --budget-s` (default 180, so build + tests + verify fit 6 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
DRY="${VERIFY_GPU_DRY_RUN:-0}"
BUDGET="${VERIFY_BUDGET_S:-180}"
failed=()

say() { echo "verify-gpu: $*" >&2; }

# step NAME CMD...: run it (or print it in a dry run); a failure is recorded, not fatal
step() {
  local name="$1"; shift
  say "step $name: $*"
  [ "$DRY" = 1 ] && return 0
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  say "step $name: exit $rc after $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || failed+=("$name (exit $rc)")
}

# prerequisites: the Python packages (mnist1d and dask are optional), the tools, the GPU
missing=()
for mod in numpy pybind11 scikit_build_core cupy torch pytest hypothesis; do
  "$PY" -c "import $mod" >/dev/null 2>&1 || missing+=("$mod")
done
for tool in cmake ninja nvcc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! "$PY" -c "import mnist1d" >/dev/null 2>&1; then
  say "note: mnist1d is not importable: the training sections use pybench's 'shapes' dataset (the report says so)"
fi
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
if [ -z "$gpu" ]; then
  missing+=("a GPU (nvidia-smi lists none)")
  gpu="no-gpu"
fi
name="$(printf '%s' "$gpu" | tr -cs 'A-Za-z0-9._-' '-' | sed 's/^-*//; s/-*$//')"
out="results/gpu/${name:-unknown}"
say "GPU: $gpu; artifacts in $out"
if [ ${#missing[@]} -gt 0 ]; then
  say "missing prerequisites: ${missing[*]}"
  [ "$DRY" = 1 ] || exit 2
fi
[ "$DRY" = 1 ] || mkdir -p "$out"

build_log="$out/build.log"
t_start=$SECONDS
# the build: CUDA forced on, verbose (ptxas's register/spill lines), nothing fetched
step build sh -c "CMAKE_BUILD_PARALLEL_LEVEL=\${CMAKE_BUILD_PARALLEL_LEVEL:-\$(nproc)} '$PY' -m pip install -v \
  --no-build-isolation --no-deps --no-index --config-settings=cmake.define.PYBENCH_CUDA=ON . > '$build_log' 2>&1 \
  || { tail -n 60 '$build_log'; exit 1; }"
step ptxas-summary sh -c "'$PY' .ci/ptxas_summary.py '$build_log' > '$out/ptxas-summary.txt'"
step info sh -c "cd /tmp && '$PY' -m pybench info --device cuda > '$PWD/$out/info.txt' 2>&1"
# from outside the checkout, so the installed package is what runs
step pytest-cuda sh -c "cd /tmp && '$PY' -m pytest -q -m cuda -p no:cacheprovider '$PWD/tests' \
  --junitxml='$PWD/$out/pytest-cuda.xml' > '$PWD/$out/pytest-cuda.txt' 2>&1; rc=\$?; tail -n 5 '$PWD/$out/pytest-cuda.txt'; exit \$rc"
step verify sh -c "cd /tmp && '$PY' -m pybench verify --device cuda --budget-s '$BUDGET' \
  --out '$PWD/$out' > /dev/null 2> '$PWD/$out/verify.log'"

if [ "$DRY" = 1 ]; then
  say "dry run: nothing was run"
  exit 0
fi
{
  echo "verify-gpu.sh on $gpu, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "total $((SECONDS - t_start)) s"
  if [ ${#failed[@]} -eq 0 ]; then echo "every step passed"; else printf 'FAILED: %s\n' "${failed[@]}"; fi
} | tee "$out/summary.txt" >&2
[ ${#failed[@]} -eq 0 ]
