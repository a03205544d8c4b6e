"""Whole-step capture and replay on the CPU: what ``gg.cuda.graphed`` does with a CUDA graph, done
with NumPy calls and static buffers.

A small MLP's training step is a few hundred NumPy calls; building Tensors and graph Nodes, walking
the graph and choosing VJPs costs Python time on every step. Replaying the step's NumPy calls alone,
into the same buffers, removes that cost. ``gg.cuda.graphed(step, *inputs)`` on a CPU device uses
this module (see gpugrad/cuda_graph.py for the calling convention).

How it works:

* Call 1 of the graphed step runs eagerly (optimizer state is made, as on the GPU).
* Calls 2 and 3 capture (each is a real step, with its real results): every array the step can
  reach through a Tensor (its data, its ``.grad``) or an optimizer's state (an object whose class
  has ``step`` and ``zero_grad`` and which holds ``param_groups`` and a ``state`` dict: PyTorch's
  shape) is swapped for a *traced* view of the same memory. NumPy hands every ufunc, ``np.*``
  function and overridden method (views, indexing, copies, casts) on them to the tracer, which
  computes the real result (so Python code reading shapes still works) and records the call with
  its arguments as fixed arrays and ``out=`` the array it made: that array *is* the call site's
  static buffer. Views need no replay (they stay views of the same memory). While capturing,
  ``np.zeros``/``ones``/``empty``/``full`` and ``np.asarray``/``array``/``ascontiguousarray`` on
  traced data make traced arrays too, in the capturing thread only.
* A branch on the data (``if bad.any(): raise``, as cross_entropy's target check) is recorded as a
  guard, allowed only before the step first writes state: a replay re-evaluates it, and when it
  goes the other way the replay stops (having changed nothing but its scratch buffers) and that
  call and later ones run eagerly, after one warning.
* Calls that compute the same values on every replay (nothing that varies flows into them: the
  engine's seed gradient, 1/n of a mean) are left out of the replay: their buffers keep the values.
* Safety net, before any replay is trusted:
  - the tracer refuses what it cannot follow: a value read on the host (``.item()``, ``float(t)``,
    printing), an ndarray method it does not know that makes a new array, a write into an array
    that is neither state (a tensor's, a gradient's, an optimizer's) nor made inside the step, a
    Python number in an optimizer's state that changes;
  - every state array is checksummed when the step begins and copied when the step first touches
    it: a change the tracer did not see (a plain NumPy alias writing into a tensor's memory) shows
    as a checksum mismatch;
  - after the step the tape is re-run from those copies and compared bitwise with the eager step
    (every state array it touched, and the outputs);
  - the two captures must record the same calls with the same constants: an array or Python
    number fed in from outside the tracer that changes between steps would be frozen by a replay.
  Any of these ends capturing: a warning names the reason and the place, the step's eager result
  stands (it is correct), and the step runs eagerly from then on. Never a silent wrong answer for
  what the tracer can see; see the contract for what it cannot.
* From call 4, a call copies the inputs into the static input buffers and runs the recorded calls:
  one Python loop over prebound calls, no allocation (but for the few NumPy functions without
  ``out=``, e.g. ``np.where``, whose result is copied into its buffer).

The contract (the same as on the GPU):

* Returned tensors are static: each replay overwrites them (read ``.item()`` before the next call).
  Parameters, ``.grad`` and optimizer state are updated in place, in the same arrays. The replay
  holds every intermediate array of the step at once (like a CUDA graph's private pool).
* Python values are frozen at capture. The optimizers' are checked before every replay: a changed
  learning rate, momentum, betas or weight decay (a scheduler stepped between calls), a parameter
  added, removed or frozen (``requires_grad_(False)``), or new state objects (``load_state_dict``)
  make that call and later ones run eagerly, after one warning. Python values the step reads
  elsewhere are not checked after capture (a scheduler called inside the step that changes the
  rate only every N calls, ``model.eval()``/``train()`` flags): build a new graphed step after
  changing them. The structure of the step is checked too (which parameters have a ``.grad``:
  call ``zero_grad`` inside the step, or the same way before every call). float64 Adam/AdamW are
  not replayed (NumPy's power on the step count differs from Python's in the last bit). Step counts in
  optimizer state (Adam's, Adagrad's, RMSprop's ``state["step"]``) are the exception, as on the
  GPU: they become 0-d arrays during capture, so bias corrections and decayed rates advance on
  every replay (``optimizer.step_scalar`` keeps the bits of the Python-number formula). Random
  numbers drawn inside (dropout) repeat on every replay (a warning says so). Arrays the step makes
  from host data (``gg.tensor(list)``) are constants of the tape (checked equal across the two
  captures).
* Keep training state in tensors or optimizer state; do not rebind the tensors the step uses
  between calls (``p.data = other``): update them in place.
"""
from __future__ import annotations

import gc
import inspect
import sys
import threading
import warnings
import zlib
from functools import partial

import numpy as np

from . import creation
from .tensor import Tensor


_active = None        # the _Recorder while a capture runs, else None


def _current():
    """The recorder of a capture running in this thread (other threads' NumPy calls, e.g. a data
    loader's, are never recorded), else None."""
    rec = _active
    if rec is not None and rec.thread != threading.get_ident():
        return None
    return rec


def refuse(reason):
    """For code a captured step runs: mark the capture running in this thread (if any) as not
    replayable, with ``reason`` (the step then runs eagerly from now on, after one warning). For a
    result a replay of NumPy calls cannot reproduce bit for bit."""
    rec = _current()
    if rec is not None:
        rec.refuse(reason)


def capturing() -> bool:
    """Whether a capture runs in this thread."""
    return _current() is not None


class GuardFailed(Exception):
    """Raised by a replay when a branch the step took at capture goes the other way now."""


# -- the traced array -----------------------------------------------------------------------------
_real_base = np.ndarray.base.__get__


def _root(a):
    """The array that owns ``a``'s memory (by NumPy's own ``base``, not _Traced's)."""
    b = _real_base(a)
    while isinstance(b, np.ndarray):
        a, b = b, _real_base(b)
    return a


def _plain(x):
    """``x`` with traced arrays turned into plain views of the same memory (through tuples/lists)."""
    if isinstance(x, _Traced):
        return np.ndarray.view(x, np.ndarray)
    if isinstance(x, tuple):
        return tuple(_plain(v) for v in x)
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _crc(a) -> int:
    """A checksum of an array's bytes (4 GB/s, no copy for contiguous arrays)."""
    if a.flags.c_contiguous:
        return zlib.crc32(memoryview(a).cast("B"))
    if a.flags.f_contiguous:
        return zlib.crc32(memoryview(a.T).cast("B"))
    return zlib.crc32(a.tobytes())


def _any_traced(x):
    if isinstance(x, _Traced):
        return True
    if isinstance(x, (tuple, list)):
        return any(_any_traced(v) for v in x)
    return False


def _caller():
    """file:line of the first frame outside this module and NumPy (where the step did it)."""
    f = sys._getframe(1)
    while f is not None and (f.f_code.co_filename == __file__ or "/numpy/" in f.f_code.co_filename):
        f = f.f_back
    return "?" if f is None else f"{f.f_code.co_filename}:{f.f_lineno}"


class _Traced(np.ndarray):
    """An ndarray whose NumPy calls are recorded while a capture runs (plain behaviour otherwise)."""

    def __array_finalize__(self, obj):
        # A traced array made by NumPy itself (not by the tracer): a view is fine (it needs no
        # replay); fresh memory means a computation the tracer did not see.
        rec = _current()
        if rec is not None and not rec.wrapping and _real_base(self) is None and obj is not None:
            rec.refuse(f"an ndarray method the tracer does not follow made a new array at {_caller()}")

    @property
    def base(self):
        # What ``base`` would be without the tracer, so code that asks (the engine copies a
        # gradient that is a view) behaves as in the eager step: a traced array the tracer made
        # over a plain array reports that array's base (None when it owns its memory).
        b = _real_base(self)
        return _real_base(b) if type(b) is np.ndarray else b

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = _current()
        pin = _plain(inputs)
        pkw = {k: _plain(v) for k, v in kwargs.items()}
        if rec is None:
            return getattr(ufunc, method)(*pin, **pkw)
        return rec.ufunc(ufunc, method, inputs, pin, kwargs, pkw)

    def __array_function__(self, func, types, args, kwargs):
        rec = _current()
        pa, pkw = _plain(args), {k: _plain(v) for k, v in kwargs.items()}
        if rec is None:
            return func(*pa, **pkw)
        return rec.function(func, args, pa, kwargs, pkw)

    # methods that make arrays without a ufunc: recorded as copies when they copy
    def __getitem__(self, index):
        rec = _current()
        r = np.ndarray.__getitem__(np.ndarray.view(self, np.ndarray), _plain(index))
        if rec is None or not isinstance(r, (np.ndarray, np.generic)):
            return r
        pi = _plain(index)
        return rec.derived(r, (self, index), partial(_getitem_into, np.ndarray.view(self, np.ndarray), pi),
                           "__getitem__", redo=lambda: np.ndarray.__getitem__(self, pi))

    def __setitem__(self, index, value):
        rec = _current()
        plain = np.ndarray.view(self, np.ndarray)
        pi, pv = _plain(index), _plain(value)
        if rec is not None:
            rec.write(plain, "__setitem__")
        np.ndarray.__setitem__(plain, pi, pv)
        if rec is not None:
            rec.record(partial(np.ndarray.__setitem__, plain, pi, pv), "__setitem__")

    def _method(name):
        def method(self, *args, **kwargs):
            rec = _current()
            plain = np.ndarray.view(self, np.ndarray)
            pa, pkw = _plain(args), {k: _plain(v) for k, v in kwargs.items()}
            r = getattr(np.ndarray, name)(plain, *pa, **pkw)
            if rec is None or not isinstance(r, (np.ndarray, np.generic)):
                return r
            if name in ("copy", "astype", "__copy__") and isinstance(r, np.ndarray) and \
                    r.shape == plain.shape and set(pkw) <= {"dtype", "copy"}:
                # a copy or a cast of the whole array: one copyto into the buffer, no temporary
                # (astype and copyto cast alike: unsafe casting, element by element)
                return rec.derived(r, (self,), partial(_copy_into, plain), name,
                                   redo=lambda: getattr(np.ndarray, name)(self, *pa, **pkw))
            return rec.derived(r, (self,), partial(_method_into, name, plain, pa, pkw), name,
                               redo=lambda: getattr(np.ndarray, name)(self, *pa, **pkw))
        method.__name__ = name
        return method

    reshape = _method("reshape")
    ravel = _method("ravel")
    flatten = _method("flatten")
    astype = _method("astype")
    copy = _method("copy")
    transpose = _method("transpose")
    swapaxes = _method("swapaxes")
    squeeze = _method("squeeze")
    view = _method("view")
    __copy__ = _method("__copy__")
    del _method

    def fill(self, value):
        plain = np.ndarray.view(self, np.ndarray)
        rec = _current()
        if rec is not None:
            rec.write(plain, "fill")
        plain.fill(value)
        if rec is not None:
            rec.record(partial(plain.fill, value), "fill")

    # reading a value on the host: the replay would not read it again
    def _concrete(name):
        def method(self, *args, **kwargs):
            rec = _current()
            if rec is not None:
                rec.refuse(f"the step reads a value on the host ({name} at {_caller()}); move it "
                           f"out of the step (read the returned tensors after the call)")
            return getattr(np.ndarray, name)(np.ndarray.view(self, np.ndarray), *args, **kwargs)
        method.__name__ = name
        return method

    def __bool__(self):
        # A branch on the data (a check such as ``if bad.any(): raise``): recorded as a guard, which
        # a replay evaluates again; a different answer ends replaying (GuardFailed).
        value = np.ndarray.__bool__(np.ndarray.view(self, np.ndarray))
        rec = _current()
        if rec is not None:
            rec.guard(np.ndarray.view(self, np.ndarray), value, _caller())
        return value

    item = _concrete("item")
    tolist = _concrete("tolist")
    tobytes = _concrete("tobytes")
    __float__ = _concrete("__float__")
    __int__ = _concrete("__int__")
    __index__ = _concrete("__index__")
    __complex__ = _concrete("__complex__")
    __repr__ = _concrete("__repr__")
    __str__ = _concrete("__str__")
    __format__ = _concrete("__format__")
    del _concrete


#: The traced array type (a view of the step's real memory): the engine writes a VJP into it as into
#: a plain ndarray when it owns it (autograd._owned), so a captured step does what the eager one does.
TracedArray = _Traced


def _guard(plain, expected, where):
    if bool(plain) != expected:
        raise GuardFailed(f"the step branches on the data at {where}, and now takes the other branch "
                          f"than at capture")


def _getitem_into(src, index, out):
    out[...] = src[index]


def _copy_into(src, out):
    np.copyto(out, src, casting="unsafe")


def _method_into(name, plain, args, kwargs, out):
    np.copyto(out, getattr(np.ndarray, name)(plain, *args, **kwargs), casting="no")


def _call_into(func, args, kwargs, out):
    r = func(*args, **kwargs)
    if isinstance(out, tuple):
        for o, v in zip(out, r):
            np.copyto(o, v, casting="no")
    else:
        np.copyto(out, r, casting="no")


# NumPy 2.4 deprecates a positional out for these
_NO_POSITIONAL_OUT = {np.maximum, np.minimum}


def _ufunc_call(ufunc, method, inputs, kwargs):
    """The prebound call; a plain call's outputs go positionally (NumPy parses them ~0.3 us
    faster than ``out=(...)``, per call of every replay)."""
    out = kwargs.get("out")
    if method == "__call__" and out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        if all(o is not None for o in outs) and len(outs) == ufunc.nout:
            rest = {k: v for k, v in kwargs.items() if k != "out"}
            if ufunc in _NO_POSITIONAL_OUT:
                return partial(ufunc, *inputs, out=outs[0], **rest)
            return partial(ufunc, *inputs, *outs, **rest)
    return partial(getattr(ufunc, method), *inputs, **kwargs)


def _accepts_out(func) -> bool:
    try:
        return "out" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


# NumPy functions that write into their first argument
_WRITES_FIRST = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}
# functions whose Python-number results depend on shapes and dtypes only
_SHAPE_ONLY = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
               np.iscomplexobj, np.isrealobj, np.can_cast, np.min_scalar_type}
# creation functions made traced while a capture runs: name -> how a replay re-initialises
_CREATORS = ("zeros", "ones", "empty", "full")
# conversions that would hand back a plain ndarray (NumPy drops the subclass): kept traced
_CONVERTERS = ("asarray", "array", "ascontiguousarray")
# NumPy's own functions, put back after every capture
_CREATOR_ORIGINALS = {name: getattr(np, name) for name in (*_CREATORS, *_CONVERTERS)}


# -- the recorder -----------------------------------------------------------------------------------
class _Recorder:
    """The tape being captured, the arrays it owns, and the state snapshots of the safety net."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.calls = []           # [(callable, label)] in order
        self.keep = []            # every array the tape refers to, kept alive (ids stay unique)
        self.owned = set()        # ids of roots the tape made (its static buffers)
        self.external = {}        # id(root) -> root: arrays of tensors/optimizer state at capture start
        self.snapshots = {}       # id(root) -> (root, copy before the step's first write)
        self.checksums = {}       # id(root) -> crc of each external array when the step began
        self.written = set()      # ids of roots written by a recorded call
        self.effects = []         # per call: (ids of the roots it touches, ids of those it writes)
        self.pending = set()      # roots written since the last recorded call
        self.wrapping = False
        self.refused = None
        self.first_state_write = None   # label of the first call that writes external state
        self.signature = []             # per call: (label, its arguments described), see _describe

    def refuse(self, reason):
        """Mark the step as not replayable (the first reason is kept). Nothing is raised: every
        traced call computes its real result, so the step goes on and its eager result stands."""
        if self.refused is None:
            self.refused = reason

    def record(self, call, label):
        self.calls.append((call, label))
        touched = {}
        for v in _flat((call.args, call.keywords)):
            if isinstance(v, np.ndarray):
                root = _root(v)
                touched[id(root)] = root
        for k, root in touched.items():
            # external state the tape reads is kept too (reading changed nothing yet): the safety
            # net then also sees writes into it that the tracer missed
            if k in self.external and k not in self.snapshots:
                self.snapshot(k, root)
        touched = set(touched)
        self.effects.append((touched | self.pending, self.pending))
        self.pending = set()
        self.signature.append((label, [self._describe(v) for v in _flat((call.args, call.keywords))]))

    def _describe(self, v):
        """What a second capture must find again in this argument: a buffer of the tape or of the
        state (by role), or a constant (by value: an array the step made from other data, or a
        Python number, would be frozen by a replay)."""
        if isinstance(v, np.ndarray):
            k = id(_root(v))
            if k in self.owned or k in self.external:
                return ("buffer", v.shape, v.dtype.str)
            return ("constant", v.copy())
        if isinstance(v, (bool, int, float, complex, str, np.generic)) or v is None:
            return ("value", v)
        return ("object", type(v).__name__)

    def snapshot(self, k, root):
        """Keep external array ``root`` as the step first touches it; it must still hold what it
        held when the step began (else something the tracer does not see wrote into it)."""
        copy = root.copy()
        self.snapshots[k] = (root, copy)
        if _crc(copy) != self.checksums[k]:
            self.refuse(f"an array of shape {root.shape} (a tensor's, a gradient's or optimizer state) "
                        f"was changed inside the step by code the tracer does not see (a plain NumPy "
                        f"array sharing its memory?) before {_caller()}")

    def unseen_changes(self):
        """The external arrays the tape never touched that changed during the step anyway."""
        return [root.shape for k, root in self.external.items()
                if k not in self.snapshots and _crc(root) != self.checksums[k]]

    def guard(self, plain, value, where):
        """Record a branch on ``plain``'s truth value; only before the step changes any state, so
        that a replay whose guard fails has changed nothing but its own scratch buffers."""
        if self.first_state_write is not None:
            self.refuse(f"the step branches on the data (bool at {where}) after it changed state "
                        f"({self.first_state_write}); a replay could not stop cleanly there")
        self.record(partial(_guard, plain, value, where), f"guard at {where}")

    def wrap(self, r):
        """A fresh plain array (or NumPy scalar) the tape made, as a traced array it owns."""
        if isinstance(r, np.generic):
            r = np.asarray(r)
            r = r.copy() if r.base is not None else r
        root = _root(r)
        self.owned.add(id(root))
        self.pending.add(id(root))
        self.keep.append(root)
        self.wrapping = True
        try:
            return r.view(_Traced)
        finally:
            self.wrapping = False

    def view_of(self, r):
        self.wrapping = True
        try:
            return r.view(_Traced)
        finally:
            self.wrapping = False

    def write(self, plain, what):
        """The step writes into ``plain``: keep a copy of external state first; refuse unknown arrays."""
        root = _root(plain)
        k = id(root)
        if k in self.owned:
            self.written.add(k)
            self.pending.add(k)
            return
        if k in self.external:
            if self.first_state_write is None:
                self.first_state_write = f"{what} at {_caller()}"
            if k not in self.snapshots:
                self.snapshot(k, root)
            self.written.add(k)
            self.pending.add(k)
            return
        self.refuse(f"{what} at {_caller()} writes into an array (shape {plain.shape}) that is not a "
                    f"tensor's, a gradient's or an optimizer's state, nor made inside the step: a "
                    f"replay could not keep it right")

    def is_fresh(self, r, inputs) -> bool:
        """Whether ``r`` has memory of its own (not a view of any traced or plain input)."""
        if not isinstance(r, np.ndarray):
            return True
        root = id(_root(r))
        if root in self.owned or root in self.external:
            return False
        return not any(isinstance(a, np.ndarray) and id(_root(a)) == root for a in _flat(inputs))

    def derived(self, r, inputs, into, label, redo=None):
        """The result ``r`` of a method/indexing call: a copy is recorded; a view stays a view, made
        again by ``redo()`` on the traced array itself when given, so that (as eagerly) the view
        refers to its parent and reference counts stay the eager step's (the engine writes into a
        gradient array only when nothing else refers to it)."""
        if isinstance(r, np.generic) or self.is_fresh(r, _plain(inputs)):
            t = self.wrap(r)
            self.record(partial(into, np.ndarray.view(t, np.ndarray)), label)
            return t
        return self.view_from(r, redo)

    def view_from(self, r, redo):
        """The traced view: ``redo()`` (NumPy's own method on the traced parent) when it gives the
        same view, else a traced view of the plain result ``r``."""
        if redo is not None:
            self.wrapping = True
            try:
                v = redo()
            finally:
                self.wrapping = False
            if isinstance(v, _Traced) and v.shape == r.shape and v.dtype == r.dtype and \
                    v.strides == r.strides and v.__array_interface__["data"][0] == r.__array_interface__["data"][0]:
                return v
        return self.view_of(r)

    def ufunc(self, ufunc, method, inputs, pin, kwargs, pkw):
        label = f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__
        # writes are noted before they happen: the safety net copies external state first
        if method == "at":
            self.write(pin[0], label)
            getattr(ufunc, method)(*pin, **pkw)
            self.record(partial(ufunc.at, *pin, **pkw), label)
            return None
        out = pkw.get("out")
        if isinstance(out, tuple) and all(o is None for o in out):   # out=(None,) means no out
            pkw = {k: v for k, v in pkw.items() if k != "out"}
            out = None
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            for o in outs:
                if o is not None:
                    self.write(o, label)
            getattr(ufunc, method)(*pin, **pkw)
            self.record(_ufunc_call(ufunc, method, pin, pkw), label)
            given = kwargs["out"]
            given = given if isinstance(given, tuple) else (given,)
            return given[0] if len(given) == 1 else given
        r = getattr(ufunc, method)(*pin, **pkw)
        if isinstance(r, tuple):
            ts = tuple(self.wrap(v) for v in r)
            pout = tuple(np.ndarray.view(t, np.ndarray) for t in ts)
        else:
            ts = self.wrap(r)
            pout = (np.ndarray.view(ts, np.ndarray),)
        self.record(_ufunc_call(ufunc, method, pin, dict(pkw, out=pout)), label)
        return ts

    def function(self, func, args, pa, kwargs, pkw):
        label = f"np.{func.__name__}"
        if func in _WRITES_FIRST:
            self.write(pa[0] if pa else next(iter(pkw.values())), label)
            r = func(*pa, **pkw)
            self.record(partial(func, *pa, **pkw), label)
            return r
        if pkw.get("out") is not None:
            out = pkw["out"]
            for o in (out if isinstance(out, tuple) else (out,)):
                self.write(o, label)
            func(*pa, **pkw)
            self.record(partial(func, *pa, **pkw), label)
            return kwargs["out"]
        r = func(*pa, **pkw)
        if func in _SHAPE_ONLY:
            return r
        if isinstance(r, (tuple, list)) and all(isinstance(v, (np.ndarray, np.generic)) for v in r):
            items = list(r)
        elif isinstance(r, (np.ndarray, np.generic)):
            items = None
        else:
            if isinstance(r, (bool, int, float, complex)):
                self.refuse(f"{label} at {_caller()} returns a Python value computed from the data "
                            f"({r!r}); a replay would not compute it again")
            return r
        if items is None:
            if isinstance(r, np.generic) or self.is_fresh(r, pa):
                t = self.wrap(r)
                buf = np.ndarray.view(t, np.ndarray)
                init = _LIKE_INIT.get(func.__name__)
                if init is not None:
                    self._record_init(buf, init(pa, pkw), label)
                elif _accepts_out(func) and isinstance(r, np.ndarray):
                    self.record(partial(func, *pa, out=buf, **pkw), label)
                else:
                    self.record(partial(_call_into, func, pa, pkw, buf), label)
                return t
            impl = getattr(func, "_implementation", None)
            return self.view_from(r, None if impl is None else (lambda: impl(*args, **kwargs)))
        fresh = [isinstance(v, np.generic) or self.is_fresh(v, pa) for v in items]
        if any(fresh) and not all(fresh):
            self.refuse(f"{label} at {_caller()} returns views and new arrays at once; not traced")
        if not any(fresh):
            out = [self.view_of(v) for v in items]
        else:
            out = [self.wrap(v) for v in items]
            bufs = tuple(np.ndarray.view(t, np.ndarray) for t in out)
            self.record(partial(_call_into, func, pa, pkw, bufs), label)
        return type(r)(out) if isinstance(r, tuple) else out

    def _record_init(self, buf, value, label):
        """A buffer the step made; re-initialised on replay only if the tape writes into it later."""
        if value is _EMPTY:
            return
        self.pending.add(id(_root(buf)))
        self.record(partial(np.copyto, buf, value), label)

    def created(self, name, r, args, kwargs):
        """A traced buffer from np.zeros/ones/empty/full, with its re-initialisation recorded."""
        t = self.wrap(r)
        buf = np.ndarray.view(t, np.ndarray)
        value = {"zeros": 0, "ones": 1, "empty": _EMPTY}.get(name)
        if name == "full":
            value = np.array(kwargs["fill_value"] if "fill_value" in kwargs else args[1], copy=True)
            value = _plain(value)
        self._record_init(buf, value, f"np.{name}")
        return t

    def tape(self):
        """The recorded calls, less those that compute the same values on every replay.

        A buffer varies when external state (parameters, gradients, optimizer state, the inputs)
        flows into it; a call touching no varying buffer reads only constants and buffers that
        hold the same values every time (the engine's seed gradient, 1/n of a mean, the
        initialisation of a buffer nothing else writes): its result from capture stands."""
        varying = set(self.external)
        changed = True
        while changed:                   # a later write can make an earlier-read buffer vary
            changed = False
            for touched, writes in self.effects:
                if not touched.isdisjoint(varying) and not writes <= varying:
                    varying |= writes
                    changed = True
        return [(c, label) for (c, label), (touched, _) in zip(self.calls, self.effects)
                if not touched.isdisjoint(varying)]


_EMPTY = object()
_LIKE_INIT = {"zeros_like": lambda a, k: 0, "ones_like": lambda a, k: 1,
              "empty_like": lambda a, k: _EMPTY,
              "full_like": lambda a, k: np.array(k["fill_value"] if "fill_value" in k else a[1])}


def _flat(x):
    if isinstance(x, (tuple, list)):
        for v in x:
            yield from _flat(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _flat(v)
    else:
        yield x


def _creator(name, original):
    def make(*args, **kwargs):
        r = original(*args, **kwargs)
        rec = _current()
        if rec is None or type(r) is not np.ndarray:
            return r
        return rec.created(name, r, args, kwargs)
    make.__name__ = name
    make.__wrapped__ = original
    return make


def _converter(name, original):
    def convert(*args, **kwargs):
        rec = _current()
        if rec is None or not args or not _any_traced(args[0]):
            return original(*args, **kwargs)
        pa = _plain(args)
        r = original(*pa, **kwargs)
        if not isinstance(r, np.ndarray):
            return r
        if not rec.is_fresh(r, pa):
            a = args[0]
            if isinstance(a, _Traced) and r.shape == a.shape and r.dtype == a.dtype and \
                    r.strides == a.strides and r.__array_interface__["data"][0] == a.__array_interface__["data"][0]:
                return a            # as eagerly: asarray of an array is that array
            return rec.view_of(r)
        t = rec.wrap(r)
        buf = np.ndarray.view(t, np.ndarray)
        if isinstance(pa[0], np.ndarray) and pa[0].shape == r.shape and len(pa) == 1 and \
                set(kwargs) <= {"dtype", "copy", "order"}:
            rec.record(partial(np.copyto, buf, pa[0], casting="unsafe"), f"np.{name}")
        else:
            rec.record(partial(_call_into, original, pa, kwargs, buf), f"np.{name}")
        return t
    convert.__name__ = name
    convert.__wrapped__ = original
    return convert


# -- finding the state a step can touch ----------------------------------------------------------------
def _optimizers(objects):
    """Objects shaped like PyTorch's optimizers: a class with ``step`` and ``zero_grad``, instances
    with ``param_groups`` (a list) and ``state`` (a dict of per-parameter dicts). Only the class is
    asked first (asking arbitrary objects for attributes runs their __getattr__)."""
    shaped = {}                               # type -> whether it has step and zero_grad
    for o in objects:
        cls = type(o)
        ok = shaped.get(cls)
        if ok is None:
            ok = shaped[cls] = callable(getattr(cls, "zero_grad", None)) and \
                callable(getattr(cls, "step", None))
        if not ok:
            continue
        d = getattr(o, "__dict__", None)
        if isinstance(d, dict) and isinstance(d.get("param_groups"), list) and isinstance(d.get("state"), dict):
            yield o


class _Swap:
    """The arrays of every CPU Tensor and optimizer state swapped for traced views (and back)."""

    def __init__(self, rec):
        self.rec = rec
        self.tensors = []      # (tensor, original array, traced view, .grad, version) at the start
        self.effects = []      # (tensor, .grad after the step, version bump, .grad was None before)
        self.states = []       # (state dict, key, original array, traced view)
        self.counts = []       # (state dict, key, original int, its 0-d array, traced view)
        self.numbers = []      # (owner label, state dict, key, value): Python numbers in state
        self.optimizers = []   # the optimizers found (their Python values are frozen by a replay)

    def enter(self):
        objects = gc.get_objects()
        rec = self.rec
        for o in objects:
            if issubclass(type(o), Tensor) and type(o._data) is np.ndarray:
                a = o._data
                rec.external[id(_root(a))] = _root(a)
                o._data = rec.view_of(a)
                self.tensors.append((o, a, o._data, o.grad, o._vc[0] if o._vc is not None else 0))
        for opt in _optimizers(objects):
            self.optimizers.append(opt)
            for i, s in enumerate(opt.state.values()):
                if not isinstance(s, dict):
                    continue
                for k, v in list(s.items()):
                    if type(v) is np.ndarray:
                        rec.external[id(_root(v))] = _root(v)
                        s[k] = rec.view_of(v)
                        self.states.append((s, k, v, s[k]))
                    elif k == "step" and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                        # Adam's step count: a 0-d array while capturing, so it advances on replay
                        arr = np.array(int(v), dtype=np.int64)
                        rec.external[id(arr)] = arr
                        s[k] = rec.view_of(arr)
                        self.counts.append((s, k, v, arr, s[k]))
                    elif isinstance(v, (int, float, np.generic)):
                        self.numbers.append((f"{type(opt).__name__}.state[{i}][{k!r}]", s, k, v))
        rec.checksums = {k: _crc(root) for k, root in rec.external.items()}

    def changed_numbers(self):
        """The Python numbers of optimizer state the step changed (a replay would freeze them)."""
        return [label for label, s, k, v in self.numbers if s.get(k) is not v and s.get(k) != v]

    def leave(self):
        """Every array left traced in a tensor or optimizer state becomes a plain view again."""
        for t, a, traced, grad, version in self.tensors:
            if t._data is traced:       # untouched binding: the very array it had before
                t._data = a
            bump = (t._vc[0] if t._vc is not None else 0) - version
            if t.grad is not grad or bump:
                self.effects.append((t, t.grad, bump, grad is None))
        for s, k, v, traced in self.states:
            if s.get(k) is traced:
                s[k] = v
        for s, k, v, arr, traced in self.counts:
            if s.get(k) is traced:   # a count the step advanced stays an array (replays advance it)
                s[k] = arr if id(arr) in self.rec.written else v
        objects = gc.get_objects()   # tensors and state the step made, too
        for o in objects:
            if issubclass(type(o), Tensor) and isinstance(o._data, _Traced):
                o._data = _plain(o._data)
        for opt in _optimizers(objects):
            for s in opt.state.values():
                if isinstance(s, dict):
                    for k, v in s.items():
                        if isinstance(v, _Traced):
                            s[k] = _plain(v)


def _python_values(opt):
    """What a replay freezes of an optimizer, beside its arrays' contents: each param group's Python
    values (lr, momentum, betas, weight decay: a scheduler or the user may change them between
    calls), which parameters it holds and whether each requires grad (a parameter frozen later gets
    no .grad eagerly and is skipped by the optimizer), and which objects its state holds (a
    ``load_state_dict`` puts new arrays there, which a replay would not update). Compared with
    ``==`` before every replay."""
    return ([({k: v for k, v in g.items() if k != "params"},
              [(id(p), getattr(p, "requires_grad", None)) for p in g.get("params", ())])
             for g in opt.param_groups],
            [(id(s), [(k, id(v)) for k, v in s.items()] if isinstance(s, dict) else None)
             for s in opt.state.values()])


def _stepped(swap):
    """The optimizers the step used: those holding a parameter the step changed (its .grad bound or
    its version bumped); other optimizers alive in the process (an eager twin, another model's) are
    none of the replay's business."""
    changed = {id(t) for t, *_ in swap.effects}
    return [opt for opt in swap.optimizers
            if any(id(p) in changed for g in opt.param_groups for p in g.get("params", ()))]


# -- capture and replay ---------------------------------------------------------------------------------
def _detach_outputs(out):
    if isinstance(out, (tuple, list)):
        return type(out)(o.detach() if isinstance(o, Tensor) else o for o in out)
    return out.detach() if isinstance(out, Tensor) else out


def _output_arrays(out):
    items = out if isinstance(out, (tuple, list)) else (out,)
    return [o._data for o in items if isinstance(o, Tensor)]


def _rng_states():
    tables = [creation._generators]
    scoped = getattr(creation._scoped, "active", None)
    if scoped is not None:
        tables.append(scoped[1])
    return {(i, k): repr(g.bit_generator.state) for i, t in enumerate(tables) for k, g in t.items()}


def capture(step, static_inputs, previous=None):
    """Run ``step(*static_inputs)`` once, traced. Returns ``(outputs, replay, reason)``: ``replay``
    is None when the step cannot be replayed and ``reason`` says why; the outputs are the eager
    step's in either case (the step ran exactly once, with its real results).

    ``previous``: the replay of an earlier capture of the same step. The two tapes must agree call
    for call, constants included: a constant that differs is data the tracer did not follow (an
    array changed by plain NumPy code, a Python number that moves between steps), which a replay
    would freeze."""
    global _active
    if _active is not None:
        return step(*static_inputs), None, "a graphed step cannot capture inside another capture"
    rec = _Recorder()
    swap = _Swap(rec)
    originals = _CREATOR_ORIGINALS
    rng_before = _rng_states()
    try:
        swap.enter()
        for name in _CREATORS:
            setattr(np, name, _creator(name, originals[name]))
        for name in _CONVERTERS:
            setattr(np, name, _converter(name, originals[name]))
        _active = rec
        try:
            out = step(*static_inputs)
        finally:
            _active = None
            for name, f in originals.items():
                setattr(np, name, f)
        out = _detach_outputs(out)
        outs = [_plain(a) for a in _output_arrays(out)]
    finally:
        swap.leave()
    reason = rec.refused
    if reason is None:
        unseen = rec.unseen_changes()
        if unseen:
            reason = (f"the step changed arrays of shapes {', '.join(map(str, unseen))} (a tensor's, a "
                      f"gradient's or optimizer state) by code the tracer does not see")
    if reason is None:
        changed = swap.changed_numbers()
        if changed:
            reason = (f"the step changes Python numbers held in optimizer state ({', '.join(changed)}); "
                      f"a replay would freeze them")
    if reason is None:
        for a in outs:
            k = id(_root(a))
            if k not in rec.owned and k not in rec.external:
                reason = f"an output of the step (shape {a.shape}) is not an array the tape computes"
    if reason is not None:
        return out, None, reason
    if previous is not None:
        reason = _compare(previous.signature, rec.signature)
        if reason is not None:
            return out, None, reason
    tape = rec.tape()
    reason = _verify(rec, tape, outs)
    if reason is not None:
        return out, None, reason
    if _rng_states() != rng_before:
        warnings.warn("graphed step (cpu): the step draws random numbers (e.g. dropout); every replay "
                      "repeats the numbers drawn at capture, as a CUDA graph does", stacklevel=3)
    return out, Replay(tape, rec.signature, swap.effects,
                       (rec.keep, [r for r, _ in rec.snapshots.values()]),
                       [(opt, _python_values(opt)) for opt in _stepped(swap)]), None


class Replay:
    """A captured step: calling it runs the recorded calls in order, into their static buffers."""

    __slots__ = ("calls", "labels", "signature", "effects", "expects", "python", "_keep")

    def __init__(self, tape, signature, effects, keep, python=()):
        self.calls = tuple(c for c, _ in tape)      # prebound: func(*arrays, out=buffer, ...)
        self.labels = tuple(label for _, label in tape)
        self.signature = signature
        # what the step does in Python to the tensors it uses, done again after each replay as the
        # eager step does it: each .grad bound to the tensor holding its static buffer (or None),
        # each version counter bumped (optimizer updates), so saved graphs see the change
        self.effects = tuple((t, grad, bump) for t, grad, bump, _ in effects)
        # ... and what the step found: a .grad to add into, or none (the Python branch the engine
        # took at capture); checked before each replay, which otherwise changes nothing
        self.expects = tuple((t, was_none) for t, _, _, was_none in effects)
        self._keep = keep                            # the buffers (the calls hold them too)
        # the optimizers' Python values at capture (lr, betas, requires_grad...): the tape holds them
        # as constants, so a change stops replaying rather than being ignored
        self.python = tuple(python)

    def __call__(self):
        for opt, values in self.python:
            if _python_values(opt) != values:
                raise GuardFailed(f"{type(opt).__name__}'s param groups (a value such as lr, momentum, "
                                  f"betas or weight_decay, its parameters or their requires_grad) or its "
                                  f"state's arrays changed since the step was captured, and a replay would "
                                  f"keep the old ones (build a new graphed step after changing them)")
        for t, was_none in self.expects:
            if (t.grad is None) != was_none:
                raise GuardFailed(f"a tensor of shape {t.shape} had {'no ' if was_none else 'a '}.grad "
                                  f"when the step was captured and {'has one' if was_none else 'has none'} "
                                  f"now (zero_grad set_to_none the same way before every call, or inside "
                                  f"the step)")
        for c in self.calls:
            c()
        for t, grad, bump in self.effects:
            t.grad = grad
            if bump:
                t._version_counter()[0] += bump


def _compare(first, second):
    """None when two captures of a step recorded the same calls with the same constants, else why not."""
    if [label for label, _ in first] != [label for label, _ in second]:
        i = next((i for i, (a, b) in enumerate(zip(first, second)) if a[0] != b[0]), min(len(first), len(second)))
        what = lambda sig: sig[i][0] if i < len(sig) else "the end"
        return (f"two captures of the step made different calls (call {i}: {what(first)} then {what(second)}); "
                f"the step's Python control flow changes between steps")
    for i, ((label, a), (_, b)) in enumerate(zip(first, second)):
        for x, y in zip(a, b):
            if x[0] != y[0] or (x[0] == "constant" and not _same(x[1], y[1])) or \
                    (x[0] != "constant" and x[1:] != y[1:]):
                kind = "an array the tracer does not follow" if x[0] == "constant" else "a Python value"
                return (f"{label} (call {i}) reads {kind} that changed between two captures of the "
                        f"step; a replay would freeze it (keep such state in tensors or optimizer state)")
    return None


def _restore_snapshots(rec):
    for root, copy in rec.snapshots.values():
        np.copyto(root, copy)


def _verify(rec, tape, outs):
    """Re-run the tape from the state the step started with; None when every array it wrote and every
    output equals the eager step's bitwise, else the reason (state left at the eager results)."""
    watched = {k: root for k, (root, _) in rec.snapshots.items()}
    eager = {k: root.copy() for k, root in watched.items()}
    eager_out = [a.copy() for a in outs]
    _restore_snapshots(rec)
    bad = None
    try:
        for i, (c, label) in enumerate(tape):
            c()
    except Exception as exc:
        bad = f"the replay of {label} (call {i}) failed: {type(exc).__name__}: {exc}"
    if bad is None:
        for k, root in watched.items():
            if not _same(root, eager[k]):
                bad = (f"a replay from the same start differs from the eager step in a state array of "
                       f"shape {root.shape}: the step changes it in a way the tracer does not see")
                break
    if bad is None:
        for a, e in zip(outs, eager_out):
            if not _same(a, e):
                bad = f"a replay from the same start gives another output (shape {a.shape}) than the eager step"
                break
    if bad is not None:
        for k, root in watched.items():
            np.copyto(root, eager[k])
        for a, e in zip(outs, eager_out):
            np.copyto(a, e)
    return bad


def _same(a, b) -> bool:
    """Bitwise equality (NaNs with the same bits are equal; -0.0 and 0.0 are not)."""
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.ascontiguousarray(a).view(np.uint8).tobytes() == np.ascontiguousarray(b).view(np.uint8).tobytes()
