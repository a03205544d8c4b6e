#!/usr/bin/env bash
# The project's test command (README's second quickstart command runs this).
# Runs the whole suite: the autodiff core on every available device, the Numba kernels in the
# CUDA simulator (or on the GPU when one is present), their sm_90 resource checks, the examples.
set -uo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "ci/test.sh: pytest collected no tests: treating as a failure" >&2
    exit 1
fi
exit "$rc"
