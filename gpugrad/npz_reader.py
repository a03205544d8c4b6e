"""Reading untrusted ``.npz`` files with bounded time and memory, and no pickle.

``np.load`` trusts the file: an array header may declare 10^12 elements (allocated before the
data is read), a compressed member may expand a thousandfold, several zip entries may share one
stored payload, a header may crash NumPy's parser with an unexpected exception type, and a FIFO
named ``x.npz`` blocks forever. This module reads the same format (a zip of ``.npy`` members,
as written by ``np.savez``/``np.savez_compressed`` and ``gg.save``) and checks, before anything
is allocated:

- the path is a regular file (opened non-blocking, then checked with ``fstat``);
- each member uses no compression or deflate, and the zip entries do not overlap;
- each member's header declares a plain bool/int/uint/float dtype (never object: no pickle) and a
  shape whose size times item size is exactly the member's stored size, and at most the limit;
- a deflated member expands at most ``max_ratio`` times (decompression bombs).

Every problem is one :class:`NpzError` (a ValueError) with a one-line reason; the caller adds
the command and the file name. Data whose CRC does not match is refused (zipfile checks it).
"""
from __future__ import annotations

import io
import os
import stat
import struct
import tokenize
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npformat

__all__ = ["NpzError", "open_regular", "NpzReader", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_RATIO"]

# Total bytes one load may allocate for arrays, unless the caller passes its own limit.
# GPUGRAD_MAX_LOAD_BYTES overrides it (e.g. for a machine with much more memory).
DEFAULT_MAX_BYTES = int(os.environ.get("GPUGRAD_MAX_LOAD_BYTES", 16 * 2 ** 30))
# A deflated member may expand at most this many times once it is larger than _RATIO_FLOOR:
# real arrays compress 1-20x; a bomb of zeros expands ~1000x.
DEFAULT_MAX_RATIO = 200
_RATIO_FLOOR = 1 << 20
_MAX_MEMBERS = 100_000
_CHUNK = 1 << 20
_MAX_HEADER = 10000  # NumPy's own default limit for .npy headers

# Everything the zip and .npy parsers are known to raise on hostile bytes (found by the
# fault-injection tests): zipfile and zlib errors, NumPy's header parser (ast/tokenize), and
# struct/overflow errors from sizes that do not fit.
PARSE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
                NotImplementedError, UnicodeDecodeError, OverflowError, SyntaxError,
                tokenize.TokenError, KeyError, IndexError, TypeError, RecursionError, MemoryError)


class NpzError(ValueError):
    """An .npz file that cannot be read safely. The message is one line without the file name,
    phrased to follow "<file>: " (e.g. "a FIFO (named pipe), not a regular file")."""


def open_regular(path):
    """Open ``path`` for binary reading, refusing anything that is not a regular file.

    Opened with O_NONBLOCK so that a FIFO (whose open would block until a writer appears) is
    reached by ``fstat`` and refused instead of hanging. Raises FileNotFoundError for a
    missing path and NpzError for a directory, FIFO, device or socket.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise NpzError("a directory, not a file") from None
    except OSError as exc:
        raise NpzError(f"cannot be opened ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise NpzError(f"{kind}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class NpzReader:
    """The members of an .npz archive, each read with its size checked before allocation.

    >>> with NpzReader("data.npz") as z:
    ...     x = z.read("x")

    ``max_bytes`` bounds the total bytes of the arrays read through this reader;
    ``max_ratio`` bounds how far a deflated member may expand (None: no ratio limit).
    Raises NpzError (one line) for a file that is not a readable, well-formed .npz.
    """

    def __init__(self, path, max_bytes: int | None = None, max_ratio: float | None = DEFAULT_MAX_RATIO):
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
        self.max_ratio = max_ratio
        self._used = 0
        self._file = open_regular(path)
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._zip = self._open_zip()
            self._members = self._index()
        except BaseException:
            self._file.close()
            raise

    def _open_zip(self):
        head = self._file.read(4)
        self._file.seek(0)
        if head[:2] == b"\x93N":
            raise NpzError("a single .npy array, not an .npz archive")
        if head != b"PK\x03\x04" and head != b"PK\x05\x06":
            raise NpzError("not an .npz archive (no zip signature at its start)")
        try:
            return zipfile.ZipFile(self._file)
        except PARSE_ERRORS as exc:
            raise NpzError(f"not a valid .npz archive ({_why(exc)}); it may be truncated or corrupted") from None

    def _index(self) -> dict:
        infos = self._zip.infolist()
        if len(infos) > _MAX_MEMBERS:
            raise NpzError(f"{len(infos)} members (more than {_MAX_MEMBERS})")
        members = {}
        spans = []
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in members:
                raise NpzError(f"an unexpected or repeated member {name[:80]!r}")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise NpzError(f"member {name[:80]!r} uses an unsupported compression "
                               f"(method {info.compress_type}); only stored and deflate are read")
            if info.flag_bits & 0x1:
                raise NpzError(f"member {name[:80]!r} is encrypted")
            # The name's length in bytes as stored: UTF-8 when flag bit 11 is set, else cp437.
            raw_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437",
                                                 "surrogateescape")
            end = info.header_offset + 30 + len(raw_name) + info.compress_size
            if info.header_offset < 0 or end > self._size:
                raise NpzError(f"member {name[:80]!r} extends past the end of the file; "
                               f"it may be truncated")
            spans.append((info.header_offset, end, name))
            members[name[:-4]] = info
        spans.sort()
        for (s0, e0, n0), (s1, _, n1) in zip(spans, spans[1:]):
            if s1 < e0:
                raise NpzError(f"members {n0[:40]!r} and {n1[:40]!r} overlap (a malformed or "
                               f"hostile archive)")
        return members

    @property
    def files(self) -> list:
        """Member names without the .npy suffix, in archive order (like ``NpzFile.files``)."""
        return list(self._members)

    def read(self, key: str) -> np.ndarray:
        """Member ``key`` as a writeable, native-byte-order NumPy array. Raises KeyError when
        absent, NpzError when unreadable, corrupt (CRC), oversized or of a refused dtype."""
        info = self._members[key]
        try:
            with self._zip.open(info) as fp:
                return self._read_member(key, info, fp)
        except NpzError:
            raise
        except PARSE_ERRORS as exc:
            raise NpzError(f"member {key[:80]!r} cannot be read ({_why(exc)}); it may be "
                           f"truncated or corrupted") from None

    def _read_member(self, key, info, fp) -> np.ndarray:
        shape, fortran, dtype, header_len = _read_header(key, fp)
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or dtype.fields is not None \
                or dtype.subdtype is not None or dtype.itemsize == 0:
            raise NpzError(f"member {key!r} has dtype {dtype}; only bool, integer and float arrays are "
                           f"read (never objects: no pickle)")
        if not isinstance(shape, tuple) or not all(type(s) is int and s >= 0 for s in shape) \
                or len(shape) > 64:
            raise NpzError(f"member {key!r} declares an invalid shape {str(shape)[:80]}")
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise NpzError(f"member {key!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) but "
                           f"stores {max(0, info.file_size - header_len):,} bytes; it is truncated "
                           f"or corrupted")
        if self._used + nbytes > self.max_bytes:
            raise NpzError(f"member {key!r} declares shape {shape} of {dtype} ({nbytes:,} bytes), over "
                           f"the load limit of {self.max_bytes:,} bytes (set GPUGRAD_MAX_LOAD_BYTES "
                           f"to raise it)")
        if (info.compress_type == zipfile.ZIP_DEFLATED and self.max_ratio is not None
                and info.file_size > _RATIO_FLOOR
                and info.file_size > self.max_ratio * max(1, info.compress_size)):
            raise NpzError(f"member {key!r} expands from {info.compress_size:,} to {info.file_size:,} "
                           f"bytes (over {self.max_ratio}x): refused as a decompression bomb")
        self._used += nbytes
        out = np.empty(nbytes, dtype=np.uint8)
        done = 0
        while done < nbytes:
            chunk = fp.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise NpzError(f"member {key!r} ends after {done:,} of {nbytes:,} data bytes; the file "
                               f"is truncated")
            out[done:done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
        if fp.read(1):  # also makes zipfile check the CRC of the whole member
            raise NpzError(f"member {key!r} holds bytes after its data")
        # A corrupted bool byte other than 0/1 must not become a bool NumPy treats inconsistently.
        arr = (out != 0) if dtype.kind == "b" else out.view(dtype)
        arr = arr.reshape(shape[::-1]).T if fortran and len(shape) > 1 else arr.reshape(shape)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr

    def close(self) -> None:
        try:
            self._zip.close()
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _read_header(key, fp):
    """(shape, fortran_order, dtype, header length in bytes) of the .npy member open in ``fp``.

    The magic, version and length field are read here so that the header's length is known
    (NumPy's readers do not return it) and bounded before it is read; the header dict itself
    is parsed by NumPy's own reader, whose errors the caller turns into NpzError.
    """
    magic = fp.read(8)
    if len(magic) != 8 or magic[:6] != npformat.MAGIC_PREFIX:
        raise NpzError(f"member {key[:80]!r} is not a .npy array (bad magic bytes)")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise NpzError(f"member {key[:80]!r} has an unknown .npy format version {version}")
    width = 2 if version == (1, 0) else 4
    field = fp.read(width)
    if len(field) != width:
        raise NpzError(f"member {key[:80]!r} is truncated inside its header")
    hlen = struct.unpack("<H" if width == 2 else "<I", field)[0]
    if hlen > _MAX_HEADER:
        raise NpzError(f"member {key[:80]!r} has a {hlen:,}-byte header (at most {_MAX_HEADER:,})")
    header = fp.read(hlen)
    if len(header) != hlen:
        raise NpzError(f"member {key[:80]!r} is truncated inside its header")
    if version == (3, 0):
        # NumPy's 3.0 reader is private; 3.0 differs from 2.0 only in allowing UTF-8 field names,
        # which plain dtypes never have.
        version = (2, 0)
    reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
    shape, fortran, dtype = reader(io.BytesIO(field + header), max_header_size=_MAX_HEADER)
    return shape, bool(fortran), dtype, 8 + width + hlen


def _why(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").strip()
    if len(text) > 160:
        text = text[:160] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
