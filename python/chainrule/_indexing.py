"""Tensor indexing beyond the fast paths of the C++ layer (an integer, or a step-1 slice of rows).

Any mix of integers, slices (any step, on any axis), None, Ellipsis, Python bools, and int64/int32
or bool index tensors (or lists/arrays of them), as PyTorch accepts. The result is a copy (the
C++ fast paths return views); gradients flow back through a scatter-add, which is itself
differentiable, so indexing works inside a recorded backward (create_graph=True).
Assignment (`t[index] = value`) writes into t's own memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _core
from chainrule._core import Tensor


def _index_component(item):
    """One component of an index, as NumPy reads it; refuses what PyTorch refuses."""
    if item is None or item is Ellipsis or isinstance(item, slice):
        if isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and not isinstance(part, (int, np.integer)) and not hasattr(part, "__index__"):
                    raise TypeError(f"index: slice indices must be integers or None, got {type(part).__name__}")
            if item.step is not None and int(item.step) <= 0:
                raise ValueError("index: step must be greater than zero")
            return slice(*(None if p is None else int(p) for p in (item.start, item.stop, item.step)))
        return item
    if isinstance(item, (bool, np.bool_)):
        return bool(item)
    if isinstance(item, Tensor):
        array = item.detach().numpy()
        if item.dtype.is_floating_point:
            raise IndexError(
                "tensors used as indices must be long, int or bool tensors, got a float tensor "
                f"({item.dtype!r}); convert it with .long()"
            )
        if array.ndim == 0 and array.dtype != np.bool_:
            return int(array)
        return array
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (list, tuple, np.ndarray)):
        array = np.asarray(item)
        if array.dtype == object:
            raise IndexError("index: a list used as an index must hold integers or bools")
        if array.size and array.dtype.kind not in "iub":
            raise IndexError(f"index: arrays used as indices must be of integer or bool type, got {array.dtype}")
        if array.size == 0:
            array = array.astype(np.int64)
        return array
    if hasattr(item, "__index__"):
        return int(item.__index__())
    raise IndexError(
        f"index: unsupported index type {type(item).__name__}; use ints, slices, None, ..., or int64/bool tensors"
    )


def numpy_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_component(i) for i in index)
    if isinstance(index, list):
        # A list is one index array (PyTorch reads t[[0, 2]] as rows 0 and 2).
        return _index_component(index)
    return _index_component(index)


def _check_bool_masks(shape, idx) -> None:
    """A bool mask must match the dimensions it covers, else PyTorch raises IndexError."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    dim = 0
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype == np.bool_:
            covered = shape[dim : dim + part.ndim]
            if tuple(covered) != part.shape:
                raise IndexError(
                    f"index: the shape of the mask {part.shape} does not match the shape of the "
                    f"indexed tensor {tuple(shape)} starting at dimension {dim}"
                )
            dim += part.ndim
        elif part is None or isinstance(part, bool):
            continue
        elif part is Ellipsis:
            rest = sum(1 for p in parts if p is not None and p is not Ellipsis and not isinstance(p, bool)) - 1
            dim = len(shape) - rest if rest >= 0 else dim
        else:
            dim += 1


def _gather(array: np.ndarray, idx):
    try:
        return np.array(array[idx], copy=True, order="C")
    except IndexError as e:
        raise IndexError(f"index: {e}") from None


def _scatter_add(shape, idx, grad: Tensor) -> Tensor:
    """zeros(shape) with grad added at idx: the backward of t[idx], differentiable in grad."""
    values = grad.detach().numpy()
    out_np = np.zeros(shape, dtype=values.dtype)
    np.add.at(out_np, idx, values)
    out = _core.from_numpy(out_np)
    _core._record(out, lambda g: (getitem_np(g, idx),), [grad], "IndexPutBackward")
    return out


def getitem_np(t: Tensor, idx: Any) -> Tensor:
    _check_bool_masks(t.shape, idx)
    out = _core.from_numpy(_gather(t.detach().numpy(), idx))
    shape = tuple(t.shape)
    _core._record(out, lambda g: (_scatter_add(shape, idx, g),), [t], "IndexBackward")
    return out


def _refuse_devices(op: str, t: Tensor, index: Any, value: Any = None) -> None:
    """The indexing written with NumPy reads host memory: a device tensor gets a clear error."""
    parts = index if isinstance(index, tuple) else (index,)
    for x in (t, value, *parts):
        if isinstance(x, Tensor) and x.device.type != "cpu":
            raise NotImplementedError(
                f"{op}: this index has no implementation for tensors on {x.device} yet (integers and slices of the "
                "first dimension do); move the tensors to the CPU with .cpu() first"
            )


def getitem(t: Tensor, index: Any) -> Tensor:
    _refuse_devices("index", t, index)
    if (
        t.ndim == 0
        and not isinstance(index, (tuple, type(None), type(Ellipsis), bool))
        and not (isinstance(index, Tensor) and index.dtype == _core.dtype.bool)
    ):
        raise IndexError("index: invalid index of a 0-d tensor; use tensor.item() for its value")
    return getitem_np(t, numpy_index(index))


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """t[index] = value, written into t's memory; recorded when autograd is on."""
    _refuse_devices("index_put_", t, index, value)
    idx = numpy_index(index)
    _check_bool_masks(t.shape, idx)
    t._check_inplace("index_put_")
    recording = _core.is_grad_enabled() and (t.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    target = t.detach().numpy()
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point and not t.dtype.is_floating_point:
            raise RuntimeError(
                f"index_put_: a {value.dtype!r} value can't be written into a tensor of dtype {t.dtype!r}"
            )
        value_np = value.detach().numpy()
    else:
        value_np = np.asarray(value)
        if value_np.dtype == object:
            raise TypeError("index_put_: value must be a number, a Tensor or an array of numbers")
    if recording:
        before = t.clone()  # t's values and history before the write
    try:
        target[idx] = value_np
    except IndexError as e:
        raise IndexError(f"index: {e}") from None
    except ValueError as e:
        raise RuntimeError(
            f"index_put_: shape mismatch: value of shape {tuple(np.shape(value_np))} cannot be "
            f"broadcast to indexing result: {e}"
        ) from None
    if recording:
        keep_np = np.ones(tuple(t.shape), dtype=target.dtype)
        keep_np[idx] = 0
        keep = _core.from_numpy(keep_np)
        value_t = value if isinstance(value, Tensor) and value.requires_grad else None

        def backward(g):
            return g * keep, (None if value_t is None else getitem_np(g, idx))

        _core._record(t, backward, [before, value_t], "IndexPutBackward")
