"""Tensor operations written in Python over the C++ core: reductions with dims, shape
manipulation, joining and splitting, gathering, selection, logic and the in-place forms.

Each op either composes the differentiable C++ ops (so its gradient, and the gradient of that
gradient, come for free) or computes its forward with NumPy on the tensor's memory and records a
backward built from differentiable ops with `_core._record`. Either way a recorded backward
(create_graph=True) can be differentiated again. Results are fresh, contiguous tensors.
"""

from __future__ import annotations

import builtins
import collections
import numbers
from collections.abc import Sequence
from typing import Any, SupportsFloat, cast

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._indexing import getitem_np
from chainrule._random import Generator
from chainrule._typing import TensorLike

_bool = _core.dtype.bool
_int64 = _core.dtype.int64


# ---- helpers ------------------------------------------------------------------------------------
def _np(t: Tensor) -> np.ndarray:
    """The values of a CPU tensor for the ops written with NumPy; those have no device path yet."""
    if t.device.type != "cpu":
        raise NotImplementedError(
            f"this operation has no implementation for tensors on {t.device} yet; move them to the CPU with .cpu() first"
        )
    return t.detach().numpy()


def _wrap(array) -> Tensor:
    array = np.asarray(array)
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype.kind == "i" and array.dtype.itemsize not in (4, 8):
        array = array.astype(np.int64)
    if array.dtype.kind == "u":
        array = array.astype(np.int64)
    return _core.from_numpy(np.array(array, order="C", copy=True))


def _as_tensor(value, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, numbers.Number):
        # (a numbers.Number here is a Python or NumPy int, float or bool, which full() takes)
        if like.dtype.is_floating_point or isinstance(value, (int, bool)):
            return _core.full((), value, dtype=like.dtype)  # type: ignore[arg-type]
        return _core.full((), value, dtype=_core.dtype.float32)  # type: ignore[arg-type]
    array = np.asarray(value)
    if array.dtype == np.float64 and not isinstance(value, np.ndarray):
        array = array.astype(np.float32)
    return _wrap(array)


def _dim(dim: int, ndim: int, name: str = "dim") -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    n = builtins.max(ndim, 1)
    if dim < -n or dim >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def _dims(dim, ndim: int) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        dims = tuple(_dim(d, ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"dim {dim} appears multiple times in the list of dims")
        return dims
    return (_dim(dim, ndim),)


def _keep_shape(shape, dims) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _sum_to(g: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    dims = [i for i in range(g.ndim) if i < lead or (shape[i - lead] == 1 and g.shape[i] != 1)]
    s = g.sum(dim=dims, keepdim=True) if dims else g
    return s.reshape(shape)


def _float_mask(mask: Tensor, like: Tensor) -> Tensor:
    return mask.to(like.dtype)


# ---- shape ----------------------------------------------------------------------------------------
def size(self: Tensor, dim: int | None = None) -> Any:
    shape = self.shape
    if dim is None:
        return shape
    return shape[_dim(dim, self.ndim)]


def view(self: Tensor, *shape: Any) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], _core.dtype):
        raise TypeError("view(dtype) is not supported by chainrule; use .to(dtype)")
    return self.reshape(*shape)


def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if self.ndim == 0:
        return self.reshape(1)
    start, end = _dim(start_dim, self.ndim, "start_dim"), _dim(end_dim, self.ndim, "end_dim")
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(self.shape)
    return (
        self.reshape(shape[:start] + (-1 if 0 not in shape[start : end + 1] else 0,) + shape[end + 1 :])
        if 0 not in shape
        else self.reshape(shape[:start] + (int(np.prod(shape[start : end + 1])),) + shape[end + 1 :])
    )


def unflatten(self: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    d = _dim(dim, self.ndim)
    shape = tuple(self.shape)
    return self.reshape(shape[:d] + tuple(sizes) + shape[d + 1 :])


def squeeze(self: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    shape = tuple(self.shape)
    if dim is None:
        return self.reshape(tuple(s for s in shape if s != 1))
    dims = _dims(dim, self.ndim) if self.ndim else ()
    return self.reshape(tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1)))


def unsqueeze(self: Tensor, dim: int) -> Tensor:
    n = self.ndim + 1
    if not isinstance(dim, (int, np.integer)) or dim < -n or dim >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    d = int(dim) % n
    shape = tuple(self.shape)
    return self.reshape(shape[:d] + (1,) + shape[d:])


def permute(self: Tensor, *dims: Any) -> Tensor:
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = tuple(dims[0])
    if len(dims) != self.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
            f"of the desired ordering of dimensions i.e. input.dim() = {self.ndim} is not equal to "
            f"len(dims) = {len(dims)}"
        )
    dims = tuple(_dim(d, self.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed")
    if dims == tuple(range(self.ndim)):
        return self.reshape(tuple(self.shape))
    if self.ndim == 2:
        return self.t()
    out = _wrap(np.transpose(_np(self), dims))
    inverse = tuple(np.argsort(dims))
    _core._record(out, lambda g: (permute(g, inverse),), [self], "PermuteBackward")
    return out


def transpose(self: Tensor, dim0: int, dim1: int) -> Tensor:
    d0, d1 = _dim(dim0, self.ndim, "dim0"), _dim(dim1, self.ndim, "dim1")
    if self.ndim < 2 or d0 == d1:
        return self.reshape(tuple(self.shape))
    order = list(range(self.ndim))
    order[d0], order[d1] = order[d1], order[d0]
    return permute(self, order)


def contiguous(self: Tensor, memory_format: Any = None) -> Tensor:
    return self


def repeat(self: Tensor, *sizes: Any) -> Tensor:
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = tuple(sizes[0])
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    shape = (1,) * (len(sizes) - self.ndim) + tuple(self.shape)
    out = _wrap(np.tile(_np(self).reshape(shape), sizes))

    def backward(g):
        # g (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...) summed over the r axes
        split = []
        for r, s in zip(sizes, shape):
            split += [r, s]
        summed = g.reshape(split).sum(dim=tuple(range(0, 2 * len(sizes), 2))) if g.numel() else None
        return (_core.zeros(*self.shape, dtype=g.dtype) if summed is None else summed.reshape(tuple(self.shape)),)

    _core._record(out, backward, [self], "RepeatBackward")
    return out


def flip(self: Tensor, dims: int | Sequence[int]) -> Tensor:
    dims = _dims(dims if isinstance(dims, (list, tuple)) else (dims,), self.ndim)
    index = tuple(slice(None, None, -1) if i in dims else slice(None) for i in range(self.ndim))
    return getitem_np(self, index)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    # PyTorch skips 1-D empty tensors when joining
    joined = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = joined[0]
    d = _dim(dim, ref.ndim)
    for i, t in enumerate(joined):
        if t.ndim != ref.ndim:
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"cat(): Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list."
                )
    dtype = ref.dtype
    for t in joined[1:]:
        dtype = result_type(dtype, t.dtype)
    arrays = [_np(t).astype(np.dtype(_NUMPY[dtype]), copy=False) for t in joined]
    out = _wrap(np.concatenate(arrays, axis=d))
    bounds = np.cumsum([0] + [t.shape[d] for t in joined])

    def backward(g):
        pieces = []
        for k in range(len(joined)):
            index = (slice(None),) * d + (slice(int(bounds[k]), int(bounds[k + 1])),)
            pieces.append(getitem_np(g, index))
        return tuple(pieces)

    _core._record(out, backward, joined, "CatBackward")
    return out


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    n = len(shape) + 1
    if dim < -n or dim >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return cat([unsqueeze(t, dim) for t in tensors], dim=dim)


def split(self: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    d = _dim(dim, self.ndim)
    n = self.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
    else:
        step = int(split_size_or_sections)
        if step <= 0 and n > 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] if n else [0]
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * d + (slice(start, start + s),)
        out.append(self[index] if d else self[start : start + s])
        start += s
    return tuple(out)


def chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = self.shape[_dim(dim, self.ndim)]
    step = -(-n // chunks) if n else 1
    return split(self, builtins.max(step, 1), dim)


def unbind(self: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    d = _dim(dim, self.ndim)
    return tuple(select(self, d, i) for i in range(self.shape[d]))


def select(self: Tensor, dim: int, index: int) -> Tensor:
    d = _dim(dim, self.ndim)
    return self[(slice(None),) * d + (index,)]


def narrow(self: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = _dim(dim, self.ndim)
    return self[(slice(None),) * d + (slice(start, start + length),)]


# ---- gathering ------------------------------------------------------------------------------------
def _check_index_tensor(index, name: str) -> np.ndarray:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}: index must be a Tensor, got {type(index).__name__}")
    if index.dtype not in (_int64, _core.dtype.int32):
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {index.dtype!r}")
    return _np(index).astype(np.int64)


def index_select(self: Tensor, dim: int, index: Tensor) -> Tensor:
    idx = _check_index_tensor(index, "index_select")
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = _dim(dim, self.ndim)
    return getitem_np(self, (slice(None),) * d + (idx.reshape(-1),))


def _gather_grid(index_np: np.ndarray, d: int):
    grid = list(np.indices(index_np.shape, sparse=True))
    grid[d] = index_np
    return tuple(grid)


def gather(self: Tensor, dim: int, index: Tensor) -> Tensor:
    idx = _check_index_tensor(index, "gather")
    d = _dim(dim, self.ndim)
    if idx.ndim != builtins.max(self.ndim, 1) and not (self.ndim == 0 and idx.ndim <= 1):
        raise RuntimeError("gather(): Index tensor must have the same number of dimensions as input tensor")
    for k in range(idx.ndim):
        if k != d and idx.shape[k] > self.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(idx.shape)} to be smaller "
                f"than self {list(self.shape)} apart from dimension {d}"
            )
    n = self.shape[d] if self.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.max()) if idx.max() >= n else int(idx.min())
        raise IndexError(f"gather(): index {bad} is out of bounds for dimension {d} with size {n}")
    grid = _gather_grid(idx % builtins.max(n, 1), d)
    out = _wrap(_np(self)[grid])
    shape = tuple(self.shape)
    _core._record(out, lambda g: (_scatter_add_grid(shape, grid, g, d),), [self], "GatherBackward")
    return out


def _scatter_add_grid(shape, grid, src: Tensor, d: int) -> Tensor:
    values = _np(src)
    out_np = np.zeros(shape, dtype=values.dtype)
    np.add.at(out_np, grid, values)
    out = _wrap(out_np)
    _core._record(out, lambda g: (_wrap_gather(g, grid),), [src], "ScatterAddBackward")
    return out


def _wrap_gather(t: Tensor, grid) -> Tensor:
    out = _wrap(_np(t)[grid])
    shape = tuple(t.shape)
    _core._record(out, lambda g: (_scatter_add_grid(shape, grid, g, 0),), [t], "GatherBackward")
    return out


def scatter_add(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    idx = _check_index_tensor(index, "scatter_add")
    d = _dim(dim, self.ndim)
    grid = _gather_grid(idx, d)
    src_part = src if tuple(src.shape) == idx.shape else getitem_np(src, tuple(slice(0, s) for s in idx.shape))
    return self + _scatter_add_grid(tuple(self.shape), grid, src_part, d)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if not isinstance(tensor, Tensor) or tensor.dtype not in (_int64, _core.dtype.int32):
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    values: np.ndarray = _np(tensor).astype(np.int64)
    if values.size and values.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(values.max()) + 1 if values.size else 0
    elif values.size and values.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = np.zeros(values.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, values[..., None], 1, axis=-1) if values.size else None
    return _wrap(out)


# ---- selection and clamping -------------------------------------------------------------------
def where(condition: Tensor, input: TensorLike | None = None, other: TensorLike | None = None) -> Any:
    if type(condition) is Tensor and type(input) is Tensor and type(other) is Tensor:
        return _core._where(condition, input, other)  # checks the condition and promotes in C++
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor) or condition.dtype != _bool:
        raise RuntimeError("where expected condition to be a boolean tensor")
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    return _core._where(condition, _as_tensor(input, like), _as_tensor(other, like))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    idx = np.nonzero(_np(input))
    if as_tuple:
        return tuple(_wrap(i.astype(np.int64)) for i in idx)
    return _wrap(np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), dtype=np.int64))


def clamp(input: Tensor, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if (
        type(input) is Tensor
        and (min is None or type(min) in _NUMBER_BOUNDS or _is_real_number(min))
        and (max is None or type(max) in _NUMBER_BOUNDS or _is_real_number(max))
        and input.dtype.is_floating_point
    ):
        # number bounds on a floating tensor: one C++ op (the gradient passes where min <= x <= max)
        lo = 0.0 if min is None else float(cast(SupportsFloat, min))
        hi = 0.0 if max is None else float(cast(SupportsFloat, max))
        return _core._clamp(input, lo, hi, min is not None, max is not None)
    out = input
    if min is not None:
        out = maximum(out, _as_tensor(min, input)) if isinstance(min, Tensor) else _clamp_scalar(out, min, True)
    if max is not None:
        out = minimum(out, _as_tensor(max, input)) if isinstance(max, Tensor) else _clamp_scalar(out, max, False)
    return out


_NUMBER_BOUNDS = (float, int)  # checked first: an ABC isinstance costs more than a small clamp


def _is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _clamp_scalar(x: Tensor, bound, lower: bool) -> Tensor:
    # The gradient passes where the bound is not active (x inside, or equal to the bound), as
    # in PyTorch; it does not split at ties like maximum/minimum.
    b = _core.full(
        (), bound, dtype=x.dtype if (x.dtype.is_floating_point or isinstance(bound, int)) else _core.dtype.float32
    )
    values = _np(x)
    clipped = np.maximum(values, _np(b)) if lower else np.minimum(values, _np(b))
    if np.issubdtype(values.dtype, np.floating):
        clipped = np.where(np.isnan(values), values, clipped)
    out = _wrap(clipped.astype(_NUMPY[result_type(x, b)]))
    if x.requires_grad:
        keep = _float_mask((x >= b) if lower else (x <= b), x)
        keep = where(x != x, _core.ones(1, dtype=x.dtype).reshape(()), keep) if x.dtype.is_floating_point else keep
        _core._record(out, lambda g: (g * keep,), [x], "ClampBackward")
    return out


def maximum(input: Tensor, other: Tensor) -> Tensor:
    if not isinstance(other, Tensor):
        raise TypeError(f"maximum(): argument 'other' must be Tensor, not {type(other).__name__}")
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    if not isinstance(other, Tensor):
        raise TypeError(f"minimum(): argument 'other' must be Tensor, not {type(other).__name__}")
    return input.minimum(other)


def lerp(input: Tensor, end: TensorLike, weight: TensorLike) -> Tensor:
    return input + weight * (end - input)


def round(input: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001
    if decimals == 0:
        return input._round()
    scale = 10.0**decimals
    return (input * scale)._round() / scale


# ---- reductions -----------------------------------------------------------------------------------
ReturnTypes = collections.namedtuple("return_types", ["values", "indices"])  # type: ignore[name-match]


class _MinMax(tuple):
    """torch.return_types.max / min: a (values, indices) named tuple."""

    __slots__ = ()
    _fields = ("values", "indices")

    def __new__(cls, values, indices, name):
        self = super().__new__(cls, (values, indices))
        return self

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return f"torch.return_types.max_min(\nvalues={self[0]!r},\nindices={self[1]!r})"


def _arg_extreme(x: Tensor, dim, keepdim: bool, largest: bool, name: str) -> Tensor:
    if x.numel() == 0:
        raise IndexError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            if dim is None
            else f"{name}(): cannot perform reduction on a zero-size dimension"
        )
    values = _np(x)
    if values.dtype == np.bool_:
        values = values.astype(np.int64)
    fn = np.argmax if largest else np.argmin
    if dim is None:
        # NaN counts as the extreme, as in PyTorch
        flat = values.reshape(-1)
        nan = np.flatnonzero(np.isnan(flat)) if flat.dtype.kind == "f" else []
        r = np.int64(nan[0] if len(nan) else fn(flat))
        return _wrap(r.reshape((1,) * x.ndim) if keepdim else r)
    d = _dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    if x.ndim == 0:
        return _wrap(np.int64(0))
    idx = fn(values, axis=d)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            idx = np.where(nan.any(axis=d), np.argmax(nan, axis=d), idx)
    idx = idx.astype(np.int64)
    return _wrap(np.expand_dims(idx, d) if keepdim else idx)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(input, dim, keepdim, True, "argmax")


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(input, dim, keepdim, False, "argmin")


def _extreme(x: Tensor, dim, keepdim: bool, largest: bool, name: str):
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise form
        return maximum(x, dim) if largest else minimum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        return _amax(x, None, False, largest)
    if x.ndim == 0:
        d = _dim(dim, 0)
        return _MinMax(_amax(x, None, False, largest), _wrap(np.int64(0)), name)
    d = _dim(dim, x.ndim)
    if x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    idx = _arg_extreme(x, d, True, largest, name)
    values = gather(x, d, idx)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _MinMax(values, idx, name)


def max(
    input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, out: Tensor | None = None
) -> Any:  # noqa: A001
    return _extreme(input, dim, keepdim, True, "max")


def min(
    input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, out: Tensor | None = None
) -> Any:  # noqa: A001
    return _extreme(input, dim, keepdim, False, "min")


def _amax(x: Tensor, dim, keepdim: bool, largest: bool) -> Tensor:
    dims = _dims(dim, x.ndim)
    values = _np(x)
    fn = np.max if largest else np.min
    if x.numel() == 0 and (dim is None or builtins.any(x.shape[d] == 0 for d in dims)):
        raise RuntimeError(
            f"{'amax' if largest else 'amin'}(): Expected reduction dim to be specified for input.numel() == 0."
        )
    out_np = fn(values, axis=dims if x.ndim else None, keepdims=keepdim)
    out = _wrap(out_np)
    if x.requires_grad:
        kept = out.reshape(_keep_shape(x.shape, dims)) if x.ndim else out

        def backward(g):
            # The gradient is shared evenly between the elements equal to the extreme.
            mask = _float_mask(x == kept, g)
            share = mask / mask.sum(dim=dims if x.ndim else None, keepdim=True)
            return (g.reshape(_keep_shape(x.shape, dims)) * share if x.ndim else g * share,)

        _core._record(out, backward, [x], "AmaxBackward")
    return out


def amax(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    return _amax(input, None if dim == () else dim, keepdim, True)


def amin(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    return _amax(input, None if dim == () else dim, keepdim, False)


def prod(
    input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: _core.dtype | None = None
) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    if not x.dtype.is_floating_point and x.dtype != _int64:
        x = x.to(_int64)
    dims = _dims(dim, x.ndim) if dim is not None else None
    values = _np(x)
    out = _wrap(
        np.prod(values, axis=dims if x.ndim else None, keepdims=keepdim if dims is not None else False).astype(
            values.dtype
        )
    )
    if x.requires_grad:
        d = dims if dims is not None else tuple(range(x.ndim))

        def backward(g):
            gk = g.reshape(_keep_shape(x.shape, d)) if x.ndim else g
            if not (values == 0).any():
                return (gk * out.reshape(_keep_shape(x.shape, d)) / x if x.ndim else g * out / x,)
            # With zeros: the product of the others, from the exclusive products along d.
            others = _prod_of_others(values, d)
            return (gk * _wrap(others),)

        _core._record(out, backward, [x], "ProdBackward")
    return out


def _prod_of_others(values: np.ndarray, dims) -> np.ndarray:
    moved = np.moveaxis(values, dims, list(range(len(dims)))) if values.ndim else values.reshape(1)
    lead = moved.shape[: len(dims)] if values.ndim else (1,)
    flat = moved.reshape((int(np.prod(lead)),) + moved.shape[len(dims) if values.ndim else 1 :])
    before = np.cumprod(np.concatenate([np.ones_like(flat[:1]), flat[:-1]]), axis=0)
    after = np.cumprod(np.concatenate([np.ones_like(flat[:1]), flat[::-1][:-1]]), axis=0)[::-1]
    result = (before * after).reshape(moved.shape)
    if not values.ndim:
        return result.reshape(())
    return np.moveaxis(result, list(range(len(dims))), dims)


def var(
    input: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: int | None = None,
) -> Tensor:
    if isinstance(dim, bool):  # var(x, False): the positional `unbiased` of the dim-less overload
        unbiased, dim = dim, None
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = _dims(dim, input.ndim)
    n = int(np.prod([input.shape[d] for d in dims])) if input.ndim else 1
    mean = input.mean(dim=list(dims) if input.ndim else None, keepdim=True)
    centred = input - mean
    squares = (centred * centred).sum(dim=list(dims) if input.ndim else None, keepdim=keepdim)
    return squares / builtins.max(n - correction, 0) if n - correction > 0 else squares / 0.0


def std(
    input: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: int | None = None,
) -> Tensor:
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def norm(
    input: Tensor,
    p: float | str = "fro",
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    dtype: _core.dtype | None = None,
) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as input.")
    dims = list(_dims(dim, x.ndim)) if x.ndim else None
    if p in ("fro", 2, 2.0):
        squares = (x * x).sum(dim=dims, keepdim=keepdim)
        values = _np(squares)
        out = _wrap(np.sqrt(values))
        if x.requires_grad:

            def backward(g):
                # x / ||x||, with 0 where the norm is 0 (PyTorch's subgradient)
                kept = out.reshape(_keep_shape(x.shape, dims or ())) if x.ndim else out
                safe = kept + _float_mask(kept == 0, kept)
                gk = g.reshape(_keep_shape(x.shape, dims or ())) if x.ndim else g
                return (gk * x / safe,)

            _core._record(out, backward, [x], "NormBackward")
        return out
    if p in (float("inf"), "inf"):
        return x.abs().amax(dim=dims if dims is not None else (), keepdim=keepdim)
    if p in (-float("inf"),):
        return x.abs().amin(dim=dims if dims is not None else (), keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim=dims, keepdim=keepdim)
    if p == 1:
        return x.abs().sum(dim=dims, keepdim=keepdim)
    p = float(p)
    return (x.abs() ** p).sum(dim=dims, keepdim=keepdim) ** (1.0 / p)


def logsumexp(input: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    x = input if input.dtype.is_floating_point else input.to(_core.dtype.float32)
    dims = list(_dims(dim, x.ndim)) if x.ndim else None
    with _no_grad():
        m = (
            x.amax(dim=dims if dims is not None else (), keepdim=True)
            if x.numel()
            else _core.zeros(*_keep_shape(x.shape, dims or ()), dtype=x.dtype)
        )
        m = where(m.abs() == float("inf"), _core.zeros(1, dtype=x.dtype).reshape(()), m)
    s = (x - m).exp().sum(dim=dims, keepdim=True).log() + m
    if not keepdim and x.ndim:
        s = s.reshape(tuple(d for i, d in enumerate(x.shape) if i not in dims))  # type: ignore[operator]
    return s if x.ndim else s.reshape(())


def cumsum(input: Tensor, dim: int, *, dtype: _core.dtype | None = None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    if x.dtype in (_bool, _core.dtype.int32):
        x = x.to(_int64)
    d = _dim(dim, x.ndim)
    out = _wrap(np.cumsum(_np(x), axis=d if x.ndim else None).reshape(tuple(x.shape)).astype(_NUMPY[x.dtype]))

    def backward(g):
        return (flip(cumsum(flip(g, [d]), d), [d]) if x.ndim else g,)

    _core._record(out, backward, [x], "CumsumBackward")
    return out


def any(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    dims = _dims(dim, input.ndim) if dim is not None else None
    return _wrap(np.any(_np(input), axis=dims if input.ndim else None, keepdims=keepdim if dims else False))


def all(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    dims = _dims(dim, input.ndim) if dim is not None else None
    return _wrap(np.all(_np(input), axis=dims if input.ndim else None, keepdims=keepdim if dims else False))


def count_nonzero(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    dims = _dims(dim, input.ndim) if dim is not None else None
    return _wrap(np.asarray(np.count_nonzero(_np(input), axis=dims), dtype=np.int64))


# ---- logic -----------------------------------------------------------------------------------------
def isnan(input: Tensor) -> Tensor:
    return input != input


def isinf(input: Tensor) -> Tensor:
    if not input.dtype.is_floating_point:
        return _core.zeros(*input.shape, dtype=_bool)
    return input.abs() == float("inf")


def isfinite(input: Tensor) -> Tensor:
    if not input.dtype.is_floating_point:
        return _core.ones(*input.shape, dtype=_bool)
    return (input == input) & (input.abs() != float("inf"))


def equal(input: Tensor, other: Tensor) -> bool:
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(np.array_equal(_np(input), _np(other)))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def isclose(
    input: Tensor, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    b = _np(other) if isinstance(other, Tensor) else np.asarray(other)
    return _wrap(np.isclose(_np(input), b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def logical_not(input: Tensor) -> Tensor:
    return input.logical_not()


def logical_and(input: Tensor, other: TensorLike) -> Tensor:
    return input.logical_and(other)


def logical_or(input: Tensor, other: TensorLike) -> Tensor:
    return input.logical_or(other)


def logical_xor(input: Tensor, other: TensorLike) -> Tensor:
    return input.logical_xor(other)


# ---- dtypes ----------------------------------------------------------------------------------------
_NUMPY = {
    _core.dtype.float32: np.float32,
    _core.dtype.float64: np.float64,
    _int64: np.int64,
    _core.dtype.int32: np.int32,
    _bool: np.bool_,
}


def result_type(a: Any, b: Any) -> _core.dtype:
    """The dtype of a binary op between a and b (tensors, numbers or dtypes), as PyTorch promotes."""

    def as_probe(v):
        if isinstance(v, _core.dtype):
            return _core.zeros(1, dtype=v)
        if isinstance(v, Tensor):
            return v.reshape(tuple(v.shape)) if v.numel() == 0 else v
        return v

    pa, pb = as_probe(a), as_probe(b)
    if not isinstance(pa, Tensor):
        pa, pb = pb, pa
    if not isinstance(pa, Tensor):
        if builtins.any(isinstance(v, float) for v in (a, b)):
            return _core.dtype.float32
        return _bool if builtins.all(isinstance(v, bool) for v in (a, b)) else _int64
    if not isinstance(pb, Tensor):
        if isinstance(pb, bool):
            pb = _core.full((), pb, dtype=_bool)
        elif isinstance(pb, (int, np.integer)):
            pb = _core.full((), int(pb), dtype=_int64)
        else:
            pb = _core.full((), float(pb), dtype=_core.dtype.float32)
        if _core._dtype_category(pb.dtype) <= _core._dtype_category(pa.dtype):
            return pa.dtype
        return pb.dtype if pa.ndim else _core._result_type(pa, pb)
    return _core._result_type(pa, pb)


def promote_types(a: _core.dtype, b: _core.dtype) -> _core.dtype:
    return _core._result_type(_core.zeros(1, dtype=a), _core.zeros(1, dtype=b))


def can_cast(from_: _core.dtype, to: _core.dtype) -> bool:
    return _core._dtype_category(from_) <= _core._dtype_category(to)


class _no_grad:
    def __enter__(self):
        self.prev = _core.is_grad_enabled()
        _core._set_grad_enabled(False)

    def __exit__(self, *exc):
        _core._set_grad_enabled(self.prev)


# ---- in place -----------------------------------------------------------------------------------
def _inplace(self: Tensor, result_fn, name: str) -> Tensor:
    """Computes result_fn(base) out of place and writes it into self (Python names keep the
    object). While recording, base is a differentiable copy of self, so what the op saves for
    its backward is not overwritten by the write."""
    self._check_inplace(name)
    recording = _core.is_grad_enabled()
    base = self.clone() if recording and self.requires_grad else self
    result = result_fn(base)
    if recording and not self.requires_grad and result.requires_grad and base is self:
        base = self.clone()
        result = result_fn(base)
    return self._write_result(result, name)


def add_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    return _inplace(self, lambda s: s + (other if alpha == 1 else other * alpha), "add_")


def sub_(self: Tensor, other: Any, *, alpha: float = 1) -> Tensor:
    return _inplace(self, lambda s: s - (other if alpha == 1 else other * alpha), "sub_")


def mul_(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s * other, "mul_")


def div_(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    return _inplace(self, lambda s: div(s, other, rounding_mode=rounding_mode), "div_")


def pow_(self: Tensor, exponent: Any) -> Tensor:
    return _inplace(self, lambda s: s**exponent, "pow_")


def clamp_(self: Tensor, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    return _inplace(self, lambda s: clamp(s, min, max), "clamp_")


def neg_(self: Tensor) -> Tensor:
    return _inplace(self, lambda s: -s, "neg_")


def abs_(self: Tensor) -> Tensor:
    return _inplace(self, lambda s: s.abs(), "abs_")


def relu_(self: Tensor) -> Tensor:
    return _inplace(self, lambda s: s.relu(), "relu_")


def sqrt_(self: Tensor) -> Tensor:
    return _inplace(self, lambda s: s.sqrt(), "sqrt_")


def exp_(self: Tensor) -> Tensor:
    return _inplace(self, lambda s: s.exp(), "exp_")


def iadd(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s + other, "add_")


def isub(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s - other, "sub_")


def imul(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s * other, "mul_")


def itruediv(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s / other, "div_")


def ifloordiv(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s // other, "floor_divide_")


def imod(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s % other, "remainder_")


def ipow(self: Tensor, other: Any) -> Tensor:
    return _inplace(self, lambda s: s**other, "pow_")


def div(input: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is None:
        return input / other
    if rounding_mode == "floor":
        return input // other
    if rounding_mode == "trunc":
        q = input / other
        t = q.sign() * q.abs().floor()
        return (
            t
            if input.dtype.is_floating_point or (isinstance(other, Tensor) and other.dtype.is_floating_point)
            else t.to(result_type(input, other))
        )
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def add(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    if not isinstance(input, Tensor):
        return _as_tensor(input, other if isinstance(other, Tensor) else None) + (
            other if alpha == 1 else other * alpha
        )
    return input + (other if alpha == 1 else other * alpha)


def sub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    if not isinstance(input, Tensor):
        return _as_tensor(input, other if isinstance(other, Tensor) else None) - (
            other if alpha == 1 else other * alpha
        )
    return input - (other if alpha == 1 else other * alpha)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001
    if not isinstance(input, Tensor):
        return exponent.__rpow__(input)
    return input**exponent


def retain_grad(self: Tensor) -> None:
    if self.is_leaf:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        return
    _core._retain_grad(self)


def fill_(self: Tensor, value: float) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions."
            )
        value = value.item()
    return self._fill(value)


def copy_(self: Tensor, src: TensorLike, non_blocking: bool = False) -> Tensor:
    src_t = src if isinstance(src, Tensor) else _as_tensor(src)

    try:
        fits = np.broadcast_shapes(tuple(src_t.shape), tuple(self.shape)) == tuple(self.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"copy_: src has shape {tuple(src_t.shape)} but the tensor has shape {tuple(self.shape)}; "
            "src must broadcast to it"
        )

    def values(_):
        v = src_t if tuple(src_t.shape) == tuple(self.shape) else src_t.expand(*self.shape)
        v = v.to(self.dtype) if v.dtype != self.dtype else v
        # A node of its own, so that self's history is not src's node itself.
        return v.clone() if v.requires_grad and _core.is_grad_enabled() else v

    return _inplace(self, values, "copy_")


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    return self._normal(mean, std)


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    return self._uniform(a, b)


# ---- functional forms (torch.sin(x), torch.transpose(x, 0, 1), ...) ------------------------------
def _method_as_function(name: str):
    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = name
    function.__doc__ = f"torch.{name}(input, ...): the same as input.{name}(...)."
    return function


for _name in (
    "sin",
    "cos",
    "tan",
    "log1p",
    "expm1",
    "rsqrt",
    "sign",
    "floor",
    "ceil",
    "square",
    "reciprocal",
    "log2",
    "log10",
    "erf",
    "neg",
    "negative",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "mul",
    "multiply",
    "floor_divide",
    "remainder",
    "fmod",
    "t",
    "reshape",
    "numel",
    "exp",
    "log",
    "sqrt",
    "abs",
    "sigmoid",
    "tanh",
    "relu",
    "softmax",
    "log_softmax",
    "detach",
    "clone",
    "sum",
    "mean",
):
    globals()[_name] = _method_as_function(_name)
# The common float functions go to C++ in one call (a Python wrapper costs as much as the op on a
# small tensor).
for _name in ("sin", "cos", "tan", "log1p", "expm1", "rsqrt", "exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu"):
    globals()[_name] = getattr(_core, _name)
del _name

true_divide = divide = div
subtract = sub
clip = clamp
absolute = globals()["abs"]
