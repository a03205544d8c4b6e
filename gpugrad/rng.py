"""PyTorch's CPU random stream, for initialisation, and the generators' state (``torch.random``).

Why a second stream: an import-swapped PyTorch script that calls ``manual_seed(s)`` and then builds
its model should start from PyTorch's weights. PyTorch's CPU generator is MT19937 seeded with
``init_genrand(seed & 0xffffffff)`` (``at::mt19937``), which is exactly NumPy's legacy MT19937
seeding, and ``Tensor.uniform_(a, b)`` maps one 32-bit draw to float32 as
``((u & (2**24 - 1)) * 2**-24) * (b - a) + a`` (two 32-bit draws, high word first, masked to 53 bits,
for float64; ``at::uniform_real_distribution``), the multiply-add fused. :func:`torch_uniform`
reproduces that bit for bit (checked against PyTorch 2.13 in tests/test_torch_defaults.py).

Only ``gg.nn.init``'s uniform initialisers (``uniform_``, ``kaiming_uniform_``, ``xavier_uniform_``)
and ``nn.Linear``'s default draw from this stream. ``randn``/``rand``/dropout/shuffling draw from
NumPy's ``default_rng`` (PCG64), so their numbers differ from PyTorch's, and a PyTorch draw between
two layers' creation (``torch.randn``, ``normal_`` ...) advances PyTorch's stream but not this one.
"""
from __future__ import annotations

import json

import numpy as np

from . import creation as _creation
from .tensor import tensor

__all__ = ["torch_uniform", "get_rng_state", "set_rng_state"]

# The key of PyTorch's stream in creation's generator tables, beside the devices' "cpu", "cuda:0":
# a table entry is cleared by gg.manual_seed and private to a generator_scope, as the others are.
_TORCH_KEY = "cpu/torch-mt19937"


def _torch_generator():
    """The numpy Generator over an MT19937 seeded as PyTorch's CPU generator for the current seed."""
    active = getattr(_creation._scoped, "active", None)
    seed, table = active if active is not None else (_creation._seed, _creation._generators)
    g = table.get(_TORCH_KEY)
    if g is None:
        if seed is None:        # never seeded: PyTorch seeds from entropy too
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        bits = np.random.MT19937()
        bits._legacy_seeding(int(seed) & 0xFFFFFFFF)   # init_genrand, as at::mt19937(seed)
        g = np.random.Generator(bits)
        table[_TORCH_KEY] = g
    return g


def _fma64(a, b, c):
    """a * b + c rounded once, in float64 (PyTorch's kernel fuses it). Error-free product
    (Veltkamp/Dekker split) and sum, then one rounding: exact except at exact ties."""
    split = 134217729.0   # 2**27 + 1
    def parts(x):
        t = split * x
        hi = t - (t - x)
        return hi, x - hi
    p = a * b
    ah, al = parts(a)
    bh, bl = parts(np.float64(b))
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    return s + (t + e)


def torch_uniform(shape, low: float, high: float, dtype) -> np.ndarray:
    """Samples of U(low, high) in ``dtype``, the numbers ``torch.empty(shape).uniform_(low, high)``
    gives on the CPU after the same ``manual_seed`` and the same earlier draws (float32 and float64
    bit for bit; float16 through float32, not checked bit for bit). A NumPy array, C order."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    bits = _torch_generator().bit_generator
    if dtype == np.float64:
        r = bits.random_raw(2 * n).astype(np.uint64).reshape(n, 2)
        v = ((r[:, 0] << np.uint64(32)) | r[:, 1]) & np.uint64((1 << 53) - 1)
        x = v.astype(np.float64) * 2.0 ** -53
        lo, hi = float(low), float(high)
        out = _fma64(x, hi - lo, lo)
    else:
        digits = 11 if dtype == np.float16 else 24
        v = bits.random_raw(n).astype(np.uint64) & np.uint64((1 << digits) - 1)
        lo, hi = dtype.type(low), dtype.type(high)   # PyTorch casts the bounds to the tensor's type first
        width = np.float32(hi) - np.float32(lo)
        # x (24 bits) * width (24 bits) + lo is exact in float64: one rounding to float32 = the FMA's.
        x = v.astype(np.float64) * 2.0 ** -digits
        out = (x * np.float64(width) + np.float64(lo)).astype(np.float32)
    return out.astype(dtype, copy=False).reshape(tuple(shape))


def _state_of(g):
    st = g.bit_generator.state
    return json.loads(json.dumps(st, default=lambda a: a.tolist()))


def get_rng_state():
    """The state of gpugrad's global CPU generators (``torch.get_rng_state``): a uint8 tensor to give
    back to :func:`set_rng_state` (also storable with ``gg.save``). It holds the seed and the
    streams drawn so far: NumPy's (randn, rand, dropout, shuffling) and PyTorch's (initialisers).
    CUDA generators are not included (``torch.cuda.get_rng_state``'s job)."""
    state = {"format": "gpugrad-rng-1", "seed": _creation._seed,
             "streams": {k: _state_of(g) for k, g in _creation._generators.items()
                         if k == "cpu" or k == _TORCH_KEY}}
    raw = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy()
    return tensor(raw, dtype="uint8")


def set_rng_state(new_state) -> None:
    """Restore what :func:`get_rng_state` returned (``torch.set_rng_state``): later draws repeat.

    Raises TypeError for anything that is not such a state (a PyTorch ByteTensor from
    ``torch.get_rng_state()`` included: PyTorch's state is its own generator's, which gpugrad does
    not run)."""
    raw = np.asarray(new_state.numpy() if hasattr(new_state, "numpy") else new_state)
    try:
        state = json.loads(raw.astype(np.uint8).tobytes().decode())
        if state.get("format") != "gpugrad-rng-1":
            raise ValueError
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise TypeError(f"set_rng_state: expected the uint8 tensor gg.get_rng_state() returned, got "
                        f"{type(new_state).__name__} of {raw.size} values that is not one (a PyTorch "
                        f"torch.get_rng_state() cannot be loaded: gpugrad's generators are not PyTorch's)")\
            from None
    _creation._seed = state["seed"]
    for key in ("cpu", _TORCH_KEY):      # the CPU's streams only, as torch.set_rng_state
        _creation._generators.pop(key, None)
    for key, st in state["streams"].items():
        if key == _TORCH_KEY:
            g = np.random.Generator(np.random.MT19937())
        else:
            g = np.random.default_rng()
        if st["bit_generator"] == "MT19937":
            st["state"]["key"] = np.asarray(st["state"]["key"], dtype=np.uint32)
        g.bit_generator.state = st
        _creation._generators[key] = g
