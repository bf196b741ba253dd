"""default_collate and default_convert: how a list of dataset items becomes one batch."""

from __future__ import annotations

import collections.abc
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule._arrays import c_contiguous
from chainrule._core import Tensor
from chainrule._creation import as_tensor, tensor
from chainrule._tensor import float64
from chainrule._tensor_ops import stack

__all__ = ["default_collate", "default_convert"]

_NOT_COLLATABLE = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _stack(tensors):
    """torch.stack(tensors, 0): one new tensor with a leading batch dimension."""
    first = tensors[0]
    for position, t in enumerate(tensors):
        if tuple(t.shape) != tuple(first.shape):
            raise RuntimeError(
                f"default_collate: stack expects each tensor to be equal size, but got "
                f"{list(first.shape)} at entry 0 and {list(t.shape)} at entry {position}"
            )
    return stack(tensors, 0)


def _array_to_tensor(array):
    if array.dtype.kind not in "biuf":
        raise TypeError(_NOT_COLLATABLE.format(array.dtype))
    return as_tensor(c_contiguous(array))


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of items into a batch, recursing into tuples, lists and dicts.

    Tensors and NumPy arrays are stacked along a new first dimension; Python floats become a
    float64 tensor and ints an int64 tensor; strings stay a list; a dict of fields becomes a dict of
    batched fields; a tuple of fields a list of batched fields (a namedtuple stays that namedtuple).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(list(batch))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(_NOT_COLLATABLE.format(elem.dtype))
        return _stack([_array_to_tensor(b) for b in batch])
    if isinstance(elem, np.generic):
        return _array_to_tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, numbers.Integral):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)  # type: ignore[call-arg]
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(item) != size for item in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    raise TypeError(_NOT_COLLATABLE.format(type(elem)))


def default_convert(data: Any) -> Any:
    """What batch_size=None loading applies to each item: NumPy arrays become tensors, recursively."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return _array_to_tensor(data) if data.dtype.kind in "biuf" else data
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _array_to_tensor(np.array(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)  # type: ignore[call-arg]
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])  # type: ignore[call-arg]
        except TypeError:
            return [default_convert(d) for d in data]
    return data
