"""gpugrad.kernels.matmul against a float64 NumPy reference, in every layout and tile config."""
import numpy as np
import pytest

from gpugrad.kernels import matmul
from gpugrad.kernels.matmul import DTYPE_CONFIGS, TILE_CONFIGS, choose_config

DTYPES = [np.float32, np.float64]
LAYOUTS = [(False, False), (True, False), (False, True), (True, True)]
LAYOUT_IDS = ["nn", "tn", "nt", "tt"]


def operands(rng, M, N, K, dtype, trans_a, trans_b):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    return a, b


def reference(a, b, trans_a, trans_b, bias=None, relu=False):
    A = (a.T if trans_a else a).astype(np.float64)
    B = (b.T if trans_b else b).astype(np.float64)
    c = A @ B
    bound = np.abs(A) @ np.abs(B)  # forward-error scale of a length-K dot product
    if bias is not None:
        c = c + bias
        bound = bound + np.abs(bias)
    if relu:
        c = np.maximum(c, 0)
    return c, bound


def assert_matmul_close(c, ref, bound, K, dtype):
    assert c.dtype == dtype
    eps = np.finfo(dtype).eps
    err = np.abs(c.astype(np.float64) - ref)
    limit = 2 * (K + 2) * eps * bound + 1e-30
    worst = np.unravel_index(np.argmax(err - limit), err.shape) if err.size else None
    assert np.all(err <= limit), f"max excess at {worst}: |{c[worst]} - {ref[worst]}| > {limit[worst]}"


def tile(dtype, which):
    """(BM, BN, BK) of the large (0) or small (1) tile config for dtype."""
    name = DTYPE_CONFIGS[np.dtype(dtype).name][which]
    return name, TILE_CONFIGS[name][:3]


def shape_cases():
    """(id, dtype -> (M, N, K, config)) covering the edge cases; 1-6 simulated blocks each."""
    def large(d, fm, fn, fk):
        name, (BM, BN, BK) = tile(d, 0)
        return fm(BM), fn(BN), fk(BK), name

    def small(d, fm, fn, fk):
        name, (BM, BN, BK) = tile(d, 1)
        return fm(BM), fn(BN), fk(BK), name

    return {
        "1x1x1": lambda d: (1, 1, 1, None),
        "small-tile-minus-one": lambda d: small(d, lambda t: t - 1, lambda t: t - 1, lambda t: t - 1),
        "small-tile-plus-one": lambda d: small(d, lambda t: t + 1, lambda t: t - 1, lambda t: t + 1),
        "large-tile-pm-one": lambda d: large(d, lambda t: t - 1, lambda t: t + 1, lambda t: 2 * t + 1),
        "large-tile-even": lambda d: large(d, lambda t: t, lambda t: t, lambda t: 2 * t),
        "small-tile-even": lambda d: small(d, lambda t: t, lambda t: t, lambda t: 2 * t),
    }


CASES = shape_cases()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("case", list(CASES))
def test_matmul_matches_numpy(arrays, rng, case, trans, dtype):
    M, N, K, config = CASES[case](dtype)
    a, b = operands(rng, M, N, K, dtype, *trans)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), trans_a=trans[0], trans_b=trans[1], config=config))
    assert c.shape == (M, N)
    assert_matmul_close(c, *reference(a, b, *trans), K, dtype)


@pytest.mark.parametrize("dtype, trans", [(np.float32, t) for t in LAYOUTS] + [(np.float64, (False, False))],
                         ids=[f"f32-{i}" for i in LAYOUT_IDS] + ["f64-nn"])
def test_matmul_spans_several_blocks_each_way(arrays, rng, trans, dtype):
    # 64x64 tiles: 3 blocks down M, 2 across N, 3 K steps with a ragged last one
    M, N, K = 130, 70, 20
    a, b = operands(rng, M, N, K, dtype, *trans)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), trans_a=trans[0], trans_b=trans[1], config="64x64"))
    assert_matmul_close(c, *reference(a, b, *trans), K, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans", [(False, False), (False, True)], ids=["nn", "nt"])
@pytest.mark.parametrize("relu", [False, True], ids=["bias", "bias-relu"])
@pytest.mark.parametrize("shape", [(33, 17, 65), (1, 1, 1)], ids=str)
def test_matmul_bias_relu_epilogue(arrays, rng, shape, relu, trans, dtype):
    M, N, K = shape
    a, b = operands(rng, M, N, K, dtype, *trans)
    bias = rng.standard_normal(N).astype(dtype)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), trans_a=trans[0], trans_b=trans[1],
                          bias=arrays.put(bias), relu=relu))
    assert_matmul_close(c, *reference(a, b, *trans, bias=bias, relu=relu), K, dtype)
    if relu:
        assert (c >= 0).all()


def test_matmul_relu_without_bias(arrays, rng):
    a, b = operands(rng, 5, 7, 3, np.float32, False, False)
    c = arrays.get(matmul(arrays.put(a), arrays.put(b), relu=True))
    assert_matmul_close(c, *reference(a, b, False, False, relu=True), 3, np.float32)


def test_matmul_reads_fortran_order_as_transpose_without_copy(arrays, rng):
    # x.T of a C-contiguous array is F-contiguous: what a backend computing dW = x.T @ g passes
    x, g = rng.standard_normal((9, 5)).astype(np.float32), rng.standard_normal((9, 4)).astype(np.float32)
    dw = arrays.get(matmul(arrays.put(x).T, arrays.put(g)))
    assert_matmul_close(dw, *reference(x, g, True, False), 9, np.float32)


def test_matmul_writes_into_out(arrays, rng):
    a, b = operands(rng, 6, 5, 4, np.float64, False, False)
    out = arrays.put(np.full((6, 5), np.nan))
    res = matmul(arrays.put(a), arrays.put(b), out=out)
    assert res is out
    assert_matmul_close(arrays.get(out), *reference(a, b, False, False), 4, np.float64)


@pytest.mark.parametrize("shape", [(0, 3, 2), (3, 0, 2), (3, 2, 0)], ids=str)
def test_matmul_empty(arrays, shape):
    M, N, K = shape
    bias = np.arange(N, dtype=np.float32) - 1
    c = arrays.get(matmul(arrays.put(np.ones((M, K), np.float32)), arrays.put(np.ones((K, N), np.float32)),
                          bias=arrays.put(bias), relu=True))
    assert c.shape == (M, N)
    np.testing.assert_array_equal(c, np.maximum(np.zeros((M, N)) + bias, 0))


def test_choose_config_uses_small_tiles_when_sms_would_idle():
    assert choose_config(256, 256, "float32", sms=132) == "64x64"        # 4 large blocks
    assert choose_config(2048, 2048, "float32", sms=132) == "128x128"    # 256 large blocks
    assert choose_config(4096, 4096, "float64", sms=132) == "128x64"


# --- validation: every bad input raises a clear error before anything is compiled or launched

def _bad_inputs():
    f32, f64 = np.float32, np.float64
    z = lambda *s, d=f32: np.zeros(s, d)  # noqa: E731
    return {
        "int-dtype": (TypeError, "float32 or all float64", (np.zeros((2, 2), np.int32), z(2, 2)), {}),
        "mixed-dtypes": (TypeError, "float32 or all float64", (z(2, 2), z(2, 2, d=f64)), {}),
        "inner-mismatch": (ValueError, "inner dimensions", (z(2, 3), z(4, 2)), {}),
        "inner-mismatch-trans": (ValueError, "trans_a=True", (z(2, 3), z(3, 2)), {"trans_a": True}),
        "not-2d": (ValueError, "must be 2-D", (z(3), z(3, 2)), {}),
        # sliced after the move to the device (a strided NumPy view would arrive as a copy)
        "non-contiguous": (ValueError, "C-contiguous", (z(4, 6), z(3, 2)), {}),
        "bias-shape": (ValueError, "bias must have shape (2,)", (z(2, 3), z(3, 2)), {"bias": z(3)}),
        "bias-dtype": (TypeError, "float32 or all float64", (z(2, 3), z(3, 2)), {"bias": z(2, d=f64)}),
        "out-shape": (ValueError, "out has shape", (z(2, 3), z(3, 2)), {"out": z(3, 2)}),
        "out-dtype": (ValueError, "out has shape", (z(2, 3), z(3, 2)), {"out": z(2, 2, d=f64)}),
        "bad-config": (ValueError, "config", (z(2, 3), z(3, 2)), {"config": "7x7"}),
        "list": (TypeError, "expected a", ([[1.0]], z(1, 1)), {}),
    }


BAD = _bad_inputs()


@pytest.mark.parametrize("case", list(BAD))
def test_matmul_rejects_bad_input_before_launch(arrays, no_launch, case):
    exc, msg, args, kwargs = BAD[case]
    args = [arrays.put(x) if isinstance(x, np.ndarray) else x for x in args]
    kwargs = {k: arrays.put(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    if case == "non-contiguous":
        args[0] = args[0][:, ::2]
    with pytest.raises(exc, match="matmul") as info:
        matmul(*args, **kwargs)
    assert msg in str(info.value)


def test_matmul_rejects_host_array_on_gpu(monkeypatch, no_launch):
    from gpugrad.kernels import _launch
    monkeypatch.setattr(_launch, "simulator_enabled", lambda: False)
    with pytest.raises(TypeError, match=r"matmul: got a NumPy array .*cupy\.asarray"):
        matmul(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
