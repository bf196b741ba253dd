"""chainrule.nn.functional: the stateless functions behind the modules (all computed in C++)."""
from __future__ import annotations

from chainrule import _core
from chainrule._core import Tensor
from chainrule._tensor_ops import one_hot  # noqa: F401  (torch.nn.functional.one_hot)

linear = _core.linear
relu = _core.relu
sigmoid = _core.sigmoid
tanh = _core.tanh
leaky_relu = _core.leaky_relu
gelu = _core.gelu
softmax = _core.softmax
log_softmax = _core.log_softmax
mse_loss = _core.mse_loss
l1_loss = _core.l1_loss
huber_loss = _core.huber_loss
binary_cross_entropy = _core.binary_cross_entropy
binary_cross_entropy_with_logits = _core.binary_cross_entropy_with_logits
cross_entropy = _core.cross_entropy


def identity(input: Tensor) -> Tensor:
    return input


__all__ = [
    "linear", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "softmax", "log_softmax", "mse_loss",
    "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
]
