"""chainrule: fast, exact backpropagation for dense neural networks.

A C++ core (tensors, autograd, SIMD/OpenMP kernels) under a PyTorch-shaped API:

    import chainrule as torch
    import chainrule.nn as nn
    import chainrule.optim as optim
"""

from __future__ import annotations as _annotations

import os as _os
import typing as _typing

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
from chainrule._tensor import float32, float64, int32, int64
from chainrule._tensor import numpy_dtype  # noqa: F401  (chainrule.numpy_dtype: a dtype's NumPy dtype)
from chainrule._random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from chainrule._device import device, get_default_device, set_default_device
from chainrule._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    get_default_dtype,
    linspace,
    logspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    set_default_dtype,
    tensor,
    zeros,
    zeros_like,
)
from chainrule import _device, _protocols

_protocols.install()
FloatTensor = _protocols.FloatTensor
DoubleTensor = _protocols.DoubleTensor
LongTensor = _protocols.LongTensor
globals().update(_protocols.legacy_types)  # IntTensor, BoolTensor where the dtypes exist
from chainrule._size import Size  # noqa: E402, F401
from chainrule._tensor_ops import (  # noqa: E402, F401  (tensor ops written in Python)
    absolute,
    add,
    allclose,
    amax,
    amin,
    argmin,
    can_cast,
    cat,
    chunk,
    clamp,
    clip,
    count_nonzero,
    cumsum,
    div,
    divide,
    equal,
    flatten,
    flip,
    gather,
    index_select,
    isclose,
    isfinite,
    isinf,
    isnan,
    lerp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    maximum,
    minimum,
    narrow,
    nonzero,
    norm,
    permute,
    prod,
    promote_types,
    result_type,
    scatter_add,
    select,
    split,
    squeeze,
    stack,
    std,
    sub,
    subtract,
    transpose,
    true_divide,
    unbind,
    unflatten,
    unsqueeze,
    var,
    where,
)

# The functional forms of Tensor methods (torch.sin(x) is x.sin()), which _tensor_ops makes in a loop
# that type checkers cannot follow.
from chainrule._tensor_ops import (  # type: ignore[attr-defined]  # noqa: E402, F401
    cos,
    eq,
    erf,
    expm1,
    floor,
    floor_divide,
    fmod,
    ge,
    gt,
    le,
    log1p,
    log2,
    log10,
    lt,
    mul,
    multiply,
    ne,
    neg,
    negative,
    numel,
    reciprocal,
    remainder,
    reshape,
    rsqrt,
    sign,
    sin,
    square,
    t,
    tan,
    ceil,
    clone,
    detach,
)

__version__ = _core.__version__

float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64


def sum(input: Tensor, dim: int | _typing.Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return input.sum(dim=dim, keepdim=keepdim)


def mean(input: Tensor, dim: int | _typing.Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return input.mean(dim=dim, keepdim=keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return input.argmax(dim=dim, keepdim=keepdim)


# PyTorch names that shadow Python builtins (torch.max, torch.int, ...) are served by the module's
# __getattr__, so that code inside this module keeps the builtins.
def _builtin_shadowing_names() -> dict:
    from chainrule import _tensor_ops as ops

    return {
        "int": int32,
        "bool": _core.dtype.bool,
        "max": ops.max,
        "min": ops.min,
        "any": ops.any,
        "all": ops.all,
        "round": ops.round,
        "pow": ops.pow,
    }


_SHADOWING = None


def __getattr__(name: str) -> _typing.Any:
    global _SHADOWING
    if _SHADOWING is None:
        _SHADOWING = _builtin_shadowing_names()
    try:
        return _SHADOWING[name]
    except KeyError:
        raise AttributeError(f"module 'chainrule' has no attribute '{name}'") from None


def is_tensor(obj: object) -> bool:
    return isinstance(obj, Tensor)


def config() -> dict:
    """What this build runs: the CPU kernel ISA, the thread count, whether CUDA was compiled."""
    return {
        "version": __version__,
        "cpu_isa": _core._cpu_isa(),
        "num_threads": get_num_threads(),
        "cuda_built": bool(_core._cuda_built),
    }


from chainrule import accelerator, autograd, cuda, data, diagnostics, distributions, nn, optim, utils  # noqa: E402  (they import the names above)
from chainrule.autograd import inference_mode  # noqa: E402
from chainrule import io as _io  # noqa: E402


def save(obj: _typing.Any, f: _typing.Any) -> None:
    """Write ``obj`` (tensors, arrays and nested dicts/lists of them, e.g. a state dict) to ``f``
    atomically, as safetensors whatever the extension (chainrule.io.save). Only what
    ``chainrule.load`` can return is written: uint64 values beyond int64 raise ValueError."""
    _io.save(obj, f, for_tensors=True)


def load(
    f: str | _os.PathLike | _typing.BinaryIO,
    map_location: _typing.Any = None,
    pickle_module: _typing.Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: _typing.Any,
) -> _typing.Any:
    """Read a file written by chainrule.save (or any safetensors file); arrays come back as Tensors.

    Every dtype ``save`` writes loads: arrays of a dtype chainrule tensors hold are shared as they
    are; the others are widened without loss (integers to int64, float16 to float32).
    uint64 values beyond int64 raise ValueError naming the file.

    PyTorch's torch.load arguments are accepted: the file is never unpickled, so weights_only
    (True or False) changes nothing; map_location names the device the tensors go to (a dict or callable is accepted and loads onto the CPU); pickle_module is refused.
    """
    if pickle_module is not None:
        raise TypeError("load: pickle_module is not supported: chainrule files hold no pickled data")
    if pickle_load_args:
        raise TypeError(f"load() got an unexpected keyword argument '{next(iter(pickle_load_args))}'")
    target = None  # where the tensors go: map_location's device; the CPU when it names none
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        target = _device._check_device(map_location, "load: map_location")
    # The path, or an open file's name, for error messages.
    source = _os.fspath(f) if isinstance(f, (str, bytes, _os.PathLike)) else getattr(f, "name", f)

    def to_tensor(array):
        return _device._place(host_tensor(array), target)

    def host_tensor(array):
        try:
            # Aligned (the file's own layout may not be): from_numpy shares only aligned memory.
            return from_numpy(array if array.flags.aligned else array.copy())
        except TypeError:
            pass
        if array.dtype.kind == "f":
            return from_numpy(array.astype(_np.float32))
        if array.dtype == _np.uint64 and array.size and int(array.max()) > _np.iinfo(_np.int64).max:
            raise ValueError(
                f"{source}: a uint64 tensor holds values beyond int64, which chainrule tensors cannot hold"
            )
        return from_numpy(array.astype(_np.int64))

    return _io.load(f, to_tensor=to_tensor)


from chainrule.fit import History, fit  # noqa: E402

__all__ = [
    "Tensor",
    "dtype",
    "float32",
    "float64",
    "int64",
    "float",
    "double",
    "long",
    "device",
    "FloatTensor",
    "DoubleTensor",
    "LongTensor",
    *_protocols.legacy_types,
    "get_default_dtype",
    "set_default_dtype",
    "get_default_device",
    "set_default_device",
    "tensor",
    "as_tensor",
    "from_numpy",
    "empty",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "eye",
    "arange",
    "linspace",
    "logspace",
    "randn",
    "rand",
    "randn_like",
    "rand_like",
    "randint",
    "randint_like",
    "randperm",
    "normal",
    "multinomial",
    "Generator",
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "get_num_threads",
    "set_num_threads",
    "matmul",
    "exp",
    "log",
    "relu",
    "sigmoid",
    "tanh",
    "abs",
    "sqrt",
    "softmax",
    "log_softmax",
    "sum",
    "mean",
    "argmax",
    "is_tensor",
    "config",
    "accelerator",
    "autograd",
    "cuda",
    "data",
    "distributions",
    "utils",
    "diagnostics",
    "nn",
    "optim",
    "save",
    "load",
    "fit",
    "History",
    "int32",
    "int",
    "bool",
    "Size",
    "max",
    "min",
    "any",
    "all",
    "round",
    "pow",
    "inference_mode",
]
