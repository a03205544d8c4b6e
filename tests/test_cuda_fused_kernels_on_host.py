"""The CUDA backend's fused CuPy kernels, run on the CPU: each body is compiled as host C++ (g++)
inside a stand-in for ``cupy.ElementwiseKernel`` with CuPy's calling convention (inputs broadcast,
T taken from the arrays, scalars cast, raw arguments as pointers, outputs written in place), and
the *real* CudaBackend methods call it on NumPy arrays. Their results must equal the CPU backend's
formulas (PyTorch's), step after step: the optimizer updates (SGD, Adam/AdamW with amsgrad,
RMSprop, Adagrad, each with maximize), the sigmoid and the activation VJPs
that would otherwise first run on a GPU.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from gpugrad.backends import cuda as cuda_backend
from gpugrad.backends.base import ArrayBackend
from gpugrad.backends.kernel_backend import KernelBackend
from gpugrad.optim.adagrad import adagrad_update
from gpugrad.optim.adam import adam_update
from gpugrad.optim.rmsprop import rmsprop_update
from gpugrad.optim.sgd import sgd_update
from gpugrad.vjp_namespace import RawNamespace

from helpers import KERNEL_CTYPES, kernel_params

GXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(GXX is None, reason="g++ not installed")

_NPTYPE = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64}


def _host_source(name: str, ins, outs, body: str) -> str:
    funcs = []
    for T in ("float", "double"):
        params = ["long n"]
        reads = []
        for typ, var, raw in ins:
            ctype = T if typ in "TS" else KERNEL_CTYPES[typ]
            params.append(f"const {ctype}* {var}_")
            reads.append(f"const {ctype}* {var} = {var}_;" if raw else f"const {ctype} {var} = {var}_[i];")
        for typ, var, raw in outs:   # (S, the state's type, is T here: same-dtype state)
            ctype = T if typ in "TS" else KERNEL_CTYPES[typ]
            params.append(f"{ctype}* {var}_")
            reads.append(f"{ctype}* {var} = {var}_;" if raw else f"{ctype}& {var} = {var}_[i];")
        funcs.append(f'extern "C" void {name}_{T}({", ".join(params)}) {{\n'
                     f"  typedef {T} T; typedef {T} S;\n  for (long i = 0; i < n; ++i) {{\n    "
                     + "\n    ".join(reads) + f"\n    {body}\n  }}\n}}\n")
    return "".join(funcs)


@pytest.fixture(scope="module")
def host_library(tmp_path_factory):
    src = "#include <cmath>\nusing namespace std;\n" + "".join(
        _host_source(name, kernel_params(ins), kernel_params(outs), body)
        for name, (ins, outs, body) in cuda_backend.ELEMENTWISE_KERNELS.items())
    d = tmp_path_factory.mktemp("fused")
    (d / "fused.cpp").write_text(src)
    proc = subprocess.run([GXX, "-O1", "-shared", "-fPIC", "-o", str(d / "fused.so"), str(d / "fused.cpp")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(d / "fused.so"))


class HostElementwiseKernel:
    """cupy.ElementwiseKernel's calling convention over NumPy arrays, running the host build."""

    def __init__(self, lib, name):
        ins, outs, _ = cuda_backend.ELEMENTWISE_KERNELS[name]
        self.lib, self.name, self.ins, self.outs = lib, name, kernel_params(ins), kernel_params(outs)

    def __call__(self, *args, size=None):
        nin, nout = len(self.ins), len(self.outs)
        assert len(args) in (nin, nin + nout), f"{self.name}: {len(args)} arguments"
        arrays = [a for a, (typ, _, raw) in zip(args, self.ins + self.outs)
                  if typ in "TS" and isinstance(a, np.ndarray) and not raw]
        t = arrays[0].dtype if arrays else np.dtype(np.float64)   # (a kernel of raw arrays only)
        assert all(a.dtype == t for a in arrays), f"{self.name}: T is ambiguous"
        assert t in (np.float32, np.float64), f"{self.name}: T = {t} has no host build (float16 parameters " \
                                              f"must reach the kernels as float32 copies, optim.float32_step)"
        shape = (size,) if size is not None else np.broadcast_shapes(
            *(a.shape for a, (_, _, raw) in zip(args, self.ins) if isinstance(a, np.ndarray) and not raw))
        n = int(np.prod(shape))
        keep, ptrs = [], []
        for a, (typ, var, raw) in zip(args[:nin], self.ins):
            dtype = t if typ in "TS" else np.dtype(_NPTYPE[typ])
            if raw:
                assert isinstance(a, np.ndarray) and a.dtype == dtype, f"{self.name}: raw {var}"
                arr = a
            else:
                arr = np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype), shape))
            keep.append(arr)
            ptrs.append(arr.ctypes.data_as(ctypes.c_void_p))
        outs = list(args[nin:]) or [np.empty(shape, t if typ == "T" else _NPTYPE[typ])
                                    for typ, _, _ in self.outs]
        for o, (_, _, raw) in zip(outs, self.outs):
            assert raw or (o.shape == shape and o.flags.c_contiguous), f"{self.name}: output {o.shape} vs {shape}"
            ptrs.append(o.ctypes.data_as(ctypes.c_void_p))
        getattr(self.lib, f"{self.name}_{'float' if t == np.float32 else 'double'}")(ctypes.c_long(n), *ptrs)
        return outs[0] if len(outs) == 1 else tuple(outs)


@pytest.fixture
def backends(host_library, monkeypatch):
    """(the CudaBackend with NumPy storage and host-built fused kernels, the CPU formulas)."""
    monkeypatch.setattr(cuda_backend, "_elementwise", lambda name: HostElementwiseKernel(host_library, name))
    gpu = cuda_backend.CudaBackend.__new__(cuda_backend.CudaBackend)
    KernelBackend.__init__(gpu, np)
    return gpu, ArrayBackend(np)


def _tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,dampening,weight_decay,nesterov,maximize", [
    (0.0, 0.0, 0.0, False, False), (0.0, 0.0, 0.1, False, False), (0.0, 0.0, 0.1, False, True),
    (0.9, 0.0, 0.0, False, False), (0.9, 0.1, 0.01, False, False), (0.9, 0.0, 0.01, True, False),
    (0.9, 0.2, 0.01, False, True), (0.9, 0.0, 0.0, True, True)])
def test_sgd_update_matches_the_cpu_formula(backends, dtype, momentum, dampening, weight_decay, nesterov,
                                            maximize):
    gpu, cpu = backends
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((7, 5)).astype(dtype)
    p_gpu, p_cpu, buf_gpu, buf_cpu = p0.copy(), p0.copy(), None, None
    for _ in range(4):
        g = rng.standard_normal(p0.shape).astype(dtype)
        g_before = g.copy()
        buf_gpu = sgd_update(gpu, p_gpu, g, buf_gpu, 0.05, momentum, dampening, weight_decay, nesterov,
                                 maximize=maximize)
        buf_cpu = sgd_update(cpu, p_cpu, g, buf_cpu, 0.05, momentum, dampening, weight_decay, nesterov,
                                 maximize=maximize)
        assert np.array_equal(g, g_before), "the gradient must not be written"
        np.testing.assert_allclose(p_gpu, p_cpu, **_tol(dtype))
        assert (buf_gpu is None) == (buf_cpu is None)
        if buf_cpu is not None:
            np.testing.assert_allclose(buf_gpu, buf_cpu, **_tol(dtype))
    assert p_gpu.dtype == dtype and not np.allclose(p_gpu, p0)


def _state(p0, keys, **counts):
    return dict({k: np.zeros_like(p0) for k in keys}, **counts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay,decoupled,amsgrad,maximize", [
    (0.0, False, False, False), (0.01, False, False, False), (0.01, True, False, False),
    (0.01, False, True, False), (0.01, True, True, True), (0.0, False, False, True)])
def test_adam_update_matches_the_cpu_formula(backends, dtype, weight_decay, decoupled, amsgrad, maximize):
    gpu, cpu = backends
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((6, 3)).astype(dtype)
    keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    states = [_state(p0, keys, step=0) for _ in range(2)]
    p_gpu, p_cpu = p0.copy(), p0.copy()
    for t in range(6):
        # shrinking gradients after step 3: v falls and amsgrad's max must hold the old value
        g = (rng.standard_normal(p0.shape) * (1.0 if t < 3 else 0.1)).astype(dtype)
        adam_update(gpu, p_gpu, g, states[0], 1e-2, 0.9, 0.999, 1e-8, weight_decay, decoupled,
                        amsgrad=amsgrad, maximize=maximize)
        adam_update(cpu, p_cpu, g, states[1], 1e-2, 0.9, 0.999, 1e-8, weight_decay, decoupled,
                        amsgrad=amsgrad, maximize=maximize)
        np.testing.assert_allclose(p_gpu, p_cpu, **_tol(dtype))
        for k in keys:
            np.testing.assert_allclose(states[0][k], states[1][k], **_tol(dtype))
    if amsgrad:
        assert np.all(states[0]["max_exp_avg_sq"] >= states[0]["exp_avg_sq"])
        assert np.any(states[0]["max_exp_avg_sq"] > states[0]["exp_avg_sq"])
    # the CUDA backend keeps its step count on the device, advanced by each update
    assert isinstance(states[0]["step"], np.ndarray) and states[0]["step"].tolist() == [6]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,centered,weight_decay,maximize", [
    (0.0, False, 0.0, False), (0.9, False, 0.01, False), (0.0, True, 0.0, True), (0.5, True, 0.1, False)])
def test_rmsprop_update_matches_the_cpu_formula(backends, dtype, momentum, centered, weight_decay, maximize):
    gpu, cpu = backends
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((5, 4)).astype(dtype)
    keys = ["square_avg"] + (["grad_avg"] if centered else []) + (["momentum_buffer"] if momentum else [])
    states = [_state(p0, keys, step=0) for _ in range(2)]
    p_gpu, p_cpu = p0.copy(), p0.copy()
    for _ in range(5):
        g = rng.standard_normal(p0.shape).astype(dtype)
        for backend, p, st in ((gpu, p_gpu, states[0]), (cpu, p_cpu, states[1])):
            rmsprop_update(backend, p, g, st, 1e-2, 0.9, 1e-8, weight_decay, momentum, centered, maximize=maximize)
        np.testing.assert_allclose(p_gpu, p_cpu, **_tol(dtype))
        for k in keys:
            np.testing.assert_allclose(states[0][k], states[1][k], **_tol(dtype))
    assert states[0]["step"] == states[1]["step"] == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr_decay,weight_decay,maximize,initial", [
    (0.0, 0.0, False, 0.0), (0.1, 0.01, False, 0.5), (0.05, 0.0, True, 0.1)])
def test_adagrad_update_matches_the_cpu_formula(backends, dtype, lr_decay, weight_decay, maximize, initial):
    gpu, cpu = backends
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((3, 7)).astype(dtype)
    states = [dict(step=0, sum=np.full_like(p0, initial)) for _ in range(2)]
    p_gpu, p_cpu = p0.copy(), p0.copy()
    for _ in range(5):
        g = rng.standard_normal(p0.shape).astype(dtype)
        for backend, p, st in ((gpu, p_gpu, states[0]), (cpu, p_cpu, states[1])):
            adagrad_update(backend, p, g, st, 0.1, lr_decay, weight_decay, 1e-10, maximize=maximize)
        np.testing.assert_allclose(p_gpu, p_cpu, **_tol(dtype))
        np.testing.assert_allclose(states[0]["sum"], states[1]["sum"], **_tol(dtype))
    assert isinstance(states[0]["step"], np.ndarray) and states[0]["step"].tolist() == [5]


def test_every_optimizer_kernel_is_exercised_here():
    """A kernel added to ELEMENTWISE_KERNELS without a host test above fails here."""
    optimizer_kernels = {n for n in cuda_backend.ELEMENTWISE_KERNELS if not n.startswith(("sigmoid", "relu"))}
    assert optimizer_kernels == {"sgd", "sgd_momentum", "adam", "adam_amsgrad", "adam_step", "rmsprop", "rmsprop_momentum",
                                 "rmsprop_centered", "rmsprop_centered_momentum", "adagrad"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_kernels_match_the_cpu_formulas(backends, dtype):
    gpu, cpu = backends
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((9, 4)) * 30).astype(dtype)       # large |z|: no overflow either way
    b = rng.standard_normal(4).astype(dtype)
    g = rng.standard_normal((9, 4)).astype(dtype)
    # the CUDA backend's vendor path (its fused CuPy kernels) against the ops' composite formulas
    gpu, cpu = RawNamespace(gpu, kernels=False), RawNamespace(cpu)
    np.testing.assert_allclose(gpu.sigmoid(z), cpu.sigmoid(z), **_tol(dtype))
    h = gpu.bias_sigmoid(z, b)
    np.testing.assert_allclose(h, cpu.bias_sigmoid(z, b), **_tol(dtype))
    assert np.isfinite(h).all() and h.dtype == dtype
    for got, want in zip(gpu.bias_sigmoid_vjp(g, h), cpu.bias_sigmoid_vjp(g, h)):
        np.testing.assert_allclose(got, want, **_tol(dtype))
    y = np.maximum(z, 0)
    np.testing.assert_allclose(gpu.relu_vjp(g, y), cpu.relu_vjp(g, y), **_tol(dtype))


def test_adam_step_counts_advance_once_per_group_and_split_when_a_holder_sits_out(backends):
    """Issue 23: one launch advances the shared count of a group's states (not one per parameter),
    its bias corrections are PyTorch's (float64, from the count); a state stepped alone later gets
    its own count, continuing from the shared one, while the others keep theirs."""
    from gpugrad.optim.adam import advance_step_count
    gpu, _ = backends
    launches = []
    real = gpu.elementwise

    def counting(name):
        launches.append(name)
        return real(name)

    gpu.elementwise = counting
    states = [{"step": 0} for _ in range(3)]
    for t in (1, 2):
        bc = advance_step_count(gpu, states, 0.01, 0.9, 0.999)
        assert launches.count("adam_step") == t
        assert len({id(states[0]["step"])} | {id(s["step"]) for s in states}) == 1
        np.testing.assert_array_equal(bc[id(states[0])], [0.01 / (1 - 0.9 ** t), (1 - 0.999 ** t) ** 0.5])
    advance_step_count(gpu, states[:1], 0.01, 0.9, 0.999, all_states=states)
    assert states[0]["step"] is not states[1]["step"]
    assert [int(s["step"][0]) for s in states] == [3, 2, 2]


@pytest.mark.parametrize("name,update,state_keys,args", [
    ("sgd", sgd_update, None, (0.05, 0.9, 0.0, 0.01, True)),
    ("adam", adam_update, ["exp_avg", "exp_avg_sq"], (1e-2, 0.9, 0.999, 1e-8, 0.0, False)),
    ("rmsprop", rmsprop_update, ["square_avg", "grad_avg", "momentum_buffer"], (1e-2, 0.9, 1e-8, 0.0, 0.9, True)),
    ("adagrad", adagrad_update, ["sum"], (0.1, 0.0, 0.0, 1e-10)),
])
def test_float16_parameters_step_in_float32_on_the_fused_path(backends, name, update, state_keys, args):
    """Issue 21: a float16 parameter's fused step computes in float32 (its state is float32, the
    kernel sees T = float32 on float32 copies) and equals the CPU formula's step bit for bit;
    eps = 1e-8 does not round to 0, so a zero gradient moves nothing and makes no NaN."""
    gpu, cpu = backends
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal((4, 3)).astype(np.float16)
    ps = [p0.copy(), p0.copy()]
    states = [None, None] if state_keys is None else [
        dict({k: np.zeros(p0.shape, np.float32) for k in state_keys}, step=0) for _ in range(2)]
    for _ in range(4):
        g = (rng.standard_normal(p0.shape) * 1e-3).astype(np.float16)
        g[0] = 0
        for i, backend in enumerate((gpu, cpu)):
            out = update(backend, ps[i], g, states[i], *args)
            if state_keys is None:
                states[i] = out
    assert ps[0].dtype == np.float16 and np.isfinite(ps[0]).all()
    np.testing.assert_array_equal(ps[0], ps[1])
    np.testing.assert_array_equal(ps[0][0], p0[0] if name != "sgd" else ps[1][0])
    for k in state_keys or ["momentum_buffer"]:
        got = states[0] if state_keys is None else states[0][k]
        assert got.dtype == np.float32, k
