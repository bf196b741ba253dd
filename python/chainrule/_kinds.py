"""The one place where the strings of PyTorch's API become the kinds chainrule._core takes.

C++ never parses these strings: a reduction ('mean', 'sum', 'none') crosses the binding as a
``_core.Reduction``, a fused activation as a ``_core.Activation``, a native loss as a
``_core.LossKind``.
"""

from __future__ import annotations

from typing import Any

from chainrule import _core

_REDUCTIONS = {name: kind for name, kind in _core.Reduction.__members__.items()}


def reduction_kind(reduction: str, owner: str = "") -> _core.Reduction:
    """The _core.Reduction named by `reduction`; ValueError naming it when it is not one."""
    kind = _REDUCTIONS.get(reduction) if isinstance(reduction, str) else None
    if kind is None:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return kind


def _mlp_kind(enum: Any, name: str, what: str) -> Any:
    kind = enum.__members__.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"mlp: unknown {what} {name!r}; expected one of {sorted(enum.__members__)}")
    return kind


def mlp_activation(name: str) -> _core.MlpActivation:
    """scikit-learn's activation name ('identity', 'logistic', 'tanh', 'relu', 'softmax') as the
    native MLP trainer's kind."""
    return _mlp_kind(_core.MlpActivation, name, "activation")


def mlp_loss(name: str) -> _core.MlpLoss:
    """scikit-learn's loss name ('squared_error', 'log_loss', 'binary_log_loss') as a kind."""
    return _mlp_kind(_core.MlpLoss, name, "loss")


def mlp_solver(name: str) -> _core.MlpSolver:
    """A stochastic solver's name ('sgd', 'adam') as a kind."""
    return _mlp_kind(_core.MlpSolver, name, "solver")
