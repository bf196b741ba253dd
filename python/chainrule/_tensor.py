"""Python-side pieces of chainrule.Tensor: construction from Python data, printing, tolist.

The Tensor class itself, its operators and autograd live in the C++ core (chainrule._core).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._size import Size

float32 = _core.dtype.float32
float64 = _core.dtype.float64
int64 = _core.dtype.int64
int32 = _core.dtype.int32
bool_ = _core.dtype.bool

_NUMPY_OF = {float32: np.float32, float64: np.float64, int64: np.int64, int32: np.int32, bool_: np.bool_}


def numpy_dtype(dtype: _core.dtype) -> type:
    """The NumPy scalar type that stores a chainrule dtype."""
    try:
        return _NUMPY_OF[dtype]
    except (KeyError, TypeError):
        raise TypeError(
            f"dtype must be a chainrule dtype (float32, float64, int64, int32, bool), got {dtype!r}"
        ) from None


def dtype_of_numpy(np_dtype: Any) -> _core.dtype:
    np_dtype = np.dtype(np_dtype)
    if np_dtype == np.float64:
        return float64
    if np_dtype == np.bool_:
        return bool_
    if np_dtype == np.int32:
        return int32
    if np_dtype.kind in "iu":
        return int64
    return float32


def _default_dtype_for(array: np.ndarray):
    # PyTorch's inference: Python floats -> float32, ints -> int64, bools -> bool. An ndarray keeps
    # its float64 and int32 (torch.tensor(np.float64 array) is float64).
    if array.dtype == np.bool_:
        return bool_
    if array.dtype == np.int32:
        return int32
    if array.dtype.kind in "iu":
        return int64
    if array.dtype == np.float64:
        return float64
    return float32 if array.dtype == np.float32 else _core._get_default_dtype()


def tensor(data: Any, dtype: _core.dtype | None = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, a number, an array or a Tensor)."""
    if isinstance(data, Tensor):
        array = data.detach().numpy()
    else:
        array = np.asarray(data)
        if array.dtype == object:
            raise TypeError("tensor: data must be numbers or nested sequences of numbers of equal length")
        if dtype is None and not isinstance(data, np.ndarray) and array.dtype == np.float64:
            # Python floats take the default dtype (float32 unless set_default_dtype says otherwise).
            array = array.astype(numpy_dtype(_core._get_default_dtype()))
    if array.dtype.kind not in "iubf":
        raise TypeError(f"tensor: unsupported data type {array.dtype}")
    target = _default_dtype_for(array) if dtype is None else dtype
    out = _core.from_numpy(np.array(array, dtype=numpy_dtype(target), order="C", copy=True))
    if requires_grad:
        out.requires_grad = True
    return out


def as_tensor(data: Any, dtype: _core.dtype | None = None) -> Tensor:
    """Like tensor(), but shares memory with a C-contiguous NumPy array of a matching dtype."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == dtype else data.to(dtype)
    # Shared only when C-contiguous and aligned: an array at an odd byte offset is copied.
    if isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.aligned and data.dtype.kind in "fi":
        try:
            current = dtype_of_numpy(data.dtype) if data.dtype in (np.float32, np.float64, np.int64) else None
        except TypeError:
            current = None
        if current is not None and (dtype is None or dtype == current):
            return _core.from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing `ndarray`'s memory (float32, float64 or int64, C-contiguous)."""
    return _core.from_numpy(ndarray)


def tolist(self: Tensor) -> Any:
    return self.detach().cpu().numpy().tolist()  # from a device: copied back first, as in PyTorch


def _array(self: Tensor, dtype=None, copy=None):
    values = self.detach().numpy()
    return values if dtype is None else values.astype(dtype)


def _float(self: Tensor) -> float:
    return float(self.item())


def _int(self: Tensor) -> int:
    return int(self.item())


def _bool(self: Tensor) -> bool:
    if self.numel() != 1:
        raise RuntimeError("Boolean value of a Tensor with more than one value is ambiguous")
    return bool(self.item())


def _iter(self: Tensor):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]


# .shape and .size() build a Size directly in C++ (40 ns over a plain tuple).
_core._set_size_type(Size)
Tensor.tolist = tolist
Tensor.__array__ = _array
Tensor.__float__ = _float
Tensor.__int__ = _int
Tensor.__bool__ = _bool
Tensor.__iter__ = _iter
Tensor.__array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
# Class-level default of the flat-arena marker (chainrule.nn.utils.flat): zero_grad reads it on
# every parameter every step, and a missing attribute would cost an AttributeError each time.
Tensor._grad_in_arena = False


# ---- ops written in Python (chainrule._tensor_ops) become methods, as in PyTorch -----------------
def _install_tensor_ops() -> None:
    from chainrule import _indexing
    from chainrule import _tensor_ops as ops

    # the C++ in-place fills, kept under private names for the Python forms that check arguments
    Tensor._fill = Tensor.fill_
    Tensor._normal = Tensor.normal_
    Tensor._uniform = Tensor.uniform_
    Tensor._flatten_all = Tensor.flatten
    for name in (
        "size",
        "view",
        "flatten",
        "unflatten",
        "squeeze",
        "unsqueeze",
        "permute",
        "transpose",
        "contiguous",
        "repeat",
        "flip",
        "split",
        "chunk",
        "unbind",
        "select",
        "narrow",
        "index_select",
        "gather",
        "scatter_add",
        "max",
        "min",
        "amax",
        "amin",
        "argmin",
        "prod",
        "var",
        "std",
        "norm",
        "logsumexp",
        "cumsum",
        "any",
        "all",
        "count_nonzero",
        "isnan",
        "isinf",
        "isfinite",
        "equal",
        "allclose",
        "isclose",
        "clamp",
        "lerp",
        "round",
        "add_",
        "sub_",
        "mul_",
        "div_",
        "pow_",
        "clamp_",
        "neg_",
        "abs_",
        "relu_",
        "sqrt_",
        "exp_",
        "retain_grad",
        "fill_",
        "copy_",
        "normal_",
        "uniform_",
        "div",
        "add",
        "sub",
        "where",
        "nonzero",
    ):
        setattr(Tensor, name, getattr(ops, name))
    Tensor.clip = ops.clamp
    Tensor.clip_ = ops.clamp_
    Tensor.absolute = Tensor.abs
    Tensor.multiply = Tensor.mul
    Tensor.subtract = Tensor.sub
    Tensor.divide = ops.div
    Tensor.true_divide = Tensor.__truediv__
    Tensor.__iadd__ = ops.iadd
    Tensor.__isub__ = ops.isub
    Tensor.__imul__ = ops.imul
    Tensor.__itruediv__ = ops.itruediv
    Tensor.__ifloordiv__ = ops.ifloordiv
    Tensor.__imod__ = ops.imod
    Tensor.__ipow__ = ops.ipow
    Tensor.__setitem__ = _indexing.setitem
    Tensor.mT = property(lambda self: self.transpose(-2, -1))


def _where_method(self, condition, other):
    from chainrule._tensor_ops import where

    return where(condition, self, other)


_install_tensor_ops()
Tensor.where = _where_method
