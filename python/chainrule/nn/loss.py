"""Loss modules. Each accepts Tensors or NumPy arrays and reduction='mean'|'sum'|'none'."""

from __future__ import annotations as _annotations

from typing import Callable

import numpy as _np

from chainrule import _core
from chainrule._arrays import c_contiguous
from chainrule._core import Tensor
from chainrule._kinds import reduction_kind
from chainrule._typing import TensorOrArray
from chainrule.nn import functional as F
from chainrule.nn.layers import _input
from chainrule.nn.module import Module

# A C++ loss as f(input, target, reduction), without the module's argument checks.
_FunctionalLoss = Callable[[Tensor, Tensor, _core.Reduction], Tensor]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    @property
    def reduction(self) -> str:
        """'mean', 'sum' or 'none' (PyTorch's names); set it to change the reduction."""
        return self.__dict__["_reduction"]

    @reduction.setter
    def reduction(self, value: str) -> None:
        # Mapped once here to the kind the C++ loss functions take. A reduction only one loss knows
        # ('batchmean' of KLDivLoss) has no C++ kind: such a loss computes it in forward().
        if value in self._extra_reductions:
            self.__dict__["_reduction_kind"] = None
        else:
            self.__dict__["_reduction_kind"] = reduction_kind(value, type(self).__name__)
        self.__dict__["_reduction"] = value

    # Reductions beyond PyTorch's common three that this loss accepts (see KLDivLoss).
    _extra_reductions: tuple = ()

    # The C++ function computing this loss as f(input, target, _core.Reduction); None when the
    # loss has more parameters (HuberLoss), which then always goes through forward().
    _functional: _FunctionalLoss | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A subclass that overrides forward() (as PyTorch allows) must have it called: it loses
        # the inherited fast path unless it names its own _functional.
        if "forward" in cls.__dict__ and "_functional" not in cls.__dict__:
            cls._functional = None

    def __call__(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        # The training-loop fast path: two Tensors go straight to C++ (unless a hook must see the call).
        d = self.__dict__
        if (
            type(input) is Tensor
            and type(target) is Tensor
            and self._functional is not None
            and not (d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"])
        ):
            return self._functional(input, target, self._reduction_kind)
        return Module.__call__(self, input, target)

    def _prepare(self, input: TensorOrArray, target: TensorOrArray) -> tuple[Tensor, Tensor]:
        x = _input(input, None)
        if isinstance(target, _np.ndarray):
            # Targets follow the input's dtype (integer class labels stay int64 where needed).
            return x, _input(target, x.dtype if target.dtype.kind == "f" else None)
        if not isinstance(target, Tensor):
            raise TypeError(
                f"{type(self).__name__}: target must be a chainrule.Tensor or a NumPy array, "
                f"got {type(target).__name__}"
            )
        return x, target


class MSELoss(_Loss):
    _functional = staticmethod(_core.mse_loss)

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.mse_loss(*self._prepare(input, target), reduction=self.reduction)


class L1Loss(_Loss):
    _functional = staticmethod(_core.l1_loss)

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.l1_loss(*self._prepare(input, target), reduction=self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta!r}")
        self.delta = float(delta)

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.huber_loss(*self._prepare(input, target), self.reduction, self.delta)


class BCELoss(_Loss):
    _functional = staticmethod(_core.binary_cross_entropy)

    def __init__(
        self,
        weight: TensorOrArray | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "BCELoss"))
        self.register_buffer("weight", _optional_tensor(weight))
        if weight is not None:
            # The weighted form is a composition, not the single C++ op.
            self._functional = None  # type: ignore[assignment]

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.binary_cross_entropy(*self._prepare(input, target), weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable formula; weight rescales each element and
    pos_weight (broadcast along the last dim, one per class) the positive term."""

    _functional = staticmethod(_core.binary_cross_entropy_with_logits)

    def __init__(
        self,
        weight: TensorOrArray | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: TensorOrArray | None = None,
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "BCEWithLogitsLoss"))
        self.register_buffer("weight", _optional_tensor(weight))
        self.register_buffer("pos_weight", _optional_tensor(pos_weight))
        if weight is not None or pos_weight is not None:
            self._functional = None  # type: ignore[assignment]

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            *self._prepare(input, target), weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class CrossEntropyLoss(_Loss):
    """Fused log-softmax + negative log-likelihood over (N, C) logits.

    target: int64 class indices (N,), or class probabilities (N, C) of the input's dtype.
    weight (C,) rescales classes, ignore_index drops samples whose target equals it, and
    label_smoothing mixes the targets with the uniform distribution. Without them the loss is
    one C++ op (and the native fit loop can run it).
    """

    _functional = staticmethod(_core.cross_entropy)

    def __init__(
        self,
        weight: TensorOrArray | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "CrossEntropyLoss"))
        if (
            isinstance(label_smoothing, bool)
            or not isinstance(label_smoothing, (int, float))
            or not 0.0 <= label_smoothing <= 1.0
        ):
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
        self.register_buffer("weight", _optional_tensor(weight))
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)
        if weight is not None or label_smoothing != 0.0 or ignore_index != -100:
            self._functional = None  # type: ignore[assignment]

    def __call__(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        d = self.__dict__
        if (
            self._functional is not None
            and type(input) is Tensor
            and type(target) is Tensor
            and not (d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"])
        ):
            try:
                return _core.cross_entropy(input, target, self._reduction_kind)
            except IndexError:
                pass  # a target equal to the default ignore_index (-100) is dropped, not an error
        return Module.__call__(self, input, target)

    def _prepare(self, input: TensorOrArray, target: TensorOrArray) -> tuple[Tensor, Tensor]:
        x = _input(input, None)
        if isinstance(target, _np.ndarray):
            if target.dtype.kind in "iu":
                return x, _input(target.astype(_np.int64, copy=False), _core.dtype.int64)
            return x, _input(target, x.dtype)
        if not isinstance(target, Tensor):
            raise TypeError(
                f"CrossEntropyLoss: target must be a chainrule.Tensor or a NumPy array, got {type(target).__name__}"
            )
        return x, target

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.cross_entropy(
            *self._prepare(input, target),
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities (N, C) (e.g. LogSoftmax's
    output), with class weight and ignore_index."""

    def __init__(
        self,
        weight: TensorOrArray | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "NLLLoss"))
        self.register_buffer("weight", _optional_tensor(weight))
        self.ignore_index = int(ignore_index)

    def _prepare(self, input: TensorOrArray, target: TensorOrArray) -> tuple[Tensor, Tensor]:
        return CrossEntropyLoss._prepare(self, input, target)  # type: ignore[arg-type]  # the same conversion

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.nll_loss(
            *self._prepare(input, target), weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target)."""

    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean", beta: float = 1.0
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "SmoothL1Loss"))
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"SmoothL1Loss: beta must be a number, got {type(beta).__name__}")
        if beta < 0:
            raise ValueError(
                f"SmoothL1Loss: beta must be non-negative (smooth_l1_loss does not support negative "
                f"values for beta), got beta={beta}"
            )
        self.beta = float(beta)

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.smooth_l1_loss(*self._prepare(input, target), reduction=self.reduction, beta=self.beta)


class KLDivLoss(_Loss):
    """KL divergence of target from input log-probabilities; use reduction='batchmean' for the
    true KL divergence per sample."""

    _REDUCTIONS = ("mean", "sum", "none", "batchmean")
    _extra_reductions = ("batchmean",)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        if reduction == "batchmean" and size_average is None and reduce is None:
            super().__init__("mean")
            self.reduction = "batchmean"
        else:
            super().__init__(F._legacy_reduction(size_average, reduce, reduction, "KLDivLoss"))
        self.log_target = bool(log_target)

    def forward(self, input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.kl_div(*self._prepare(input, target), reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: bool | None = None,
        eps: float = 1e-8,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(F._legacy_reduction(size_average, reduce, reduction, "PoissonNLLLoss"))
        self.log_input = bool(log_input)
        self.full = bool(full)
        self.eps = float(eps)

    def forward(self, log_input: TensorOrArray, target: TensorOrArray) -> Tensor:
        return F.poisson_nll_loss(
            *self._prepare(log_input, target),
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if not eps > 0:
            raise ValueError(f"GaussianNLLLoss: eps must be positive, got {eps!r}")
        self.full = bool(full)
        self.eps = float(eps)

    # The variance is a third argument, as in PyTorch, which other losses do not take.
    def __call__(  # type: ignore[override]
        self, input: TensorOrArray, target: TensorOrArray, var: TensorOrArray | float
    ) -> Tensor:
        return Module.__call__(self, input, target, var)

    def forward(self, input: TensorOrArray, target: TensorOrArray, var: TensorOrArray | float) -> Tensor:
        x, y = self._prepare(input, target)
        return F.gaussian_nll_loss(x, y, var, full=self.full, eps=self.eps, reduction=self.reduction)


def _optional_tensor(value: TensorOrArray | None) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return _input(c_contiguous(value), None)
