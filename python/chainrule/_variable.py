"""autograd.Variable: the pre-0.4 PyTorch wrapper, kept for older programs.

As in PyTorch today, ``Variable(t)`` is just a Tensor: a new tensor over ``t``'s memory, without
its history, that requires grad when asked; ``isinstance(t, Variable)`` holds for every tensor.
"""

from __future__ import annotations

import warnings

from chainrule._core import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, Tensor)


class Variable(metaclass=_VariableMeta):
    """Variable(data, requires_grad=False): ``data.detach()``, requiring grad if asked."""

    def __new__(cls, data: Tensor, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # type: ignore[misc]
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            warnings.warn(
                "volatile was removed and now has no effect. Use `with chainrule.no_grad():` instead.",
                UserWarning,
                stacklevel=2,
            )
        result = data.detach()
        if requires_grad:
            result.requires_grad = True
        return result
