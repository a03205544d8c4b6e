"""gg.data: the seeded DataLoader (order a function of (seed, epoch)), the digits, .npz and .csv
loaders with their one-line errors, and the stratified split."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.data import DataError, DataLoader, load_digits, load_file, train_test_split


def test_loader_covers_every_sample_once(device):
    x = np.arange(23, dtype=np.float32).reshape(23, 1)
    y = np.arange(23)
    loader = DataLoader(x, y, batch_size=5, seed=1, device=device)
    assert len(loader) == 5
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [5, 5, 5, 5, 3]
    assert all(xb.device == device and yb.device == device for xb, yb in batches)
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen) == list(range(23)) and list(seen) != list(range(23))
    xs = np.concatenate([xb.numpy()[:, 0] for xb, _ in batches])
    assert np.array_equal(xs, seen.astype(np.float32))          # x and y stay paired
    dropped = DataLoader(x, y, batch_size=5, drop_last=True)
    assert len(dropped) == 4 and sum(b[0].shape[0] for b in dropped) == 20


def _order(loader):
    return np.concatenate([yb.numpy() for _, yb in loader])


class _CupyLike:
    """Stands in for a CuPy array: a cupy module, .get() to the host, no implicit conversion."""
    __module__ = "cupy._core.core"

    def __init__(self, a):
        self._a = a

    def get(self):
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def test_loader_takes_device_arrays():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    loader = DataLoader(_CupyLike(x), _CupyLike(y), batch_size=4, shuffle=False)
    (xb, yb), (xb2, _) = list(loader)
    np.testing.assert_array_equal(xb.numpy(), x[:4])
    np.testing.assert_array_equal(yb.numpy(), y[:4])
    assert xb2.shape == (2, 2)


def test_order_depends_only_on_seed_and_epoch():
    y = np.arange(50)
    x = y.reshape(-1, 1).astype(np.float32)
    a = DataLoader(x, y, 8, seed=3)
    orders = [_order(a) for _ in range(3)]                      # epochs 0, 1, 2
    assert not np.array_equal(orders[0], orders[1])
    b = DataLoader(x, y, 8, seed=3)
    b.set_epoch(2)                                              # jump straight to epoch 2
    assert np.array_equal(_order(b), orders[2])
    c = DataLoader(x, y, 8, seed=3)
    c.load_state_dict(a.state_dict())
    assert np.array_equal(_order(c), _order(a))
    assert not np.array_equal(_order(DataLoader(x, y, 8, seed=4)), orders[0])
    assert np.array_equal(_order(DataLoader(x, y, 8, shuffle=False)), y)


def test_loader_errors():
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        DataLoader(np.zeros((3, 1)), np.zeros(2), 2)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros((3, 1)), np.zeros(3), 0)


def test_digits():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and sorted(set(y)) == list(range(10))


def test_split_is_seeded_and_stratified():
    x, y = load_digits()
    a = train_test_split(x, y, 0.2, seed=0)
    b = train_test_split(x, y, 0.2, seed=0)
    c = train_test_split(x, y, 0.2, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[3], c[3]) or not np.array_equal(a[2], c[2])
    x_tr, y_tr, x_te, y_te = a
    assert len(y_tr) + len(y_te) == 1797 and abs(len(y_te) - 0.2 * 1797) < 10
    frac = np.bincount(y_te) / np.bincount(y)
    assert np.all(np.abs(frac - 0.2) < 0.02)                    # every class split 80/20
    # a class with one sample: falls back to a random split, still a partition
    y1 = np.array([0, 0, 0, 1, 1, 1, 2])
    parts = train_test_split(np.arange(7).reshape(-1, 1), y1, 0.3, seed=0)
    assert sorted(np.concatenate([parts[0][:, 0], parts[2][:, 0]])) == list(range(7))


def test_npz_file(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.random.default_rng(0).random((10, 3)), y=np.array([5, 7] * 5))
    x, y, classes = load_file(p)
    assert x.shape == (10, 3) and x.dtype == np.float32
    assert list(classes) == [5, 7] and list(y[:2]) == [0, 1]    # labels mapped to 0..C-1


def test_csv_file_with_and_without_header(tmp_path):
    rows = "\n".join(f"{i * 0.5},{i % 3},{i % 2}" for i in range(8))
    (tmp_path / "a.csv").write_text(rows + "\n")
    (tmp_path / "b.csv").write_text("f1,f2,label\n" + rows + "\n\n")
    for name in ("a.csv", "b.csv"):
        x, y, classes = load_file(tmp_path / name)
        assert x.shape == (8, 2) and list(y) == [i % 2 for i in range(8)]


@pytest.mark.parametrize("name, content, message", [
    ("m.npz", dict(x=np.zeros((3, 2))), "missing array(s) y"),
    ("m.npz", dict(x=np.zeros((3, 2)), y=np.zeros(2)), "x has 3 samples but y has 2"),
    ("m.npz", dict(x=np.zeros((0, 2)), y=np.zeros(0)), "empty"),
    ("m.npz", dict(x=np.zeros((3, 2)), y=np.array([0.5, 1, 2])), "not integer-like"),
    ("m.npz", dict(x=np.zeros((3, 2)), y=np.array([1, 1, 1])), "at least 2 classes"),
    ("m.npz", b"garbage", "cannot read the .npz"),
    # rows as the file counts them (header included), the column by name, the value, the fix
    ("m.csv", "1,2,0\n" * 11 + "3,abc,1\n", "m.csv row 12, column '2': value 'abc' is not a number"),
    ("m.csv", "a,b,c\n" + "1,2,0\n" * 11 + "3,abc,1\n", "row 13, column 'b': value 'abc' is not a number"),
    ("m.csv", "1,2,0\n" * 10 + "3,4\n", "m.csv row 11, column '3': the label is empty"),
    ("m.csv", "1,2,0\n" * 10 + "3,4,5,6\n", "m.csv row 11: 4 fields where the first row has 3"),
    ("m.csv", "a,b,label\n1,2,\n3,4,1\n", "m.csv row 2, column 'label': the label is empty"),
    ("m.csv", "a,b,label\n", "no data rows"),
    ("m.csv", "", "no data rows"),
    ("m.csv", "a,b,label\n1,inf,0\n2,3,1\n", "row 2, column 'b': value inf does not fit float32"),
    ("m.csv", "a,b,label\n1,1e39,0\n2,3,1\n", "row 2, column 'b': value 1e+39 does not fit float32"),
    ("m.txt", "1,2,0\n", "unsupported file type"),
])
def test_bad_files_give_one_line(tmp_path, name, content, message):
    p = tmp_path / name
    if isinstance(content, dict):
        np.savez(p, **content)
    elif isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    with pytest.raises(DataError) as e:
        load_file(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "nope.csv")


def test_exported_under_gg():
    assert gg.data.DataLoader is DataLoader and gg.optim.Adam and gg.save and gg.load


def test_csv_with_utf8_byte_order_mark_keeps_its_first_row(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf1.0,2.0,0\n3.0,4.0,1\n5.0,6.0,0\n7.0,8.0,1\n")
    x, y, classes = load_file(str(path))
    assert x.shape == (4, 2) and x[0].tolist() == [1.0, 2.0]
