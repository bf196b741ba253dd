"""Type aliases used in the public API's annotations."""

from __future__ import annotations as _annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, Union

import numpy as _np

from chainrule._core import Tensor
from chainrule._device import device

# What an argument that takes a tensor also accepts and converts: a NumPy array, a Python
# number, or (nested) lists of numbers.
TensorLike = Union[Tensor, _np.ndarray, float, int, Sequence[Any]]
# What a module's forward takes: a Tensor, or a NumPy array it converts once (nn.Linear and the like).
TensorOrArray = Union[Tensor, _np.ndarray]
# A device as PyTorch spells it: "cpu", "cuda:0", a chainrule.device, an int (a CUDA index) or None.
DeviceLike = Union[str, int, device, None]
# A shape: one int, or a sequence of them.
ShapeLike = Union[int, Sequence[int]]
# What an optimizer takes: parameters, or parameter groups (dicts with 'params' and options).
ParamsT = Union[Iterable[Tensor], Iterable[dict[str, Any]]]


class OptimizerLike(Protocol):
    """What a learning-rate scheduler drives: anything with param_groups, dicts that hold an 'lr'
    (a chainrule optimizer, a PyTorch one, or any object of that shape)."""

    param_groups: list[dict[str, Any]]
