"""PyTorch habits a reviewer's scripts met (issue 12 follow-up): ``gg.device(...)``, f-strings of
tensors, ``copy.deepcopy`` of tensors/models/state_dicts, std/norm gradients at their edges, and
the common API that was missing. Each checked against PyTorch where it is installed."""
from __future__ import annotations

import copy
import importlib
import pickle

import numpy as np
import pytest

import gpugrad as gg


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for these conventions")


# -- 1. gg.device is torch.device -----------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [(("cpu",), "cpu"), (("cuda",), "cuda:0"), (("cuda:0",), "cuda:0"),
                                            (("cuda", 0), "cuda:0"), ((0,), "cuda:0"), (("cpu", 0), "cpu")])
def test_device_is_callable_with_torch_spellings(args, expected):
    d = gg.device(*args)
    assert isinstance(d, gg.Device) and str(d) == expected
    assert isinstance(d, gg.device)            # torch's isinstance(x, torch.device) idiom
    assert not isinstance("cpu", gg.device)


def test_device_result_is_accepted_everywhere_and_the_module_still_imports():
    dev = gg.device("cuda" if gg.cuda.is_available() else "cpu")   # the line that failed
    assert gg.tensor([1.0], device=dev).device == dev
    assert gg.zeros(2).to(dev).device == dev
    model = gg.nn.Linear(2, 3).to(dev)
    assert model.weight.device == dev
    mod = importlib.import_module("gpugrad.device")
    assert mod.as_device("cpu") is gg.device("cpu")
    from gpugrad.device import Device, as_device  # noqa: F401
    assert copy.deepcopy(dev) is dev and pickle.loads(pickle.dumps(dev)) == dev


@pytest.mark.parametrize("args, error", [(("tpu",), ValueError), (("cuda:0", 1), ValueError),
                                         (("cuda", -1), ValueError), ((1.5,), TypeError)])
def test_device_bad_input_raises_naming_it(args, error):
    with pytest.raises(error, match="device"):
        gg.device(*args)


# -- 2. f"{loss:.4f}" -------------------------------------------------------------------------------
def test_format_of_tensors_as_pytorch():
    torch = _torch()
    for spec in (".4f", "", "8.2e", ">10"):
        assert format(gg.tensor(1.234567), spec) == format(torch.tensor(1.234567), spec)
    assert format(gg.tensor(3, dtype=gg.long), "03d") == format(torch.tensor(3), "03d")
    assert f"{gg.tensor([1.0, 2.0])}" == str(gg.tensor([1.0, 2.0]))
    for shape in ((1,), (2,)):   # PyTorch formats only 0-d tensors with a spec
        with pytest.raises(TypeError):
            format(torch.zeros(shape), ".2f")
        with pytest.raises(TypeError, match=r"item\(\)"):
            format(gg.zeros(*shape), ".2f")


# -- 3. copy.deepcopy -------------------------------------------------------------------------------
def test_deepcopy_of_a_leaf_copies_data_grad_and_requires_grad():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and y.grad is not None
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    with gg.no_grad():
        x.add_(10.0)
        x.grad.zero_()
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])      # own storage
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    shared = {"a": x, "b": x}
    twin = copy.deepcopy(shared)
    assert twin["a"] is twin["b"]                                # memo: one copy per tensor


def test_deepcopy_of_a_non_leaf_raises_as_pytorch():
    torch = _torch()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(torch.ones(2, requires_grad=True) * 2)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(gg.ones(2, requires_grad=True) * 2)


def test_deepcopy_of_a_model_and_its_state_dict_snapshots_the_best_model():
    gg.manual_seed(0)
    model = gg.nn.Sequential(gg.nn.Linear(3, 4), gg.nn.BatchNorm1d(4), gg.nn.ReLU(), gg.nn.Linear(4, 2))
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    x = gg.randn(8, 3)
    model(x).sum().backward()
    best, best_sd = copy.deepcopy(model), copy.deepcopy(model.state_dict())
    assert isinstance(best[0].weight, gg.nn.Parameter) and best[0].weight.grad is not None
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt.step()
    for k, v in best.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
        np.testing.assert_array_equal(best_sd[k].numpy(), before[k])
    assert not np.array_equal(model[0].weight.numpy(), before["0.weight"])
    model.load_state_dict(best_sd)
    best.eval(); model.eval()
    np.testing.assert_array_equal(model(x).numpy(), best(x).numpy())
    best(x).sum().backward()                                     # the copy trains on its own
