"""Bad input gets a clear error naming the op, the shapes or devices, and what to do."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import backends
from gpugrad.backends.cpu import CpuBackend


@pytest.mark.parametrize("fn,pattern", [
    (lambda: gg.ones(3, 4) @ gg.ones(5, 6), r"matmul.*\(3, 4\).*\(5, 6\)"),
    (lambda: gg.ones(3) @ gg.ones(4), r"matmul.*\(3,\).*\(4,\)"),
    (lambda: gg.ones(3, 4) + gg.ones(5), r"add.*\(3, 4\).*\(5,\)"),
    (lambda: gg.ones(2, 3) * gg.ones(3, 2), r"mul.*\(2, 3\).*\(3, 2\)"),
    (lambda: gg.ones(3, 4).reshape(5, 2), r"reshape.*\(3, 4\).*\(5, 2\)"),
    (lambda: gg.concatenate([gg.ones(2, 3), gg.ones(3, 4)], axis=0), r"concatenate.*\(2, 3\).*\(3, 4\)"),
    (lambda: gg.stack([gg.ones(2), gg.ones(3)]), r"stack.*\(2,\).*\(3,\)"),
    (lambda: gg.broadcast_to(gg.ones(3), (4, 2)), r"broadcast_to.*\(3,\).*\(4, 2\)"),
    (lambda: F.linear(gg.ones(2, 3), gg.ones(4, 5)), r"linear.*\(2, 3\).*\(4, 5\)"),
    (lambda: F.bias_sigmoid(gg.ones(2, 3), gg.ones(4)), r"bias_sigmoid.*\(2, 3\).*\(4,\)"),
    (lambda: F.mse_loss(gg.ones(2, 3), gg.ones(3, 2)), r"mse_loss.*\(2, 3\).*\(3, 2\)"),
    (lambda: gg.ones(2, 3).sum(axis=2), r"sum: axis 2 is out of bounds for array of dimension 2"),
])
def test_shape_mismatch_is_a_value_error_naming_op_and_shapes(fn, pattern):
    with pytest.raises(ValueError, match=pattern):
        fn()


@pytest.fixture
def second_device(monkeypatch):
    """A second device ("cuda:7") served by a NumPy backend, to test mixing devices without a GPU."""
    monkeypatch.setitem(backends._backends, "cuda:7", CpuBackend())
    return "cuda:7"


def test_mixing_devices_names_both(second_device):
    a = gg.ones(2, device="cpu")
    b = gg.ones(2, device=second_device)
    with pytest.raises(RuntimeError, match=r"different devices.*cpu.*cuda:7"):
        a + b
    with pytest.raises(RuntimeError, match=r"different devices.*cpu.*cuda:7"):
        gg.concatenate([a, b])


def test_backward_on_non_scalar_without_grad():
    y = gg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\).*grad="):
        y.backward()


def test_backward_with_grad_of_wrong_shape():
    y = gg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"grad has shape \(3, 2\).*\(2, 3\)"):
        y.backward(gg.ones(3, 2))


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.ones(2).sum().backward()


@pytest.mark.parametrize("data", [[1, 2], [True, False]])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        gg.tensor(data, requires_grad=True)


def test_cross_entropy_target_errors():
    logits = gg.zeros(3, 4, requires_grad=True)
    with pytest.raises(ValueError, match=r"out of range.*\[0, 4\].*4 classes"):
        F.cross_entropy(logits, [0, 1, 4])
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(logits, [0, -1, 2])
    with pytest.raises(TypeError, match="integer class indices.*float"):
        F.cross_entropy(logits, gg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"targets shape \(2,\).*\(3, 4\)"):
        F.cross_entropy(logits, [0, 1])


def test_gpu_cross_entropy_pick_gives_nan_for_a_bad_target_without_copying(monkeypatch):
    # On a GPU (array module not NumPy) targets are not range-checked on the host: a bad one gives
    # a NaN row. The final cast to x's dtype must not copy the result on every step. NumPy stands
    # in for CuPy; the spy records the array where() returns.
    import types

    from gpugrad.ops import activation
    made = []

    def where(*args):
        made.append(np.where(*args))
        return made[-1]

    xp = types.SimpleNamespace(arange=np.arange, where=where, clip=np.clip, nan=np.nan)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = activation._take_along_axis_fwd(types.SimpleNamespace(xp=xp), x, np.array([2, 5]))
    np.testing.assert_array_equal(out, [2.0, np.nan])
    assert out.dtype == np.float32 and out is made[0]


def test_bad_dtype_and_device_strings():
    with pytest.raises(TypeError, match="unknown dtype"):
        gg.zeros(2, dtype="floaty")
    with pytest.raises(ValueError, match="unknown device"):
        gg.zeros(2, device="tpu")


def test_item_of_many_elements_and_truth_value():
    with pytest.raises(ValueError, match="one-element"):
        gg.ones(3).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(gg.ones(3) > 0)


def test_non_tensor_array_operand_is_refused():
    with pytest.raises(TypeError, match="gg.tensor"):
        gg.add(gg.ones(2), [1.0, 2.0])


def test_numpy_array_on_the_left_defers_to_tensor_and_is_refused_clearly():
    # NumPy must not broadcast over the Tensor as an object array; the Tensor's reflected
    # operator runs and asks for an explicit conversion (no hidden host->device copies).
    with pytest.raises(TypeError, match="gg.tensor"):
        np.ones(2) + gg.ones(2)
