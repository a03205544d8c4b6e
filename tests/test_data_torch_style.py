"""gg.data in PyTorch's form: TensorDataset, DataLoader(dataset, batch_size, shuffle, drop_last,
generator, collate_fn), default_collate, random_split, Subset, gg.Generator and the
torch.utils.data import path; the seeded order is gpugrad's (a function of (seed, epoch))."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.data import DataLoader, Subset, TensorDataset, default_collate, epoch_permutation, random_split


def _xy(n=23):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.int64)
    return x, y


def test_tensor_dataset_items_and_errors(device):
    x, y = _xy(5)
    ds = TensorDataset(gg.tensor(x, device=device), gg.tensor(y, device=device))
    assert len(ds) == 5
    xi, yi = ds[3]
    assert xi.shape == (2,) and yi.shape == () and yi.item() == 3 and yi.device == device
    assert yi.dtype == np.int64 and xi.dtype == np.float32
    with pytest.raises(ValueError, match=r"size mismatch.*first dimensions \[5, 4\]"):
        TensorDataset(x, y[:4])
    with pytest.raises(ValueError, match="tensor 0 is 0-d"):
        TensorDataset(np.float32(1.0))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_over_a_tensor_dataset(device, shuffle, drop_last):
    x, y = _xy()
    ds = TensorDataset(gg.tensor(x, device=device), gg.tensor(y, device=device))
    loader = DataLoader(ds, batch_size=5, shuffle=shuffle, drop_last=drop_last,
                        generator=gg.Generator().manual_seed(7))
    batches = list(loader)
    assert len(batches) == len(loader) == (4 if drop_last else 5)
    assert [b[0].shape for b in batches][-1] == ((5, 2) if drop_last else (3, 2))
    assert all(isinstance(b, tuple) and b[0].device == device and b[1].dtype == np.int64 for b in batches)
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    order = epoch_permutation(23, 7, 0) if shuffle else np.arange(23)
    assert np.array_equal(seen, order[:len(seen)])                       # the seeded order of gg.data
    np.testing.assert_array_equal(np.concatenate([xb.numpy() for xb, _ in batches]), x[seen])   # rows paired
    second = np.concatenate([yb.numpy() for _, yb in loader])            # next epoch: a new order
    assert shuffle == (not np.array_equal(second, seen))


def test_generic_dataset_goes_through_collate_and_matches_the_fast_path():
    x, y = _xy(10)

    class Pairs(gg.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return x[i], int(y[i])                 # a NumPy row and a Python int

    fast = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=3))
    slow = list(DataLoader(Pairs(), batch_size=4, shuffle=True, generator=3))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
        assert d.dtype == np.int64 and c.dtype == np.float32
    got = list(DataLoader(Pairs(), batch_size=3, collate_fn=lambda items: len(items)))
    assert got == [3, 3, 3, 1]
    assert [yi.item() for _, yi in DataLoader(TensorDataset(x, y), batch_size=None)] == list(range(10))


def test_default_collate_follows_pytorch_types():
    out = default_collate([{"a": 1.5, "b": (True, "s")}, {"a": 2.0, "b": (False, "t")}])
    assert out["a"].dtype == np.float64 and out["a"].tolist() == [1.5, 2.0]
    flags, names = out["b"]
    assert flags.dtype == np.bool_ and names == ["s", "t"]
    assert default_collate([gg.ones(2, 3), gg.zeros(2, 3)]).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([gg.ones(2), gg.ones(3)])
    with pytest.raises(TypeError, match="cannot batch items of type object"):
        default_collate([object()])


def test_random_split_counts_fractions_and_seed():
    ds = TensorDataset(np.arange(10))
    a, b = random_split(ds, [7, 3], generator=gg.Generator().manual_seed(0))
    assert (len(a), len(b)) == (7, 3) and isinstance(a, Subset)
    ids = sorted([a[i][0].item() for i in range(7)] + [b[i][0].item() for i in range(3)])
    assert ids == list(range(10))
    again = random_split(ds, [7, 3], generator=gg.Generator().manual_seed(0))
    assert again[0].indices == a.indices and random_split(ds, [7, 3], generator=1)[0].indices != a.indices
    # fractions: floor, then the remainder dealt from the first (PyTorch: 11 * [.5, .3, .2] -> 6, 3, 2)
    assert [len(s) for s in random_split(TensorDataset(np.arange(11)), [0.5, 0.3, 0.2], generator=0)] == [6, 3, 2]
    with pytest.raises(ValueError, match=r"sum to 9 but the dataset has 10"):
        random_split(ds, [6, 3])
    # a loader over a Subset of a TensorDataset: the subset's rows, in the seeded order
    rows = np.concatenate([xb.numpy() for (xb,) in DataLoader(b, batch_size=2)])
    assert rows.tolist() == [ds[i][0].item() for i in b.indices]


def test_original_array_form_still_works_and_bad_arguments():
    x, y = _xy()
    old = DataLoader(x, y, 5, seed=1)                                 # gpugrad's form: shuffle=True
    assert np.array_equal(np.concatenate([b.numpy() for _, b in old]), epoch_permutation(23, 1, 0))
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch_sampler'.*supported form is DataLoader"):
        DataLoader(TensorDataset(x, y), batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(TensorDataset(x, y), batch_size=0)
    with pytest.raises(TypeError, match="must have __getitem__ and __len__"):
        DataLoader(5, batch_size=2)
    with pytest.raises(TypeError, match="generator must be a gg.Generator"):
        DataLoader(TensorDataset(x, y), batch_size=2, generator="seed")


def test_global_seed_makes_unseeded_shuffling_reproducible():
    x, y = _xy()

    def first_epoch():
        gg.manual_seed(5)
        return np.concatenate([b.numpy() for _, b in DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)])
    assert np.array_equal(first_epoch(), first_epoch())


def test_torch_import_path():
    from gpugrad.utils.data import DataLoader as DL, TensorDataset as TD, random_split as rs
    assert DL is DataLoader and TD is TensorDataset and rs is random_split
    assert gg.utils.data.DataLoader is DataLoader and gg.Generator is gg.data.Generator
