"""``Optimizer``: parameter groups, per-parameter state, zero_grad, and state_dict round trips.

Subclasses implement ``step()`` on raw arrays of the parameters' array module (NumPy or CuPy),
writing into the existing parameter storage (never rebinding it) and then bumping each
parameter's version counter so the engine can tell that arrays saved for backward went stale.
"""
from __future__ import annotations

import copy
import functools
import warnings

import numpy as np

from ..backends import get_backend
from ..backends.cuda_runtime import note_lazy_state
from ..device import as_device
from ..ops._precision import F32, acc_dtype, is_half
from ..nn.module import clear_grad
from ..tensor import Tensor
from ..grad_mode import enable_grad


class Optimizer:
    """Holds ``param_groups`` (dicts with "params" plus hyperparameters) and ``state`` per parameter."""

    # Per-parameter state entries that are scalars kept on the host as 0-d NumPy arrays of their own
    # dtype whatever the parameter's device (NAdam's "mu_product"; PyTorch hosts those on the CPU too).
    _host_scalar_state: tuple = ()

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        self.state: dict = {}   # keyed by the parameter Tensor, as in PyTorch (Tensors hash by identity)
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters (a dict with "params" and any hyperparameters to override).

        Duplicates follow PyTorch's rules: a parameter listed twice in one group is a UserWarning
        (PyTorch's text) and is kept once here, so it is stepped once (PyTorch keeps both entries
        and steps it twice); a parameter already in another group is a ValueError. Tied weights
        reach an optimizer once anyway: ``model.parameters()`` yields a shared Parameter once.
        """
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        elsewhere = {id(p) for g in self.param_groups for p in g["params"]}
        seen, kept = set(), []
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: params[{i}] is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: params[{i}] (shape {p.shape}) must be a leaf "
                                 f"tensor with requires_grad=True")
            if id(p) in elsewhere:
                raise ValueError(f"{type(self).__name__}: some parameters appear in more than one "
                                 f"parameter group (params[{i}] of group {len(self.param_groups)}, "
                                 f"shape {p.shape}); give each parameter to one group")
            if id(p) in seen:
                warnings.warn(f"optimizer contains a parameter group with duplicate parameters "
                              f"({type(self).__name__}: params[{i}], shape {p.shape}); it is kept "
                              f"once (PyTorch keeps both and will make this an error: "
                              f"github.com/pytorch/pytorch/issues/40967)", UserWarning, stacklevel=3)
                continue
            seen.add(id(p))
            kept.append(p)
        params = kept
        group["params"] = params
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        self._require_nonnegative(lr=group["lr"], weight_decay=group.get("weight_decay", 0))

    def _require_nonnegative(self, **values) -> None:
        """ValueError naming the optimizer and the first of ``values`` that is negative or NaN."""
        for name, value in values.items():
            if not value >= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def _updates(self, new_state=None):
        """``(group, p, backend, state)`` for every parameter that has a gradient, in order.

        ``state`` is the parameter's state, made by ``new_state(group, array, xp)`` on its first
        update (None without ``new_state`` until the caller creates one). After the caller's loop
        body has updated ``p`` in place, its version counter is bumped, so graphs that saved the
        old values refuse to backward.
        """
        for group, p in self._params():
            if p.grad is None:
                continue
            backend = get_backend(p.device)
            state = self.state.get(p)
            if state is None and new_state is not None:
                note_lazy_state(self.state, p)
                state = self.state[p] = new_state(group, p._data, backend.xp)
            yield group, p, backend, state
            p._bump_version()

    def _group_states(self, group, new_state) -> list:
        """The states of ``group``'s parameters that have a gradient (made by ``new_state`` where
        missing, as ``_updates`` would): the ones one step updates, for a count shared by them."""
        states = []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if state is None:
                note_lazy_state(self.state, p)
                state = self.state[p] = new_state(group, p._data, get_backend(p.device).xp)
            states.append(state)
        return states

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (drop it, or zero it in place)."""
        for _, p in self._params():
            clear_grad(p, set_to_none)

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    @staticmethod
    def _evaluate(closure):
        """PyTorch's closure protocol: run ``closure()`` with gradients enabled, return its loss."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [{hyperparameters, "params": [index]}]}.

        Parameters are named by their position across the groups, as in PyTorch; array state is
        returned as Tensors (sharing storage) so ``gg.save`` keeps their device.
        """
        index, groups = {}, []
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                g["params"].append(index[id(p)])
            groups.append(g)
        state = {}
        for _, p in self._params():
            s = self.state.get(p)
            if s:
                state[index[id(p)]] = {k: (Tensor._wrap(v.copy(), as_device("cpu")) if k in self._host_scalar_state
                                           else _state_value(k, v, p)) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict``."""
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = []
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} holds {len(saved['params'])} "
                                 f"parameters in the saved state but {len(own['params'])} here")
            params.extend(zip(saved["params"], own["params"]))
        new_state = {}
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        for idx, p in params:
            s = saved_state.get(int(idx))
            if s is None:
                continue
            xp = get_backend(p.device).xp
            restored = {}
            for k, v in s.items():
                if k == "step":  # a count (the CUDA backend rebuilds its device copy on first use)
                    restored[k] = int(v.item() if hasattr(v, "item") else v)
                elif k in self._host_scalar_state:
                    restored[k] = np.array(v.numpy() if isinstance(v, Tensor) else v, copy=True)
                elif isinstance(v, Tensor) or hasattr(v, "shape"):
                    arr = v.numpy() if isinstance(v, Tensor) and v.device != p.device else (
                        v._data if isinstance(v, Tensor) else v)
                    if tuple(arr.shape) != p.shape:
                        raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter {idx} has shape "
                                         f"{tuple(arr.shape)} but the parameter has shape {p.shape}")
                    restored[k] = xp.array(arr, dtype=state_dtype(p.dtype), copy=True)
                else:
                    restored[k] = v
            new_state[p] = restored
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)
        self.state = new_state

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hp})"


def _state_value(key, value, p):
    """One entry of a parameter's state for state_dict: counts as ints, arrays as Tensors."""
    if key == "step":  # a Python int, or (CUDA) a 1-element device array kept for graph replay
        return int(value.item() if hasattr(value, "item") else value)
    if hasattr(value, "shape") and not isinstance(value, (int, float)):
        return Tensor._wrap(value, p.device)
    return value


# -- shared by the update formulas of the optimizers (sgd.py, adam.py, rmsprop.py, adagrad.py) ------
# Each optimizer module holds PyTorch's single-tensor formula written against an array module
# ``xp`` (with as few temporaries as NumPy allows: the user's gradient ``g`` is never written,
# everything else is updated in place), and beside it the same formula as one fused CuPy
# elementwise kernel, which runs when the backend has fused kernels (``backend.elementwise``).
# Hyperparameters are kernel scalars, so a schedule changing lr needs no recompilation; step
# counts that enter a formula (Adam, Adagrad) live on the device and are advanced there, so a
# captured CUDA graph replays with the right bias corrections / decay.
def state_dtype(dtype):
    """The dtype of an optimizer's state for parameters of ``dtype``: float32 for float16 ones.

    A float16 second moment underflows (a gradient of 1e-4 squares to 1e-8, below float16's
    smallest subnormal 6e-8) and eps = 1e-8 rounds to 0, so Adam divides 0 by 0 (PyTorch's NaN);
    Chainer and optax keep such state in float32, as here. Other dtypes keep their own."""
    return acc_dtype(dtype)


def state_zeros(xp, data, fill=0):
    """A new state array for parameter array ``data``: its shape, ``state_dtype`` of its dtype."""
    return xp.full(data.shape, fill, dtype=state_dtype(data.dtype))


def float32_step(update):
    """``update(backend, p, g, ...)`` run for a half-precision parameter on float32 copies of ``p``
    and ``g`` (its state is float32 already, ``state_zeros``), then ``p`` written back rounded once:
    the whole step, the fused kernels included, computes in float32 (they never see float16).
    Other dtypes call ``update`` as it is."""
    @functools.wraps(update)
    def wrapped(backend, p, g, *args, **kwargs):
        if not is_half(p.dtype):
            return update(backend, p, g, *args, **kwargs)
        p32 = p.astype(F32)
        out = update(backend, p32, g.astype(F32), *args, **kwargs)
        p[...] = p32
        return out
    return wrapped


def decayed_direction(xp, p, g, lr, weight_decay, decoupled, maximize):
    """The step direction of the Adam family, weight decay applied as PyTorch's: ``decoupled``
    (AdamW, Loshchilov & Hutter 2019) first shrinks ``p`` in place by ``1 - lr * weight_decay`` and
    leaves the gradient alone; otherwise the decay joins the gradient (L2, see ``direction``).
    Returns the direction array (it may be ``g`` itself: do not overwrite it)."""
    if decoupled:
        if weight_decay != 0:
            p *= 1 - lr * weight_decay
        return direction(xp, p, g, 0, maximize)[0]
    return direction(xp, p, g, weight_decay, maximize)[0]


def direction(xp, p, g, weight_decay, maximize):
    """(d, owned): d = (-g if maximize else g) + weight_decay * p; ``owned`` when d is a fresh array
    that may be overwritten (never ``g`` itself). Fresh arrays come from out=empty_like(...), so a
    0-d parameter gets a 0-d array (NumPy ufuncs return scalars for 0-d inputs)."""
    if weight_decay != 0:
        d = xp.multiply(p, weight_decay, out=xp.empty_like(p))
        if maximize:
            d -= g
        else:
            d += g
        return d, True
    if maximize:
        return xp.negative(g, out=xp.empty_like(g)), True
    return g, False


def device_step(xp, state):
    """Advance ``state["step"]`` on the device, first turning a host count into a 1-element array."""
    step = state["step"]
    # isinstance, not hasattr(step, "device"): NumPy 2 scalars have .device too, and a scalar
    # (e.g. a restored count) must become a device array as much as a Python int.
    if not isinstance(step, xp.ndarray):
        note_lazy_state(state, "step")
        step = state["step"] = xp.full((1,), int(step), dtype=xp.int64)
    step += 1
    return step


def step_scalar(xp, value, dtype):
    """A step-dependent factor of an update formula (a bias correction, a decayed rate), ready to be
    an operand: a Python float stays one; an array (the step count kept as a 0-d array while a CPU
    step is captured, gpugrad/cpu_graph.py, so that replays advance it) was computed in float64 by
    the same operations as the float, and is rounded to ``dtype`` here, as NumPy rounds a Python
    float operand, so both give the same bits."""
    # a NumPy scalar too (what arithmetic on a 0-d array returns, e.g. when a fallback to eager left
    # the count an array): as an operand it is not weak like a Python float, so ``p *= np.float64(c)``
    # would compute in float64 and round once, other bits than rounding ``c`` to ``dtype`` first
    return value.astype(dtype) if isinstance(value, (xp.ndarray, np.generic)) else value
