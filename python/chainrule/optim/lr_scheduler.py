"""Learning-rate schedulers with PyTorch 2.x semantics.

A scheduler only touches ``optimizer.param_groups``: a list of dict-like groups, each holding an
``'lr'``. That is the whole contract, so these schedulers drive a chainrule optimizer, a PyTorch
optimizer, or any object with that shape.

The semantics follow https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate:

* the constructor records ``group['initial_lr']`` (when ``last_epoch == -1``) and performs one
  initial step, so ``last_epoch`` is 0 and ``get_last_lr()`` is valid right after construction;
* ``step()`` is called once per epoch (or iteration), after ``optimizer.step()``;
* the decaying schedules are *chainable*: each step rescales the group's current lr, so they
  compose with other code that edits lr. CosineAnnealingLR therefore uses PyTorch's recursive form,
  which matches torch step for step rather than only up to rounding.

ReduceLROnPlateau differs, as in PyTorch: it starts at ``last_epoch == 0`` without an initial step
and its ``step(metrics)`` takes the monitored value.
"""

from __future__ import annotations as _annotations

import bisect as _bisect
import math as _math
import numbers as _numbers
import types as _types
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Callable, SupportsFloat

from chainrule._typing import OptimizerLike

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "LambdaLR",
    "ReduceLROnPlateau",
    "PolynomialLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "OneCycleLR",
    "SequentialLR",
    "ChainedScheduler",
]


# ---------------------------------------------------------------------------------------------
# Argument checks, shared by every scheduler. Each message starts with the scheduler's class name
# and names the argument, e.g. "StepLR: step_size must be a positive int, got 0".
# ---------------------------------------------------------------------------------------------


def _is_int(value):
    # bool is an int subclass, but step_size=True is a bug, not a 1.
    return isinstance(value, _numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, _numbers.Real) and not isinstance(value, bool)


def _check_int(owner, name, value, minimum):
    if not _is_int(value) or value < minimum:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{owner}: {name} must be {kind}, got {value!r}")
    return int(value)


def _check_real(owner, name, value, requirement, accept):
    if not _is_real(value) or not _math.isfinite(value) or not accept(value):
        raise ValueError(f"{owner}: {name} must be {requirement}, got {value!r}")
    return float(value)


def _check_optimizer(owner, optimizer):
    """Check that `optimizer` exposes PyTorch's param_groups interface; return the groups."""
    groups = getattr(optimizer, "param_groups", None)
    if groups is None:
        raise TypeError(
            f"{owner}: optimizer must have a 'param_groups' attribute (a list of dicts with an "
            f"'lr' entry), got {type(optimizer).__name__}"
        )
    if len(groups) == 0:
        raise ValueError(f"{owner}: optimizer.param_groups is empty")
    for index, group in enumerate(groups):
        if "lr" not in group:
            raise ValueError(f"{owner}: optimizer.param_groups[{index}] has no 'lr' entry")
    return groups


def _current_lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


# ---------------------------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------------------------


class LRScheduler:
    """Base class: subclasses implement ``get_lr()``, the lrs for the epoch ``last_epoch``.

    Args:
        optimizer: object with ``param_groups`` (list of dicts with ``'lr'``).
        last_epoch: index of the last epoch seen. Leave at -1 for a fresh run; a value >= 0 means
            "resuming", and then every group must already carry ``'initial_lr'``.
    """

    def __init__(self, optimizer: OptimizerLike, last_epoch: int = -1) -> None:
        owner = type(self).__name__
        groups = _check_optimizer(owner, optimizer)
        last_epoch = _check_int(owner, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer

        if last_epoch == -1:
            for group in groups:
                if "initial_lr" not in group:
                    group["initial_lr"] = group["lr"]
        else:
            for index, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{owner}: optimizer.param_groups[{index}] has no 'initial_lr', which is "
                        f"needed to resume with last_epoch={last_epoch}; restore the optimizer's "
                        "state first, or pass last_epoch=-1 for a fresh run"
                    )
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch

        # The initial step moves last_epoch to 0 (or last_epoch + 1 when resuming). While
        # `_is_initial` is set, the chainable schedules keep the lr they find: when resuming, the
        # optimizer already holds the lr of the epoch being restored.
        self._initial_step()

    def _initial_step(self):
        """The step a scheduler takes when it is built (SequentialLR calls it again when it hands
        over to this scheduler)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _update_lr(self, epoch: int) -> None:
        """Jump to ``epoch`` (closed form where the schedule has one); SequentialLR restarts a
        scheduler at epoch 0 with it."""
        self.last_epoch = epoch
        closed_form = getattr(self, "_get_closed_form_lr", None)
        values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _current_lrs(self.optimizer)

    def get_lr(self) -> list[float]:
        """Return the lr of every param group for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self) -> None:
        """Advance one epoch and write the new lrs into ``optimizer.param_groups``."""
        self._step_count += 1
        self.last_epoch += 1
        new_lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, new_lrs):
            group["lr"] = lr
        self._last_lr = _current_lrs(self.optimizer)

    def get_last_lr(self) -> list[float]:
        """Return the lrs set by the latest step, one per param group (a new list each call)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Return every attribute except the optimizer (which has its own state_dict)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore attributes saved by ``state_dict()``."""
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


# ---------------------------------------------------------------------------------------------
# Epoch-driven schedules
# ---------------------------------------------------------------------------------------------


class StepLR(LRScheduler):
    """Multiply lr by ``gamma`` every ``step_size`` epochs.

    Closed form: lr = base_lr * gamma ** (epoch // step_size).
    """

    def __init__(self, optimizer: OptimizerLike, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        self.gamma = _check_real("StepLR", "gamma", gamma, "a finite number > 0", lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma for lr in _current_lrs(self.optimizer)]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply lr by ``gamma`` at each epoch in ``milestones``.

    A milestone listed n times multiplies by ``gamma ** n`` (PyTorch counts repeats).
    """

    def __init__(
        self, optimizer: OptimizerLike, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        try:
            milestone_list = list(milestones)
        except TypeError:
            raise TypeError(
                f"MultiStepLR: milestones must be an iterable of ints, got {type(milestones).__name__}"
            ) from None
        for milestone in milestone_list:
            _check_int("MultiStepLR", "each of milestones", milestone, 0)
        self.milestones = Counter(int(m) for m in milestone_list)
        self.gamma = _check_real("MultiStepLR", "gamma", gamma, "a finite number > 0", lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.get(self.last_epoch, 0)
        if hits == 0:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma**hits for lr in _current_lrs(self.optimizer)]

    def _get_closed_form_lr(self):
        passed = sum(count for milestone, count in self.milestones.items() if milestone <= self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply lr by ``gamma`` every epoch: lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer: OptimizerLike, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_real("ExponentialLR", "gamma", gamma, "a finite number > 0", lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma for lr in _current_lrs(self.optimizer)]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to ``eta_min`` over ``T_max`` epochs (SGDR, Loshchilov &
    Hutter 2017, without restarts).

    Closed form: lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2. Past
    ``T_max`` the curve keeps going (back up to base_lr at 2 * T_max), as in PyTorch.

    Each step uses the ratio of consecutive closed-form values applied to the current lr (PyTorch's
    recursive form) so results agree with torch bit for bit and the schedule stays chainable.
    """

    def __init__(self, optimizer: OptimizerLike, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _check_real("CosineAnnealingLR", "eta_min", eta_min, "a finite number >= 0", lambda e: e >= 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _current_lrs(self.optimizer)
        epoch, period = self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:
            # The previous epoch sat at the bottom of the cosine (lr == eta_min), where the ratio
            # below would divide by zero; add the first step's increment instead.
            rise = (1 - _math.cos(_math.pi / period)) / 2
            return [
                lr + (base_lr - self.eta_min) * rise for lr, base_lr in zip(_current_lrs(self.optimizer), self.base_lrs)
            ]
        ratio = (1 + _math.cos(_math.pi * epoch / period)) / (1 + _math.cos(_math.pi * (epoch - 1) / period))
        return [ratio * (lr - self.eta_min) + self.eta_min for lr in _current_lrs(self.optimizer)]

    def _get_closed_form_lr(self):
        return [
            self.eta_min + (base_lr - self.eta_min) * (1 + _math.cos(_math.pi * self.last_epoch / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """Scale lr linearly from ``start_factor * base_lr`` to ``end_factor * base_lr`` over
    ``total_iters`` epochs, then hold it (a common warm-up)."""

    def __init__(
        self,
        optimizer: OptimizerLike,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self.start_factor = _check_real(
            "LinearLR", "start_factor", start_factor, "a number in (0, 1]", lambda f: 0 < f <= 1
        )
        self.end_factor = _check_real("LinearLR", "end_factor", end_factor, "a number in [0, 1]", lambda f: 0 <= f <= 1)
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = _current_lrs(self.optimizer)
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._is_initial or self.last_epoch > self.total_iters:
            return lrs
        # Ratio of this epoch's factor to the previous one, so the update is chainable:
        # factor(t) = start + (end - start) * t / total_iters.
        slope = self.end_factor - self.start_factor
        ratio = 1.0 + slope / (self.total_iters * self.start_factor + (self.last_epoch - 1) * slope)
        return [lr * ratio for lr in lrs]

    def _get_closed_form_lr(self):
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [
            base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
            for base_lr in self.base_lrs
        ]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch), with one callable for all groups or one per group.

    Not chainable: each step recomputes from base_lr. ``state_dict()`` cannot save plain functions;
    like PyTorch it stores None for them and the ``__dict__`` of callable objects.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        groups = _check_optimizer("LambdaLR", optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(
                    f"LambdaLR: lr_lambda has {len(lr_lambda)} callables but the optimizer has "
                    f"{len(groups)} param groups"
                )
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * len(groups)
        for function in lambdas:
            if not callable(function):
                raise TypeError(
                    f"LambdaLR: lr_lambda must be a callable or a list of callables, got {type(function).__name__}"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * function(self.last_epoch) for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(function, _types.FunctionType) else dict(function.__dict__)
            for function in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)  # leave the caller's dict as it was
        saved_lambdas = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for function, saved in zip(self.lr_lambdas, saved_lambdas):
            if saved is not None:
                function.__dict__.update(saved)


# ---------------------------------------------------------------------------------------------
# Metric-driven schedule
# ---------------------------------------------------------------------------------------------


class ReduceLROnPlateau(LRScheduler):
    """Multiply lr by ``factor`` once the monitored metric has not improved for more than
    ``patience`` consecutive steps.

    Args:
        mode: 'min' (the metric should fall, e.g. a loss) or 'max' (e.g. an accuracy).
        factor: new_lr = lr * factor, in [0, 1).
        patience: number of bad steps tolerated; the lr drops on bad step ``patience + 1``.
        threshold, threshold_mode: what counts as an improvement over the best value so far:
            'rel': metric < best * (1 - threshold) for 'min', > best * (1 + threshold) for 'max';
            'abs': metric < best - threshold for 'min', > best + threshold for 'max'.
        cooldown: steps to wait after a reduction before counting bad steps again.
        min_lr: lower bound on the lr, one number for all groups or one per group.
        eps: a reduction smaller than eps is skipped.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        owner = "ReduceLROnPlateau"
        groups = _check_optimizer(owner, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = _check_real(owner, "factor", factor, "a number in [0, 1)", lambda f: 0 <= f < 1)
        self.patience = _check_int(owner, "patience", patience, 0)
        self.threshold = _check_real(owner, "threshold", threshold, "a finite number >= 0", lambda t: t >= 0)
        self.cooldown = _check_int(owner, "cooldown", cooldown, 0)
        self.eps = _check_real(owner, "eps", eps, "a finite number >= 0", lambda e: e >= 0)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ValueError(
                    f"{owner}: min_lr has {len(min_lr)} entries but the optimizer has {len(groups)} param groups"
                )
            self.min_lrs = [
                _check_real(owner, "each of min_lr", value, "a finite number >= 0", lambda m: m >= 0)
                for value in min_lr
            ]
        else:
            self.min_lrs = [_check_real(owner, "min_lr", min_lr, "a finite number >= 0", lambda m: m >= 0)] * len(
                groups
            )
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.optimizer = optimizer
        # No initial step here (as in PyTorch): the first step() needs a metric.
        self.last_epoch = 0
        self._last_lr = _current_lrs(optimizer)
        self.best = _math.inf if mode == "min" else -_math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, metric):
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return metric < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return metric > bar

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]  # the metric, as in PyTorch
        """Record one value of the monitored metric (a number, or a 0-d tensor/array)."""
        metric = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1

        # A NaN metric compares False, so it counts as a bad step, as in PyTorch.
        if self._is_improvement(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0

        if self.num_bad_epochs > self.patience:
            self._reduce_lrs()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

        self._last_lr = _current_lrs(self.optimizer)

    def _reduce_lrs(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise RuntimeError(
                f"ReduceLROnPlateau: the optimizer now has {len(groups)} param groups but min_lr "
                f"was given for {len(self.min_lrs)}; set scheduler.min_lrs to match"
            )
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr


# ---------------------------------------------------------------------------------------------
# Schedules driven per iteration, and schedulers made of schedulers
# ---------------------------------------------------------------------------------------------


def _per_group(owner, name, value, groups):
    """One value per param group: a number for all, or a list/tuple with one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"{owner}: expected {len(groups)} values for {name}, got {len(value)}")
        return [float(v) for v in value]
    if not _is_real(value):
        raise ValueError(f"{owner}: {name} must be a number or a list of numbers, got {value!r}")
    return [float(value)] * len(groups)


def _momentum_key(owner, optimizer):
    """'betas' when the optimizer keeps Adam's (beta1, beta2), 'momentum' when it has momentum;
    PyTorch's cycle_momentum needs one of them."""
    defaults = getattr(optimizer, "defaults", {})
    if "betas" in defaults:
        return "betas"
    if "momentum" in defaults:
        return "momentum"
    raise ValueError(f"{owner}: optimizer must support momentum or beta1 with `cycle_momentum` option enabled")


def _set_momentum(group, key, value):
    if key == "betas":
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class PolynomialLR(LRScheduler):
    """Decay lr to 0 over ``total_iters`` steps: lr = base_lr * (1 - t / total_iters) ** power,
    then hold it."""

    def __init__(
        self, optimizer: OptimizerLike, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        self.total_iters = _check_int("PolynomialLR", "total_iters", total_iters, 1)
        self.power = _check_real("PolynomialLR", "power", power, "a finite number", lambda p: True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return _current_lrs(self.optimizer)
        decay = (
            (1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters)
        ) ** self.power
        return [lr * decay for lr in _current_lrs(self.optimizer)]

    def _get_closed_form_lr(self):
        return [
            base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): cosine annealing from base_lr to ``eta_min`` over ``T_0``
    steps, then a restart at base_lr; each period is ``T_mult`` times the previous one.
    step(epoch) accepts a fractional epoch, as in PyTorch."""

    T_cur: float  # epochs since the last restart; fractional when step() is given a fractional epoch

    def __init__(
        self, optimizer: OptimizerLike, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        owner = "CosineAnnealingWarmRestarts"
        self.T_0 = _check_int(owner, "T_0", T_0, 1)
        self.T_mult = _check_int(owner, "T_mult", T_mult, 1)
        self.eta_min = _check_real(owner, "eta_min", eta_min, "a finite number", lambda e: True)
        self.T_i = self.T_0
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            self.eta_min + (base_lr - self.eta_min) * (1 + _math.cos(_math.pi * self.T_cur / self.T_i)) / 2
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not _is_real(epoch) or epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be a non-negative number, got {epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # Which period the epoch falls in: T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch.
                    n = int(_math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self._step_count += 1
        self.last_epoch = _math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = _current_lrs(self.optimizer)


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017): lr cycles between ``base_lr`` and ``max_lr``, rising
    over ``step_size_up`` steps and falling over ``step_size_down``; momentum (or Adam's beta1)
    cycles the other way between ``max_momentum`` and ``base_momentum``. Step it per batch.

    mode: 'triangular' (constant amplitude), 'triangular2' (halved each cycle) or 'exp_range'
    (scaled by gamma ** iteration); scale_fn overrides it (scale_mode 'cycle' or 'iterations').
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        owner = "CyclicLR"
        groups = _check_optimizer(owner, optimizer)
        base_lrs = _per_group(owner, "base_lr", base_lr, groups)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, groups):
                group["lr"] = lr
        self.max_lrs = _per_group(owner, "max_lr", max_lr, groups)
        up = _check_real(owner, "step_size_up", step_size_up, "a positive number", lambda s: s > 0)
        down = (
            up
            if step_size_down is None
            else _check_real(owner, "step_size_down", step_size_down, "a positive number", lambda s: s > 0)
        )
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(
                f"{owner}: mode must be 'triangular', 'triangular2' or 'exp_range' (or give scale_fn), got {mode!r}"
            )
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{owner}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode = mode
        self.gamma = _check_real(owner, "gamma", gamma, "a finite number", lambda g: True)
        self._scale_fn_custom = scale_fn
        self.scale_mode = (
            scale_mode
            if scale_fn is not None
            else {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}[mode]
        )
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self._momentum_key = _momentum_key(owner, optimizer)
            self.use_beta1 = self._momentum_key == "betas"
            self.base_momentums = _per_group(owner, "base_momentum", base_momentum, groups)
            self.max_momentums = _per_group(owner, "max_momentum", max_momentum, groups)
            if last_epoch == -1:
                for high, low, group in zip(self.max_momentums, self.base_momentums, groups):
                    _set_momentum(group, self._momentum_key, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        cycle = _math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        scale_factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        # base_lrs is set after the initial step (which runs inside LRScheduler.__init__), as in PyTorch.
        base_lrs = getattr(self, "base_lrs", None) or _current_lrs(self.optimizer)
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * scale for base_lr, max_lr in zip(base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                _set_momentum(group, self._momentum_key, high - (high - low) * scale_factor * scale)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, _types.FunctionType) else dict(fn.__dict__)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_fn = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if saved_fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved_fn)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018): lr rises from max_lr / div_factor to ``max_lr`` over
    the first ``pct_start`` of ``total_steps`` (or epochs * steps_per_epoch), then anneals to
    initial_lr / final_div_factor; momentum (or beta1) moves the other way. Step it per batch;
    stepping past total_steps raises, as in PyTorch. three_phase adds a symmetric descent to
    initial_lr before the final annealing."""

    def __init__(
        self,
        optimizer: OptimizerLike,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        owner = "OneCycleLR"
        groups = _check_optimizer(owner, optimizer)
        if total_steps is not None:
            self.total_steps = _check_int(owner, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _check_int(owner, "epochs", epochs, 1) * _check_int(
                owner, "steps_per_epoch", steps_per_epoch, 1
            )
        else:
            raise ValueError(f"{owner}: You must define either total_steps OR (epochs AND steps_per_epoch)")
        pct_start = _check_real(owner, "pct_start", pct_start, "a number in [0, 1]", lambda p: 0 <= p <= 1)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        if three_phase:
            self._phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        max_lrs = _per_group(owner, "max_lr", max_lr, groups)
        div_factor = _check_real(owner, "div_factor", div_factor, "a positive number", lambda d: d > 0)
        final_div_factor = _check_real(
            owner, "final_div_factor", final_div_factor, "a positive number", lambda d: d > 0
        )
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self._momentum_key = _momentum_key(owner, optimizer)
            self.use_beta1 = self._momentum_key == "betas"
            highs = _per_group(owner, "max_momentum", max_momentum, groups)
            lows = _per_group(owner, "base_momentum", base_momentum, groups)
            if last_epoch == -1:
                for high, low, group in zip(highs, lows, groups):
                    _set_momentum(group, self._momentum_key, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (_math.cos(_math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: Tried to step {step} times. The specified number of total steps is {self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, (end_step, lr_from, lr_to, m_from, m_to) in enumerate(self._phases):
                if step <= end_step or index == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        _set_momentum(group, self._momentum_key, self._anneal(group[m_from], group[m_to], pct))
                    break
                start_step = end_step
        return lrs


class SequentialLR(LRScheduler):
    """Runs ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its
    epoch 0) until ``milestones[1]``, and so on; e.g. a LinearLR warm-up followed by cosine decay."""

    def __init__(
        self,
        optimizer: OptimizerLike,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        owner = "SequentialLR"
        groups = _check_optimizer(owner, optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(f"{owner} expects at least one scheduler, but got no scheduler.")
        for index, scheduler in enumerate(schedulers):
            _check_child(owner, index, scheduler, optimizer)
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{owner}: expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of "
                f"milestones to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = _check_int(owner, "last_epoch", last_epoch, -1) + 1
        self.optimizer = optimizer
        for group in groups:
            group["lr"] = group["initial_lr"]
        # Undo the initial step each scheduler took when it was built, then take the first one's.
        for scheduler in _leaves(self):
            scheduler.last_epoch -= 1
        first = self._schedulers[_bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        index = _bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, s in zip(self._schedulers, saved):
            scheduler.load_state_dict(s)


class ChainedScheduler(SequentialLR):
    """Steps every scheduler in ``schedulers`` on each step(), so their effects multiply (e.g.
    ConstantLR-style warm-up and ExponentialLR decay at once)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: OptimizerLike | None = None) -> None:
        owner = "ChainedScheduler"
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(f"{owner} expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        for index, scheduler in enumerate(schedulers):
            _check_child(owner, index, scheduler, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _current_lrs(schedulers[-1].optimizer)

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _current_lrs(self._schedulers[-1].optimizer)


def _check_child(owner, index, scheduler, optimizer):
    if not hasattr(scheduler, "optimizer"):
        raise TypeError(f"{owner}: the scheduler at index {index} should have `optimizer` as its attribute.")
    if isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError(
            f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs "
            f"to be specified when calling `step`, but got one at index {index} in the given "
            "schedulers sequence."
        )
    if scheduler.optimizer is not optimizer:
        raise ValueError(
            f"{owner} expects all schedulers to belong to the same optimizer, but got scheduler "
            f"{type(scheduler).__name__} at index {index} with a different optimizer"
        )


def _leaves(scheduler):
    if hasattr(scheduler, "_schedulers"):
        for child in scheduler._schedulers:
            yield from _leaves(child)
    elif hasattr(scheduler, "last_epoch"):
        yield scheduler
