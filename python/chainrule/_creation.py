"""Tensor creation as PyTorch spells it: the default dtype and the factory functions (devices are in _device).

Each factory checks its arguments here (size, dtype, device, generator) and hands the work to one
C++ call. Random factories take ``generator=`` (a chainrule.Generator) and otherwise draw from the
default generator that ``manual_seed`` seeds.
"""

from __future__ import annotations

import builtins
import math
import numbers
import operator
from typing import Any, Callable, cast

import numpy as np

from chainrule import _core, _tensor
from chainrule._core import Tensor
from chainrule._device import _check_device, _place
from chainrule._random import Generator, _stream_arg
from chainrule._typing import DeviceLike, ShapeLike

# ---------------------------------------------------------------------------------------------
# the default dtype
# ---------------------------------------------------------------------------------------------


def set_default_dtype(d: _core.dtype) -> None:
    """The dtype of floating point tensors that name none: float32 (the start) or float64."""
    if not isinstance(d, _core.dtype):
        raise TypeError(f"set_default_dtype: d must be a chainrule dtype, got {d!r}")
    _core._set_default_dtype(d)


def get_default_dtype() -> _core.dtype:
    return _core._get_default_dtype()


# ---------------------------------------------------------------------------------------------
# argument checks shared by the factories
# ---------------------------------------------------------------------------------------------


def _dtype_arg(dtype, where: str):
    if dtype is None or isinstance(dtype, _core.dtype):
        return dtype
    raise TypeError(f"{where}: dtype must be a chainrule dtype (e.g. chainrule.float32), got {dtype!r}")


def _int_arg(value, where: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{where} must be an int, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{where} must be an int, got {type(value).__name__}") from None


def _size_arg(size, where: str) -> tuple:
    """f(2, 3), f((2, 3)), f([2, 3]) and f(x.shape) all mean the shape (2, 3); f() is 0-d.

    The dims themselves are checked by the C++ factory (ints, non-negative, a size that fits).
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _is_int_like(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, Tensor):
        return value.ndim == 0 and not value.dtype.is_floating_point
    return isinstance(value, numbers.Integral)


def _shape_or_keyword(size, size_keyword, where):
    if size_keyword is not None:
        if size:
            raise TypeError(f"{where}: size given both by position and by keyword")
        size = (size_keyword,)
    return _size_arg(size, where)


def _finish(t: Tensor, requires_grad: bool, where: str, target=None) -> Tensor:
    """t moved to `target` (from _check_device; None for the CPU), then made to require grad if asked."""
    t = _place(t, target)
    if requires_grad:
        if not t.dtype.is_floating_point:
            raise RuntimeError(
                f"{where}: requires_grad=True needs a floating point dtype (only those "
                f"can require gradients), got {t.dtype!r}"
            )
        t.requires_grad = True
    return t


# ---------------------------------------------------------------------------------------------
# from data
# ---------------------------------------------------------------------------------------------


def tensor(
    data: Any,
    *,
    dtype: _core.dtype | None = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, a number, an array or a Tensor)."""
    target = _check_device(device, "tensor")
    dtype = _dtype_arg(dtype, "tensor")
    if target is None:
        return _tensor.tensor(data, dtype=dtype, requires_grad=requires_grad)
    if isinstance(data, Tensor):  # copied straight to the device (a copy even when it is there already)
        data = data.detach()
        made = data.to(target, dtype) if dtype is not None else data.to(target)
        return _finish(made.clone() if made is data else made, requires_grad, "tensor")
    return _finish(_tensor.tensor(data, dtype=dtype), requires_grad, "tensor", target)


def as_tensor(data: Any, dtype: _core.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """Like tensor(), but shares memory with a Tensor or a C-contiguous NumPy array when the dtype matches."""
    if isinstance(data, Tensor) and device is None:  # stays where it is, as in PyTorch
        return _tensor.as_tensor(data, dtype=_dtype_arg(dtype, "as_tensor"))
    target = _check_device(device, "as_tensor")
    if isinstance(data, Tensor):
        return _tensor.as_tensor(_place(data, target) if target else data.cpu(), dtype=_dtype_arg(dtype, "as_tensor"))
    return _place(_tensor.as_tensor(data, dtype=_dtype_arg(dtype, "as_tensor")), target)


# ---------------------------------------------------------------------------------------------
# filled
# ---------------------------------------------------------------------------------------------


def _filled(core_factory: Callable[..., Tensor], where: str) -> Callable[..., Tensor]:
    def factory(
        *size: Any,
        out: Tensor | None = None,
        dtype: _core.dtype | None = None,
        layout: Any = None,
        device: DeviceLike = None,
        requires_grad: bool = False,
        pin_memory: bool = False,
        memory_format: Any = None,
        **keywords: Any,
    ) -> Tensor:
        size_keyword = keywords.pop("size", None)
        if keywords:
            raise TypeError(f"{where}() got an unexpected keyword argument '{next(iter(keywords))}'")
        if out is not None:
            raise TypeError(f"{where}: out= is not supported; assign the result instead")
        target = _check_device(device, where)
        shape = _shape_or_keyword(size, size_keyword, where)
        return _finish(core_factory(*shape, dtype=_dtype_arg(dtype, where)), requires_grad, where, target)

    factory.__name__ = factory.__qualname__ = where
    return factory


zeros = _filled(_core.zeros, "zeros")
ones = _filled(_core.ones, "ones")
empty = _filled(_core.empty, "empty")
zeros.__doc__ = "A tensor of zeros: zeros(2, 3) or zeros((2, 3)); dtype defaults to get_default_dtype()."
ones.__doc__ = "A tensor of ones: ones(2, 3) or ones((2, 3)); dtype defaults to get_default_dtype()."
empty.__doc__ = "A tensor whose values are not set (chainrule zeroes nothing; read none before writing)."


def _fill_dtype(fill_value):
    """PyTorch's full() infers bool from a bool, int64 from an int and the default from a float."""
    if isinstance(fill_value, bool) or isinstance(fill_value, np.bool_):
        return getattr(_tensor, "bool_", None) or _tensor.int64
    if isinstance(fill_value, numbers.Integral):
        return _tensor.int64
    return get_default_dtype()


def _scalar_arg(value, where):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{where} must be a number or a one-element tensor, got shape {tuple(value.shape)}")
        return value.item()
    if not isinstance(value, numbers.Number):
        raise TypeError(f"{where} must be a number, got {type(value).__name__}")
    return value


def full(
    size: ShapeLike | None,
    fill_value: float,
    *,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A tensor of `size` filled with `fill_value` (dtype inferred from it when not given)."""
    if out is not None:
        raise TypeError("full: out= is not supported; assign the result instead")
    target = _check_device(device, "full")
    shape = _size_arg((size,), "full")
    fill_value = _scalar_arg(fill_value, "full: fill_value")
    dtype = _dtype_arg(dtype, "full") or _fill_dtype(fill_value)
    return _finish(_core.full(shape, fill_value, dtype=dtype), requires_grad, "full", target)


def _like_target(input: Tensor, device: DeviceLike, where: str):
    """Where a *_like factory puts its result: `device` when given, else input's device."""
    return _check_device(input.device if device is None else device, where)


def _like(where: str, make: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def factory(
        input: Tensor,
        *,
        dtype: _core.dtype | None = None,
        layout: Any = None,
        device: DeviceLike = None,
        requires_grad: bool = False,
        memory_format: Any = None,
        **keywords: Any,
    ) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{where}: input must be a Tensor, got {type(input).__name__}")
        target = _like_target(input, device, where)
        dtype = _dtype_arg(dtype, where) or input.dtype
        return _finish(make(tuple(input.shape), dtype, **keywords), requires_grad, where, target)

    factory.__name__ = factory.__qualname__ = where
    return factory


zeros_like = _like("zeros_like", lambda shape, dtype: _core.zeros(*shape, dtype=dtype))
ones_like = _like("ones_like", lambda shape, dtype: _core.ones(*shape, dtype=dtype))
empty_like = _like("empty_like", lambda shape, dtype: _core.empty(*shape, dtype=dtype))


def full_like(
    input: Tensor,
    fill_value: float,
    *,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"full_like: input must be a Tensor, got {type(input).__name__}")
    target = _like_target(input, device, "full_like")
    fill_value = _scalar_arg(fill_value, "full_like: fill_value")
    dtype = _dtype_arg(dtype, "full_like") or input.dtype
    return _finish(_core.full(tuple(input.shape), fill_value, dtype=dtype), requires_grad, "full_like", target)


def eye(
    n: int,
    m: int | None = None,
    *,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    if out is not None:
        raise TypeError("eye: out= is not supported; assign the result instead")
    target = _check_device(device, "eye")
    n = _int_arg(n, "eye: n")
    m = n if m is None else _int_arg(m, "eye: m")
    if n < 0 or m < 0:
        raise ValueError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    dtype = _dtype_arg(dtype, "eye") or get_default_dtype()
    result = _core.zeros(n, m, dtype=dtype)
    np.fill_diagonal(result.numpy(), 1)
    return _finish(result, requires_grad, "eye", target)


# ---------------------------------------------------------------------------------------------
# ranges
# ---------------------------------------------------------------------------------------------


def _number_arg(value, where):
    value = _scalar_arg(value, where)
    if isinstance(value, complex):
        raise TypeError(f"{where} must be a real number, got complex")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value}")
    return value


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from start (default 0) up to, not including, end, spaced by step.

    The dtype is int64 when start, end and step are all ints, else get_default_dtype().
    """
    if out is not None:
        raise TypeError("arange: out= is not supported; assign the result instead")
    target = _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    start, end, step = (
        _number_arg(v, f"arange: {name}") for v, name in ((start, "start"), (end, "end"), (step, "step"))
    )
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise ValueError(
            f"arange: upper bound and larger bound inconsistent with step sign (start={start}, end={end}, step={step})"
        )
    all_ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = _dtype_arg(dtype, "arange") or (_tensor.int64 if all_ints else get_default_dtype())
    count = math.ceil((end - start) / step) if not all_ints else -((start - end) // step)
    # start + i * step, computed in float64 (int64 for integer ranges) and then converted.
    if all_ints:
        values = start + step * np.arange(count, dtype=np.int64)
    else:
        values = start + step * np.arange(count, dtype=np.float64)
    return _finish(_tensor.tensor(values, dtype=dtype), requires_grad, "arange", target)


def _spaced_args(fn: str, start, end, steps, out, dtype, device):
    """The checked (start, end, steps, dtype, target device) of linspace and logspace."""
    if out is not None:
        raise TypeError(f"{fn}: out= is not supported; assign the result instead")
    start = _number_arg(start, f"{fn}: start")
    end = _number_arg(end, f"{fn}: end")
    steps = _int_arg(steps, f"{fn}: steps")
    if steps < 0:
        raise ValueError(f"{fn}: number of steps must be non-negative, got {steps}")
    return start, end, steps, _dtype_arg(dtype, fn) or get_default_dtype(), _check_device(device, fn)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` values evenly spaced from start to end, both included."""
    start, end, steps, dtype, target = _spaced_args("linspace", start, end, steps, out, dtype, device)
    values = _tensor.tensor(_linspace_values(start, end, steps, dtype), dtype=dtype)
    return _finish(values, requires_grad, "linspace", target)


def _linspace_values(start, end, steps, dtype):
    # The first half counts up from start and the second half down from end, in the result's own
    # precision (double for integer results): both ends come out exact, as in PyTorch.
    np_type = _tensor.numpy_dtype(dtype)
    compute = np_type if np.issubdtype(np_type, np.floating) else np.float64
    if steps == 1:
        return np.array([start], dtype=compute)
    index = np.arange(steps, dtype=compute)
    start_c, end_c = compute(start), compute(end)
    step = compute((end_c - start_c) / compute(max(steps - 1, 1)))
    half = steps // 2
    values = np.where(index < half, start_c + step * index, end_c - step * (steps - 1 - index))
    return values.astype(compute)


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    *,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """base ** linspace(start, end, steps)."""
    start, end, steps, dtype, target = _spaced_args("logspace", start, end, steps, out, dtype, device)
    base = _number_arg(base, "logspace: base")
    exponents = _linspace_values(start, end, steps, dtype)
    values = np.power(exponents.dtype.type(base), exponents)
    return _finish(_tensor.tensor(values, dtype=dtype), requires_grad, "logspace", target)


# ---------------------------------------------------------------------------------------------
# random
# ---------------------------------------------------------------------------------------------


def _random(core_factory: Callable[..., Tensor], where: str) -> Callable[..., Tensor]:
    def factory(
        *size: Any,
        generator: Generator | None = None,
        out: Tensor | None = None,
        dtype: _core.dtype | None = None,
        layout: Any = None,
        device: DeviceLike = None,
        requires_grad: bool = False,
        pin_memory: bool = False,
        **keywords: Any,
    ) -> Tensor:
        size_keyword = keywords.pop("size", None)
        if keywords:
            raise TypeError(f"{where}() got an unexpected keyword argument '{next(iter(keywords))}'")
        if out is not None:
            raise TypeError(f"{where}: out= is not supported; assign the result instead")
        target = _check_device(device, where)
        shape = _shape_or_keyword(size, size_keyword, where)
        dtype = _dtype_arg(dtype, where)
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"{where}: dtype must be a floating point dtype, got {dtype!r}")
        if target is None:
            return core_factory(
                *shape, dtype=dtype, generator=_stream_arg(generator, where), requires_grad=requires_grad
            )
        drawn = core_factory(*shape, dtype=dtype, generator=_stream_arg(generator, where))
        return _finish(drawn, requires_grad, where, target)

    factory.__name__ = factory.__qualname__ = where
    return factory


rand = _random(_core.rand, "rand")
randn = _random(_core.randn, "randn")
rand.__doc__ = "Uniform random values in [0, 1): rand(2, 3, generator=None, dtype=None)."
randn.__doc__ = "Standard normal random values: randn(2, 3, generator=None, dtype=None)."


def rand_like(
    input: Tensor,
    *,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    memory_format: Any = None,
    generator: Generator | None = None,
) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"rand_like: input must be a Tensor, got {type(input).__name__}")
    return rand(
        *input.shape,
        dtype=_dtype_arg(dtype, "rand_like") or input.dtype,
        device=device,
        requires_grad=requires_grad,
        generator=generator,
    )


def randn_like(
    input: Tensor,
    *,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    memory_format: Any = None,
    generator: Generator | None = None,
) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"randn_like: input must be a Tensor, got {type(input).__name__}")
    return randn(
        *input.shape,
        dtype=_dtype_arg(dtype, "randn_like") or input.dtype,
        device=device,
        requires_grad=requires_grad,
        generator=generator,
    )


def randint(
    *args: Any,
    size: ShapeLike | None = None,
    generator: Generator | None = None,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """randint(high, size) or randint(low, high, size): uniform integers in [low, high)."""
    if out is not None:
        raise TypeError("randint: out= is not supported; assign the result instead")
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size), e.g. randint(0, 10, (3,))")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, got {type(size).__name__}")
    target = _check_device(device, "randint")
    low = _int_arg(low, "randint: low")
    high = _int_arg(high, "randint: high")
    shape = _size_arg((size,), "randint")
    dtype = _dtype_arg(dtype, "randint") or _tensor.int64
    result = _core._randint(low, high, shape, dtype=dtype, generator=_stream_arg(generator, "randint"))
    return _finish(result, requires_grad, "randint", target)


def randint_like(
    input: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    memory_format: Any = None,
    generator: Generator | None = None,
) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"randint_like: input must be a Tensor, got {type(input).__name__}")
    if high is None:
        low, high = 0, low
    return randint(
        low,
        high,
        tuple(input.shape),
        dtype=_dtype_arg(dtype, "randint_like") or input.dtype,
        device=device,
        requires_grad=requires_grad,
        generator=generator,
    )


def randperm(
    n: int,
    *,
    generator: Generator | None = None,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless dtype says otherwise)."""
    if out is not None:
        raise TypeError("randperm: out= is not supported; assign the result instead")
    target = _check_device(device, "randperm")
    n = _int_arg(n, "randperm: n")
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    result = _core._randperm(n, generator=_stream_arg(generator, "randperm"))
    dtype = _dtype_arg(dtype, "randperm")
    if dtype is not None and dtype != _tensor.int64:
        result = result.to(dtype)
    return _finish(result, requires_grad, "randperm", target)


def normal(
    mean: float | Tensor = 0.0,
    std: float | Tensor = 1.0,
    size: ShapeLike | None = None,
    *,
    generator: Generator | None = None,
    out: Tensor | None = None,
    dtype: _core.dtype | None = None,
    layout: Any = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples: normal(mean, std, size) with numbers, or elementwise with tensor mean/std."""
    if out is not None:
        raise TypeError("normal: out= is not supported; assign the result instead")
    target = _check_device(device, "normal")
    stream = _stream_arg(generator, "normal")
    mean_is_tensor, std_is_tensor = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not (mean_is_tensor or std_is_tensor):
        if size is None:
            raise TypeError(
                "normal: size must be given when mean and std are numbers, e.g. normal(0.0, 1.0, size=(3,))"
            )
        mean, std = _number_arg(mean, "normal: mean"), _number_arg(std, "normal: std")
        if std < 0:
            raise ValueError(f"normal: std must be >= 0.0, got {std}")
        dtype = _dtype_arg(dtype, "normal") or get_default_dtype()
        if not dtype.is_floating_point:
            raise TypeError(f"normal: dtype must be a floating point dtype, got {dtype!r}")
        result = _core.empty(*_size_arg((size,), "normal"), dtype=dtype)
        _core._fill_normal(result, float(mean), float(std), generator=stream)
        return _finish(result, requires_grad, "normal", target)
    if size is not None:
        raise TypeError("normal: size cannot be given with tensor mean or std (their shape is the size)")
    for value, name in ((mean, "mean"), (std, "std")):
        if isinstance(value, Tensor) and not value.dtype.is_floating_point:
            raise TypeError(f"normal: {name} must be a floating point tensor, got {value.dtype!r}")
    # The samples do not depend differentiably on mean and std here: PyTorch's normal() gives
    # them zero gradient, and reparameterized sampling is spelled mean + std * randn_like(...).
    mean_values = mean.detach().numpy() if isinstance(mean, Tensor) else mean
    std_values = std.detach().numpy() if isinstance(std, Tensor) else std
    if np.any(np.asarray(std_values) < 0):
        raise ValueError("normal: std must be >= 0.0 everywhere")
    shape = np.broadcast_shapes(np.shape(mean_values), np.shape(std_values))
    like = cast(Tensor, mean if mean_is_tensor else std)  # one of the two is a tensor here
    standard = _core.empty(*shape, dtype=like.dtype)
    _core._fill_normal(standard, 0.0, 1.0, generator=stream)
    values = np.asarray(mean_values) + np.asarray(std_values) * standard.numpy()
    values_tensor = _tensor.tensor(values.astype(standard.numpy().dtype), dtype=like.dtype)
    return _finish(values_tensor, requires_grad, "normal", target)


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """Indices drawn with probability proportional to the (non-negative) weights in each row of `input`.

    Without replacement the draws are an exponential race (each category's key -log(u) / weight,
    smallest first), which picks the same distribution as drawing one at a time and removing it.
    """
    if out is not None:
        raise TypeError("multinomial: out= is not supported; assign the result instead")
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"multinomial: input must be a floating point tensor, got {input.dtype!r}")
    num_samples = _int_arg(num_samples, "multinomial: num_samples")
    if num_samples <= 0:
        raise ValueError(f"multinomial: cannot sample n_sample <= 0 samples, got {num_samples}")
    weights = np.array(input.detach().numpy(), dtype=np.float64, ndmin=2)
    categories = weights.shape[1]
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("multinomial: probability tensor contains either inf, nan or element < 0")
    if categories == 0 or np.any(weights.sum(axis=1) <= 0):
        raise ValueError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement:
        if num_samples > categories:
            raise ValueError(
                f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                f"replacement ({num_samples} > {categories})"
            )
        if np.any((weights > 0).sum(axis=1) < num_samples):
            raise ValueError(
                "multinomial: invalid multinomial distribution (with replacement=False, not "
                "enough non-negative category to sample)"
            )
    stream = _stream_arg(generator, "multinomial")
    rows = weights.shape[0]
    uniforms = _core.empty(rows, num_samples if replacement else categories, dtype=_tensor.float64)
    _core._fill_uniform(uniforms, 0.0, 1.0, generator=stream)
    u = uniforms.numpy()
    if replacement:
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        picks = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(rows)])
        picks = np.minimum(picks, categories - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-u) / weights  # zero weights get +inf: never chosen while others remain
        picks = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    picks = picks.astype(np.int64)
    return _tensor.tensor(picks[0] if input.ndim == 1 else picks, dtype=_tensor.int64)
