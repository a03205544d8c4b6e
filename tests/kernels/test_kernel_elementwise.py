"""gpugrad.kernels.relu / relu_vjp / bias_sigmoid / bias_sigmoid_vjp / bias_relu_vjp against float64
NumPy."""
import warnings

import numpy as np
import pytest

from gpugrad.kernels import bias_relu_vjp, bias_sigmoid, bias_sigmoid_vjp, relu, relu_vjp

DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
# flat sizes 0, 1, less than a block, more than the simulator's 2-block grid (grid-stride loop)
SHAPES = [(0,), (1,), (1, 1), (3, 5, 7), (4096,), (2, 0, 3)]


def sigmoid64(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# --- ReLU

@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_forward_and_vjp(arrays, rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x_before = x.copy()
    xd = arrays.put(x)                      # the kernels must not write their inputs (on the device)
    y = arrays.get(relu(xd))
    dx = arrays.get(relu_vjp(arrays.put(g), xd))
    assert y.shape == shape and y.dtype == dtype and dx.shape == shape and dx.dtype == dtype
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(dx, g * (x > 0))
    np.testing.assert_array_equal(arrays.get(xd), x_before)


def test_relu_nan_and_signed_zero(arrays):
    x = np.array([np.nan, -0.0, 0.0, -np.inf, np.inf, -1, 2], np.float32)
    y = arrays.get(relu(arrays.put(x)))
    np.testing.assert_array_equal(y, [np.nan, 0, 0, 0, np.inf, 0, 2])
    dx = arrays.get(relu_vjp(arrays.put(np.ones_like(x)), arrays.put(x)))
    # PyTorch's threshold_backward: y <= 0 ? 0 : g, so a NaN input passes its gradient through.
    np.testing.assert_array_equal(dx, [1, 0, 0, 0, 1, 0, 1])


def test_relu_writes_into_out(arrays, rng):
    x = rng.standard_normal((4, 3))
    out = arrays.put(np.empty((4, 3)))
    assert relu(arrays.put(x), out=out) is out
    np.testing.assert_array_equal(arrays.get(out), np.maximum(x, 0))


RELU_BAD = {
    "int": (TypeError, lambda p: relu(p(np.arange(4)))),
    "non-contiguous": (ValueError, lambda p: relu(p(np.zeros((4, 4), np.float32))[:, ::2])),
    "vjp-shape": (ValueError, lambda p: relu_vjp(p(np.zeros(3, np.float32)), p(np.zeros(4, np.float32)))),
    "vjp-dtypes": (TypeError, lambda p: relu_vjp(p(np.zeros(3, np.float64)), p(np.zeros(3, np.float32)))),
    "out-shape": (ValueError, lambda p: relu(p(np.zeros(3, np.float32)), out=p(np.zeros(4, np.float32)))),
    "not-array": (TypeError, lambda p: relu([1.0, -1.0])),
}


@pytest.mark.parametrize("case", list(RELU_BAD))
def test_relu_rejects_bad_input_before_launch(arrays, no_launch, case):
    exc, call = RELU_BAD[case]
    with pytest.raises(exc, match="gpugrad.kernels.relu"):
        call(arrays.put)


# --- bias + sigmoid

# (M, N): single element, one partial block, several row steps, several column blocks,
# one column block over many rows (the two-pass db reduction under the simulator)
BS_SHAPES = [(1, 1), (5, 3), (37, 20), (9, 70), (100, 1)]


def bs_tol(dtype):
    return dict(rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", BS_SHAPES, ids=str)
def test_bias_sigmoid_forward(arrays, rng, shape, dtype):
    z = (3 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    h = arrays.get(bias_sigmoid(arrays.put(z), arrays.put(b)))
    assert h.shape == shape and h.dtype == dtype
    # reference on the rounded sum z + b, which is what the kernel sees
    np.testing.assert_allclose(h, sigmoid64(z + b), **bs_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", BS_SHAPES, ids=str)
def test_bias_sigmoid_vjp(arrays, rng, shape, dtype):
    h = rng.uniform(0, 1, shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    dz, db = bias_sigmoid_vjp(arrays.put(g), arrays.put(h))
    dz, db = arrays.get(dz), arrays.get(db)
    ref = g.astype(np.float64) * h * (1 - h)
    assert dz.shape == shape and db.shape == (shape[1],) and dz.dtype == dtype and db.dtype == dtype
    np.testing.assert_allclose(dz, ref, **bs_tol(dtype))
    scale = np.abs(ref).sum(axis=0)
    assert np.all(np.abs(db - ref.sum(axis=0)) <= 2 * shape[0] * np.finfo(dtype).eps * scale + 1e-30)
    # deterministic: no atomics, the same bits every call
    dz2, db2 = bias_sigmoid_vjp(arrays.put(g), arrays.put(h))
    np.testing.assert_array_equal(arrays.get(db2), db)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", BS_SHAPES, ids=str)
def test_bias_relu_vjp(arrays, rng, shape, dtype):
    y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)   # a ReLU output: zeros included
    g = rng.standard_normal(shape).astype(dtype)
    dz, db = bias_relu_vjp(arrays.put(g), arrays.put(y))
    dz, db = arrays.get(dz), arrays.get(db)
    ref = np.where(y > 0, g.astype(np.float64), 0.0)
    assert dz.shape == shape and db.shape == (shape[1],) and dz.dtype == dtype and db.dtype == dtype
    np.testing.assert_array_equal(dz, ref.astype(dtype))
    scale = np.abs(ref).sum(axis=0)
    assert np.all(np.abs(db - ref.sum(axis=0)) <= 2 * shape[0] * np.finfo(dtype).eps * scale + 1e-30)


def test_bias_relu_vjp_rejects_bad_input_before_launch(arrays, no_launch):
    with pytest.raises(ValueError, match="gpugrad.kernels.bias_relu_vjp"):
        bias_relu_vjp(arrays.put(np.zeros((2, 3))), arrays.put(np.zeros((3, 2))))


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_bias_sigmoid_large_inputs_stay_finite(arrays, dtype):
    z = np.array([[-1e4, -700.0, -90.0, -1.0, 0.0, 1.0, 90.0, 700.0, 1e4]], dtype)
    b = np.zeros(z.shape[1], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = arrays.get(bias_sigmoid(arrays.put(z), arrays.put(b)))
    assert np.all(np.isfinite(h)) and np.all((h >= 0) & (h <= 1))
    assert h[0, 0] == 0 and h[0, -1] == 1 and h[0, 4] == 0.5
    np.testing.assert_allclose(h, sigmoid64(z), **bs_tol(dtype))


def test_bias_sigmoid_empty(arrays):
    h = bias_sigmoid(arrays.put(np.zeros((0, 3), np.float32)), arrays.put(np.zeros(3, np.float32)))
    assert h.shape == (0, 3)
    dz, db = bias_sigmoid_vjp(arrays.put(np.zeros((0, 3))), arrays.put(np.zeros((0, 3))))
    assert dz.shape == (0, 3)
    np.testing.assert_array_equal(arrays.get(db), np.zeros(3))


BS_BAD = {
    "b-shape": (ValueError, lambda p: bias_sigmoid(p(np.zeros((2, 3), np.float32)), p(np.zeros(2, np.float32)))),
    "z-1d": (ValueError, lambda p: bias_sigmoid(p(np.zeros(3, np.float32)), p(np.zeros(3, np.float32)))),
    "dtypes": (TypeError, lambda p: bias_sigmoid(p(np.zeros((2, 3), np.float32)), p(np.zeros(3, np.float64)))),
    "non-contiguous": (ValueError, lambda p: bias_sigmoid(p(np.zeros((3, 2), np.float32)).T, p(np.zeros(3, np.float32)))),
    "vjp-shapes": (ValueError, lambda p: bias_sigmoid_vjp(p(np.zeros((2, 3))), p(np.zeros((3, 2))))),
    "vjp-int": (TypeError, lambda p: bias_sigmoid_vjp(p(np.zeros((2, 3), int)), p(np.zeros((2, 3), int)))),
}


@pytest.mark.parametrize("case", list(BS_BAD))
def test_bias_sigmoid_rejects_bad_input_before_launch(arrays, no_launch, case):
    exc, call = BS_BAD[case]
    with pytest.raises(exc, match="gpugrad.kernels.bias_sigmoid"):
        call(arrays.put)


def test_bias_relu_vjp_nan_unit_passes_its_gradient(arrays):
    # PyTorch's threshold_backward (y <= 0 ? 0 : g): a NaN output unit passes g, a dead one gives 0
    # even for an infinite g.
    y = np.array([[np.nan, 0.0, 2.0], [-0.0, np.inf, 1.0]], np.float32)
    g = np.array([[5.0, np.inf, 7.0], [np.nan, 3.0, 4.0]], np.float32)
    dz, db = bias_relu_vjp(arrays.put(g), arrays.put(y))
    np.testing.assert_array_equal(arrays.get(dz), [[5.0, 0.0, 7.0], [0.0, 3.0, 4.0]])
    np.testing.assert_array_equal(arrays.get(db), [5.0, 3.0, 11.0])
