#!/usr/bin/env bash
# Verification on a GPU host with no network: install without fetching, run the whole suite on
# the GPU, compute-sanitizer (memcheck, racecheck) over the kernel tests, the benchmarks, and
# `gpugrad train --device cuda` against the CPU run. Results land in $OUT (or the first argument
# that is a directory path), ready to commit under benchmarks/results/gpu-<date>/.
#
#   GPU_SH_BUDGET=1800 bash ci/gpu.sh    # every stage (about 20 minutes on an H100)
#   bash ci/gpu.sh env tests             # chosen stages: env tests memcheck racecheck (sanitizer =
#                                        # both) bench-kernels bench-mlp train ddp
#
# The device tool gives one command 10 minutes, so run the long stages one per command, e.g.
#   env tests | memcheck | racecheck | bench-kernels | bench-mlp train
# One invocation never runs past GPU_SH_BUDGET seconds (default 570): each stage gets what is left
# (a stage that would get under a minute is skipped and says so), and is stopped with SIGINT, so
# pytest prints its summary and the benchmarks write the rows they have. Files written (at most 8,
# the device tool's limit): gpu_log.txt (environment, tests, sanitizer, train), and the benchmark
# folders kernels/ and mlp/ (JSON, PNG, raw log each).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-benchmarks/results/gpu-$(date +%Y-%m-%d)}"
STAGES=()
for arg in "$@"; do
    case "$arg" in
        env|tests|sanitizer|memcheck|racecheck|bench-kernels|bench-mlp|train|ddp|all) STAGES+=("$arg") ;;
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
DEADLINE=$((SECONDS + ${GPU_SH_BUDGET:-570}))
# budget NAME CAP: sets T to the seconds the next stage may take (CAP, or what is left of this
# invocation's budget when less); fails, and marks the run failed, when under 60 s are left.
budget() {
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 60 ]; then
        say "$1 skipped: ${left} s left of this invocation's budget; run it in a command of its own"
        status=1
        return 1
    fi
    T=$((left < $2 ? left : $2))
}
# run_for SECONDS CMD...: SIGINT at the limit (pytest prints its summary, benchmarks write what
# they have), SIGKILL 20 s later.
run_for() { local t=$1; shift; timeout -s INT -k 20 "$t" "$@"; }

# The project itself, from this tree, with the packages already on the host (no network there).
if ! "$PY" -c "import gpugrad.kernels" 2>/dev/null; then
    PIP_OFFLINE=(--no-index --no-deps --no-build-isolation --disable-pip-version-check)
    "$PY" -m pip install -q "${PIP_OFFLINE[@]}" -e . >>"$LOG" 2>&1 \
        || "$PY" -m pip install -q "${PIP_OFFLINE[@]}" --break-system-packages -e . >>"$LOG" 2>&1 \
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

if want tests && budget tests 560; then
    say "whole test suite on the GPU (${T} s at most)"
    # pytest-xdist (on the GPU image) spreads the CPU-side work over 4 processes sharing the GPU;
    # pytest-timeout stops one hung test instead of the whole stage.
    XDIST=(); "$PY" -c "import xdist" 2>/dev/null && XDIST=(-n 4 --dist loadfile)
    TOUT=(); "$PY" -c "import pytest_timeout" 2>/dev/null && TOUT=(--timeout 300)
    run_for "$T" "$PY" -m pytest -q -rfE -p no:cacheprovider "${XDIST[@]}" "${TOUT[@]}" tests \
        >>"$LOG" 2>&1 || status=1
    tail -n 3 "$LOG"
fi

# compute-sanitizer: on the PATH, in a CUDA toolkit, or in an NVIDIA tools folder.
SAN=$(command -v compute-sanitizer \
      || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
            /opt/nvidia/*/compute-sanitizer /opt/nvidia/*/*/compute-sanitizer 2>/dev/null | head -n 1)
for tool in memcheck racecheck; do
    if want sanitizer || want "$tool"; then
        if [ -z "$SAN" ]; then
            say "compute-sanitizer not found (PATH, /usr/local/cuda*, /opt/nvidia): $tool NOT RUN"
            status=1
            continue
        fi
        budget "$tool" 560 || continue
        say "compute-sanitizer --tool $tool over the kernel tests (${T} s at most)"
        # GPUGRAD_SANITIZER=1: one cudaMalloc per array (see tests/kernels/conftest.py)
        GPUGRAD_SANITIZER=1 run_for "$T" "$SAN" --tool "$tool" --error-exitcode 99 \
            --target-processes all "$PY" -m pytest -q -x -rfE -p no:cacheprovider tests/kernels \
            -k "not resource" >>"$LOG" 2>&1
        rc=$?; echo "$tool exit code: $rc" | tee -a "$LOG"
        [ "$rc" -ne 0 ] && status=1
    fi
done

if want bench-kernels && budget bench-kernels 560; then
    say "gpugrad bench kernels (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad bench kernels --out "$OUT_DIR/kernels" >>"$LOG" 2>&1 || status=1
fi

if want bench-mlp && budget bench-mlp 400; then
    say "gpugrad bench mlp (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad bench mlp --out "$OUT_DIR/mlp" >>"$LOG" 2>&1 || status=1
fi

if want train && budget train 250; then
    say "gpugrad train: the command on cuda, then cuda against cpu (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad train --device cuda --out /tmp/gpugrad-train-cuda --quiet \
        >>"$LOG" 2>&1 || status=1
    if budget train-compare 250; then
        run_for "$T" "$PY" ci/compare_train.py 2>&1 | tee -a "$LOG" || status=1
    fi
fi

if want ddp && budget ddp 200; then
    # The nccl backend: one rank (NCCL refuses two ranks on one GPU), checked against the mpi
    # backend and under gg.cuda.graphed. Needs mpi4py + mpiexec and CuPy's NCCL library on the host.
    say "ddp: the nccl backend on one GPU (${T} s at most)"
    MPIEXEC=$(dirname "$PY")/mpiexec; [ -x "$MPIEXEC" ] || MPIEXEC=$(command -v mpiexec || true)
    if ! "$PY" -c "import mpi4py" 2>/dev/null || [ -z "$MPIEXEC" ]; then
        say "ddp NOT RUN: mpi4py or mpiexec missing (pip install 'gpugrad[distributed]' where there is network)"
        status=1
    else
        run_for "$T" "$MPIEXEC" -n 1 "$PY" ci/ddp_gpu_check.py 2>&1 | tee -a "$LOG"
        [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    fi
fi

say "done, status $status"
exit $status
