"""PyTorch habits around files and data (issue 25, items 1 and 7): gg.save/gg.load with a file object
(io.BytesIO), PyTorch's callable map_location, a file written by torch.save named as such with the
way across, and WeightedRandomSampler."""
from __future__ import annotations

import io

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.serialization import CheckpointError

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="writes real torch.save files")


def _state():
    gg.manual_seed(0)
    model = gg.nn.Sequential(gg.nn.Linear(3, 4), gg.nn.ReLU(), gg.nn.Linear(4, 2))
    return {"model": model.state_dict(), "epoch": 3, "loss": gg.tensor(0.5), "w": gg.ones(2, requires_grad=True)}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k].numpy(), b["model"][k].numpy())
    assert b["epoch"] == 3 and b["loss"].item() == 0.5 and b["w"].requires_grad


# -- file objects ----------------------------------------------------------------------------------
def test_save_and_load_through_a_bytesio():
    buf = io.BytesIO()
    gg.save(_state(), buf)
    assert buf.tell() > 0
    buf.seek(0)
    _same(_state(), gg.load(buf))


def test_save_into_an_open_file_reads_back_by_path_and_by_file(tmp_path):
    with open(tmp_path / "c.npz", "wb") as f:
        gg.save(_state(), f)
    _same(_state(), gg.load(tmp_path / "c.npz"))
    with open(tmp_path / "c.npz", "rb") as f:
        _same(_state(), gg.load(f))


def test_a_stream_is_read_from_its_position():
    buf = io.BytesIO()
    buf.write(b"header")
    gg.save({"x": gg.arange(3)}, buf)
    buf.seek(6)
    assert gg.load(buf)["x"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("stream, message", [
    (io.BytesIO(b"not a checkpoint"), "gg.load: the stream <_io.BytesIO .* is not a readable gpugrad checkpoint"),
    (io.BytesIO(b""), "is not a readable gpugrad checkpoint"),
])
def test_a_bad_stream_is_named_in_the_error(stream, message):
    with pytest.raises(CheckpointError, match=message):
        gg.load(stream)


def test_text_streams_are_refused():
    with pytest.raises(TypeError, match="gg.save: .* is a text stream; pass a binary one"):
        gg.save({"x": 1}, io.StringIO())
    with pytest.raises(TypeError, match="gg.load: .* returned str from read\\(\\); pass a binary stream"):
        gg.load(io.StringIO("abc"))


# -- PyTorch's callable map_location -----------------------------------------------------------------
def test_callable_map_location_gets_each_tensor_on_the_cpu_and_its_saved_device(tmp_path):
    gg.save(_state(), tmp_path / "c.npz")
    seen = []

    def keep(storage, loc):
        seen.append((storage.device, loc))
        return storage
    back = gg.load(tmp_path / "c.npz", map_location=keep)
    _same(_state(), back)
    assert len(seen) == 6 and all(d == "cpu" and loc == "cpu" for d, loc in seen)


def test_callable_map_location_returning_none_keeps_the_saved_device(tmp_path):
    gg.save(_state(), tmp_path / "c.npz")
    back = gg.load(tmp_path / "c.npz", map_location=lambda s, loc: None)
    _same(_state(), back)


def test_callable_map_location_may_replace_the_tensor(tmp_path):
    gg.save({"w": gg.ones(2)}, tmp_path / "c.npz")
    back = gg.load(tmp_path / "c.npz", map_location=lambda s, loc: s * 2)
    assert back["w"].tolist() == [2.0, 2.0]


@pytest.mark.parametrize("bad, message", [
    (lambda s, loc: "cpu", "map_location returned a str for a tensor saved on cpu; it must return a Tensor"),
])
def test_callable_map_location_must_return_a_tensor_or_none(tmp_path, bad, message):
    gg.save({"w": gg.ones(2)}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match=message):
        gg.load(tmp_path / "c.npz", map_location=bad)


def test_a_map_location_of_the_wrong_kind_says_which_kinds_work(tmp_path):
    gg.save({"w": gg.ones(2)}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="map_location must be a device .* a dict .* or a function"):
        gg.load(tmp_path / "c.npz", map_location=3)


# -- files of the other library: the way across is named ---------------------------------------------
@needs_torch
@pytest.mark.parametrize("legacy", [False, True])
def test_loading_a_torch_save_file_says_what_to_do(tmp_path, legacy):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointError) as err:
        gg.load(path)
    msg = str(err.value)
    assert "is not a gpugrad checkpoint: it was written by torch.save" in msg and "never unpickles" in msg
    assert "safetensors.torch.save_file" in msg and "gg.safetensors.load_file" in msg


@needs_torch
def test_the_way_across_named_in_the_message_works(tmp_path):
    """What gg.load's message tells a user to do, done: torch -> safetensors -> gpugrad, and back."""
    st = pytest.importorskip("safetensors.torch", reason="the way across is a safetensors file")
    torch.manual_seed(0)
    model_t = torch.nn.Linear(3, 2)
    torch.save(model_t.state_dict(), tmp_path / "model.pt")
    st.save_file(torch.load(tmp_path / "model.pt"), str(tmp_path / "model.safetensors"))
    model_g = gg.nn.Linear(3, 2)
    model_g.load_state_dict(gg.safetensors.load_file(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(model_g.weight.numpy(), model_t.weight.detach().numpy())
    gg.safetensors.save_file(model_g.state_dict(), tmp_path / "back.safetensors")
    back = st.load_file(str(tmp_path / "back.safetensors"))
    assert torch.equal(back["bias"], model_t.bias.detach())


def test_a_gpugrad_file_is_still_an_npz_whatever_its_name(tmp_path):
    gg.save({"w": gg.ones(2)}, tmp_path / "model.pt")
    assert gg.load(tmp_path / "model.pt")["w"].tolist() == [1.0, 1.0]


# -- WeightedRandomSampler -------------------------------------------------------------------------
def test_weighted_sampler_draws_in_proportion_to_the_weights():
    w = [1.0, 0.0, 3.0, 6.0]
    s = gg.data.WeightedRandomSampler(w, num_samples=20000, generator=gg.Generator().manual_seed(0))
    idx = np.array(list(s))
    assert len(s) == 20000 and idx.dtype.kind == "i" and idx.shape == (20000,)
    freq = np.bincount(idx, minlength=4) / 20000
    np.testing.assert_allclose(freq, np.array(w) / 10, atol=0.015)
    assert freq[1] == 0


def test_weighted_sampler_without_replacement_draws_each_index_once():
    s = gg.data.WeightedRandomSampler(gg.tensor([1.0, 2.0, 3.0, 4.0, 0.5]), 5, replacement=False, generator=1)
    assert sorted(s) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="cannot draw 4 samples without replacement from 3 indices of nonzero"):
        gg.data.WeightedRandomSampler([1, 0, 2, 3], 4, replacement=False)


def test_weighted_sampler_epochs_are_functions_of_seed_and_epoch():
    a = gg.data.WeightedRandomSampler([1, 2, 3], 50, generator=7)
    b = gg.data.WeightedRandomSampler([1, 2, 3], 50, generator=7)
    e0, e1 = list(a), list(a)
    assert e0 != e1                                  # each iter is the next epoch
    b.set_epoch(1)
    assert list(b) == e1 and a.indices(0).tolist() == e0


def test_dataloader_takes_a_weighted_sampler_and_resumes_exactly():
    y = np.array([0] * 90 + [1] * 10)
    x = np.arange(100, dtype=np.float32)[:, None]
    ds = gg.data.TensorDataset(gg.tensor(x), gg.tensor(y))
    weights = 1.0 / np.bincount(y)[y]
    sampler = gg.data.WeightedRandomSampler(weights, num_samples=4000, generator=3)
    loader = gg.utils.data.DataLoader(ds, batch_size=100, sampler=sampler)
    assert len(loader) == 40
    ys = np.concatenate([yb.numpy() for _, yb in loader])
    assert ys.shape == (4000,) and abs(ys.mean() - 0.5) < 0.05       # balanced by the weights
    again = gg.data.DataLoader(ds, batch_size=100, sampler=gg.data.WeightedRandomSampler(weights, 4000, generator=3))
    again.set_epoch(1)
    second = [xb.numpy() for xb, _ in loader]
    assert all(np.array_equal(a, b.numpy()) for a, (b, _) in zip(second, again))


def test_dataloader_takes_any_sized_iterable_as_a_sampler():
    ds = gg.data.TensorDataset(gg.arange(10))
    batches = [b.tolist() for (b,) in gg.data.DataLoader(ds, batch_size=2, sampler=[9, 8, 7])]
    assert batches == [[9, 8], [7]]


@pytest.mark.parametrize("make, exc, message", [
    (lambda: gg.data.WeightedRandomSampler([1, -1], 2), ValueError, "finite and non-negative"),
    (lambda: gg.data.WeightedRandomSampler([0, 0], 2), ValueError, "not all zero"),
    (lambda: gg.data.WeightedRandomSampler([1, float("nan")], 2), ValueError, "finite"),
    (lambda: gg.data.WeightedRandomSampler([[1, 2]], 2), ValueError, "non-empty 1-D"),
    (lambda: gg.data.WeightedRandomSampler([1, 2], 0), ValueError, "num_samples must be a positive integer"),
    (lambda: gg.data.WeightedRandomSampler([1, 2], 2.5), ValueError, "num_samples must be a positive integer"),
    (lambda: gg.data.WeightedRandomSampler([1, 2], 2, replacement=1), TypeError, "replacement must be a bool"),
    (lambda: gg.data.DataLoader(gg.data.TensorDataset(gg.ones(3)), sampler=[0], shuffle=True), ValueError,
     "sampler and shuffle=True are mutually exclusive"),
    (lambda: gg.data.DataLoader(gg.data.TensorDataset(gg.ones(3)), sampler=3), TypeError,
     "sampler must be iterable with a length"),
])
def test_weighted_sampler_and_loader_errors(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


@needs_torch
def test_weighted_sampler_errors_where_pytorch_errors():
    for args in (([1, -1], 2), ([1, 2], 0)):
        with pytest.raises((ValueError, RuntimeError)):
            list(torch.utils.data.WeightedRandomSampler(*args))
        with pytest.raises(ValueError):
            gg.data.WeightedRandomSampler(*args)
