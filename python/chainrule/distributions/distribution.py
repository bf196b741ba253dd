"""The Distribution base class: shapes, argument checks and the sample/rsample split."""

from __future__ import annotations as _annotations

import numbers as _numbers
from collections.abc import Sequence

import numpy as _np

from chainrule._core import Tensor
from chainrule._creation import get_default_dtype, tensor, zeros
from chainrule._grad_mode import no_grad
from chainrule._tensor import numpy_dtype
from chainrule._typing import TensorLike

__all__ = ["Distribution"]


class Distribution:
    """A family of distributions batched over ``batch_shape``, each over ``event_shape``."""

    has_rsample = False
    _validate_default = True

    def __init__(
        self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (), validate_args: bool | None = None
    ) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = self._validate_default if validate_args is None else bool(validate_args)

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError("set_default_validate_args: value must be True or False")
        Distribution._validate_default = value

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A sample (or sample_shape samples), with no graph back to the parameters."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterized sampling (rsample); "
            "use sample(), and a score-function estimator with log_prob for gradients"
        )

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: TensorLike) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()):
        return _shape_arg(sample_shape) + self._batch_shape + self._event_shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_fields())})"

    def _repr_fields(self):
        return []


def _shape_arg(sample_shape) -> tuple:
    if isinstance(sample_shape, _numbers.Integral) and not isinstance(sample_shape, bool):
        return (int(sample_shape),)
    try:
        shape = tuple(int(d) for d in sample_shape)
    except TypeError:
        raise TypeError(f"sample_shape must be a tuple of ints (e.g. (3,)), got {sample_shape!r}") from None
    return shape


def _as_parameter(value, name: str, like=None) -> Tensor:
    """A distribution parameter as a floating point tensor (numbers take the default dtype)."""
    if isinstance(value, Tensor):
        if not value.dtype.is_floating_point:
            return value.to(get_default_dtype())
        return value
    if isinstance(value, _numbers.Real) and not isinstance(value, bool):
        dtype = like.dtype if isinstance(like, Tensor) and like.dtype.is_floating_point else None
        return tensor(float(value), dtype=dtype)
    raise TypeError(f"{name} must be a Tensor or a number, got {type(value).__name__}")


def _broadcast_shape(*tensors) -> tuple:
    try:
        return tuple(_np.broadcast_shapes(*(tuple(t.shape) for t in tensors)))
    except ValueError:
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise ValueError(f"the parameters' shapes {shapes} do not broadcast together") from None


def _check(ok: bool, name: str, value, constraint: str, distribution) -> None:
    """PyTorch's argument-validation error when `ok` is false."""
    if not ok:
        raise ValueError(
            f"Expected parameter {name} ({type(value).__name__} of shape {tuple(value.shape)}) "
            f"of distribution {type(distribution).__name__} to satisfy the constraint "
            f"{constraint}, but found invalid values:\n{value}"
        )


def _describe_parameter(name: str, value) -> str:
    """How repr(distribution) shows a parameter: its number when it has one element, else its size."""
    value = value.detach()
    return f"{name}: {value if value.numel() == 1 else value.size()}"


def _values(t: Tensor) -> _np.ndarray:
    return t.detach().numpy()


def _broadcast(t: Tensor, shape: tuple) -> Tensor:
    """t broadcast to `shape` (differentiable; t itself when it already has that shape)."""
    if tuple(t.shape) == tuple(shape):
        return t
    return t + zeros(shape, dtype=t.dtype)


def _one_of(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    return ("probs", probs) if probs is not None else ("logits", logits)


def _finfo(dtype):
    return _np.finfo(numpy_dtype(dtype))


def _clamp(x: Tensor, low: float, high: float | None = None) -> Tensor:
    """x limited to [low, high], with clamp's gradient (1 inside, 0 outside)."""
    x = low + (x - low).relu()
    return x if high is None else high - (high - x).relu()


def _clamp_probs(probs: Tensor) -> Tensor:
    """probs kept inside [eps, 1 - eps], so their logarithms stay finite."""
    eps = float(_finfo(probs.dtype).eps)
    return _clamp(probs, eps, 1 - eps)


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), smooth everywhere (its gradient is sigmoid(x))."""
    return (x.exp() + 1).log()
