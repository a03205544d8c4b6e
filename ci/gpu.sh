#!/usr/bin/env bash
# Verification on a GPU host with no network, planned to fit one task's device time (15 minutes in
# all, a machine start of ~2 minutes included; 10 minutes per command), most telling first:
#
#   command 1 (`bash ci/gpu.sh 1`, or no stage named): install, `gpugrad doctor`, the smoke stage
#             (ci/gpu_smoke.py, <= 90 s, one process: every kernel once, a graphed step, one row per
#             headline target), then the benchmarks;
#   command 2 (`bash ci/gpu.sh 2`): the GPU-parametrised and kernel tests, compute-sanitizer
#             memcheck over a subset, `gpugrad train` cuda against cpu, the ddp check.
#
# PLAN below gives each stage its cap in seconds and its command; tests/test_gpu_script.py checks
# that each command's caps add to <= 540 s and that both, with a 120 s machine start, fit 900 s.
# Stages may also be named: bash ci/gpu.sh doctor smoke bench-kernels ...
# A stage is stopped with SIGINT at its cap (pytest prints its summary, the benchmarks and the smoke
# stage write what they have: smoke.json is rewritten after each row). Files written (at most 8,
# the device tool's limit): gpu_log.txt, smoke.json, and the benchmark folders kernels/ and mlp/
# (JSON, PNG, raw log each). Results land in $OUT (or the first argument that is a directory path).
set -uo pipefail
cd "$(dirname "$0")/.."

# PLAN: "stage cap_seconds command". 740 s of caps + a 120 s start = 860 s: 40 s of the 900 s are
# left for the install (pip --no-deps, ~10 s), the transfers and the gap between the two commands.
PLAN=(
    "doctor 30 1"
    "smoke 90 1"
    "bench-kernels 140 1"
    "bench-mlp 130 1"
    "tests 180 2"
    "memcheck 90 2"
    "train 60 2"
    "ddp 20 2"
)
plan_cap() { local e; for e in "${PLAN[@]}"; do set -- $e; [ "$1" = "$STAGE_Q" ] && { echo "$2"; return; }; done; echo 120; }
cap() { STAGE_Q=$1 plan_cap; }

OUT_DIR="${OUT:-benchmarks/results/gpu-$(date +%Y-%m-%d)}"
STAGES=()
for arg in "$@"; do
    case "$arg" in
        1|2) for e in "${PLAN[@]}"; do set -- $e; [ "$3" = "$arg" ] && STAGES+=("$1"); done ;;
        env|doctor|smoke|tests|sanitizer|memcheck|racecheck|bench-kernels|bench-mlp|train|ddp|all) STAGES+=("$arg") ;;
        *) OUT_DIR="$arg" ;;
    esac
done
[ ${#STAGES[@]} -eq 0 ] && for e in "${PLAN[@]}"; do set -- $e; [ "$3" = 1 ] && STAGES+=("$1"); done
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_log.txt"
export PYTHONUNBUFFERED=1
unset NUMBA_ENABLE_CUDASIM   # the GPU run never simulates (a CPU-side test's setting must not leak in)
# The GPU image's interpreter is `python3` (the one holding PyTorch, CuPy and numba-cuda).
PY="${PYTHON:-$(command -v python3 || command -v python)}"
want() { [[ " ${STAGES[*]} " == *" all "* || " ${STAGES[*]} " == *" $1 "* ]]; }
say() { echo "=== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"; }
status=0
DEADLINE=$((SECONDS + ${GPU_SH_BUDGET:-540}))
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

if want env || want doctor; then
    say "environment"
    { date -u; nvidia-smi || true; "$PY" --version; } >>"$LOG" 2>&1
fi

if want doctor && budget doctor "$(cap doctor)"; then
    say "gpugrad doctor (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad doctor 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want smoke && budget smoke "$(cap smoke)"; then
    say "smoke: every kernel once, a graphed step, the headline rows (${T} s at most)"
    run_for "$T" "$PY" ci/gpu_smoke.py "$OUT_DIR/smoke.json" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want bench-kernels && budget bench-kernels "$(cap bench-kernels)"; then
    say "gpugrad bench kernels (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad bench kernels --out "$OUT_DIR/kernels" >>"$LOG" 2>&1 || status=1
fi

if want bench-mlp && budget bench-mlp "$(cap bench-mlp)"; then
    say "gpugrad bench mlp (${T} s at most)"
    run_for "$T" "$PY" -m gpugrad bench mlp --out "$OUT_DIR/mlp" >>"$LOG" 2>&1 || status=1
fi

if want tests && budget tests "$(cap tests)"; then
    say "the GPU-parametrised and kernel tests (${T} s at most)"
    # only what runs on the GPU: tests whose id names cuda (the device fixture's cuda case, the
    # cuda test files) and the kernel tests; the CPU suite runs in CI, not on device time
    XDIST=(); "$PY" -c "import xdist" 2>/dev/null && XDIST=(-n 4 --dist loadfile)
    TOUT=(); "$PY" -c "import pytest_timeout" 2>/dev/null && TOUT=(--timeout 120)
    run_for "$T" "$PY" -m pytest -q -rfE -p no:cacheprovider "${XDIST[@]}" "${TOUT[@]}" tests \
        -k "cuda or kernel" >>"$LOG" 2>&1 || status=1
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
        budget "$tool" "$(cap "$tool")" || continue
        say "compute-sanitizer --tool $tool over a subset of the kernel tests (${T} s at most)"
        # a subset: the launch checks and the elementwise kernels, plus the matmul's ragged shapes;
        # GPUGRAD_SANITIZER=1: one cudaMalloc per array (see tests/kernels/conftest.py)
        GPUGRAD_SANITIZER=1 run_for "$T" "$SAN" --tool "$tool" --error-exitcode 99 \
            --target-processes all "$PY" -m pytest -q -x -rfE -p no:cacheprovider \
            tests/kernels/test_kernel_launch.py tests/kernels/test_kernel_elementwise.py \
            tests/kernels/test_kernel_matmul.py -k "not resource and not large" >>"$LOG" 2>&1
        rc=$?; echo "$tool exit code: $rc" | tee -a "$LOG"
        [ "$rc" -ne 0 ] && status=1
    fi
done

if want train && budget train "$(cap train)"; then
    say "gpugrad train: cuda against cpu (${T} s at most)"
    run_for "$T" "$PY" ci/compare_train.py 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if want ddp && budget ddp "$(cap ddp)"; then
    # The nccl backend: one rank (NCCL refuses two ranks on one GPU), checked against the mpi
    # backend and under gg.cuda.graphed. Needs an MPI runtime (mpi4py alone is not one: the GPU
    # image has mpi4py but no libmpi or mpiexec) and CuPy's NCCL library.
    MPIEXEC=$(dirname "$PY")/mpiexec; [ -x "$MPIEXEC" ] || MPIEXEC=$(command -v mpiexec || true)
    if ! MPI_WHY=$("$PY" -c "from mpi4py import MPI" 2>&1) || [ -z "$MPIEXEC" ]; then
        # a skip with its reason, not a failure: this host cannot run it (carry MPICH wheels to)
        say "ddp skipped: no MPI runtime here ($( [ -z "$MPIEXEC" ] && echo 'no mpiexec'; echo "$MPI_WHY" | tail -n 1)); carry the mpich and mpi4py wheels to run it"
    else
        say "ddp: the nccl backend on one GPU (${T} s at most)"
        run_for "$T" "$MPIEXEC" -n 1 "$PY" ci/ddp_gpu_check.py 2>&1 | tee -a "$LOG"
        [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    fi
fi

say "done, status $status"
exit $status
