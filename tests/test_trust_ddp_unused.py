"""DDP and parameters that some or all ranks leave unused in a step (issue 21, item 5).

After a DDP backward every ``.grad`` must be what one process over the global batch would have:
None where no rank used the parameter (so momentum, weight decay and Adam leave it alone), the
average where some ranks used it, with optimizer state and bucket layout equal on every rank.
Real mpiexec jobs of 1-3 ranks run tests/mpi_scripts/ddp_unused.py (SGD with momentum and weight
decay, Adam, AdamW; a bucket per parameter, a few, one; zero_grad to None and to zeros; no_sync;
a tied pair). Handed case: a parameter no rank used got a zero ``.grad`` instead of None, so the
weights left one process's. PyTorch's rule: find_unused_parameters=True, PR #28883.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.nn.parallel import DistributedDataParallel

from mpi_helpers import MPIEXEC, SCRIPTS, mpirun
from test_distributed_unit import RecordingGroup

CASES = [f"OK {name} cap={cap} none=True" for name in ("sgd", "adam", "adamw")
         for cap in ("1e-06", "0.0005", "25.0")] + ["OK sgd cap=0.0005 none=False", "OK no_sync"]


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_unused_parameters_match_one_process_over_ranks(n):
    pytest.importorskip("mpi4py")
    rc, out, err, _ = mpirun(n, os.path.join(SCRIPTS, "ddp_unused.py"), timeout=180)
    assert rc == 0, (out + err)[-3000:]
    for case in CASES:
        assert case in out, out + err[-2000:]
    assert out.count("OK ") == len(CASES)


class _Heads(gg.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = gg.nn.Linear(3, 2), gg.nn.Linear(3, 2)

    def forward(self, x, use_b=False):
        return self.a(x) + (self.b(x) if use_b else 0)


def test_each_bucket_carries_one_flag_per_parameter_summed_with_its_gradients():
    launched = []

    class Group(RecordingGroup):
        def iall_reduce(self, arr):
            launched.append(arr)        # the buffer itself: read its flags after backward
            return super().iall_reduce(arr)
    gg.manual_seed(0)
    ddp = DistributedDataParallel(_Heads(), bucket_cap_mb=1e-6, process_group=Group())
    ddp(gg.randn(4, 3)).sum().backward()
    sizes = [b.params[0].size for b in ddp._buckets]
    flags = [float(arr[-1]) for arr in launched]
    assert sizes == [2, 6, 2, 6]                        # b.bias, b.weight, a.bias, a.weight
    assert flags == [0.0, 0.0, 1.0, 1.0]                # b unused here, a used
    assert ddp.module.b.weight.grad is None and ddp.module.a.weight.grad is not None
    assert ddp.bucket_sizes == [4 * s for s in sizes]   # the cap counts gradient bytes only


def test_zero_grads_count_as_used_and_no_sync_leftovers_are_kept():
    gg.manual_seed(0)
    ddp = DistributedDataParallel(_Heads(), process_group=RecordingGroup())
    ddp(gg.randn(4, 3), use_b=True).sum().backward()
    ddp.zero_grad(set_to_none=False)                    # zeros, not None: one process keeps zeros
    ddp(gg.randn(4, 3)).sum().backward()
    np.testing.assert_array_equal(ddp.module.b.weight.grad.numpy(), 0)
    ddp.zero_grad()
    with ddp.no_sync():
        ddp(gg.randn(4, 3), use_b=True).sum().backward()
    kept = ddp.module.b.weight.grad.numpy().copy()
    ddp(gg.randn(4, 3)).sum().backward()               # b unused now: its no_sync gradient stays
    np.testing.assert_array_equal(ddp.module.b.weight.grad.numpy(), kept)
