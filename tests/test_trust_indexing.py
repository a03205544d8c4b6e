"""Indexing: every index form NumPy and PyTorch accept, against both (issue 21, "Also: indexing").

One table of index forms on a (2, 3, 4) tensor (and a few on 0-d and 1-d): ints, negative, slices
with steps, lists and nested lists of any length (empty included), bool masks and bool lists, None,
Ellipsis, NumPy arrays and gpugrad Tensors of ints or bools, mixed advanced and basic. Columns:
the result equals NumPy's (values and shape) and PyTorch's where PyTorch reads the index the same
way; the VJP is NumPy's ``add.at`` (repeated positions add) and PyTorch's; the second order
matches the analytic one and PyTorch's double backward; setitem writes what NumPy writes. A
table of bad indices must give an IndexError naming the op, the tensor's shape, the index and
what to do. Where NumPy and PyTorch differ (nested lists, uint8 arrays, negative steps) gpugrad
reads the index as NumPy does (see gpugrad/ops/shape.py). Handed case: ``x[[]]`` (and other empty
lists) raised "index arrays must be integer or boolean, got float64".
"""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg

torch = pytest.importorskip("torch")

SHAPE = (2, 3, 4)
MASK = np.arange(24).reshape(SHAPE)[:, :, 0] % 8 == 0          # (2, 3), three True


class T:
    """An index entry given as a gpugrad/torch Tensor (converted per library)."""

    def __init__(self, value):
        self.value = value


# name -> (index, torch reads it as NumPy does)
FORMS = {
    "int": (1, True),
    "negative int": (-1, True),
    "tuple of ints": ((1, -2, 3), True),
    "slice": (slice(0, 2), True),
    "slice with step": ((slice(None), slice(0, 3, 2)), True),
    "negative step": ((slice(None, None, -1), slice(2, None, -2)), False),  # torch refuses
    "None and Ellipsis": ((None, 0, ..., None), True),
    "Ellipsis last int": ((..., 1), True),
    "empty tuple": ((), True),
    "bool True": (True, True),
    "bool False": (False, True),
    "list": ([1, 0, 1], True),
    "list with negatives": ([-1, 0, -2], True),
    "one-element list": ([1], True),
    "empty list": ([], True),
    "nested list": ([[0, 1], [1, 0]], False),                 # torch 2.x: read as a tuple
    "nested empty list": ([[]], False),
    "deep nested list": ([[[0], [1]], [[1], [1]]], False),
    "list of bools": ([True, False], True),
    "tuple of lists": (([0, 1, 1], [2, 0, 2]), True),
    "tuple of empty lists": (([], []), True),
    "lists broadcast": (([[0], [1]], [0, 2, 1]), True),
    "advanced then slice": (([1, 1], slice(None), 0), True),
    "slice between advanced": (([0, 1], slice(None), [1, 3]), True),
    "slice before advanced": ((slice(None), [0, 2, 2], slice(1, 3)), True),
    "advanced with None": (([0, 1], None), True),
    "int array": (np.array([1, 1, 0]), True),
    "int array 2-d": (np.array([[0, 1], [1, 1]]), True),
    "empty int array": (np.array([], dtype=np.int64), True),
    "0-d int array": (np.array(1), True),
    "int32 array": (np.array([1, 0], dtype=np.int32), True),
    "uint8 array": (np.array([1, 1], dtype=np.uint8), False),  # torch: a (deprecated) mask
    "mask": (MASK, True),
    "full mask": (np.arange(24).reshape(SHAPE) % 3 == 0, True),
    "mask then int": ((MASK, 1), True),
    "mask then list": ((MASK, [0, 3, 3]), True),
    "bool array axis 1": ((slice(None), np.array([True, False, True])), True),
    "mask and int array": ((np.array([True, False]), [0, 2]), True),
    "0-d bool array": (np.array(True), True),
    "tensor int": (T([1, 1]), True),
    "tensor negative": (T([-1, -2]), True),
    "tensor bool": (T([True, False]), True),
    "tensor 0-d": (T(1), True),
    "tensor mask": (T(MASK), True),
    "tensor with slice": ((slice(None), T([2, 0, 2])), True),
    "two tensors": ((T([0, 1]), T([[1], [2]])), True),
    "numpy integer": (np.int64(1), True),
}


def _index_for(index, lib):
    if isinstance(index, T):
        v = np.asarray(index.value)
        return {"np": v, "gg": gg.tensor(v), "torch": torch.from_numpy(v)}[lib]
    if isinstance(index, tuple):
        return tuple(_index_for(i, lib) for i in index)
    if lib == "torch" and isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


def _x(dtype=np.float64):
    return np.arange(np.prod(SHAPE), dtype=dtype).reshape(SHAPE) * 0.5 - 3


@pytest.mark.parametrize("name", list(FORMS))
def test_result_equals_numpy_and_torch(name, device):
    index, torch_same = FORMS[name]
    x = _x()
    want = x[_index_for(index, "np")]
    got = gg.tensor(x, dtype=gg.float64, device=device)[_index_for(index, "gg")]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    if torch_same:
        t = torch.from_numpy(x)[_index_for(index, "torch")]
        assert tuple(t.shape) == want.shape
        np.testing.assert_array_equal(t.numpy(), want)


def _weights(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("name", list(FORMS))
def test_vjp_accumulates_as_numpy_add_at_and_torch(name, device):
    index, torch_same = FORMS[name]
    x = _x()
    out_shape = x[_index_for(index, "np")].shape
    w = _weights(out_shape)
    xg = gg.tensor(x, dtype=gg.float64, requires_grad=True, device=device)
    (xg[_index_for(index, "gg")] * gg.tensor(w, dtype=gg.float64, device=device)).sum().backward()
    want = np.zeros_like(x)
    np.add.at(want, _index_for(index, "np"), w)
    np.testing.assert_allclose(xg.grad.numpy(), want, rtol=1e-12, atol=1e-12)
    if torch_same:
        xt = torch.from_numpy(x).requires_grad_()
        (xt[_index_for(index, "torch")] * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FORMS))
def test_second_order_matches_the_analytic_and_torch(name):
    # y = sum(w * x[idx]^2): dy/dx = add_at(2 w x[idx]); d/dx of sum(v * dy/dx) = add_at(2 w v[idx]).
    index, torch_same = FORMS[name]
    x = _x()
    idx_np = _index_for(index, "np")
    w, v = _weights(x[idx_np].shape, 1), _weights(x.shape, 2)
    xg = gg.tensor(x, dtype=gg.float64, requires_grad=True)
    y = (gg.tensor(w, dtype=gg.float64) * xg[_index_for(index, "gg")] ** 2).sum()
    (g,) = gg.grad(y, [xg], create_graph=True)
    (h,) = gg.grad((g * gg.tensor(v, dtype=gg.float64)).sum(), [xg])
    want_g, want_h = np.zeros_like(x), np.zeros_like(x)
    np.add.at(want_g, idx_np, 2 * w * x[idx_np])
    np.add.at(want_h, idx_np, 2 * w * v[idx_np])
    np.testing.assert_allclose(g.numpy(), want_g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-12, atol=1e-12)
    if torch_same:
        xt = torch.from_numpy(x).requires_grad_()
        (gt,) = torch.autograd.grad((torch.from_numpy(w) * xt[_index_for(index, "torch")] ** 2).sum(), [xt],
                                    create_graph=True)
        (ht,) = torch.autograd.grad((gt * torch.from_numpy(v)).sum(), [xt])
        np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FORMS))
def test_setitem_writes_what_numpy_writes(name, device):
    index, _ = FORMS[name]
    x = _x()
    value = _weights(x[_index_for(index, "np")].shape)
    if not any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" and i.size > np.unique(i).size
               for i in (index if isinstance(index, tuple) else (index,))):
        want = x.copy()
        want[_index_for(index, "np")] = value
        t = gg.tensor(x, dtype=gg.float64, device=device)
        t[_index_for(index, "gg")] = gg.tensor(value, dtype=gg.float64, device=device)
        np.testing.assert_array_equal(t.numpy(), want)
    t = gg.tensor(x, dtype=gg.float64, device=device)
    t[_index_for(index, "gg")] = 7.0                       # a number broadcasts, as NumPy
    want = x.copy()
    want[_index_for(index, "np")] = 7.0
    np.testing.assert_array_equal(t.numpy(), want)


def test_handed_case_empty_lists():
    x = gg.tensor(_x(), dtype=gg.float64, requires_grad=True)
    assert x[[]].shape == (0, 3, 4) and x[[], []].shape == (0, 4) and x[[[]]].shape == (1, 0, 3, 4)
    x[[]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_zero_d_and_one_d_tensors():
    s = gg.tensor(3.0, requires_grad=True)
    for index, shape in (((), ()), (None, (1,)), (..., ()), (True, (1,)), (False, (0,))):
        assert s[index].shape == shape == np.asarray(3.0)[index].shape
    s[None].sum().backward()
    assert float(s.grad.numpy()) == 1.0
    v = gg.tensor(np.arange(5.0), requires_grad=True)
    (v[[4, 4, -1, 0]] * gg.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [4, 0, 0, 0, 6])       # repeats add


BAD = {
    "int out of range": (5, "out of bounds", "[-n, n)"),
    "negative out of range": (-3, "out of bounds", "[-n, n)"),
    "list out of range": ([0, 7], "out of bounds", "[-n, n)"),
    "tensor out of range": (T([5]), "out of bounds", "int64 array of shape (1,)"),
    "too many indices": ((0, 0, 0, 0), "too many indices", "the tensor has 3 axes"),
    "float": (1.5, "only integers", "valid entries"),
    "string": ("a", "only integers", "valid entries"),
    "float list": ([1.5], "integers or booleans, got float64", ".astype(gg.int64)"),
    "float tensor": (T([0.5]), "integers or booleans, got float", ".astype(gg.int64)"),
    "mask wrong length": (np.array([True, False, True]), "boolean index did not match",
                          "mask must have the sizes"),
    "arrays do not broadcast": (([0, 1], [0, 1, 2]), "broadcast", "broadcast together"),
    "ragged list": ([[0, 1], [0]], "ragged", "rectangular"),
    "list of slices": ([slice(0, 1), 1], "holds int, slice", "use a tuple"),
    "list with None": ([None], "holds NoneType", "use a tuple"),
    "two ellipses": ((..., ...), "single ellipsis", "valid entries"),
}


@pytest.mark.parametrize("name", list(BAD))
@pytest.mark.parametrize("op", ["getitem", "setitem"])
def test_bad_indices_say_op_shape_index_and_what_to_do(name, op):
    index, numpy_says, hint = BAD[name]
    x = gg.tensor(_x())
    with pytest.raises(IndexError) as info:
        if op == "getitem":
            x[_index_for(index, "gg")]
        else:
            x[_index_for(index, "gg")] = 1.0
    msg = str(info.value)
    assert msg.startswith(f"{op}: "), msg
    assert "(2, 3, 4)" in msg and numpy_says in msg and hint in msg, msg


def test_setitem_still_refuses_tensors_that_require_grad():
    x = gg.tensor(_x(), dtype=gg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x[[0, 1]] = 1.0
    with gg.no_grad():
        x[[0, 1], 0] = 1.0
    assert (x.numpy()[:, 0] == 1.0).all()
