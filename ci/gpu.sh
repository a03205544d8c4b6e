#!/usr/bin/env bash
# Verification on a GPU host with no network: install without fetching, run the whole suite on
# the GPU, compute-sanitizer (memcheck, racecheck) over the kernel tests, the benchmarks, and
# `gpugrad train --device cuda` against the CPU run. Results land in $OUT (or the first argument
# that is a directory path), ready to commit under benchmarks/results/gpu-<date>/.
#
#   bash ci/gpu.sh                       # every stage (about 20 minutes on an H100)
#   bash ci/gpu.sh tests sanitizer       # chosen stages: env tests memcheck racecheck (= sanitizer)
#                                        # bench-kernels bench-mlp train
#
# Each stage fits the device tool's 10-minute command limit on its own. Files written (at most 8,
# the device tool's limit): gpu_log.txt (environment, tests, sanitizer, train), and the benchmark
# folders kernels/ and mlp/ (JSON, PNG, raw log each).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-benchmarks/results/gpu-$(date +%Y-%m-%d)}"
STAGES=()
for arg in "$@"; do
    case "$arg" in
        env|tests|sanitizer|memcheck|racecheck|bench-kernels|bench-mlp|train|all) STAGES+=("$arg") ;;
        *) OUT_DIR="$arg" ;;
    esac
done
[ ${#STAGES[@]} -eq 0 ] && STAGES=(all)
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_log.txt"
export PYTHONUNBUFFERED=1
# The GPU image's interpreter is `python3` (the one holding PyTorch, CuPy and numba-cuda).
PY="${PYTHON:-$(command -v python3 || command -v python)}"
want() { [[ " ${STAGES[*]} " == *" all "* || " ${STAGES[*]} " == *" $1 "* ]]; }
say() { echo "=== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"; }
status=0

# The project itself, from this tree, with the packages already on the host (no network there).
if ! "$PY" -c "import gpugrad.kernels" 2>/dev/null; then
    "$PY" -m pip install -q --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 \
        || "$PY" -m pip install -q --no-deps --no-build-isolation --break-system-packages -e . \
            >>"$LOG" 2>&1 \
        || { echo "ci/gpu.sh: could not install the project" | tee -a "$LOG"; exit 1; }
fi

if want env; then
    say "environment"
    { date -u; nvidia-smi || true; "$PY" --version
      "$PY" - <<'PY'
import importlib
for name in ("numpy", "cupy", "numba", "numba_cuda", "torch", "pytest", "hypothesis"):
    try:
        m = importlib.import_module(name)
        print(f"{name} {getattr(m, '__version__', '?')}")
    except Exception as exc:  # report, don't fail: the stages below say what they need
        print(f"{name} missing ({exc.__class__.__name__})")
import gpugrad as gg
print("gpugrad cuda available:", gg.cuda.is_available(), "devices:", gg.cuda.device_count())
PY
    } >>"$LOG" 2>&1
fi

if want tests; then
    say "whole test suite on the GPU"
    timeout 560 "$PY" -m pytest -q -p no:cacheprovider tests >>"$LOG" 2>&1 || status=1
    tail -n 3 "$LOG"
fi

SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
for tool in memcheck racecheck; do
    if want sanitizer || want "$tool"; then
        if [ -z "$SAN" ]; then
            say "compute-sanitizer not found: $tool skipped"
            continue
        fi
        say "compute-sanitizer --tool $tool over the kernel tests"
        # GPUGRAD_SANITIZER=1: one cudaMalloc per array (see tests/kernels/conftest.py)
        GPUGRAD_SANITIZER=1 timeout 560 "$SAN" --tool "$tool" --error-exitcode 99 \
            --target-processes all "$PY" -m pytest -q -x -p no:cacheprovider tests/kernels \
            -k "not resource" >>"$LOG" 2>&1
        rc=$?; echo "$tool exit code: $rc" | tee -a "$LOG"
        [ "$rc" -ne 0 ] && status=1
    fi
done

if want bench-kernels; then
    say "gpugrad bench kernels"
    timeout 560 "$PY" -m gpugrad.bench kernels --out "$OUT_DIR/kernels" >>"$LOG" 2>&1 || status=1
fi

if want bench-mlp; then
    say "gpugrad bench mlp"
    timeout 560 "$PY" -m gpugrad.bench mlp --out "$OUT_DIR/mlp" >>"$LOG" 2>&1 || status=1
fi

if want train; then
    say "gpugrad train: cuda against cpu, default model and data"
    for dev in cpu cuda; do
        timeout 250 "$PY" -m gpugrad train --device "$dev" --out "/tmp/gpugrad-train-$dev" --quiet \
            >>"$LOG" 2>&1 || status=1
    done
fi

say "done, status $status"
exit $status
