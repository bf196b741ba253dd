"""chainrule: fast, exact backpropagation for dense neural networks.

A C++ core (tensors, autograd, SIMD/OpenMP kernels) under a PyTorch-shaped API:

    import chainrule as torch
    import chainrule.nn as nn
    import chainrule.optim as optim
"""
from __future__ import annotations

import numpy as _np

from chainrule import _core
from chainrule._core import (
    Tensor,
    dtype,
    empty,
    from_numpy,
    full,
    get_num_threads,
    manual_seed,
    ones,
    rand,
    randn,
    set_num_threads,
    zeros,
    matmul,
    exp,
    log,
    relu,
    sigmoid,
    tanh,
    abs,
    sqrt,
    softmax,
    log_softmax,
)
from chainrule._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule._tensor import as_tensor, float32, float64, int64, numpy_dtype, tensor

__version__ = _core.__version__

float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64


class device:
    """A device name. This build computes on 'cpu'."""

    def __init__(self, type: str = "cpu"):
        if isinstance(type, device):
            type = type.type
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu', got {type!r}")
        self.type = type.split(":")[0]
        if self.type not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type '{type}'; expected 'cpu' or 'cuda'")

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self):
        return hash(self.type)

    def __repr__(self):
        return f"device(type='{self.type}')"

    def __str__(self):
        return self.type


def _size_arg(size):
    if len(size) == 1 and not isinstance(size[0], int):
        return tuple(size[0])
    return tuple(size)


def zeros_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return zeros(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def ones_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return ones(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def empty_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return empty(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def rand_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint(low, high=None, size=None, *, dtype=None) -> Tensor:
    """randint(high, size) or randint(low, high, size): uniform integers in [low, high)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: size must be given, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, got {type(size).__name__}")
    return _core._randint(int(low), int(high), tuple(size), dtype if dtype is not None else int64)


def arange(start, end=None, step=1, *, dtype=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    values = _np.arange(start, end, step)
    if dtype is None:
        dtype = int64 if values.dtype.kind in "iu" else float32
    return tensor(values, dtype=dtype, requires_grad=requires_grad)


def sum(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return input.sum(dim=dim, keepdim=keepdim)


def mean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.mean(dim=dim, keepdim=keepdim)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.argmax(dim=dim, keepdim=keepdim)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def config() -> dict:
    """What this build runs: the CPU kernel ISA, the thread count, whether CUDA was compiled."""
    return {
        "version": __version__,
        "cpu_isa": _core._cpu_isa(),
        "num_threads": get_num_threads(),
        "cuda_built": bool(_core._cuda_built),
    }


from chainrule import autograd, cuda, data, diagnostics, nn, optim  # noqa: E402  (they import the names above)
from chainrule import io as _io  # noqa: E402
from chainrule.io import save  # noqa: E402


def load(path):
    """Read a file written by chainrule.save (or any safetensors file); arrays come back as Tensors."""
    return _io.load(path, to_tensor=from_numpy)


from chainrule.fit import History, fit  # noqa: E402

__all__ = [
    "Tensor", "dtype", "float32", "float64", "int64", "float", "double", "long", "device",
    "tensor", "as_tensor", "from_numpy", "empty", "zeros", "ones", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "randn", "rand", "randn_like", "rand_like", "randint", "arange",
    "manual_seed", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "get_num_threads", "set_num_threads", "matmul", "exp", "log", "relu", "sigmoid", "tanh", "abs",
    "sqrt", "softmax", "log_softmax", "sum", "mean", "argmax", "is_tensor", "config",
    "autograd", "cuda", "data", "diagnostics", "nn", "optim", "save", "load", "fit", "History",
]
