"""Loss modules. Each accepts Tensors or NumPy arrays and reduction='mean'|'sum'|'none'."""
from __future__ import annotations

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._kinds import reduction_kind
from chainrule.nn import functional as F
from chainrule.nn.layers import _input
from chainrule.nn.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    @property
    def reduction(self) -> str:
        """'mean', 'sum' or 'none' (PyTorch's names); set it to change the reduction."""
        return self.__dict__["_reduction"]

    @reduction.setter
    def reduction(self, value: str) -> None:
        # Mapped once here to the kind the C++ loss functions take.
        self.__dict__["_reduction_kind"] = reduction_kind(value, type(self).__name__)
        self.__dict__["_reduction"] = value

    # The C++ function computing this loss as f(input, target, _core.Reduction); None when the
    # loss has more parameters (HuberLoss), which then always goes through forward().
    _functional = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A subclass that overrides forward() (as PyTorch allows) must have it called: it loses
        # the inherited fast path unless it names its own _functional.
        if "forward" in cls.__dict__ and "_functional" not in cls.__dict__:
            cls._functional = None

    def __call__(self, input, target):
        # The training-loop fast path: two Tensors go straight to C++.
        if type(input) is Tensor and type(target) is Tensor and self._functional is not None:
            return self._functional(input, target, self._reduction_kind)
        return self.forward(input, target)

    def _prepare(self, input, target):
        input = _input(input, None)
        if isinstance(target, np.ndarray):
            # Targets follow the input's dtype (integer class labels stay int64 where needed).
            target = _input(target, input.dtype if target.dtype.kind == "f" else None)
        elif not isinstance(target, Tensor):
            raise TypeError(f"{type(self).__name__}: target must be a chainrule.Tensor or a NumPy array, "
                            f"got {type(target).__name__}")
        return input, target


class MSELoss(_Loss):
    _functional = staticmethod(_core.mse_loss)

    def forward(self, input, target):
        return F.mse_loss(*self._prepare(input, target), self.reduction)


class L1Loss(_Loss):
    _functional = staticmethod(_core.l1_loss)

    def forward(self, input, target):
        return F.l1_loss(*self._prepare(input, target), self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta!r}")
        self.delta = float(delta)

    def forward(self, input, target):
        return F.huber_loss(*self._prepare(input, target), self.reduction, self.delta)


class BCELoss(_Loss):
    _functional = staticmethod(_core.binary_cross_entropy)

    def forward(self, input, target):
        return F.binary_cross_entropy(*self._prepare(input, target), self.reduction)


class BCEWithLogitsLoss(_Loss):
    _functional = staticmethod(_core.binary_cross_entropy_with_logits)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(*self._prepare(input, target), self.reduction)


class CrossEntropyLoss(_Loss):
    """Fused log-softmax + negative log-likelihood over (N, C) logits.

    target: int64 class indices (N,), or class probabilities (N, C) of the input's dtype.
    """

    _functional = staticmethod(_core.cross_entropy)

    def _prepare(self, input, target):
        input = _input(input, None)
        if isinstance(target, np.ndarray):
            if target.dtype.kind in "iu":
                target = _input(target.astype(np.int64, copy=False), _core.dtype.int64)
            else:
                target = _input(target, input.dtype)
        elif not isinstance(target, Tensor):
            raise TypeError(f"CrossEntropyLoss: target must be a chainrule.Tensor or a NumPy array, "
                            f"got {type(target).__name__}")
        return input, target

    def forward(self, input, target):
        return F.cross_entropy(*self._prepare(input, target), self.reduction)
