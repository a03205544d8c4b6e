"""dtype resolution: NumPy dtypes or their names, and the default floating dtype."""
import numpy as np

_default_float = np.dtype(np.float32)
FLOAT_KINDS = "f"


def set_default_dtype(dtype) -> None:
    """Set the dtype that floating-point data becomes when no ``dtype`` is given (float32 at start)."""
    global _default_float
    d = resolve_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype such as 'float32' or 'float64', got {d}")
    _default_float = d


def get_default_dtype() -> np.dtype:
    """The dtype that floating-point data becomes when no ``dtype`` is given."""
    return _default_float


def resolve_dtype(dtype) -> np.dtype:
    """Turn a NumPy dtype, scalar type or name ("float64") into a ``numpy.dtype``."""
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}: pass a NumPy dtype or its name, e.g. 'float32'") from exc


def is_floating(dtype) -> bool:
    """True for floating-point dtypes, the only ones that can require gradients."""
    return np.dtype(dtype).kind == "f"


def floating_forward(forward):
    """``forward(backend, x, ...)`` with an integer or bool ``x`` first cast to the default float dtype.

    The one dtype rule of floating ops (exp, sigmoid, softmax, mean, ...), as PyTorch's: integer
    and bool inputs promote to the default float dtype (float32 unless set_default_dtype), never
    to whatever NumPy's ufunc picks (float16 for int8, float64 for int64, or a casting error).
    """
    def wrapped(backend, x, *rest, **params):
        if x.dtype.kind in "biu":
            x = x.astype(get_default_dtype())
        return forward(backend, x, *rest, **params)
    wrapped.__name__ = getattr(forward, "__name__", "forward")
    return wrapped


def promote_to_floating(arrays: list) -> list:
    """The operands of a binary arithmetic op, with an integer/bool array meeting a floating one cast
    to the floating dtype (PyTorch's rule: int64 + float16 is float16), where NumPy would widen to
    float64. Python scalars and operands of one kind are returned as they are (NEP 50 handles
    scalars). Called by ``op.apply`` for ops defined with ``same_kind=True`` when their array
    operands' dtypes differ."""
    dx, dy = (getattr(a, "dtype", None) for a in arrays)
    x, y = arrays
    if dx is not None and dy is not None and dx.kind != dy.kind:
        if dx.kind == "f" and dy.kind in "biu":
            y = y.astype(dx)
        elif dy.kind == "f" and dx.kind in "biu":
            x = x.astype(dy)
    return [x, y]


class DtypeMismatchError(TypeError, RuntimeError):
    """Floating operands of different dtypes where one is needed. A TypeError (Python's kind for a
    wrong type) that is also a RuntimeError, which is what PyTorch raises there, so an
    import-swapped script's ``except RuntimeError`` still catches it."""


def check_same_float_dtype(op: str, *operands) -> None:
    """PyTorch's rule at matrix products and layers: floating operands must share one dtype.

    ``operands`` are (name, tensor-or-None) pairs. A float64 batch fed to a float32 Linear (or any
    other mix) raises DtypeMismatchError (a TypeError and a RuntimeError) naming both dtypes and the fix, as PyTorch raises, instead of running
    the layer silently in the wider dtype (slower, and a model whose dtype depends on its input).
    Elementwise ops (``a + b``) and the elementwise losses promote, as in PyTorch."""
    first = None
    for name, t in operands:
        if t is None or getattr(t, "dtype", None) is None or t.dtype.kind != "f":
            continue
        if first is None:
            first = (name, t)
        elif t.dtype != first[1].dtype:
            (n0, t0), d1 = first, t.dtype
            raise DtypeMismatchError(
                f"{op}: {n0} is {t0.dtype} (shape {tuple(t0.shape)}) but {name} is {d1} (shape "
                f"{tuple(t.shape)}); floating operands must share one dtype here (PyTorch raises too, "
                f"rather than promote). Convert one to the other's dtype: the batch with x.float() / "
                f"x.to(gg.float32) for a float32 model, or the model with model.double() / "
                f"model.to(gg.float64) to run it in float64")
