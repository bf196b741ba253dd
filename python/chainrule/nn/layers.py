"""Layers: Linear, the activations, Softmax/LogSoftmax, PReLU, Flatten and Unflatten."""

from __future__ import annotations as _annotations

import math as _math
from typing import Any

import numpy as _np

from chainrule import _core
from chainrule._arrays import c_contiguous
from chainrule._core import Tensor
from chainrule._tensor import as_tensor
from chainrule._typing import DeviceLike, TensorOrArray
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn import init as init_module
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


def _input(x: TensorOrArray, like_dtype: _core.dtype | None = None) -> Tensor:
    """Module inputs may be NumPy arrays: shared without copying when C-contiguous and of the
    layer's dtype; otherwise converted once to that dtype (the one documented conversion)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _np.ndarray):
        if like_dtype is None:
            like_dtype = _core.dtype.float64 if x.dtype == _np.float64 else _core.dtype.float32
        return as_tensor(c_contiguous(x), dtype=like_dtype)
    raise TypeError(f"input must be a chainrule.Tensor or a NumPy array, got {type(x).__name__}")


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features), initialised like PyTorch's Linear."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: _core.dtype | None = None,
        device: DeviceLike = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, _np.integer)) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        if device is not None and str(device) != "cpu":
            raise ValueError(
                f"Linear: device '{device}' is not available: tensors live on 'cpu' only; "
                "the CUDA backend (chainrule.cuda) cannot yet hold tensors"
            )
        dtype = _core.dtype.float32 if dtype is None else dtype
        if not isinstance(dtype, _core.dtype) or not dtype.is_floating_point:
            raise TypeError(f"Linear: dtype must be chainrule.float32 or chainrule.float64, got {dtype!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(_core.empty(self.out_features, self.in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_core.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) on W, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # and the same bound for the bias.
        init.kaiming_uniform_(self.weight, a=_math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / _math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.linear(_input(input, self.weight.dtype), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Activation(Module):
    # None unless chainrule.diagnostics.record_activations switched recording on, then a callable
    # (module, output) that stores statistics of the output. A class attribute, so a forward with
    # recording off pays one attribute lookup.
    _record = None

    def forward(self, input: TensorOrArray) -> Tensor:
        output = self._fn(_input(input, None))
        if self._record is not None:
            self._record(self, output)
        return output


class ReLU(_Activation):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # accepted for compatibility; chainrule always returns a new tensor

    def _fn(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(_Activation):
    def _fn(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Activation):
    def _fn(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class LeakyReLU(_Activation):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(negative_slope, (int, float)):
            raise TypeError(f"LeakyReLU: negative_slope must be a number, got {type(negative_slope).__name__}")
        self.negative_slope = float(negative_slope)
        self.inplace = inplace

    def _fn(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(_Activation):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _fn(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class Identity(Module):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Softmax(_Activation):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def _fn(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim if self.dim is not None else _implicit_dim(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def _fn(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim if self.dim is not None else _implicit_dim(x))


def _implicit_dim(x: Tensor) -> int:
    # PyTorch's legacy rule for dim=None: 0 for 0-D, 1-D and 3-D inputs, else 1.
    return 0 if x.ndim in (0, 1, 3) else 1


# ---- more activations -----------------------------------------------------------------------------


class SiLU(_Activation):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def _fn(self, x: Tensor) -> Tensor:
        return F.silu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Mish(SiLU):
    def _fn(self, x: Tensor) -> Tensor:
        return F.mish(x)


class Hardswish(SiLU):
    def _fn(self, x: Tensor) -> Tensor:
        return F.hardswish(x)


class SELU(SiLU):
    def _fn(self, x: Tensor) -> Tensor:
        return F.selu(x)


class ELU(_Activation):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _number(type(self).__name__, "alpha", alpha)
        self.inplace = inplace

    def _fn(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha, inplace)
        if self.alpha == 0:
            raise ValueError("CELU: alpha must not be 0")

    def _fn(self, x: Tensor) -> Tensor:
        return F.celu(x, self.alpha)


class Softplus(_Activation):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _number("Softplus", "beta", beta)
        self.threshold = _number("Softplus", "threshold", threshold)
        if self.beta == 0:
            raise ValueError("Softplus: beta must not be 0 (it divides the output)")

    def _fn(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={_short(self.beta)}, threshold={_short(self.threshold)}"


class Hardtanh(_Activation):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val = _number(type(self).__name__, "min_val", min_val)
        self.max_val = _number(type(self).__name__, "max_val", max_val)
        if self.max_val <= self.min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.inplace = inplace

    def _fn(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LogSigmoid(_Activation):
    def _fn(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class Softsign(_Activation):
    def _fn(self, x: Tensor) -> Tensor:
        return F.softsign(x)


class PReLU(Module):
    """x for x > 0, a * x otherwise, with a learnable a: one value, or one per channel (dim 1)."""

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: DeviceLike = None, dtype: _core.dtype | None = None
    ) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, _np.integer)) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = _number("PReLU", "init", init)
        self.weight = Parameter(_core.full([self.num_parameters], self.init, dtype=_float_dtype("PReLU", dtype)))

    def reset_parameters(self) -> None:
        init_module.constant_(self.weight, self.init)

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.prelu(_input(input, self.weight.dtype), self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Flatten(Module):
    """Merges dims start_dim..end_dim into one (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.flatten(_input(input, None), self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim into unflattened_size (a tuple of sizes; one may be -1)."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            isinstance(s, (int, _np.integer)) and not isinstance(s, bool) for s in unflattened_size
        ):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.unflatten(_input(input, None), self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _number(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, _np.integer, _np.floating)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
    return float(value)


def _short(value: float):
    # PyTorch prints Softplus(beta=1.0, threshold=20.0) for the defaults given as floats.
    return value


def _float_dtype(owner: str, dtype):
    dtype = _core.dtype.float32 if dtype is None else dtype
    if not isinstance(dtype, _core.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{owner}: dtype must be chainrule.float32 or chainrule.float64, got {dtype!r}")
    return dtype
