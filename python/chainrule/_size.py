"""chainrule.Size, the type of Tensor.shape and Tensor.size(), as torch.Size.

Its own module so that both chainrule._tensor (which registers it with the C++ core) and
chainrule._tensor_ops import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, SupportsIndex, overload


class Size(tuple[int, ...]):
    """A tensor's shape, as torch.Size: a tuple of ints (equal to the plain tuple of the same ints),
    with numel(). Slicing, + and * give a Size; indexing gives an int."""

    __slots__ = ()
    __module__ = "chainrule"

    def __new__(cls, sizes: Iterable[SupportsIndex] = ()) -> Size:
        items = tuple(sizes)
        for k, item in enumerate(items):
            if isinstance(item, bool) or not hasattr(item, "__index__"):
                raise TypeError(f"Size() takes an iterable of 'int' (item {k} is '{type(item).__name__}')")
        return tuple.__new__(cls, (item.__index__() for item in items))

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for the empty shape)."""
        count = 1
        for extent in self:
            count *= extent
        return count

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> Size: ...

    def __getitem__(self, index: SupportsIndex | slice) -> int | Size:
        if isinstance(index, slice):
            return tuple.__new__(Size, tuple.__getitem__(self, index))
        return tuple.__getitem__(self, index)

    def __add__(self, other: object) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other: object) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, times: object) -> Any:
        if not isinstance(times, SupportsIndex):
            return NotImplemented
        return tuple.__new__(Size, tuple.__mul__(self, times))

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"chainrule.Size({list(self)})"

    def __reduce__(self) -> tuple[type[Size], tuple[tuple[int, ...]]]:
        return Size, (tuple(self),)
