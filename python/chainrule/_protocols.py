"""Python protocols and PyTorch's type names on chainrule.Tensor.

Conversions to Python numbers (``__index__`` lets a one-element integer tensor index a list),
``format(t, ".4f")``, pickling and deep copies, ``.to``/``.cpu``/``.cuda``/``.type``, the legacy
``FloatTensor``-style names and the ``new_*`` factories.
"""

from __future__ import annotations

import numbers

import numpy as np

from chainrule import _core, _creation, _device, _printing, _tensor
from chainrule._core import Tensor

_native_to = Tensor.to  # the C++ conversion; the Python .to below sorts out its arguments first


# ---------------------------------------------------------------------------------------------
# numbers, formatting, printing
# ---------------------------------------------------------------------------------------------


def _index(self: Tensor) -> int:
    if self.dtype.is_floating_point or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


def _format(self: Tensor, spec: str) -> str:
    # As PyTorch: a 0-d tensor formats as its number (f"{loss:.4f}"); others only without a spec.
    if self.ndim == 0:
        return format(self.item(), spec)
    if spec:
        raise TypeError(
            f"unsupported format string passed to Tensor.__format__: {spec!r} "
            f"(only 0-d tensors format as numbers; use t.item() or t.tolist())"
        )
    return _printing.tensor_repr(self)


def _repr(self: Tensor) -> str:
    return _printing.tensor_repr(self)


# ---------------------------------------------------------------------------------------------
# pickling and copies (DataLoader workers, copy.deepcopy of a model)
# ---------------------------------------------------------------------------------------------


def _rebuild(array, requires_grad):
    t = _core.from_numpy(array)
    if requires_grad:
        t.requires_grad = True
    return t


def _reduce(self: Tensor):
    if not self.is_leaf:
        raise RuntimeError(
            "can't pickle a tensor that is part of a graph (it has a grad_fn); pickle t.detach() instead"
        )
    return _rebuild, (np.array(self.detach().numpy(), copy=True), self.requires_grad)


def _deepcopy(self: Tensor, memo):
    if not self.is_leaf:
        raise RuntimeError(
            "Only Tensors created explicitly by the user (graph leaves) support the "
            "deepcopy protocol at the moment; deepcopy t.detach() instead"
        )
    copied = _rebuild(np.array(self.detach().numpy(), copy=True), self.requires_grad)
    if self.grad is not None:
        copied.grad = _rebuild(np.array(self.grad.numpy(), copy=True), False)
    memo[id(self)] = copied
    return copied


# ---------------------------------------------------------------------------------------------
# devices and types
# ---------------------------------------------------------------------------------------------


def _split_to_arguments(args, kwargs):
    """(device, dtype, copy) from the forms of Tensor.to: (dtype), (device), (device, dtype), (tensor)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if dtype is not None and not isinstance(dtype, _core.dtype):
        raise TypeError(f"to: dtype must be a chainrule dtype (e.g. chainrule.float64), got {dtype!r}")
    positional = list(args)
    if positional and isinstance(positional[0], Tensor):
        other = positional.pop(0)
        dtype = other.dtype
    for value in positional:
        if isinstance(value, _core.dtype):
            dtype = value
        elif isinstance(value, (str, _device.device)) or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool)
        ):
            device = value
        elif isinstance(value, bool):  # to(dtype, non_blocking, copy) passes them positionally
            continue
        else:
            raise TypeError(f"to: expected a dtype, a device or a Tensor, got {type(value).__name__}")
    return device, dtype, copy


def _to(self: Tensor, *args, **kwargs) -> Tensor:
    device, dtype, copy = _split_to_arguments(args, kwargs)
    result = self
    if device is not None:
        target = _device._check_device(device, "to")
        result = result._to_device("cpu", 0) if target is None else result._to_device(target.type, target.index or 0)
    if dtype is not None and dtype != result.dtype:
        return _native_to(result, dtype)
    return result.clone() if copy and result is self else result


def _cpu(self: Tensor, memory_format=None) -> Tensor:
    return self._to_device("cpu", 0)


def _cuda(self: Tensor, device=None, non_blocking: bool = False, memory_format=None) -> Tensor:
    target = _device._check_device("cuda" if device is None else _cuda_device_arg(device), "cuda")
    assert target is not None  # a CUDA device: _check_device returns None only for the CPU
    return self._to_device(target.type, target.index or 0)


def _cuda_device_arg(device):
    """Tensor.cuda(device): an index or a CUDA device; refuses 'cpu' as PyTorch does."""
    parsed = _device._parse(device, "cuda")
    if parsed.type != "cuda":
        raise RuntimeError(f"Invalid device, must be cuda device, got '{parsed}'")
    return parsed


_TYPE_NAMES: dict[str, _core.dtype] = {}  # "FloatTensor" -> dtype, filled below with the dtypes this build has


def _type(self: Tensor, dtype=None, non_blocking: bool = False, **kwargs):
    """t.type() names the tensor type; t.type(torch.float) / t.type(torch.FloatTensor) converts."""
    if dtype is None:
        for name, candidate in _TYPE_NAMES.items():
            if candidate == self.dtype:
                return f"chainrule.{name}"
        return f"chainrule.Tensor({self.dtype!r})"
    if isinstance(dtype, _LegacyTensorType):
        dtype = dtype.dtype
    elif isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        if name not in _TYPE_NAMES:
            raise ValueError(
                f"type: invalid type {dtype!r}; expected one of {', '.join('torch.' + n for n in _TYPE_NAMES)}"
            )
        dtype = _TYPE_NAMES[name]
    elif not isinstance(dtype, _core.dtype):
        raise TypeError(
            f"type: dtype must be a dtype, a tensor type like torch.FloatTensor or its name, got {type(dtype).__name__}"
        )
    return self if dtype == self.dtype else _native_to(self, dtype)


class _LegacyTensorType(type):
    """torch.FloatTensor and friends: isinstance checks the dtype; calling one makes a tensor."""

    dtype: _core.dtype  # the dtype of the tensors this type names

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __call__(cls, *args, device=None):
        target = _device._check_device(device, cls.__name__)
        if not args:
            return _device._place(_core.empty(0, dtype=cls.dtype), target)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return _device._place(_creation.zeros(*args, dtype=cls.dtype), target)  # FloatTensor(2, 3): (2, 3)
        if len(args) == 1:
            return _device._place(_tensor.tensor(args[0], dtype=cls.dtype), target)
        raise TypeError(f"{cls.__name__}: expected sizes (ints) or one sequence of data")

    def __repr__(cls):
        return f"<class 'chainrule.{cls.__name__}'>"


def _legacy_type(name: str, dtype) -> type:
    cls = _LegacyTensorType(name, (), {"dtype": dtype, "__doc__": f"Tensors of dtype {dtype!r}."})
    _TYPE_NAMES[name] = dtype
    return cls


FloatTensor = _legacy_type("FloatTensor", _tensor.float32)
DoubleTensor = _legacy_type("DoubleTensor", _tensor.float64)
LongTensor = _legacy_type("LongTensor", _tensor.int64)
legacy_types = {"FloatTensor": FloatTensor, "DoubleTensor": DoubleTensor, "LongTensor": LongTensor}
for _name, _dtype_name in (("IntTensor", "int32"), ("BoolTensor", "bool")):
    if hasattr(_core.dtype, _dtype_name):  # the dtypes this build has
        legacy_types[_name] = _legacy_type(_name, getattr(_core.dtype, _dtype_name))


# ---------------------------------------------------------------------------------------------
# new_* factories: same dtype as the tensor unless told otherwise
# ---------------------------------------------------------------------------------------------


def _new_factory(make, where):
    def method(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs):
        return make(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad, **kwargs)

    method.__name__ = where
    return method


def _new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False):
    return _creation.full(size, fill_value, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


def _new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad: bool = False):
    return _creation.tensor(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


def install() -> None:
    Tensor.__index__ = _index
    Tensor.__format__ = _format
    Tensor.__repr__ = _repr
    Tensor.__str__ = _repr
    Tensor.__reduce__ = _reduce
    Tensor.__deepcopy__ = _deepcopy
    # Identity hashing (as PyTorch): tensors are dict keys and set members by object, whatever
    # __eq__ computes.
    Tensor.__hash__ = object.__hash__
    Tensor.to = _to
    Tensor.cpu = _cpu
    Tensor.cuda = _cuda
    Tensor.type = _type
    Tensor.new_zeros = _new_factory(_creation.zeros, "new_zeros")
    Tensor.new_ones = _new_factory(_creation.ones, "new_ones")
    Tensor.new_empty = _new_factory(_creation.empty, "new_empty")
    Tensor.new_full = _new_full
    Tensor.new_tensor = _new_tensor
