"""The kernel variants issue 22 added, in the simulator at ragged shapes: split-K matmul (every
layout, both dtypes, with the bias/ReLU epilogue in the reduction), the float64 small tile, the
elementwise kernels' whole 4-element trips plus their partial last trip, and outputs that are
(exactly) an input."""
import importlib

import numpy as np
import pytest

from gpugrad.kernels import bias_relu_vjp, bias_sigmoid, bias_sigmoid_vjp, matmul, relu, relu_vjp
matmul_module = importlib.import_module("gpugrad.kernels.matmul")   # the package attribute is the function

DTYPES = [np.float32, np.float64]
LAYOUTS = [(False, False), (True, False), (False, True), (True, True)]
LAYOUT_IDS = ["nn", "tn", "nt", "tt"]


def operands(rng, M, N, K, dtype, trans_a, trans_b):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    return a, b


def check_close(c, a, b, trans, K, dtype, bias=None, relu=False):
    A = (a.T if trans[0] else a).astype(np.float64)
    B = (b.T if trans[1] else b).astype(np.float64)
    ref, bound = A @ B, np.abs(A) @ np.abs(B)
    if bias is not None:
        ref, bound = ref + bias, bound + np.abs(bias)
    if relu:
        ref = np.maximum(ref, 0)
    limit = 2 * (K + 2) * np.finfo(dtype).eps * bound + 1e-30
    assert c.dtype == dtype and np.all(np.abs(c - ref) <= limit)


# (M, N, K, splits): ragged in every dimension; K slices of 2, 1 and a partial last one
SPLIT_CASES = [(33, 17, 65, 3), (70, 9, 40, 2), (1, 1, 17, 2)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("case", SPLIT_CASES, ids=str)
def test_split_k_matches_numpy_and_is_deterministic(arrays, rng, case, trans, dtype):
    M, N, K, splits = case
    a, b = operands(rng, M, N, K, dtype, *trans)
    bias = rng.standard_normal(N).astype(dtype)
    args = (arrays.put(a), arrays.put(b))
    kw = dict(trans_a=trans[0], trans_b=trans[1], bias=arrays.put(bias), relu=True, config="64x64",
              splits=splits)
    c = arrays.get(matmul(*args, **kw))
    check_close(c, a, b, trans, K, dtype, bias=bias, relu=True)
    # the slices are summed in a fixed order: the same bits on every call
    np.testing.assert_array_equal(arrays.get(matmul(*args, **kw)), c)


def test_split_k_even_shapes(arrays, rng):
    # tile multiples in M, N and K: the guard-free variant, 2 slices of 2 K tiles
    a, b = operands(rng, 64, 64, 64, np.float32, False, True)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), trans_b=True, config="64x64", splits=2))
    check_close(c, a, b, (False, True), 64, np.float32)


# The GEMMs of a 784-256-256-10 MLP at batch 128: forward x @ W^T (NT), and the VJPs
# dX = G @ W (NN) and dW = G^T @ X (TN).
MLP = [(784, 256), (256, 256), (256, 10)]


def mlp_gemms(batch=128):
    for fan_in, fan_out in MLP:
        yield "forward", batch, fan_out, fan_in
        yield "dX", batch, fan_in, fan_out
        yield "dW", fan_out, fan_in, batch


@pytest.mark.parametrize("gemm", list(mlp_gemms()), ids=lambda g: f"{g[0]}-{g[1]}x{g[2]}x{g[3]}")
def test_small_mlp_gemms_fill_a_wave_where_k_allows(gemm):
    _, M, N, K = gemm
    plan = matmul_module.splitk_plan(M, N, K, "float32", sms=132)
    BK = matmul_module.TILE_CONFIGS[plan["config"]][2]
    ktiles = -(-K // BK)
    most = min(matmul_module.MAX_SPLITS, ktiles)
    # a wave of 132 blocks, unless even the most K slices allowed can't make one
    assert plan["blocks"] >= 132 or plan["splits"] >= -(-ktiles // -(-ktiles // most)), plan
    assert plan["splits"] * plan["k_per_split"] >= K > (plan["splits"] - 1) * plan["k_per_split"]


@pytest.mark.parametrize("trans", LAYOUTS, ids=LAYOUT_IDS)
def test_float64_small_tile_spans_blocks(arrays, rng, trans):
    M, N, K = 70, 65, 33     # 2 x 2 blocks of the float64 64x64 tile (128 threads), ragged K tail
    a, b = operands(rng, M, N, K, np.float64, *trans)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), trans_a=trans[0], trans_b=trans[1],
                          config="64x64", splits=1))
    check_close(c, a, b, trans, K, np.float64)


# --- elementwise: whole trips of 4 elements per thread plus a partial last trip

# 2 simulated blocks x 256 threads x 4 = 2048 elements per grid trip
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [3000, 2048 + 256 * 3 + 1], ids=str)
def test_relu_whole_and_partial_trips(arrays, rng, n, dtype):
    x = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    np.testing.assert_array_equal(arrays.get(relu(arrays.put(x))), np.maximum(x, 0))
    np.testing.assert_array_equal(arrays.get(relu_vjp(arrays.put(g), arrays.put(x))), g * (x > 0))


def test_relu_out_may_be_its_input(arrays, rng):
    # every element is read before it is written, by the thread that writes it
    x = rng.standard_normal(3000).astype(np.float32)
    g = rng.standard_normal(3000).astype(np.float32)
    xd, gd = arrays.put(x.copy()), arrays.put(g.copy())
    assert relu_vjp(gd, xd, out=gd) is gd
    np.testing.assert_array_equal(arrays.get(gd), g * (x > 0))
    assert relu(xd, out=xd) is xd
    np.testing.assert_array_equal(arrays.get(xd), np.maximum(x, 0))


# (M, N): whole 4-row trips and a partial one, in one column block (100, 7) and in two (70, 33)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(100, 7), (70, 33)], ids=str)
def test_bias_activation_whole_and_partial_trips(arrays, rng, shape, dtype):
    z = (3 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    eps = np.finfo(dtype).eps
    h = arrays.get(bias_sigmoid(arrays.put(z), arrays.put(b)))
    x = (z + b).astype(np.float64)
    np.testing.assert_allclose(h, np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                                           np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))), rtol=4 * eps, atol=0)
    dz, db = (arrays.get(r) for r in bias_sigmoid_vjp(arrays.put(g), arrays.put(h)))
    ref = g.astype(np.float64) * h * (1 - h)
    np.testing.assert_allclose(dz, ref, rtol=4 * eps, atol=4 * eps)
    assert np.all(np.abs(db - ref.sum(0)) <= 2 * shape[0] * eps * np.abs(ref).sum(0) + 1e-30)
    y = np.maximum(z, 0)
    dz, db = (arrays.get(r) for r in bias_relu_vjp(arrays.put(g), arrays.put(y)))
    np.testing.assert_array_equal(dz, np.where(y > 0, g, 0))
