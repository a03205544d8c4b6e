"""The cuda device: availability, transfers, mixed-device errors, memory behaviour, OOM errors.
On a machine without a GPU only the "no GPU" answers are checked; ci/gpu.sh runs the rest."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.backends import cuda_runtime
import gpugrad.nn.functional as F

GPU = gg.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")


@pytest.mark.skipif(GPU, reason="checks the answers on a machine without a GPU")
def test_without_a_gpu_nothing_crashes_and_cpu_is_chosen():
    assert gg.cuda.is_available() is False
    assert gg.cuda.device_count() == 0
    assert gg.default_device() == "cpu"
    assert gg.cuda.memory_stats() == {"used_bytes": 0, "pool_bytes": 0, "peak_bytes": None}
    gg.cuda.synchronize()


@needs_gpu
def test_transfers_both_ways_and_device_strings():
    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda:0" and gg.default_device() == "cuda"
    z = gg.tensor([1.0], device="cuda:0").cuda().cpu()
    assert z.device == "cpu" and z.tolist() == [1.0]
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


@needs_gpu
def test_mixed_devices_name_both():
    with pytest.raises(RuntimeError, match=r"different devices.*cpu.*cuda:0"):
        gg.ones(2) + gg.ones(2, device="cuda")


@needs_gpu
def test_training_step_memory_stays_flat():
    gg.manual_seed(0)
    W1 = gg.randn(512, 256, device="cuda", requires_grad=True)
    b1 = gg.zeros(512, device="cuda", requires_grad=True)
    W2 = gg.randn(10, 512, device="cuda", requires_grad=True)
    x = gg.randn(128, 256, device="cuda")
    y = gg.tensor(np.random.default_rng(0).integers(0, 10, 128), device="cuda")
    opt = gg.optim.SGD([W1, b1, W2], lr=0.01, momentum=0.9)
    used = []
    for _ in range(6):
        opt.zero_grad()
        F.cross_entropy(F.linear(F.linear_relu(x, W1, b1), W2), y).backward()
        opt.step()
        gg.cuda.synchronize()
        used.append(gg.cuda.memory_stats()["used_bytes"])
    assert len(set(used[2:])) == 1, used


@needs_gpu
def test_out_of_memory_is_a_clear_memory_error_and_tensors_survive():
    x = gg.ones(1 << 18, device="cuda")
    with pytest.raises(MemoryError, match=r"out of GPU memory on cuda:0.*In use by tensors"):
        gg.broadcast_to(x, (1 << 18, 1 << 18)) * 2.0     # 256 GiB
    assert (x * 2).sum().item() == 2.0 * (1 << 18)


@needs_gpu
def test_peak_memory_tracking():
    gg.cuda.reset_peak_memory_stats()
    before = gg.cuda.memory_stats()["peak_bytes"]
    t = gg.ones(1 << 20, device="cuda") * 3.0
    assert gg.cuda.memory_stats()["peak_bytes"] >= before + 4 * (1 << 20)
    del t
    gg.cuda.track_peak_memory(False)


@pytest.mark.skipif(GPU, reason="checks the error on a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"device 'cuda:0'.*no usable GPU.*device='cpu'"):
        gg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"no usable GPU"):
        gg.ones(2).to("cuda")


@pytest.mark.parametrize("index", [1, 3])
def test_a_gpu_other_than_the_first_is_refused_with_how_to_select_it(index):
    # Checked before availability, so this runs (and must pass) with or without a GPU.
    msg = (rf"device 'cuda:{index}'.*not supported yet.*CUDA_VISIBLE_DEVICES={index}.*"
           rf"'cuda' \(or 'cuda:0'\)")
    with pytest.raises(RuntimeError, match=msg):
        gg.zeros(2, device=f"cuda:{index}")
    with pytest.raises(RuntimeError, match=msg):
        gg.ones(2).to(f"cuda:{index}")
    with pytest.raises(RuntimeError, match=msg):
        gg.ones(2).cuda(index)


def test_cuda_and_cuda_0_are_not_refused_as_another_gpu():
    for name in ("cuda", "cuda:0"):
        if GPU:
            assert gg.zeros(2, device=name).device == "cuda:0"
        else:
            with pytest.raises(RuntimeError, match=r"no usable GPU"):
                gg.zeros(2, device=name)


def test_synchronize_waits_for_the_whole_device_not_only_the_current_stream(monkeypatch):
    # A stand-in for CuPy records what is waited for (a graphed step's side stream, or any stream
    # the user made, is not the current stream).
    waited = []
    ns = types.SimpleNamespace
    fake = ns(cuda=ns(Device=lambda: ns(synchronize=lambda: waited.append("device")),
                      get_current_stream=lambda: ns(synchronize=lambda: waited.append("stream"))))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda_runtime, "is_available", lambda: True)
    gg.cuda.synchronize()
    assert waited == ["device"]
