"""The kernel dispatch of the CUDA backend, exercised without a GPU on the simulated device "cudasim":
Tensor ops -> backend -> gpugrad.kernels launch wrappers (run in Numba's CUDA simulator) -> back,
forward and VJPs, under both kernel policies. On a GPU machine the same checks run on "cuda"."""
from __future__ import annotations

import os

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.kernels as K
import gpugrad.nn.functional as F
from helpers import host

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
HAS_GPU = gg.cuda.is_available()
KERNEL_DEVICE = "cuda" if HAS_GPU else "cudasim"
pytestmark = pytest.mark.skipif(not (HAS_GPU or SIM), reason="needs a GPU or Numba's CUDA simulator")


@pytest.fixture
def spy(monkeypatch):
    """Count calls into the kernel launch wrappers (and the matmul layouts asked for)."""
    calls = []
    for name in ("matmul", "relu", "relu_vjp", "bias_sigmoid", "bias_sigmoid_vjp", "bias_relu_vjp"):
        real = getattr(K, name)

        def wrapper(*args, _real=real, _name=name, **kwargs):
            layout = ("T" if kwargs.get("trans_a") else "N") + ("T" if kwargs.get("trans_b") else "N")
            layout += "+bias" * (kwargs.get("bias") is not None) + "+relu" * bool(kwargs.get("relu"))
            calls.append(_name + (":" + layout if _name == "matmul" else ""))
            return _real(*args, **kwargs)

        monkeypatch.setattr(K, name, wrapper)
    return calls


def _pair(shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (gg.tensor(a, requires_grad=True), gg.tensor(a, device=KERNEL_DEVICE, requires_grad=True))


def _compare(fn, shapes, tol=2e-5):
    cpu_in, dev_in = zip(*[_pair(s, i) for i, s in enumerate(shapes)])
    out_c, out_d = fn(*cpu_in), fn(*dev_in)
    assert out_d.device == KERNEL_DEVICE
    np.testing.assert_allclose(host(out_d), host(out_c), rtol=tol, atol=tol)
    g = np.random.default_rng(9).standard_normal(out_c.shape).astype(np.float32)
    out_c.backward(gg.tensor(g))
    out_d.backward(gg.tensor(g, device=KERNEL_DEVICE))
    for c, d in zip(cpu_in, dev_in):
        assert d.grad.device == KERNEL_DEVICE and d.grad.dtype == np.float32
        np.testing.assert_allclose(host(d.grad), host(c.grad), rtol=tol, atol=tol)


def test_matmul_forward_and_both_vjp_layouts_run_on_the_kernel(spy):
    _compare(lambda a, b: a @ b, [(5, 7), (7, 3)])
    assert sorted(spy) == ["matmul:NN", "matmul:NT", "matmul:TN"]


def test_linear_uses_the_nt_layout_with_the_bias_in_the_epilogue(spy):
    _compare(lambda x, w, b: F.linear(x, w, b), [(4, 6), (3, 6), (3,)])
    assert spy[0] == "matmul:NT+bias" and sorted(spy[1:]) == ["matmul:NN", "matmul:TN"]


def test_linear_relu_is_one_kernel_forward_and_one_fused_vjp_pass_backward(spy):
    _compare(lambda x, w, b: F.linear_relu(x, w, b), [(4, 6), (3, 6), (3,)])
    assert spy[0] == "matmul:NT+bias+relu"
    assert sorted(spy[1:]) == ["bias_relu_vjp", "matmul:NN", "matmul:TN"]


def test_relu_forward_and_vjp_run_on_the_kernel(spy):
    _compare(lambda x: gg.relu(x), [(3, 5)])
    assert spy == ["relu", "relu_vjp"]


def test_bias_sigmoid_forward_and_fused_vjp_run_on_the_kernel(spy):
    _compare(lambda z, b: F.bias_sigmoid(z, b), [(4, 5), (5,)])
    assert spy == ["bias_sigmoid", "bias_sigmoid_vjp"]


def test_strided_operand_is_made_contiguous_for_the_kernel(spy):
    _compare(lambda a, b: a.T @ b, [(6, 4), (6, 3)])


def test_policy_switch_gives_the_same_results_and_bypasses_the_kernels(spy):
    x, w = _pair((4, 6), 0)[1], _pair((3, 6), 1)[1]
    with gg.use_kernels(matmul="cublas", relu="cupy", bias_sigmoid="cupy"):
        vendor = F.bias_sigmoid(gg.relu(F.linear(x, w)), gg.zeros(3, device=KERNEL_DEVICE))
        assert spy == []
    assert gg.get_kernels() == {"matmul": "numba", "relu": "numba", "bias_sigmoid": "numba"}
    mine = F.bias_sigmoid(gg.relu(F.linear(x, w)), gg.zeros(3, device=KERNEL_DEVICE))
    assert spy == ["matmul:NT", "relu", "bias_sigmoid"]   # linear without bias: plain NT
    np.testing.assert_allclose(host(mine), host(vendor), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int64", "int32", "float16"])
def test_dtypes_the_kernels_lack_take_the_vendor_path(spy, dtype):
    # The Numba kernels take float32/float64 only; any other dtype must give the CPU's answer.
    rng = np.random.default_rng(0)
    a, b = rng.integers(-3, 4, (4, 5)).astype(dtype), rng.integers(-3, 4, (5, 3)).astype(dtype)
    w, bias = rng.integers(-3, 4, (3, 5)).astype(dtype), rng.integers(-3, 4, 3).astype(dtype)
    for fn in (lambda d: d(a) @ d(b), lambda d: gg.relu(d(a)), lambda d: F.linear(d(a), d(w), d(bias)),
               lambda d: F.linear_relu(d(a), d(w), d(bias))):
        cpu = fn(lambda x: gg.tensor(x, dtype=dtype))
        dev = fn(lambda x: gg.tensor(x, dtype=dtype, device=KERNEL_DEVICE))
        assert dev.dtype == cpu.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(host(dev), host(cpu))
    assert spy == []


def test_float16_gradients_take_the_vendor_path(spy):
    rng = np.random.default_rng(0)
    shapes = {"x": (4, 5), "w": (3, 5), "b": (3,), "z": (4, 3)}
    data = {k: rng.standard_normal(s).astype(np.float16) for k, s in shapes.items()}
    grads = {}
    for dev in ("cpu", KERNEL_DEVICE):
        t = {k: gg.tensor(v, dtype="float16", device=dev, requires_grad=True) for k, v in data.items()}
        out = F.bias_sigmoid(t["z"], t["b"]) + gg.relu(F.linear_relu(t["x"], t["w"], t["b"]))
        out.sum().backward()
        grads[dev] = [host(out)] + [host(t[k].grad) for k in shapes]
    for c, d in zip(grads["cpu"], grads[KERNEL_DEVICE]):
        np.testing.assert_allclose(d, c, rtol=1e-2, atol=1e-2)   # float16 (a GPU may differ in ulps)
    assert spy == []


def test_mlp_training_step_matches_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    t = rng.integers(0, 3, 6)
    params = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in [(4, 5), (4,), (3, 4), (3,)]]
    results = {}
    for dev in ("cpu", KERNEL_DEVICE):
        ps = [gg.tensor(p, device=dev, requires_grad=True) for p in params]
        xd = gg.tensor(x, device=dev)
        h = F.bias_sigmoid(F.linear(xd, ps[0]), ps[1])
        loss = F.cross_entropy(F.linear(gg.relu(h), ps[2], ps[3]), gg.tensor(t, device=dev))
        loss.backward()
        results[dev] = [loss.item()] + [host(p.grad) for p in ps]
    for a, b in zip(results["cpu"], results[KERNEL_DEVICE]):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


def test_set_kernels_validates_and_env_parsing():
    from gpugrad.kernel_policy import parse_env
    with pytest.raises(ValueError, match="not one of"):
        gg.set_kernels(matmul="magic")
    with pytest.raises(ValueError, match="unknown op"):
        gg.set_kernels(softmax="numba")
    assert parse_env("matmul=cublas, relu=numba") == {"matmul": "cublas", "relu": "numba"}
    with pytest.raises(ValueError, match="matmul=cublas"):
        parse_env("matmul")
