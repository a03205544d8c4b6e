"""Every file read (gg.load, --resume, --data) returns what was saved or raises the project's
one-line error naming the file: never a traceback, a hang, or unbounded memory.

A table of corrupt and hostile files (truncations, byte flips of each structural part of the
zip, zlib corruption, wrong metadata types, deep nesting, huge declared shapes, decompression
bombs, pickle payloads, non-regular files), each checked within a memory and a time bound; an
exhaustive single-byte sweep of a small checkpoint; and Hypothesis mutations of checkpoints and
data files asserting "loads identically or clean error".
"""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpugrad as gg
from gpugrad.data import DataError, load_file
from gpugrad.serialization import CheckpointError

from hostile import Bounded, deflate_bomb, meta_npy, npy_bytes, npy_of, regions, zip_of

MEM_BOUND = 32 * 2 ** 20      # bytes a refused file may cost (traced peak)
TIME_BOUND = 3.0              # seconds


def small_checkpoint():
    gg.manual_seed(0)
    model = gg.nn.Linear(3, 2)
    return {"model": model.state_dict(), "epoch": 4, "lr": 0.5, "name": "run",
            "hist": [1.5, 2.5], "n": np.int64(7)}


def same(a, b) -> bool:
    """Structural equality with exact array/tensor values (NaN-free inputs)."""
    if isinstance(a, gg.Tensor):
        return isinstance(b, gg.Tensor) and a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def assert_clean(run: Bounded, path, exc_type=CheckpointError):
    """The load failed with exc_type, in one line naming the file, within the bounds."""
    assert run.exc is not None, f"{path}: loaded {str(run.result)[:200]} instead of failing"
    assert isinstance(run.exc, exc_type), f"{type(run.exc).__name__}: {run.exc}"
    msg = str(run.exc)
    assert str(path) in msg and "\n" not in msg, msg
    assert run.peak < MEM_BOUND, f"{run.peak:,} bytes traced for {msg}"
    assert run.seconds < TIME_BOUND, f"{run.seconds:.1f} s for {msg}"
    return msg


def meta(tree, version=1) -> str:
    return json.dumps({"format": "gpugrad-checkpoint", "version": version, "tree": tree})


F4 = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
PAYLOAD_MARK = "gpugrad-pickle-ran"


class _Evil:
    """Unpickling this writes a marker file: any load that runs pickle is caught."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_archives(tmp) -> dict:
    """name -> (file bytes, expected message fragment) for hand-built hostile archives."""
    mark = os.path.join(tmp, PAYLOAD_MARK)
    tensor_tree = {"$": "ndarray", "a": "a0"}
    ok_arr = npy_of(np.arange(4, dtype=np.float32))
    evil = pickle.dumps(_Evil(mark))
    deep_json = "[" * 100_000 + "]" * 100_000
    deep_tree = None
    for _ in range(200):
        deep_tree = {"$": "list", "v": [deep_tree]}
    return {
        # wrong metadata types
        "version is a string": (zip_of({"__gpugrad__.npy": meta_npy(meta(None, version="1"))}),
                                "format version is a str"),
        "version is a list": (zip_of({"__gpugrad__.npy": meta_npy(meta(None, version=[1]))}),
                              "format version is a list"),
        "metadata is a 0-d int": (zip_of({"__gpugrad__.npy": npy_of(np.int64(10 ** 12))}),
                                  "not 1-D uint8"),
        "metadata is float": (zip_of({"__gpugrad__.npy": npy_of(np.zeros(8))}), "not 1-D uint8"),
        "metadata not utf-8": (zip_of({"__gpugrad__.npy": meta_npy(b"\xff\xfe{")}), "not valid JSON"),
        "metadata is a list": (zip_of({"__gpugrad__.npy": meta_npy("[1, 2]")}), "unknown format"),
        "tree node is a list of ints": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": 5}))}),
                                        "without a type tag"),
        "dict keys not a list": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "dict", "k": 1, "v": []}))}),
                                 "'k' is a int"),
        "dict key is a float": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "dict", "k": [1.5], "v": [1]}))}),
                                "dict key is a float"),
        "float stored as a number": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "float", "v": 2}))}),
                                     "'v' is a int"),
        "float text is long": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "float", "v": "1" * 5000}))}),
                               "float is stored as"),
        "array key is a number": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "ndarray", "a": 0}))}),
                                  "'a' is a int"),
        "tensor device is a number": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "tensor", "a": "a0",
                                                                               "device": 3})),
                                              "a0.npy": ok_arr}), "'device' is a int"),
        "unknown device": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "tensor", "a": "a0",
                                                                     "device": "tpu"})),
                                   "a0.npy": ok_arr}), "names device 'tpu'"),
        "missing array": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree))}), "is missing"),
        "unknown tag": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "pickle", "v": "x"}))}),
                        "unknown entry type"),
        # deep nesting
        "deep JSON": (zip_of({"__gpugrad__.npy": meta_npy(meta(None)[:-1] + deep_json + "}")}),
                      "not valid JSON"),
        "deep tree": (zip_of({"__gpugrad__.npy": meta_npy(meta(deep_tree))}), "nested more than"),
        # one array referenced many times: each reference would read it again
        "aliased array": (zip_of({"__gpugrad__.npy": meta_npy(meta({"$": "list", "v": [tensor_tree] * 5000})),
                                  "a0.npy": ok_arr}), "referenced more than once"),
        # huge declared shapes
        "header claims 10^12 elements": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                                 "a0.npy": npy_bytes(F4 % "(10**12,)")}),
                                         "cannot be read"),
        "header claims 10^12 elements (literal)": (
            zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                    "a0.npy": npy_bytes(F4 % "(1000000000000,)")}), "declares shape (1000000000000,)"),
        "shape larger than data": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                           "a0.npy": npy_bytes(F4 % "(1000, 1000)", b"\0" * 64)}),
                                   "stores 64 bytes"),
        "negative shape": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                   "a0.npy": npy_bytes(F4 % "(-4,)")}), "invalid shape"),
        "shape not a tuple": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                      "a0.npy": npy_bytes(F4 % "'abc'")}), "cannot be read"),
        "header not a dict": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                      "a0.npy": npy_bytes("[1, 2, 3]")}), "cannot be read"),
        "header bad python": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                      "a0.npy": npy_bytes("{'descr': '<f4', (((")}), "cannot be read"),
        "header unterminated string": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                               "a0.npy": npy_bytes("{'descr': '<f4\\")}), "cannot be read"),
        "npy version 9": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                  "a0.npy": npy_bytes(F4 % "(1,)", b"\0" * 4, version=(9, 0))}),
                          "unknown .npy format version"),
        # pickle payloads: object arrays, a pickle as the archive, a pickle as a member
        "object array": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                 "a0.npy": npy_of(np.array([_Evil(mark)], dtype=object))}),
                         "never objects"),
        "pickle as member": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)), "a0.npy": evil}),
                             "not a .npy array"),
        "pickle as file": (evil, "no zip signature"),
        "pickle with npz suffix protocol 0": (pickle.dumps(_Evil(mark), protocol=0), "no zip signature"),
        "structured dtype": (zip_of({"__gpugrad__.npy": meta_npy(meta(tensor_tree)),
                                     "a0.npy": npy_of(np.zeros(2, dtype=[("a", "<f4"), ("b", "O")]))}),
                             "never objects"),
        "text named npz": (b"x,y\n1,2\n", "no zip signature"),
        "npy named npz": (npy_of(np.arange(3)), "single .npy array"),
        "empty": (b"", "no zip signature"),
        # zip structure
        "bzip2 member": (zip_of({"__gpugrad__.npy": meta_npy(meta(None))}, zipfile.ZIP_BZIP2),
                         "unsupported compression"),
        "member not .npy": (zip_of({"__gpugrad__.npy": meta_npy(meta(None)), "evil.py": b"print(1)"}),
                            "unexpected or repeated member"),
        "decompression bomb": (deflate_bomb("a0.npy", 64 * 2 ** 20, {"__gpugrad__.npy": meta_npy(meta(tensor_tree))}),
                               "decompression bomb"),
        "metadata bomb": (deflate_bomb("__gpugrad__.npy", 64 * 2 ** 20), "structure entry declares"),
        "metadata bomb under the size limit": (deflate_bomb("__gpugrad__.npy", 8 * 2 ** 20),
                                               "refused as a decompression bomb"),
    }


def overlapping_archive() -> bytes:
    """Two central-directory entries pointing at one stored payload (a non-recursive zip bomb)."""
    data = bytearray(zip_of({"__gpugrad__.npy": meta_npy(meta(None)), "a0.npy": npy_of(np.zeros(256))}))
    zf = zipfile.ZipFile(__import__("io").BytesIO(bytes(data)))
    first, second = zf.infolist()
    cd = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)       # second central entry
    data[cd + 42:cd + 46] = first.header_offset.to_bytes(4, "little")  # point it at the first payload
    return bytes(data)


def test_hostile_archive_table(tmp_path):
    table = hostile_archives(str(tmp_path))
    table["overlapping entries"] = (overlapping_archive(), "")
    for name, (raw, fragment) in table.items():
        path = tmp_path / (name.replace(" ", "_").replace("^", "") + ".npz")
        path.write_bytes(raw)
        msg = assert_clean(Bounded(lambda: gg.load(path)), path)
        assert fragment in msg, f"{name}: {msg}"
    assert not (tmp_path / PAYLOAD_MARK).exists(), "a pickle payload ran"


def test_hostile_archives_as_data_files(tmp_path):
    """The same archives given to --data: DataError, one line, bounded."""
    table = hostile_archives(str(tmp_path))
    for name, (raw, _) in table.items():
        path = tmp_path / (name.replace(" ", "_").replace("^", "") + ".npz")
        path.write_bytes(raw)
        assert_clean(Bounded(lambda: load_file(path)), path, DataError)
    # a data bomb inside x itself
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(deflate_bomb("x.npy", 64 * 2 ** 20, {"y.npy": npy_of(np.arange(3))}))
    assert "decompression bomb" in assert_clean(Bounded(lambda: load_file(bomb)), bomb, DataError)
    assert not (tmp_path / PAYLOAD_MARK).exists()


def test_size_limit_before_allocation(tmp_path):
    """A member larger than the load limit is refused from its header, before it is read."""
    path = tmp_path / "big.npz"
    gg.save({"w": np.zeros(300_000, dtype=np.float32)}, path)
    msg = assert_clean(Bounded(lambda: gg.load(path, max_bytes=1_000_000)), path)
    assert "over the load limit of 1,000,000 bytes" in msg
    assert gg.load(path, max_bytes=2_000_000)["w"].shape == (300_000,)


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_non_regular_files_are_refused_without_hanging(tmp_path, kind):
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        path = tmp_path / "pipe.npz"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path / "dir.npz"
        path.mkdir()
    else:
        path = "/dev/zero"
        if not os.path.exists(path):
            pytest.skip("no /dev/zero here")
    msg = assert_clean(Bounded(lambda: gg.load(path)), path)
    assert "regular file" in msg or "directory" in msg
    csv_like = tmp_path / "pipe.csv"
    if kind == "fifo":
        os.mkfifo(csv_like)
        assert_clean(Bounded(lambda: load_file(csv_like)), csv_like, DataError)
    if kind != "device":
        assert_clean(Bounded(lambda: load_file(path)), path, DataError)


# -- byte-level faults on a real checkpoint -------------------------------------------------------------
def test_truncation_at_every_structural_boundary(tmp_path):
    good = tmp_path / "good.npz"
    gg.save(small_checkpoint(), good)
    data = good.read_bytes()
    cuts = sorted({c for spans in regions(data).values() for a, b in spans
                   for c in (a, a + 1, (a + b) // 2, b - 1)} | set(range(0, len(data), 97)))
    bad = tmp_path / "cut.npz"
    for cut in cuts:
        if cut >= len(data):
            continue
        bad.write_bytes(data[:cut])
        assert_clean(Bounded(lambda: gg.load(bad)), bad)
    assert len(cuts) > 40


def test_byte_flips_in_every_structural_part(tmp_path):
    """Flip every byte of every region (alternately all its bits and its lowest bit): each load
    is identical or a clean error; and a flip in the array data or an array header (covered by
    the CRC) is always an error. (An offline sweep of all 9 masks per byte: see the report.)"""
    good = tmp_path / "good.npz"
    state = small_checkpoint()
    gg.save(state, good)
    data = good.read_bytes()
    bad = tmp_path / "flip.npz"
    counts = {}
    for part, spans in regions(data).items():
        errors = 0
        for a, b in spans:
            for i in range(a, b):
                mutated = bytearray(data)
                mutated[i] ^= 0xFF if i % 2 else 0x01
                bad.write_bytes(bytes(mutated))
                run = Bounded(lambda: gg.load(bad))
                if run.exc is None:
                    assert same(run.result, state), f"{part} byte {i}: loaded something else"
                else:
                    assert_clean(run, bad)
                    errors += 1
        counts[part] = errors
        if part in ("array data", "npy header"):
            assert errors == sum(b - a for a, b in spans), f"{part}: a flip went unnoticed"
    assert all(counts.values()), counts


def test_zlib_corruption_of_a_compressed_archive(tmp_path):
    """np.savez_compressed data files: flipped bytes inside deflate streams are clean errors."""
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=x, y=y)
    data = good.read_bytes()
    assert np.array_equal(load_file(good)[0], x)
    bad = tmp_path / "z.npz"
    flips = errors = 0
    for a, b in regions(data)["compressed body"]:
        for i in range(a, b, 2):
            mutated = bytearray(data)
            mutated[i] ^= 0x5A
            bad.write_bytes(bytes(mutated))
            run = Bounded(lambda: load_file(bad))
            flips += 1
            if run.exc is None:        # e.g. a flip in a deflate block's unused padding bits
                assert np.array_equal(run.result[0], x)
            else:
                assert_clean(run, bad, DataError)
                errors += 1
    assert flips > 100 and errors > 0.9 * flips


# -- Hypothesis: random mutations ----------------------------------------------------------------------
mutation = st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4)


def _mutate(data: bytes, flips, cut) -> bytes:
    out = bytearray(data)
    for pos, x in flips:
        out[pos % len(out)] ^= x
    return bytes(out[:cut]) if cut is not None else bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=mutation, cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_mutated_checkpoints_load_identically_or_fail_cleanly(tmp_path, flips, cut):
    good = tmp_path / "good.npz"
    state = small_checkpoint()
    if not good.exists():
        gg.save(state, good)
    bad = tmp_path / "m.npz"
    bad.write_bytes(_mutate(good.read_bytes(), flips, cut))
    run = Bounded(lambda: gg.load(bad))
    if run.exc is None:
        assert same(run.result, state)
    else:
        assert_clean(run, bad)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=mutation, cut=st.one_of(st.none(), st.integers(0, 3000)),
       compressed=st.booleans())
def test_mutated_data_files_load_identically_or_fail_cleanly(tmp_path, flips, cut, compressed):
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    y = np.arange(20) % 3
    good = tmp_path / f"good{int(compressed)}.npz"
    if not good.exists():
        (np.savez_compressed if compressed else np.savez)(good, x=x, y=y)
    bad = tmp_path / "m.npz"
    bad.write_bytes(_mutate(good.read_bytes(), flips, cut))
    run = Bounded(lambda: load_file(bad))
    if run.exc is None:
        gx, gy, classes = run.result
        assert np.array_equal(gx, x) and np.array_equal(classes[gy], y)
    else:
        assert_clean(run, bad, DataError)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=mutation, cut=st.one_of(st.none(), st.integers(0, 400)))
def test_mutated_csv_files_give_valid_data_or_fail_cleanly(tmp_path, flips, cut):
    """A CSV has no checksum, so a mutation may give other numbers; but never a traceback, and
    whatever loads is finite float32 features and int64 labels 0..C-1."""
    text = "a,b,label\n" + "".join(f"{i * 0.5},{i % 7},{i % 3}\n" for i in range(20))
    bad = tmp_path / "m.csv"
    bad.write_bytes(_mutate(text.encode(), flips, cut))
    run = Bounded(lambda: load_file(bad))
    if run.exc is None:
        gx, gy, classes = run.result
        assert gx.dtype == np.float32 and np.all(np.isfinite(gx))
        assert gy.dtype == np.int64 and gy.min() == 0 and gy.max() == len(classes) - 1
    else:
        assert_clean(run, bad, DataError)


# -- the table readers (gpugrad.data.tables: pandas for CSV, pyarrow for Parquet) ---------------------------
def _parquet_bytes(tmp_path, frame) -> bytes:
    path = tmp_path / "_good.parquet"
    frame.to_parquet(path)
    return path.read_bytes()


def hostile_tables(tmp_path) -> dict:
    """name -> (file name, bytes, fragment of the one-line error)."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    good = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) % 7, "label": np.arange(50) % 3})
    pq = _parquet_bytes(tmp_path, good)
    stamp = _parquet_bytes(tmp_path, good.assign(when=pd.Timestamp("2026-01-01"))[["when", "a", "b", "label"]])
    return {
        "latin-1 text": ("l.csv", "a,b,label\ncafé,1,0\n".encode("latin-1") * 3, "not UTF-8 text"),
        "NUL bytes": ("n.csv", b"\x00" * 5000, "cannot tell how the columns are separated"),
        "one giant field": ("g.csv", b"x" * (4 * 2 ** 20), "cannot split its first rows into columns"),
        "unbalanced quote": ("q.csv", b'a,b,label\n1,2,0\n"3,4,1\n5,6,0\n', ""),   # any one line
        "ragged long row": ("r.csv", b"a,b,label\n" + b"1,2,0\n" * 20 + b"1,2,3,4,5\n", "row 22: 5 fields"),
        "header only": ("h.csv", b"a,b,label\n", "no data rows"),
        "duplicate names": ("d.csv", b"a,a,label\n1,2,0\n3,4,1\n", "more than one column is named 'a'"),
        "garbage parquet": ("x.parquet", b"PAR1" + os.urandom(3000) + b"PAR1", "cannot read the Parquet file"),
        "truncated parquet": ("t.parquet", pq[: len(pq) // 2], "cannot read the Parquet file"),
        "no footer": ("f.parquet", pq[:-8], "cannot read the Parquet file"),
        "timestamp column": ("s.parquet", stamp, "has the Parquet type timestamp"),
        "empty file": ("e.parquet", b"", "cannot read the Parquet file"),
    }


def test_hostile_tables_fail_in_one_line_within_bounds(tmp_path):
    for name, (fname, raw, fragment) in hostile_tables(tmp_path).items():
        path = tmp_path / fname
        path.write_bytes(raw)
        msg = assert_clean(Bounded(lambda: load_file(path)), path, DataError)
        assert fragment in msg, f"{name}: {msg}"


def test_table_size_limit_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b,label\n" + "1.5,2.5,0\n" * 20_000)
    msg = assert_clean(Bounded(lambda: load_file(path, max_bytes=100_000)), path, DataError)
    assert "over the load limit of 100,000" in msg and "GPUGRAD_MAX_LOAD_BYTES" in msg


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_table_fifo_is_refused_without_hanging(tmp_path, ext):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / f"pipe{ext}"
    os.mkfifo(path)
    assert "regular file" in assert_clean(Bounded(lambda: load_file(path)), path, DataError)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=mutation, cut=st.one_of(st.none(), st.integers(0, 3000)))
def test_mutated_parquet_files_give_valid_data_or_fail_cleanly(tmp_path, flips, cut):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    good = tmp_path / "good.parquet"
    if not good.exists():
        pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) * 0.5, "label": np.arange(20) % 3}).to_parquet(good)
    bad = tmp_path / "m.parquet"
    bad.write_bytes(_mutate(good.read_bytes(), flips, cut))
    run = Bounded(lambda: load_file(bad))
    if run.exc is None:
        gx, gy, classes = run.result
        assert gx.dtype == np.float32 and np.all(np.isfinite(gx))
        assert gy.dtype == np.int64 and gy.min() == 0 and gy.max() == len(classes) - 1
    else:
        assert_clean(run, bad, DataError)
