"""The launch path of one training step, measured on a machine without a GPU (issue 23).

1. **Launches per step.** The real CUDA backend (gpugrad/backends/cuda.py) runs over a stand-in
   for CuPy that is NumPy underneath and counts what CuPy would launch: each ufunc call (in place,
   reductions included), each array function (where, take_along_axis, ...), each fill, copy, cast
   and gather, each fused ElementwiseKernel, each scatter, and each hand-written kernel launch
   (gpugrad.kernels' wrappers, replaced by counting NumPy versions). Allocation alone (empty,
   empty_like) launches nothing, as in CuPy. One step: 784-256-256-10 MLP, batch 128, SGD
   (momentum 0.9) or Adam, kernel policies "numba" and "cublas".

2. **Host time per launch** with a stand-in driver: what gpugrad and Numba do before the driver
   call (see ``host_cost``).

    python benchmarks/launch_path.py [--out benchmarks/results/launch-path]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import types

import numpy as np


# -- a CuPy that is NumPy underneath and counts launches --------------------------------------------
class Counter:
    def __init__(self):
        self.launches = []          # what each launch was, in order
        self.depth = 0              # numpy calling itself inside one counted call

    def add(self, what):
        if self.depth == 0:
            self.launches.append(what)


COUNTER = Counter()

#: creation functions that launch nothing in CuPy (a pool allocation)
_NO_LAUNCH = {"empty", "empty_like", "shape", "ndim", "result_type", "can_cast", "broadcast_shapes",
              "broadcast_to", "reshape", "transpose", "ravel", "squeeze", "expand_dims", "atleast_1d",
              "atleast_2d", "asarray", "ascontiguousarray", "may_share_memory", "shares_memory"}


class DevArray(np.ndarray):
    """A NumPy array standing for a CuPy array: operations on it count as kernel launches."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        COUNTER.add(f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__)
        COUNTER.depth += 1
        outs = kwargs.get("out")
        try:
            args = [np.asarray(x) if isinstance(x, DevArray) else x for x in inputs]
            if outs:
                kwargs["out"] = tuple(np.asarray(o) if isinstance(o, DevArray) else o for o in outs)
            out = getattr(ufunc, method)(*args, **kwargs)
        finally:
            COUNTER.depth -= 1
        return _wrap(out, outs, inputs)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ not in _NO_LAUNCH:
            COUNTER.add(func.__name__)
        COUNTER.depth += 1
        try:
            out = func._implementation(*_unwrap(args), **_unwrap(kwargs))
        finally:
            COUNTER.depth -= 1
        return _as_dev(out)

    def astype(self, dtype, *a, **k):
        if np.dtype(dtype) == self.dtype and k.get("copy", True) is False:
            return self
        COUNTER.add("astype")
        return _as_dev(np.asarray(self).astype(dtype, *a, **k))

    def copy(self, order="C"):
        COUNTER.add("copy")
        return _as_dev(np.asarray(self).copy(order))

    def fill(self, value):
        COUNTER.add("fill")
        np.asarray(self).fill(value)

    def __getitem__(self, index):
        if _advanced(index):
            COUNTER.add("gather")
        return _as_dev(np.asarray(self)[_unwrap(index)])

    def __setitem__(self, index, value):
        COUNTER.add("setitem")
        np.asarray(self)[_unwrap(index)] = np.asarray(value) if isinstance(value, DevArray) else value

    def item(self, *args):
        COUNTER.add("sync")        # not a launch: counted apart (see launches_per_step)
        return np.asarray(self).item(*args)


def _advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def _unwrap(x):
    if isinstance(x, DevArray):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _as_dev(x):
    if isinstance(x, np.ndarray) and not isinstance(x, DevArray):
        if x.base is not None:          # a view stays a view (of what it views)
            return x.view(DevArray)
        # a fresh result stays fresh (.base None), as CuPy's: the engine copies gradients that are views
        d = np.ndarray.__new__(DevArray, x.shape, x.dtype)
        np.asarray(d)[...] = x
        return d
    if isinstance(x, tuple):
        return tuple(_as_dev(v) for v in x)
    if isinstance(x, list):
        return [_as_dev(v) for v in x]
    return x


def _wrap(out, outs, inputs):
    if outs:
        # in place: return the caller's own DevArray objects
        return outs[0] if len(outs) == 1 else outs
    return _as_dev(out)


class FakeCupyModule(types.ModuleType):
    """``xp`` for the stand-in backend: NumPy's functions, returning DevArrays, counting launches."""

    ndarray = DevArray

    def __init__(self):
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(memory=types.SimpleNamespace(OutOfMemoryError=MemoryError))

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type) or isinstance(attr, np.ufunc):
            if isinstance(attr, np.ufunc):
                return attr           # dispatches through DevArray.__array_ufunc__
            return attr

        def call(*args, **kwargs):
            if name not in _NO_LAUNCH and not any(isinstance(a, DevArray) for a in args):
                COUNTER.add(name)    # creation (zeros, full, arange, array): a fill or a copy in
            if name in ("asarray", "array") and args and not isinstance(args[0], DevArray):
                pass
            COUNTER.depth += 1 if not any(isinstance(a, DevArray) for a in args) else 0
            try:
                return _as_dev(attr(*args, **kwargs))
            finally:
                COUNTER.depth -= 1 if not any(isinstance(a, DevArray) for a in args) else 0

        return call


def counting_kernels():
    """gpugrad.kernels' launch wrappers as counting NumPy versions: one launch each."""
    def k(name, fn):
        def run(*args, **kwargs):
            COUNTER.add(f"numba:{name}")
            COUNTER.depth += 1
            try:
                return _as_dev(fn(*_unwrap(args), **_unwrap(kwargs)))
            finally:
                COUNTER.depth -= 1
        return run

    def matmul(a, b, trans_a=False, trans_b=False, bias=None, relu=False, out=None, config=None):
        c = (a.T if trans_a else a) @ (b.T if trans_b else b)
        if bias is not None:
            c = c + bias
        return np.maximum(c, 0) if relu else c

    def bias_vjp(g, y, act):
        dz = np.where(y <= 0, 0, g) if act == "relu" else g * y * (1 - y)
        return dz, dz.sum(0)

    def ce_rows(x, t, w, ignore_index):
        counted = t != ignore_index
        safe = np.where(counted, t, 0)
        xs = np.where(counted[:, None], x, 0)
        lse = xs.max(1) + np.log(np.exp(xs - xs.max(1, keepdims=True)).sum(1))
        wv = np.ones(x.shape[1], x.dtype) if w is None else w
        return counted, safe, xs, lse, wv, np.where(counted, wv[safe], 0)

    def ce(x, t, w=None, *, ignore_index=-100, label_smoothing=0.0, mean=True):
        counted, safe, xs, lse, wv, wt = ce_rows(x, t, w, ignore_index)
        e, c = label_smoothing, x.shape[1]
        rows = (1 - e) * wt * (lse - xs[np.arange(len(t)), safe]) + e / c * ((lse[:, None] - xs) * wv).sum(1)
        total = np.where(counted, rows, 0).sum()
        return np.array([total / wt.sum() if mean else total, wt.sum()], dtype=x.dtype)

    def ce_vjp(g, x, t, w=None, *, ignore_index=-100, label_smoothing=0.0, mean=True):
        counted, safe, xs, lse, wv, wt = ce_rows(x, t, w, ignore_index)
        e, c = label_smoothing, x.shape[1]
        p = np.exp(xs - lse[:, None])
        onehot = np.arange(c)[None, :] == safe[:, None]
        row = (1 - e) * wt[:, None] * (p - onehot) + e / c * (wv.sum() * p - wv)
        coef = g.reshape(()) / wt.sum() if mean else g.reshape(())
        return np.where(counted[:, None], row * coef, 0).astype(x.dtype)

    return {"matmul": k("matmul", matmul), "cross_entropy": k("cross_entropy", ce),
            "cross_entropy_vjp": k("cross_entropy_vjp", ce_vjp), "relu": k("relu", lambda x, out=None: np.maximum(x, 0)),
            "relu_vjp": k("relu_vjp", lambda g, x, out=None: np.where(x <= 0, 0, g)),
            "bias_sigmoid": k("bias_sigmoid", lambda z, b, out=None: 1 / (1 + np.exp(-(z + b)))),
            "bias_sigmoid_vjp": k("bias_sigmoid_vjp", lambda g, h: bias_vjp(g, h, "sigmoid")),
            "bias_relu_vjp": k("bias_relu_vjp", lambda g, y: bias_vjp(g, y, "relu"))}


@contextlib.contextmanager
def stand_in_cuda():
    """Device "cuda" served by the real CudaBackend over the counting CuPy (no GPU needed)."""
    from gpugrad import backends, kernels
    from gpugrad.backends import cuda as cuda_backend
    from gpugrad.backends.kernel_backend import KernelBackend
    xp = FakeCupyModule()
    b = cuda_backend.CudaBackend.__new__(cuda_backend.CudaBackend)
    KernelBackend.__init__(b, xp)
    b.index = 0
    b.device = contextlib.nullcontext()

    def scatter_add(target, index, values):
        COUNTER.add("scatter_add")
        np.add.at(np.asarray(target), _unwrap(index), _unwrap(values))

    b._cupyx = types.SimpleNamespace(scatter_add=scatter_add)
    b.to_numpy = lambda a: np.array(a)
    saved = {name: getattr(kernels, name) for name in counting_kernels()}
    saved_ew = cuda_backend._elementwise
    previous = {k: backends._backends.get(k) for k in ("cuda", "cuda:0")}

    returning = {   # the fused kernels whose result the step reads (the optimizers' write in place and
        # are not emulated: counted only)
        "relu_vjp": lambda g, y: np.where(y <= 0, 0, g),
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "sigmoid_bias": lambda z, b: 1 / (1 + np.exp(-(z + b))),
        "sigmoid_vjp": lambda g, h: g * h * (1 - h),
    }

    def fused(name):
        def run(*args, size=None):
            COUNTER.add(f"fused:{name}")
            if name in returning:
                return _as_dev(returning[name](*_unwrap(args)))
        return run

    cuda_backend._elementwise = fused
    for name, fn in counting_kernels().items():
        setattr(kernels, name, fn)
    backends._backends["cuda"] = backends._backends["cuda:0"] = b
    try:
        yield b
    finally:
        for name, fn in saved.items():
            setattr(kernels, name, fn)
        cuda_backend._elementwise = saved_ew
        for k, v in previous.items():
            if v is None:
                backends._backends.pop(k, None)
            else:
                backends._backends[k] = v


def launches_per_step(optimizer: str, policy: str, sizes=(784, 256, 256, 10), batch=128, steps=3) -> dict:
    """Launches of one training step (the last of ``steps``, state made), by kind."""
    import gpugrad as gg
    import gpugrad.nn.functional as F
    from gpugrad.commands.bench.mlp import POLICIES, batch_data, initial_state
    names, init = initial_state(sizes, 0)
    x, y = batch_data(sizes, batch, 0)
    with stand_in_cuda(), gg.use_kernels(**POLICIES[policy]):
        model = gg.nn.MLP(list(sizes), activation="relu", device="cpu")
        model.load_state_dict(dict(zip(names, init)))
        model.to("cuda")
        params = list(model.parameters())
        opt = (gg.optim.SGD(params, lr=1e-3, momentum=0.9) if optimizer == "sgd"
               else gg.optim.Adam(params, lr=1e-3))
        xb, yb = gg.tensor(x, device="cuda"), gg.tensor(y, device="cuda")
        for _ in range(steps):
            COUNTER.launches.clear()
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        kinds = [k for k in COUNTER.launches if k != "sync"]
        by_kind: dict = {}
        for k in kinds:
            by_kind[k] = by_kind.get(k, 0) + 1
        return {"optimizer": optimizer, "policy": policy, "launches": len(kinds),
                "syncs": COUNTER.launches.count("sync"), "by_kind": by_kind, "sequence": kinds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for launch_count.json")
    args = ap.parse_args(argv)
    rows = [launches_per_step(o, p) for o in ("sgd", "adam") for p in ("numba", "cublas")]
    for r in rows:
        print(f"{r['optimizer']:>4} {r['policy']:>6}: {r['launches']:3d} launches/step  {r['by_kind']}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "launch_count.json"), "w") as f:
            json.dump({"model": "784-256-256-10", "batch": 128, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
