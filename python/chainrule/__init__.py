"""chainrule: fast, exact backpropagation for dense neural networks.

A C++ core (tensors, autograd, SIMD/OpenMP kernels) under a PyTorch-shaped API:

    import chainrule as torch
    import chainrule.nn as nn
    import chainrule.optim as optim
"""
from __future__ import annotations

import os as _os

import numpy as _np

from chainrule import _core
from chainrule._core import (
    Tensor,
    dtype,
    from_numpy,
    get_num_threads,
    set_num_threads,
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
from chainrule._tensor import float32, float64, int64, numpy_dtype
from chainrule._random import (
    Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state,
)
from chainrule._creation import (
    arange, as_tensor, device, empty, empty_like, eye, full, full_like, get_default_device,
    get_default_dtype, linspace, logspace, multinomial, normal, ones, ones_like, rand, rand_like, randint,
    randint_like, randn, randn_like, randperm, set_default_device, set_default_dtype, tensor, zeros,
    zeros_like,
)
from chainrule import _protocols

_protocols.install()
FloatTensor = _protocols.FloatTensor
DoubleTensor = _protocols.DoubleTensor
LongTensor = _protocols.LongTensor
globals().update(_protocols.legacy_types)  # IntTensor, BoolTensor where the dtypes exist

__version__ = _core.__version__

float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64


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


from chainrule import accelerator, autograd, cuda, data, diagnostics, nn, optim, utils  # noqa: E402  (they import the names above)
from chainrule import io as _io  # noqa: E402
from chainrule.io import save  # noqa: E402


def load(path):
    """Read a file written by chainrule.save (or any safetensors file); arrays come back as Tensors.

    Every dtype ``save`` writes loads: arrays of a dtype chainrule tensors hold are shared as they
    are; the others are widened without loss (bool and integers to int64, float16 to float32).
    uint64 values beyond int64 raise ValueError naming the file.
    """
    where = _os.fspath(path)

    def to_tensor(array):
        try:
            # Aligned (the file's own layout may not be): from_numpy shares only aligned memory.
            return from_numpy(array if array.flags.aligned else array.copy())
        except TypeError:
            pass
        if array.dtype.kind == "f":
            return from_numpy(array.astype(_np.float32))
        if array.dtype == _np.uint64 and array.size and int(array.max()) > _np.iinfo(_np.int64).max:
            raise ValueError(f"{where}: a uint64 tensor holds values beyond int64, which chainrule tensors cannot hold")
        return from_numpy(array.astype(_np.int64))

    return _io.load(path, to_tensor=to_tensor)


from chainrule.fit import History, fit  # noqa: E402

__all__ = [
    "Tensor", "dtype", "float32", "float64", "int64", "float", "double", "long", "device",
    "FloatTensor", "DoubleTensor", "LongTensor", *_protocols.legacy_types,
    "get_default_dtype", "set_default_dtype", "get_default_device", "set_default_device",
    "tensor", "as_tensor", "from_numpy", "empty", "zeros", "ones", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "eye", "arange", "linspace", "logspace",
    "randn", "rand", "randn_like", "rand_like", "randint", "randint_like", "randperm", "normal", "multinomial",
    "Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
    "set_rng_state", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "get_num_threads", "set_num_threads", "matmul", "exp", "log", "relu", "sigmoid", "tanh", "abs",
    "sqrt", "softmax", "log_softmax", "sum", "mean", "argmax", "is_tensor", "config",
    "accelerator", "autograd", "cuda", "data", "utils", "diagnostics", "nn", "optim", "save", "load", "fit", "History",
]
