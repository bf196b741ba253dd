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

import math
import numbers
import types
from collections import Counter

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "LambdaLR",
    "ReduceLROnPlateau",
]


# ---------------------------------------------------------------------------------------------
# Argument checks, shared by every scheduler. Each message starts with the scheduler's class name
# and names the argument, e.g. "StepLR: step_size must be a positive int, got 0".
# ---------------------------------------------------------------------------------------------

def _is_int(value):
    # bool is an int subclass, but step_size=True is a bug, not a 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(owner, name, value, minimum):
    if not _is_int(value) or value < minimum:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{owner}: {name} must be {kind}, got {value!r}")
    return int(value)


def _check_real(owner, name, value, requirement, accept):
    if not _is_real(value) or not math.isfinite(value) or not accept(value):
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

    def __init__(self, optimizer, last_epoch=-1):
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
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """Return the lr of every param group for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self):
        """Advance one epoch and write the new lrs into ``optimizer.param_groups``."""
        self._step_count += 1
        self.last_epoch += 1
        new_lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, new_lrs):
            group["lr"] = lr
        self._last_lr = _current_lrs(self.optimizer)

    def get_last_lr(self):
        """Return the lrs set by the latest step, one per param group (a new list each call)."""
        return list(self._last_lr)

    def state_dict(self):
        """Return every attribute except the optimizer (which has its own state_dict)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore attributes saved by ``state_dict()``."""
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


# ---------------------------------------------------------------------------------------------
# Epoch-driven schedules
# ---------------------------------------------------------------------------------------------

class StepLR(LRScheduler):
    """Multiply lr by ``gamma`` every ``step_size`` epochs.

    Closed form: lr = base_lr * gamma ** (epoch // step_size).
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        self.gamma = _check_real("StepLR", "gamma", gamma, "a finite number > 0", lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma for lr in _current_lrs(self.optimizer)]


class MultiStepLR(LRScheduler):
    """Multiply lr by ``gamma`` at each epoch in ``milestones``.

    A milestone listed n times multiplies by ``gamma ** n`` (PyTorch counts repeats).
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        try:
            milestone_list = list(milestones)
        except TypeError:
            raise TypeError(
                f"MultiStepLR: milestones must be an iterable of ints, got "
                f"{type(milestones).__name__}"
            ) from None
        for milestone in milestone_list:
            _check_int("MultiStepLR", "each of milestones", milestone, 0)
        self.milestones = Counter(int(m) for m in milestone_list)
        self.gamma = _check_real("MultiStepLR", "gamma", gamma, "a finite number > 0",
                                 lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.get(self.last_epoch, 0)
        if hits == 0:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma ** hits for lr in _current_lrs(self.optimizer)]


class ExponentialLR(LRScheduler):
    """Multiply lr by ``gamma`` every epoch: lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _check_real("ExponentialLR", "gamma", gamma, "a finite number > 0",
                                 lambda g: g > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return _current_lrs(self.optimizer)
        return [lr * self.gamma for lr in _current_lrs(self.optimizer)]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to ``eta_min`` over ``T_max`` epochs (SGDR, Loshchilov &
    Hutter 2017, without restarts).

    Closed form: lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2. Past
    ``T_max`` the curve keeps going (back up to base_lr at 2 * T_max), as in PyTorch.

    Each step uses the ratio of consecutive closed-form values applied to the current lr (PyTorch's
    recursive form) so results agree with torch bit for bit and the schedule stays chainable.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _check_real("CosineAnnealingLR", "eta_min", eta_min, "a finite number >= 0",
                                   lambda e: e >= 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return _current_lrs(self.optimizer)
        epoch, period = self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:
            # The previous epoch sat at the bottom of the cosine (lr == eta_min), where the ratio
            # below would divide by zero; add the first step's increment instead.
            rise = (1 - math.cos(math.pi / period)) / 2
            return [lr + (base_lr - self.eta_min) * rise
                    for lr, base_lr in zip(_current_lrs(self.optimizer), self.base_lrs)]
        ratio = ((1 + math.cos(math.pi * epoch / period))
                 / (1 + math.cos(math.pi * (epoch - 1) / period)))
        return [ratio * (lr - self.eta_min) + self.eta_min for lr in _current_lrs(self.optimizer)]


class LinearLR(LRScheduler):
    """Scale lr linearly from ``start_factor * base_lr`` to ``end_factor * base_lr`` over
    ``total_iters`` epochs, then hold it (a common warm-up)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        self.start_factor = _check_real("LinearLR", "start_factor", start_factor,
                                        "a number in (0, 1]", lambda f: 0 < f <= 1)
        self.end_factor = _check_real("LinearLR", "end_factor", end_factor,
                                      "a number in [0, 1]", lambda f: 0 <= f <= 1)
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = _current_lrs(self.optimizer)
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._is_initial or self.last_epoch > self.total_iters:
            return lrs
        # Ratio of this epoch's factor to the previous one, so the update is chainable:
        # factor(t) = start + (end - start) * t / total_iters.
        slope = self.end_factor - self.start_factor
        ratio = 1.0 + slope / (self.total_iters * self.start_factor
                               + (self.last_epoch - 1) * slope)
        return [lr * ratio for lr in lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch), with one callable for all groups or one per group.

    Not chainable: each step recomputes from base_lr. ``state_dict()`` cannot save plain functions;
    like PyTorch it stores None for them and the ``__dict__`` of callable objects.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
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
                    f"LambdaLR: lr_lambda must be a callable or a list of callables, got "
                    f"{type(function).__name__}"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * function(self.last_epoch)
                for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(function, types.FunctionType)
                               else dict(function.__dict__)
                               for function in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
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

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        owner = "ReduceLROnPlateau"
        groups = _check_optimizer(owner, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.factor = _check_real(owner, "factor", factor, "a number in [0, 1)",
                                  lambda f: 0 <= f < 1)
        self.patience = _check_int(owner, "patience", patience, 0)
        self.threshold = _check_real(owner, "threshold", threshold, "a finite number >= 0",
                                     lambda t: t >= 0)
        self.cooldown = _check_int(owner, "cooldown", cooldown, 0)
        self.eps = _check_real(owner, "eps", eps, "a finite number >= 0", lambda e: e >= 0)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ValueError(f"{owner}: min_lr has {len(min_lr)} entries but the optimizer "
                                 f"has {len(groups)} param groups")
            self.min_lrs = [_check_real(owner, "each of min_lr", value, "a finite number >= 0",
                                        lambda m: m >= 0) for value in min_lr]
        else:
            self.min_lrs = [_check_real(owner, "min_lr", min_lr, "a finite number >= 0",
                                        lambda m: m >= 0)] * len(groups)
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.optimizer = optimizer
        # No initial step here (as in PyTorch): the first step() needs a metric.
        self.last_epoch = 0
        self._last_lr = _current_lrs(optimizer)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_improvement(self, metric):
        if self.mode == "min":
            bar = (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
                   else self.best - self.threshold)
            return metric < bar
        bar = (self.best * (1 + self.threshold) if self.threshold_mode == "rel"
               else self.best + self.threshold)
        return metric > bar

    def step(self, metrics):
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
