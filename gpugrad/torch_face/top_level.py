"""PyTorch's top-level names (``torch.float32``, ``torch.long``, ``torch.cat``, ``torch.argmax``,
``torch.inference_mode`` ...), exported by ``gpugrad/__init__.py`` so that ``import gpugrad as
torch`` finds them. dtypes are NumPy dtypes, so ``t.dtype == gg.float32`` and
``gg.zeros(3, dtype=gg.long)`` work as in PyTorch and ``np.dtype(gg.int64)`` as in NumPy.
"""
from __future__ import annotations

import numpy as np

from ..creation import as_tensor, eye, linspace, randint, randperm  # noqa: F401
from ..grad_mode import inference_mode, set_grad_enabled  # noqa: F401
from .functions import (all, any, argmax, argmin, cat, clamp, masked_fill, max, min, mm,  # noqa: F401
                              permute, std, t, transpose, var, view)
from ..ops.special import erf  # noqa: F401
from .functions import equal, nonzero, norm, prod, repeat, where  # noqa: F401
from .ops import cumsum, floor_divide, isfinite, isinf, isnan, remainder  # noqa: F401
from .indexing import (argsort, bincount, chunk, gather, index_select, sort, split, topk, unbind,  # noqa: F401
                       unique)
from ..ops.einsum import einsum  # noqa: F401
from .ops import atan, ceil, cosh, expm1, floor, log1p, round, sinh, trunc  # noqa: F401
from .elementwise import (eq, frac, ge, gt, hypot, isclose, le, lerp, log2, log10, logical_and,  # noqa: F401
                          logical_not, logical_or, logical_xor, lt, ne, reciprocal, rsqrt, square, xlogy)
from .shaping import (amax, amin, broadcast_tensors, count_nonzero, diag, dot, flip, hstack,  # noqa: F401
                      masked_select, meshgrid, movedim, moveaxis, narrow, outer, repeat_interleave, roll, select,
                      std_mean, tile, tril, triu, var_mean, vstack)
from . import linalg  # noqa: F401  (gg.linalg.norm / vector_norm)
from .. import creation as _creation
from ..creation import rand, randn
from ..data.generator import Generator
from ..tensor import Tensor

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001

concat = concatenate = cat


def is_tensor(obj) -> "bool":
    """True when ``obj`` is a gpugrad Tensor (Parameters included), as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> "bool":
    """True for a float16/32/64 tensor, as ``torch.is_floating_point``."""
    return t.dtype.kind == "f"


def numel(t: Tensor) -> "int":
    """The number of elements of ``t``, as ``torch.numel``."""
    return t.numel()


def allclose(a, b, rtol: "float" = 1e-05, atol: "float" = 1e-08, equal_nan: "bool" = False) -> "bool":
    """True when |a - b| <= atol + rtol * |b| everywhere (broadcasting), as ``torch.allclose``."""
    def host(v):
        return v.numpy() if isinstance(v, Tensor) else np.asarray(v)
    return np.allclose(host(a), host(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


def manual_seed(seed: "int") -> Generator:
    """Seed gpugrad's global random generators (every device), as ``torch.manual_seed``, and return
    a ``gg.Generator`` holding the seed (PyTorch returns its default Generator) for
    ``DataLoader(generator=...)`` and ``initial_seed()``. Raises TypeError for a non-integer seed."""
    if isinstance(seed, _builtins.bool) or not isinstance(seed, (_builtins.int, np.integer)):
        raise TypeError(f"manual_seed: the seed must be an integer, got {seed!r}")
    _creation.manual_seed(seed)
    return Generator().manual_seed(seed)


def randn_like(t: Tensor, *, dtype=None, device=None, requires_grad: "bool" = False) -> Tensor:
    """Standard normal draws of ``t``'s shape (and dtype/device unless given), as ``torch.randn_like``."""
    return randn(*t.shape, dtype=t.dtype if dtype is None else dtype,
                 device=t.device if device is None else device, requires_grad=requires_grad)


def rand_like(t: Tensor, *, dtype=None, device=None, requires_grad: "bool" = False) -> Tensor:
    """Uniform [0, 1) draws of ``t``'s shape (and dtype/device unless given), as ``torch.rand_like``."""
    return rand(*t.shape, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad: "bool" = False) -> Tensor:  # noqa: A002
    """``fill_value`` in ``input``'s shape (and dtype/device unless given), as ``torch.full_like``."""
    return _creation.full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                          device=input.device if device is None else device, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad: "bool" = False) -> Tensor:  # noqa: A002
    """An uninitialised-values tensor of ``input``'s shape (zeros here), as ``torch.empty_like``."""
    return full_like(input, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def detach(input) -> Tensor:  # noqa: A002
    """``input.detach()``, as ``torch.detach``."""
    return input.detach()


def clone(input) -> Tensor:  # noqa: A002
    """A copy with its own storage, differentiable, as ``torch.clone``."""
    return input.clone()


def nan_to_num(input, nan: "float" = 0.0, posinf=None, neginf=None) -> Tensor:  # noqa: A002
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and the
    dtype's largest and lowest finite values), as ``torch.nan_to_num``. The gradient passes where
    the input is finite and is 0 at the replaced elements (PyTorch's). Integer/bool tensors are
    returned as a copy."""
    if input.dtype.kind != "f":
        return input.clone()
    xp = _get_backend(input.device).xp
    info = np.finfo(input.dtype)
    data = input._data
    repl = xp.where(xp.isnan(data), input.dtype.type(nan),
                    xp.where(data > 0, input.dtype.type(info.max if posinf is None else posinf),
                             input.dtype.type(info.min if neginf is None else neginf))).astype(input.dtype)
    finite = Tensor._wrap(xp.isfinite(data), input.device)
    return _where(finite, input, Tensor._wrap(repl, input.device))


def bmm(input, mat2) -> Tensor:  # noqa: A002
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting), as ``torch.bmm``.
    Raises ValueError for other shapes (use ``matmul`` to broadcast) and TypeError for mixed dtypes."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise ValueError(f"bmm: expects (b, n, m) and (b, m, p) tensors, got shapes {input.shape} and "
                         f"{mat2.shape}; use matmul (@) to broadcast")
    if input.dtype != mat2.dtype:
        raise TypeError(f"bmm: expected both tensors of one dtype, got {input.dtype} and {mat2.dtype} (PyTorch "
                        f"raises too); convert one, e.g. mat2.to(input.dtype)")
    return _matmul(input, mat2)


def _alpha_op(name, op):
    def fn(input, other, *, alpha=1):  # noqa: A002
        return op(input, other if alpha == 1 else other * alpha)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``input {'+' if name == 'add' else '-'} alpha * other``, as ``torch.{name}`` "
                  f"(broadcasting; differentiable in both).")
    return fn


from ..ops import add as _add, sub as _sub, matmul as _matmul, where as _where  # noqa: E402
from ..backends import get_backend as _get_backend  # noqa: E402
add = _alpha_op("add", _add)
sub = _alpha_op("sub", _sub)


def set_num_threads(n: "int") -> None:
    """Use ``n`` threads in the CPU's BLAS/OpenMP pools (NumPy's matmul), as ``torch.set_num_threads``;
    through threadpoolctl, process-wide. Raises ValueError for n < 1."""
    global _thread_limit
    n = _builtins.int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError("set_num_threads: needs the threadpoolctl package to limit NumPy's BLAS threads; "
                          "pip install threadpoolctl (it comes with gpugrad[train])") from None
    _thread_limit = threadpool_limits(limits=n)
    _threads[0] = n


def get_num_threads() -> "int":
    """The thread count of the CPU's BLAS pool (the largest, if several), as ``torch.get_num_threads``;
    without threadpoolctl, the last count set, else the number of CPUs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _threads[0]
    counts = [p.get("num_threads", 1) for p in threadpool_info() if p.get("user_api") == "blas"]
    return _builtins.max(counts) if counts else _threads[0]


import builtins as _builtins  # noqa: E402
import os as _os  # noqa: E402

_thread_limit = None   # keeps the threadpoolctl limiter alive
_threads = [_os.cpu_count() or 1]

__all__ = ["argsort", "bincount", "chunk", "gather", "index_select", "sort", "split", "topk", "unbind", "unique",
           "einsum", "full_like", "clone", "nan_to_num", "bmm", "empty_like", "detach",
           "atan", "ceil", "cosh", "expm1", "floor", "log1p", "round", "sinh", "trunc",
           "eq", "frac", "ge", "gt", "hypot", "isclose", "le", "lerp", "log2", "log10", "logical_and", "logical_not",
           "logical_or", "logical_xor", "lt", "ne", "reciprocal", "rsqrt", "square", "xlogy",
           "amax", "amin", "broadcast_tensors", "count_nonzero", "diag", "dot", "flip", "hstack", "masked_select",
           "meshgrid", "movedim", "moveaxis", "narrow", "outer", "repeat_interleave", "roll", "select", "std_mean",
           "tile", "tril", "triu", "var_mean", "vstack",
           "manual_seed", "equal", "nonzero", "norm", "prod", "repeat", "where", "cumsum", "floor_divide", "isfinite",
           "isinf", "isnan", "remainder", "linalg", "randn_like", "rand_like", "add", "sub",
           "set_num_threads", "get_num_threads",
           "float16", "half", "float32", "float", "float64", "double", "int8", "int16", "short", "int32",
           "int", "int64", "long", "uint8", "bool", "as_tensor", "eye", "linspace", "randint", "randperm",
           "inference_mode", "set_grad_enabled", "all", "any", "argmax", "argmin", "cat", "concat", "clamp",
           "masked_fill", "max", "min", "mm", "permute", "t", "transpose", "view", "var", "std", "erf", "is_tensor", "is_floating_point", "numel",
           "allclose"]
