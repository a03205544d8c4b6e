#!/usr/bin/env bash
# The project's test command (README's second quickstart command runs this, after
# `pip install -e ".[test]"`; .ci/run calls the same two steps).
# Runs the whole suite: the autodiff core on every available device, the Numba kernels in the
# CUDA simulator (or on the GPU when one is present), their sm_90 resource checks, the PyTorch
# conformance suite, the MPI jobs, the examples. Every skip prints its reason (-ra in pyproject); on a
# machine without a GPU only the tests that need one skip.
set -uo pipefail
cd "$(dirname "$0")/.."

# Graphviz's `dot` renders gg.viz graphs; it is a system package, not a wheel. Installed here only
# where that is safe to do unasked (root with apt-get, as in CI and containers); else said.
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "ci/test.sh: installing graphviz (apt-get) for the gg.viz rendering tests" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; } \
            || echo "ci/test.sh: graphviz could not be installed; the tests that render with it will skip" >&2
    else
        echo "ci/test.sh: Graphviz's dot is missing: the tests that render with it will skip (apt-get install graphviz)" >&2
    fi
fi

python -m pytest -q "$@"   # pyproject addopts -ra: every skip is listed with its reason
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "ci/test.sh: pytest collected no tests: treating as a failure" >&2
    exit 1
fi
exit "$rc"
