"""chainrule.nn.functional: the stateless functions behind the modules (all computed in C++)."""
from __future__ import annotations

from chainrule import _core
from chainrule._core import Tensor
from chainrule._kinds import reduction_kind
from chainrule._tensor_ops import one_hot  # noqa: F401  (torch.nn.functional.one_hot)

linear = _core.linear
relu = _core.relu
sigmoid = _core.sigmoid
tanh = _core.tanh
leaky_relu = _core.leaky_relu
gelu = _core.gelu
softmax = _core.softmax
log_softmax = _core.log_softmax


# The losses take PyTorch's reduction strings; the C++ functions take a _core.Reduction.
def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    return _core.mse_loss(input, target, reduction_kind(reduction))


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    return _core.l1_loss(input, target, reduction_kind(reduction))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    return _core.huber_loss(input, target, reduction_kind(reduction), delta)


def binary_cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    return _core.binary_cross_entropy(input, target, reduction_kind(reduction))


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean") -> Tensor:
    return _core.binary_cross_entropy_with_logits(input, target, reduction_kind(reduction))


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    return _core.cross_entropy(input, target, reduction_kind(reduction))


def identity(input: Tensor) -> Tensor:
    return input


__all__ = [
    "linear", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "softmax", "log_softmax", "mse_loss",
    "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
]
