"""Helpers for the hostile-file tests: the byte layout of an .npz, hand-built archives, and a
runner that checks an error is one clean line within a memory and time bound."""
from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile

import numpy as np


def regions(data: bytes) -> dict:
    """Offsets of each structural part of a zip of .npy members: name -> list of (start, end)."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    out = {"local header": [], "npy magic": [], "npy header": [], "array data": [],
           "central directory": [], "end of central directory": []}
    for info in zf.infolist():
        start = info.header_offset
        name_len, extra_len = struct.unpack("<HH", data[start + 26:start + 30])
        body = start + 30 + name_len + extra_len
        out["local header"].append((start, body))
        if info.compress_type != zipfile.ZIP_STORED:
            out.setdefault("compressed body", []).append((body, body + info.compress_size))
            continue
        out["npy magic"].append((body, body + 10))
        hlen = struct.unpack("<H", data[body + 8:body + 10])[0]
        out["npy header"].append((body + 10, body + 10 + hlen))
        out["array data"].append((body + 10 + hlen, body + info.compress_size))
    eocd = data.rfind(b"PK\x05\x06")
    z64 = data.rfind(b"PK\x06\x06")
    cd_end = z64 if z64 != -1 else eocd
    out["central directory"].append((zf.start_dir, cd_end))
    out["end of central directory"].append((cd_end, len(data)))
    return {k: [(a, b) for a, b in v if b > a] for k, v in out.items()}


def npy_bytes(header: str | bytes, payload: bytes = b"", version=(1, 0)) -> bytes:
    """A .npy member with a hand-written header dict (padded as NumPy pads it)."""
    h = header.encode("latin1") if isinstance(header, str) else header
    width = 2 if version == (1, 0) else 4
    pad = (-(10 + len(h) + 1)) % 64 if width == 2 else (-(12 + len(h) + 1)) % 64
    h = h + b" " * pad + b"\n"
    field = struct.pack("<H", len(h)) if width == 2 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + field + h + payload


def zip_of(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    """A zip archive from {name: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return buf.getvalue()


def npy_of(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=True)
    return buf.getvalue()


def meta_npy(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return npy_of(np.frombuffer(raw, dtype=np.uint8))


def deflate_bomb(name: str, nbytes: int, others: dict | None = None) -> bytes:
    """A zip whose member ``name`` is a deflated .npy of ``nbytes`` zero bytes (tiny on disk),
    plus ``others`` ({name: bytes}), streamed so the test never holds the expanded bytes."""
    header = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % nbytes)
    buf = io.BytesIO()
    zero = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as m:
            m.write(header)
            for i in range(0, nbytes, len(zero)):
                m.write(zero[:min(len(zero), nbytes - i)])
        for other, raw in (others or {}).items():
            zf.writestr(other, raw)
    return buf.getvalue()


class Bounded:
    """Run ``fn`` and record its exception, peak traced memory (bytes) and seconds."""

    def __init__(self, fn):
        tracemalloc.start()
        t0 = time.perf_counter()
        self.exc = None
        self.result = None
        try:
            self.result = fn()
        except Exception as exc:  # noqa: BLE001 (the caller asserts on its type)
            self.exc = exc
        finally:
            self.seconds = time.perf_counter() - t0
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
