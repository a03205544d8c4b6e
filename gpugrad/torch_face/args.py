"""PyTorch's argument names beside NumPy's: ``dim=`` for ``axis=``, ``keepdim=`` for ``keepdims=``.

gpugrad's ops are written with NumPy's names; people coming from PyTorch write ``x.sum(dim=1,
keepdim=True)``. ``accepts_torch_names`` lets one function answer both spellings, and refuses a
call that passes both (``axis=0, dim=1`` has no single meaning).
"""
from __future__ import annotations

import functools

#: The usual pairs: PyTorch name -> NumPy name.
DIM = {"dim": "axis", "keepdim": "keepdims"}


def rename_kwargs(fn_name: str, kwargs: dict, aliases: dict) -> dict:
    """``kwargs`` with every PyTorch name in ``aliases`` renamed to its NumPy name (in place).

    Raises TypeError when both spellings of one argument are given.
    """
    for torch_name, np_name in aliases.items():
        if torch_name in kwargs:
            if np_name in kwargs:
                raise TypeError(f"{fn_name}: got both {np_name}= (NumPy's name) and {torch_name}= "
                                f"(PyTorch's name) for the same argument; pass only one")
            kwargs[np_name] = kwargs.pop(torch_name)
    return kwargs


def accepts_torch_names(aliases: dict = DIM):
    """Decorator: the function also accepts the PyTorch keyword names in ``aliases``."""
    def deco(fn):
        name = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if kwargs:
                rename_kwargs(name, kwargs, aliases)
            return fn(*args, **kwargs)
        return wrapper
    return deco
