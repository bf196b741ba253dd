"""nn.Parameter: a leaf Tensor that a Module registers as one of its weights."""

from __future__ import annotations as _annotations

from typing import NoReturn, SupportsIndex

from chainrule._core import Tensor
from chainrule._creation import as_tensor, empty
from chainrule._typing import TensorLike


class Parameter(Tensor):
    """A Tensor that requires grad by default and is collected by Module.parameters().

    It shares memory with `data` (as PyTorch's does), so ``p.detach().numpy()`` is a view of the
    weights themselves.
    """

    def __init__(self, data: TensorLike | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            data = as_tensor(data)
        super().__init__(data)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__  # print(param) shows it too, as in PyTorch

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError("chainrule never pickles tensors; use chainrule.save(model.state_dict(), path)")
