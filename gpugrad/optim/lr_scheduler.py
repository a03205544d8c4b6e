"""Learning-rate schedules with PyTorch's semantics (``torch.optim.lr_scheduler``).

Call ``scheduler.step()`` after ``optimizer.step()`` (once per epoch, or once per batch for
OneCycleLR). As in PyTorch, most schedules are *chainable*: each step multiplies (or moves) every
param group's current ``lr``, so two schedulers on one optimizer compose, and a run resumed from
an optimizer + scheduler state_dict continues with bit-identical rates.

Every schedule applies to **every** param group, including groups added later with
``optimizer.add_param_group``: a group's base rate is its ``"initial_lr"``, set (as PyTorch does)
to its ``"lr"`` when the scheduler first sees it. PyTorch 2.13 does the same for the chainable
schedules (StepLR, MultiStepLR, ExponentialLR, LinearLR, CosineAnnealingLR up to its first
restart); for LambdaLR, MultiplicativeLR, OneCycleLR and CosineAnnealingLR's restart it raises on
a group added later (``zip() argument 2 is shorter``), where gpugrad applies the (single)
lambda / max_lr / the group's own initial_lr to the new group too.

* ``LambdaLR``:          lr = initial_lr * lr_lambda(epoch)
* ``MultiplicativeLR``:  lr = lr * lr_lambda(epoch)           (from epoch 1)
* ``StepLR``:            lr = lr * gamma every ``step_size`` epochs
* ``MultiStepLR``:       lr = lr * gamma at each milestone (gamma ** k for a milestone given k times)
* ``ExponentialLR``:     lr = lr * gamma every epoch
* ``LinearLR``:          factor from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs
* ``CosineAnnealingLR``: eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (chained form)
* ``OneCycleLR``:        warm up to ``max_lr``, anneal to ``max_lr / div_factor / final_div_factor``
  (and cycle momentum / beta1 the other way)
* ``ConstantLR``:        lr = initial_lr * factor until epoch ``total_iters``, then initial_lr
* ``PolynomialLR``:      lr = initial_lr * (1 - epoch / total_iters) ** power (chained form), then constant
* ``CosineAnnealingWarmRestarts``: eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2,
  restarting when T_cur reaches T_i (T_i = T_0, then T_0 * T_mult ...); ``step(epoch)`` takes a
  fractional epoch (``step(epoch + i / iters)`` per batch)
* ``CyclicLR``:          triangle between ``base_lr`` and ``max_lr`` per batch (triangular, triangular2,
  exp_range or ``scale_fn``), momentum / beta1 cycled the other way
* ``ReduceLROnPlateau``: lr = max(lr * factor, min_lr) when ``step(metric)`` stops improving
* ``SequentialLR``:      one scheduler after another at ``milestones``
* ``ChainedScheduler``:  every scheduler's ``step()`` at each step (their effects compose)

Every scheduler has ``get_last_lr()``, ``state_dict()`` (plain numbers, strings, lists and dicts,
so ``gg.save`` stores it without pickling; lambdas are not saved, as in PyTorch) and
``load_state_dict()``.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter

from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "LinearLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "ConstantLR",
           "PolynomialLR", "CosineAnnealingWarmRestarts", "CyclicLR", "ChainedScheduler"]


def _check_optimizer(name: str, optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: expected a gpugrad Optimizer, got {type(optimizer).__name__}")


def _per_group(name: str, what: str, value, optimizer) -> list:
    """A scalar repeated per group, or a list checked to have one entry per group (PyTorch's rule)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name}: {what} has {len(value)} values but the optimizer has "
                             f"{len(optimizer.param_groups)} param groups; give one per group or a single value")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    """Base class: sets each param group's ``"lr"`` from its own ``"lr"``/``"initial_lr"`` and ``last_epoch``.

    Subclasses define ``_chained_lr(i, group)`` (the next rate from the current one, PyTorch's
    ``get_lr``) and, where a closed form exists, ``_closed_form_lr(i, group)`` (used by
    SequentialLR at its milestones and by ``step(epoch)``).
    """

    # attributes never written to state_dict (besides "optimizer"): callables, rebuilt on load
    _unsaved: tuple = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', needed to "
                                   f"resume with last_epoch={last_epoch}; load the optimizer's state_dict first, "
                                   f"or resume with scheduler.load_state_dict() instead of last_epoch")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    # -- the schedule --------------------------------------------------------------------------------
    def _chained_lr(self, i: int, group: dict) -> float:
        raise NotImplementedError

    _closed_form_lr = None   # subclasses with a closed form define a method (i, group) -> float

    def _groups(self) -> list:
        """The optimizer's groups, giving any group added since the last step its ``initial_lr``."""
        groups = self.optimizer.param_groups
        for g in groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in groups]
        return groups

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or, deprecated as in PyTorch, jump to ``epoch`` via the closed form)."""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        groups = self._groups()
        if epoch is None:
            self.last_epoch += 1
            rule = self._chained_lr
        else:
            self.last_epoch = int(epoch)
            rule = self._closed_form_lr or self._chained_lr
        lrs = [rule(i, g) for i, g in enumerate(groups)]   # all computed before any group changes
        for g, lr in zip(groups, lrs):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of every param group after the last ``step()``."""
        return list(self._last_lr)

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Every attribute but the optimizer and callables, as plain containers (``gg.save``-able)."""
        skip = {"optimizer", "_is_initial", *self._unsaved}
        return {k: _plain(v) for k, v in self.__dict__.items() if k not in skip}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``; also sets the groups' lrs to the saved ``get_last_lr()``, so loading
        the scheduler alone restores the rates (PyTorch leaves that to the optimizer's state_dict)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict from {name}.state_dict() "
                             f"(with 'last_epoch'), got {type(state_dict).__name__}")
        own = self.state_dict()
        for k, v in state_dict.items():
            if k in self._unsaved:
                continue
            if k not in own and not k.startswith("_"):
                raise ValueError(f"{name}.load_state_dict: unknown entry {k!r}; is this the state of a "
                                 f"different scheduler?")
            self.__dict__[k] = self._restore(k, v)
        last = state_dict.get("_last_lr")
        groups = self.optimizer.param_groups
        if last is not None and len(last) == len(groups):
            for g, lr in zip(groups, last):
                g["lr"] = float(lr)

    def _restore(self, key: str, value):
        return list(value) if isinstance(value, tuple) else value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch})"


def _plain(v):
    if isinstance(v, Counter):
        return {int(k): int(c) for k, c in v.items()}
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class _LambdaBase(LRScheduler):
    """Shared by LambdaLR and MultiplicativeLR: one callable per group, or one for all groups."""

    _unsaved = ("lr_lambdas", "_single_lambda")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = _per_group(name, "lr_lambda", lr_lambda, optimizer)
            self._single_lambda = None
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
            self._single_lambda = lr_lambda
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"{name}: lr_lambda must be a function of the epoch, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def _factor(self, i: int) -> float:
        if i >= len(self.lr_lambdas):   # a group added after construction
            if self._single_lambda is None:
                raise ValueError(f"{type(self).__name__}: the optimizer now has {i + 1} param groups but "
                                 f"{len(self.lr_lambdas)} lr_lambdas were given; append one to "
                                 f"scheduler.lr_lambdas for each group added, or pass a single lr_lambda")
            self.lr_lambdas.append(self._single_lambda)
        return self.lr_lambdas[i](self.last_epoch)


class LambdaLR(_LambdaBase):
    """lr = initial_lr * lr_lambda(epoch); ``lr_lambda`` a function or one per param group."""

    def _chained_lr(self, i, group):
        return group["initial_lr"] * self._factor(i)

    _closed_form_lr = _chained_lr


class MultiplicativeLR(_LambdaBase):
    """lr = lr * lr_lambda(epoch) at every step after the first (PyTorch's MultiplicativeLR)."""

    def _chained_lr(self, i, group):
        return group["lr"] if self._is_initial else group["lr"] * self._factor(i)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return group["lr"]
        return group["lr"] * self.gamma

    def _closed_form_lr(self, i, group):
        return group["initial_lr"] * self.gamma ** (self.last_epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones`` (a repeated milestone
    multiplies by gamma once per repeat, as in PyTorch)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        if self.last_epoch not in self.milestones:
            return group["lr"]
        return group["lr"] * self.gamma ** self.milestones[self.last_epoch]

    def _closed_form_lr(self, i, group):
        return group["initial_lr"] * self.gamma ** bisect_right(sorted(self.milestones.elements()),
                                                                self.last_epoch)

    def _restore(self, key, value):
        if key == "milestones":
            return Counter({int(k): int(c) for k, c in dict(value).items()})
        return super()._restore(key, value)


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        return group["lr"] if self._is_initial else group["lr"] * self.gamma

    def _closed_form_lr(self, i, group):
        return group["initial_lr"] * self.gamma ** self.last_epoch


class LinearLR(LRScheduler):
    """Scale the rate by a factor moving linearly from ``start_factor`` (epoch 0) to ``end_factor``
    (epoch ``total_iters`` and after)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if int(total_iters) < 1:
            raise ValueError(f"LinearLR: total_iters must be >= 1, got {total_iters}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        if self.last_epoch == 0:
            return group["lr"] * s
        if self._is_initial or self.last_epoch > n:
            return group["lr"]
        return group["lr"] * (1.0 + (e - s) / (n * s + (self.last_epoch - 1) * (e - s)))

    def _closed_form_lr(self, i, group):
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return group["initial_lr"] * (s + (e - s) * min(n, self.last_epoch) / n)


class CosineAnnealingLR(LRScheduler):
    """Anneal from the initial rate to ``eta_min`` along half a cosine over ``T_max`` epochs (and
    back up over the next T_max, as PyTorch's chained form does past T_max)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        e, t_max, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return group["lr"]
        if (e - 1 - t_max) % (2 * t_max) == 0:     # the bottom of the cosine: step back up
            return group["lr"] + (group["initial_lr"] - eta) * (1 - math.cos(math.pi / t_max)) / 2
        return ((1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max))
                * (group["lr"] - eta) + eta)

    def _closed_form_lr(self, i, group):
        return self.eta_min + (group["initial_lr"] - self.eta_min) * (
            1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class ConstantLR(LRScheduler):
    """Multiply the rate by ``factor`` (in [0, 1]) until epoch ``total_iters``, then restore it.
    PyTorch's ConstantLR (a warm-up at a constant low rate)."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = float(factor), int(total_iters)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        if self.last_epoch == 0:
            return group["lr"] * self.factor
        if self.last_epoch != self.total_iters:
            return group["lr"]
        return group["lr"] * (1.0 / self.factor)

    def _closed_form_lr(self, i, group):
        return group["initial_lr"] * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))


class PolynomialLR(LRScheduler):
    """Decay the rate as (1 - epoch / total_iters) ** power, reaching 0 at ``total_iters`` and
    staying there. PyTorch's PolynomialLR (chained: each step multiplies by the ratio of factors)."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        if int(total_iters) < 1:
            raise ValueError(f"PolynomialLR: total_iters must be >= 1, got {total_iters}")
        self.total_iters, self.power = int(total_iters), float(power)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):
        e, n = self.last_epoch, self.total_iters
        if self._is_initial or e > n:
            return group["lr"]
        return group["lr"] * ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power

    def _closed_form_lr(self, i, group):
        return group["initial_lr"] * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): cosine from initial_lr down to ``eta_min`` over T_i epochs, then
    a restart at initial_lr with T_i multiplied by ``T_mult`` (T_0, T_0 T_mult, ...).

    ``step()`` advances one epoch; ``step(epoch)`` jumps to ``epoch``, which may be fractional
    (``scheduler.step(epoch + i / iters)`` inside the batch loop, as PyTorch's docs show).
    Raises ValueError for T_0 < 1, T_mult < 1 (both integers) or a negative epoch."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive integer, got {T_0!r}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an integer >= 1, got {T_mult!r}")
        self.T_0, self.T_i, self.T_mult, self.eta_min = T_0, T_0, T_mult, float(eta_min)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, i, group):   # a closed form in T_cur / T_i: the same either way
        return self.eta_min + (group["initial_lr"] - self.eta_min) * (
            1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def step(self, epoch=None) -> None:
        """Advance one epoch, or go to ``epoch`` (a float is fine) and set T_cur/T_i from it."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts.step: epoch must be >= 0, got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:   # the restart count n: T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        groups = self._groups()
        self.last_epoch = math.floor(epoch)
        lrs = [self._chained_lr(i, g) for i, g in enumerate(groups)]
        for g, lr in zip(groups, lrs):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in groups]


class CyclicLR(LRScheduler):
    """The cyclical learning rate policy (Smith 2017), stepped once per batch: the rate goes from
    ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back over ``step_size_down``
    (default: the same), the amplitude scaled per cycle by ``mode`` ("triangular": 1,
    "triangular2": halved each cycle, "exp_range": gamma ** step) or a custom ``scale_fn(x)``
    (of the cycle, or of the step with ``scale_mode="iterations"``). With ``cycle_momentum`` the
    momentum (SGD) or beta1 (Adam ...) moves from ``max_momentum`` down to ``base_momentum`` the
    other way. base_lr, max_lr, base_momentum and max_momentum take one value or one per group.

    PyTorch's CyclicLR; its rule for groups applies (one value per group at construction: a group
    added later is refused with ValueError). A ``scale_fn`` is not saved by state_dict (a function,
    as with LambdaLR); pass it again when rebuilding.
    """

    _unsaved = ("_scale_fn_custom",)

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000, step_size_down=None,
                 mode: str = "triangular", gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        _check_optimizer("CyclicLR", optimizer)
        base_lrs = _per_group("CyclicLR", "base_lr", base_lr, optimizer)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", "max_lr", max_lr, optimizer)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if up <= 0 or down < 0:
            raise ValueError(f"CyclicLR: step_size_up must be > 0 and step_size_down >= 0, got {step_size_up} "
                             f"and {step_size_down}")
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' (or give "
                             f"scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode, self.gamma, self.scale_mode = mode, float(gamma), scale_mode
        self._scale_fn_custom = scale_fn
        if scale_fn is None:   # the built-in modes fix their scale_mode, as PyTorch
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"CyclicLR: cycle_momentum=True needs an optimizer with momentum or betas; "
                                 f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("CyclicLR", "base_momentum", base_momentum, optimizer)
            self.max_momentums = _per_group("CyclicLR", "max_momentum", max_momentum, optimizer)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, m_max)
                    group["max_momentum"], group["base_momentum"] = m_max, m_base
        self._cyclic_base_lrs = list(base_lrs)
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def scale_fn(self, x) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def _chained_lr(self, i, group):
        if i >= len(self._cyclic_base_lrs):
            raise ValueError(f"CyclicLR: the optimizer now has {i + 1} param groups but base_lr/max_lr were "
                             f"given for {len(self._cyclic_base_lrs)}; build the scheduler after adding groups")
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        scale_factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else self.last_epoch
        base_lr, max_lr = self._cyclic_base_lrs[i], self.max_lrs[i]
        if self.cycle_momentum:
            m_base, m_max = self.base_momentums[i], self.max_momentums[i]
            self._set_momentum(group, m_max - (m_max - m_base) * scale_factor * self.scale_fn(at))
        return base_lr + (max_lr - base_lr) * scale_factor * self.scale_fn(at)

    _closed_form_lr = _chained_lr


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch: the rate rises from
    ``max_lr / div_factor`` to ``max_lr`` over ``pct_start`` of ``total_steps``, then anneals to
    ``max_lr / div_factor / final_div_factor`` (``three_phase``: back to the start first). With
    ``cycle_momentum`` the momentum (SGD, RMSprop) or beta1 (Adam) moves the opposite way between
    ``max_momentum`` and ``base_momentum``. Stepping past ``total_steps`` raises, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum=0.85,
                 max_momentum=0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if int(total_steps) < 1:
                raise ValueError(f"OneCycleLR: total_steps must be a positive integer, got {total_steps}")
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            if int(epochs) < 1 or int(steps_per_epoch) < 1:
                raise ValueError(f"OneCycleLR: epochs and steps_per_epoch must be positive integers, got "
                                 f"{epochs} and {steps_per_epoch}")
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        n = self.total_steps
        if three_phase:
            self._phases = [[float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                            [float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"],
                            [n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"]]
        else:
            self._phases = [[float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                            [n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"]]
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        # kept to set up groups added later (None when given per group: a later group then raises)
        self._defaults = {"max_lr": max_lr, "max_momentum": max_momentum, "base_momentum": base_momentum}
        self._defaults = {k: (None if isinstance(v, (list, tuple)) else float(v)) for k, v in self._defaults.items()}
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum and not ("momentum" in optimizer.defaults or "betas" in optimizer.defaults):
            raise ValueError(f"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas; "
                             f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
        self.use_beta1 = "betas" in optimizer.defaults
        if last_epoch == -1:
            max_lrs = _per_group("OneCycleLR", "max_lr", max_lr, optimizer)
            maxm = _per_group("OneCycleLR", "max_momentum", max_momentum, optimizer)
            basem = _per_group("OneCycleLR", "base_momentum", base_momentum, optimizer)
            for g, lr, mm, bm in zip(optimizer.param_groups, max_lrs, maxm, basem):
                self._setup_group(g, float(lr), float(mm), float(bm))
        super().__init__(optimizer, last_epoch)

    def _setup_group(self, g, max_lr, max_momentum, base_momentum):
        g["initial_lr"] = max_lr / self.div_factor
        g["max_lr"] = max_lr
        g["min_lr"] = g["initial_lr"] / self.final_div_factor
        if self.cycle_momentum:
            if self.use_beta1:
                g["betas"] = (max_momentum, *g["betas"][1:])
            else:
                g["momentum"] = max_momentum
            g["max_momentum"], g["base_momentum"] = max_momentum, base_momentum

    def _groups(self):
        for i, g in enumerate(self.optimizer.param_groups):
            if "max_lr" not in g:     # a group added after construction
                d = self._defaults
                if None in d.values():
                    raise ValueError(f"OneCycleLR: param group {i} was added after the scheduler was built and "
                                     f"max_lr/momentum were given per group; set its 'max_lr', 'initial_lr', "
                                     f"'min_lr', 'max_momentum' and 'base_momentum' keys yourself")
                self._setup_group(g, d["max_lr"], d["max_momentum"], d["base_momentum"])
        return super()._groups()

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _chained_lr(self, i, group):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times but total_steps is {self.total_steps}; "
                             f"give total_steps (or epochs * steps_per_epoch) for the whole run")
        start = 0.0
        for k, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if step <= end or k == len(self._phases) - 1:
                pct = (step - start) / (end - start)
                lr = self._anneal(group[lr0], group[lr1], pct)
                if self.cycle_momentum:
                    m = self._anneal(group[m0], group[m1], pct)
                    if self.use_beta1:
                        group["betas"] = (m, *group["betas"][1:])
                    else:
                        group["momentum"] = m
                return lr
            start = end
        raise AssertionError("unreachable")

    _closed_form_lr = _chained_lr


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its epoch
    0), and so on; every scheduler must drive ``optimizer``. PyTorch's SequentialLR."""

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        _check_optimizer("SequentialLR", optimizer)
        schedulers, milestones = list(schedulers), [int(m) for m in milestones]
        if not schedulers:
            raise ValueError("SequentialLR: needs at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"SequentialLR: schedulers[{i}] is a ReduceLROnPlateau, whose step() needs a "
                                 f"metric; it cannot be sequenced")
            if not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] is a {type(s).__name__}, not a scheduler")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(s).__name__}) drives a different "
                                 f"optimizer; every scheduler must be built on the optimizer given here")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} milestones, "
                             f"got {len(milestones)}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        self.optimizer = optimizer
        self._schedulers, self._milestones = schedulers, milestones
        self.last_epoch = last_epoch + 1
        # The sub-schedulers each took a step when built; undo it and start the first one afresh.
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"]
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        k = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == self.last_epoch:
            s._update_lr(0)          # the next scheduler starts at its own epoch 0
        else:
            s.step()
        self._last_lr = s.get_last_lr()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones),
                "_last_lr": list(self._last_lr), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or len(state_dict.get("_schedulers", ())) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: expected the state of a SequentialLR of "
                             f"{len(self._schedulers)} schedulers")
        for s, sd in zip(self._schedulers, state_dict["_schedulers"]):
            s.load_state_dict(sd)
        self.last_epoch = int(state_dict["last_epoch"])
        self._milestones = [int(m) for m in state_dict["_milestones"]]
        self._last_lr = [float(x) for x in state_dict["_last_lr"]]
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):
            g["lr"] = lr


class ReduceLROnPlateau:
    """Multiply every group's lr by ``factor`` (down to its ``min_lr``) once ``step(metric)`` has not
    improved for more than ``patience`` calls; then wait ``cooldown`` calls. PyTorch's semantics:
    ``mode`` "min"/"max", ``threshold_mode`` "rel" (relative to the best) or "abs", and a change
    smaller than ``eps`` is not applied."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.threshold, self.threshold_mode, self.mode, self.eps = float(threshold), threshold_mode, mode, float(eps)
        if isinstance(min_lr, (list, tuple)):
            self.min_lrs = [float(m) for m in _per_group("ReduceLROnPlateau", "min_lr", min_lr, optimizer)]
            self.default_min_lr = None
        else:
            self.default_min_lr = float(min_lr)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < best * (1.0 - th) if self.threshold_mode == "rel" else a < best - th
        return a > best * (1.0 + th) if self.threshold_mode == "rel" else a > best + th

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number or a 0-d Tensor) and reduce the rates on a plateau."""
        try:
            current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number or a one-element tensor, "
                            f"got {type(metrics).__name__}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(self.min_lrs) < len(groups):   # groups added since construction
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} param groups but "
                                 f"{len(self.min_lrs)} min_lrs were given; append to scheduler.min_lrs")
            self.min_lrs += [self.default_min_lr] * (len(groups) - len(self.min_lrs))
        for g, floor in zip(groups, self.min_lrs):
            old = float(g["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                g["lr"] = new

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        """The learning rate of every param group after the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, as plain numbers and lists (``gg.save``-able)."""
        return {k: _plain(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        own = self.state_dict()
        if not isinstance(state_dict, dict) or not set(own) <= set(state_dict):
            raise ValueError("ReduceLROnPlateau.load_state_dict: expected a dict from "
                             "ReduceLROnPlateau.state_dict()")
        for k in own:
            v = state_dict[k]
            self.__dict__[k] = list(v) if isinstance(v, tuple) else v


class ChainedScheduler(LRScheduler):
    """Step every scheduler of ``schedulers`` at each ``step()``, in order, so their effects compose
    (e.g. ``ChainedScheduler([ConstantLR(o, 0.1, total_iters=2), ExponentialLR(o, 0.9)])``).
    All must drive one optimizer (``optimizer``, default the first one's); ReduceLROnPlateau,
    whose step needs a metric, cannot be chained. PyTorch's ChainedScheduler."""

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler: needs at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        _check_optimizer("ChainedScheduler", optimizer)
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"ChainedScheduler: schedulers[{i}] is a ReduceLROnPlateau, whose step() needs "
                                 f"a metric; it cannot be chained")
            if not isinstance(s, LRScheduler):
                raise TypeError(f"ChainedScheduler: schedulers[{i}] is a {type(s).__name__}, not a scheduler")
            if s.optimizer is not optimizer:
                raise ValueError(f"ChainedScheduler: schedulers[{i}] ({type(s).__name__}) drives a different "
                                 f"optimizer; every scheduler must be built on the same one")
        self._schedulers, self.optimizer = schedulers, optimizer
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"_last_lr": list(self._last_lr), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or len(state_dict.get("_schedulers", ())) != len(self._schedulers):
            raise ValueError(f"ChainedScheduler.load_state_dict: expected the state of a ChainedScheduler of "
                             f"{len(self._schedulers)} schedulers")
        for s, sd in zip(self._schedulers, state_dict["_schedulers"]):
            s.load_state_dict(sd)
        self._last_lr = [float(x) for x in state_dict["_last_lr"]]
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):
            g["lr"] = lr
