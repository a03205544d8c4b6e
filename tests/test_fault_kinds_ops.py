"""Issue 10, fault kinds 1, 5, 6 and 7: one test per reported case, plus the rest of each kind.

1: derivatives at the boundary of their formula (every order, Python-scalar operands);
5: zero-size inputs follow NumPy (or raise naming op, shape and axis);
6: every axis argument validated with NumPy's semantics and spellings;
7: one dtype rule (integer/bool -> default float in floating ops; casts to int/bool drop grad;
   float16 wherever NumPy supports it, random ops included).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad as gg


def _grad(f, x, order=1):
    """d^order/dx^order of sum(f(x)), each order through create_graph (a gradient that no longer
    depends on x, a constant, has zero derivatives: PyTorch's grad would need allow_unused there)."""
    y = f(x).sum()
    g = None
    for k in range(order):
        if not y.requires_grad:
            return np.zeros(x.shape)
        (g,) = gg.grad(y, x, create_graph=True)
        y = g.sum()
    return g.numpy()


# -- kind 1: boundaries of derivative formulas ----------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3])
def test_x_pow_zero_has_zero_gradient_at_every_order(order):
    x = gg.tensor([0., 2., -1.], requires_grad=True)
    np.testing.assert_array_equal(_grad(lambda t: t ** 0, x, order), [0, 0, 0])


@pytest.mark.parametrize("order", [1, 2])
def test_tensor_exponent_zero_has_zero_gradient(order):
    x = gg.tensor([0., 2.], requires_grad=True)
    np.testing.assert_array_equal(_grad(lambda t: t ** gg.tensor(0.), x, order), [0, 0])


def test_backward_of_x_pow_zero_issue_case():
    x = gg.tensor([0., 2.], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_scalar_base_pow_is_differentiable_at_every_order(order):
    x = gg.tensor([0., 1.5, -2.], dtype="float64", requires_grad=True)
    want = np.log(2) ** order * 2 ** x.numpy()
    np.testing.assert_allclose(_grad(lambda t: 2 ** t, x, order), want, rtol=1e-12)


def test_exponent_gradient_at_zero_base_is_zero_for_nonnegative_exponent():
    x = gg.tensor([0., 0.], requires_grad=True)
    y = gg.tensor([0., 2.], requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0])


@pytest.mark.parametrize("fn, x, want", [
    (lambda t: t ** 2, 0.0, 0.0),
    (lambda t: t ** 1, 0.0, 1.0),
    (lambda t: gg.abs(t), 0.0, 0.0),
    (lambda t: gg.relu(t), 0.0, 0.0),
    (lambda t: gg.clip(t, 0.0, 1.0), 0.0, 1.0),
    (lambda t: gg.maximum(t, 0.0), 0.0, 0.5),
    (lambda t: gg.minimum(0.0, t), 0.0, 0.5),
    (lambda t: 3.0 / t, 1.0, -3.0),
    (lambda t: gg.where(t > 0, t, 2.0), 0.0, 0.0),
])
def test_boundary_gradients_with_python_scalar_operands_at_two_orders(fn, x, want):
    t = gg.tensor([x], dtype="float64", requires_grad=True)
    np.testing.assert_allclose(_grad(fn, t, 1), [want])
    second = _grad(fn, t, 2)
    assert np.all(np.isfinite(second)), second


# -- kind 5: zero-size inputs ---------------------------------------------------------------------
def test_logsumexp_of_empty_is_minus_inf_with_zero_size_gradient():
    x = gg.zeros(0, requires_grad=True)
    y = gg.logsumexp(x)
    assert y.shape == () and y.item() == -np.inf
    y.backward()
    assert x.grad.shape == (0,)


def test_softmax_of_empty_axis_keeps_shape():
    x = gg.zeros(0, 3, requires_grad=True)
    for fn in (gg.softmax, gg.log_softmax):
        y = fn(x, axis=0)
        assert y.shape == (0, 3)
        y.sum().backward()
        assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_over_nonempty_axis_of_empty_tensor(name):
    x = gg.zeros(0, 3, requires_grad=True)
    y = getattr(x, name)(axis=1)
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_over_empty_axis_raises_naming_op_shape_axis(name):
    with pytest.raises(ValueError, match=rf"{name}.*axis 0.*\(0, 3\)"):
        getattr(gg.zeros(0, 3), name)(axis=0)
    with pytest.raises(ValueError, match=rf"{name}.*\(0, 3\)"):
        getattr(gg.zeros(0, 3), name)()


@pytest.mark.parametrize("name, want", [("sum", 0.0), ("mean", np.nan)])
def test_sum_and_mean_of_empty_follow_numpy(name, want):
    x = gg.zeros(0, 2, requires_grad=True)
    with np.errstate(all="ignore"):
        y = getattr(x, name)()
    np.testing.assert_equal(y.item(), want)
    y.backward()
    assert x.grad.shape == (0, 2)


def test_error_of_one_input_op_is_not_called_a_broadcasting_error():
    from gpugrad.op import defop

    def forward(b, x):
        raise ValueError("the op's own complaint")

    with pytest.raises(ValueError) as info:
        defop("one_input", forward)(gg.zeros(2))
    assert "cannot combine" not in str(info.value) and "the op's own complaint" in str(info.value)
    assert "one_input" in str(info.value)


# -- kind 6: axis arguments -----------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: x.transpose((0, 3)),
    lambda x: x.transpose((1, 2)),
    lambda x: x.swapaxes(0, 5),
    lambda x: x.swapaxes(-3, 0),
    lambda x: x.sum(axis=2),
    lambda x: x.mean(axis=(0, -3)),
    lambda x: x.max(axis=2),
    lambda x: x.min(axis=-3),
    lambda x: gg.logsumexp(x, axis=2),
    lambda x: gg.softmax(x, axis=2),
    lambda x: gg.log_softmax(x, axis=-3),
    lambda x: x.squeeze(2),
    lambda x: x.unsqueeze(3),
    lambda x: x.unsqueeze(-4),
    lambda x: gg.concatenate([x, x], axis=2),
    lambda x: gg.stack([x, x], axis=3),
    lambda x: x.flatten(2),
])
def test_bad_axis_raises_axis_error_naming_the_op(call):
    x = gg.zeros(2, 3)
    with pytest.raises(np.exceptions.AxisError):
        call(x)


@pytest.mark.parametrize("axes", [(0, 0), (0,), (0, 1, 2)])
def test_transpose_needs_a_permutation(axes):
    with pytest.raises(ValueError, match="transpose"):
        gg.zeros(2, 3).transpose(axes)


def test_float_axis_is_a_type_error_not_truncated():
    with pytest.raises(TypeError):
        gg.zeros(2, 3).sum(axis=1.5)


def test_transpose_accepts_numpy_varargs_and_negative_axes():
    x = gg.zeros(2, 3, 4)
    assert x.transpose(2, 0, 1).shape == (4, 2, 3)
    assert x.transpose((-1, 0, 1)).shape == (4, 2, 3)
    assert x.transpose().shape == (4, 3, 2)
    assert x.swapaxes(-1, 0).shape == (4, 3, 2)
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert gg.expand_dims(x, (0, -1)).shape == (1, 2, 3, 4, 1)


def test_axis_messages_name_op_axis_and_ndim():
    with pytest.raises(np.exceptions.AxisError, match=r"transpose.*axis 3.*dimension 2"):
        gg.zeros(2, 3).transpose((0, 3))
    with pytest.raises(np.exceptions.AxisError, match=r"swapaxes.*axis 5.*dimension 2"):
        gg.zeros(2, 3).swapaxes(0, 5)


# -- kind 7: dtypes -------------------------------------------------------------------------------
FLOATING = {
    "exp": gg.exp, "log": gg.log, "sqrt": gg.sqrt, "sin": gg.sin, "cos": gg.cos, "tanh": gg.tanh,
    "sigmoid": gg.sigmoid, "softmax": gg.softmax, "log_softmax": gg.log_softmax,
    "logsumexp": gg.logsumexp, "mean": gg.mean, "rdiv": lambda t: 1 / t, "div": lambda t: t / t,
    "pow_half": lambda t: t ** 0.5, "rpow": lambda t: 2.0 ** t,
    "bias_sigmoid": lambda t: gg.bias_sigmoid(t.reshape(1, -1), t),
}


@pytest.mark.parametrize("name", sorted(FLOATING))
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_floating_ops_promote_int_and_bool_to_default_float(name, dtype):
    x = gg.tensor(np.array([1, 2, 3]).astype(dtype))
    with np.errstate(all="ignore"):
        y = FLOATING[name](x)
    assert y.dtype == gg.get_default_dtype()


@pytest.mark.parametrize("dtype", ["int64", "int8", "bool", "uint8"])
def test_cast_to_discrete_dtype_drops_requires_grad(dtype):
    x = gg.tensor([1.5, 2.0], requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == np.dtype(dtype) and not y.requires_grad
    z = (x * 2).astype("float64")   # float to float stays differentiable
    assert z.requires_grad


@pytest.mark.parametrize("make", [
    lambda: gg.randn(3, 4, dtype="float16"),
    lambda: gg.rand(3, 4, dtype="float16"),
    lambda: gg.uniform(-1, 1, (3, 4), dtype="float16"),
    lambda: gg.nn.Dropout(0.5)(gg.ones(3, 4, dtype="float16")),
])
def test_random_ops_in_float16(make):
    gg.manual_seed(0)
    y = make()
    assert y.dtype == np.float16 and y.shape == (3, 4) and np.all(np.isfinite(y.numpy()))


def test_float16_ops_keep_float16_forward_and_backward():
    x = gg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype="float16", requires_grad=True)
    y = (gg.softmax(x, axis=1) * gg.sigmoid(x) + gg.tanh(x) ** 2 - gg.logsumexp(x, axis=0)).mean()
    assert y.dtype == np.float16
    y.backward()
    assert x.grad.dtype == np.float16 and np.all(np.isfinite(x.grad.numpy()))


# -- faults the PyTorch conformance suite found beyond the issue's cases ----------------------------
@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
                                lambda a, b: a / b, gg.maximum, gg.minimum])
def test_integer_mixed_with_float16_keeps_float16(op):
    i, h = gg.tensor([1, 2], dtype="int64"), gg.tensor([0.5, 4.0], dtype="float16")
    assert op(i, h).dtype == np.float16 and op(h, i).dtype == np.float16   # NumPy: float64 -> float32


def test_pow_gradient_of_float16_base_is_taken_in_the_result_dtype():
    x = gg.tensor(0.5, dtype="float16", requires_grad=True)
    y = gg.tensor(1.0, dtype="float32", requires_grad=True)
    (x ** y).backward()
    # d/dy = 0.5 * log(0.5) in float32; log taken in float16 was off by 3e-4 relative.
    np.testing.assert_allclose(float(np.asarray(y.grad._data)), 0.5 * np.log(0.5), rtol=1e-6)


def test_clip_with_one_bound_keeps_integer_dtype_and_passes_gradient_at_the_bound():
    assert gg.clip(gg.tensor([-2, 0, 3]), min=0).dtype == np.int64
    assert gg.clip(gg.tensor([-2, 0, 3]), max=1).numpy().tolist() == [-2, 0, 1]
    x = gg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    gg.clip(x, min=0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1])


def test_integer_to_negative_integer_power_raises_even_when_empty():
    for shape in [(2,), (0,)]:
        with pytest.raises(ValueError, match="pow: integers to negative integer powers"):
            gg.zeros(*shape, dtype="int64") ** -1


@pytest.mark.parametrize("lead", [(3,), (2, 3), (0,), (2, 0)])
def test_linear_and_matmul_with_zero_inner_size(lead):
    x = gg.zeros(*lead, 0, dtype="float64", requires_grad=True)
    w = gg.zeros(4, 0, dtype="float64", requires_grad=True)
    b = gg.ones(4, dtype="float64", requires_grad=True)
    y = gg.nn.functional.linear(x, w, b)
    assert y.shape == lead + (4,) and np.all(y.numpy() == 1)
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    assert (x @ gg.zeros(0, 5, dtype="float64")).shape == lead + (5,)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_constant_power_is_numpys_power_in_every_dtype(dtype):
    # x ** 0.5 went through NumPy's `**`, whose sqrt shortcut gives NaN for (-inf) ** 0.5 in float16
    # where power(x, float16(0.5)) gives IEEE pow's +inf: the reference the conformance table names.
    a = np.array([-np.inf, -0.0, 0.0, 2.25, np.inf], dtype=dtype)
    for p in (0.5, -0.5, 2.0, 3):
        with np.errstate(divide="ignore", invalid="ignore"):   # the reference: IEEE pow at 0 and -inf
            want = np.power(a, a.dtype.type(p))
        with warnings.catch_warnings():
            warnings.simplefilter("error")                      # gpugrad's answer comes without a warning
            got = (gg.tensor(a, dtype=dtype) ** p).numpy()
        assert got.dtype == a.dtype
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got, want)
