"""Normal(loc, scale): the Gaussian, with reparameterized samples."""

from __future__ import annotations as _annotations

import math as _math
from collections.abc import Sequence

from chainrule._core import Tensor
from chainrule._creation import randn
from chainrule._typing import TensorLike
from chainrule.distributions.distribution import (
    Distribution,
    _as_parameter,
    _broadcast,
    _broadcast_shape,
    _check,
    _describe_parameter,
    _values,
)

__all__ = ["Normal"]

_HALF_LOG_TWO_PI = 0.5 * _math.log(2 * _math.pi)


class Normal(Distribution):
    """Normal(loc, scale) with mean loc and standard deviation scale (> 0), batched by broadcasting."""

    has_rsample = True

    def __init__(self, loc: TensorLike, scale: TensorLike, validate_args: bool | None = None) -> None:
        loc = _as_parameter(loc, "loc", like=scale)
        scale = _as_parameter(scale, "scale", like=loc)
        shape = _broadcast_shape(loc, scale)
        self.loc, self.scale = _broadcast(loc, shape), _broadcast(scale, shape)
        super().__init__(batch_shape=shape, validate_args=validate_args)
        if self._validate_args:
            loc_values, scale_values = _values(self.loc), _values(self.scale)
            _check((loc_values == loc_values).all(), "loc", self.loc, "Real()", self)
            _check((scale_values > 0).all(), "scale", self.scale, "GreaterThan(lower_bound=0.0)", self)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale**2

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc + scale * eps with eps ~ N(0, 1): differentiable in loc and scale."""
        noise = randn(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + noise * self.scale

    def log_prob(self, value: TensorLike) -> Tensor:
        value = _as_parameter(value, "value", like=self.loc)
        if self._validate_args:
            values = _values(value)
            _check((values == values).all(), "value", value, "Real()", self)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _HALF_LOG_TWO_PI

    def entropy(self) -> Tensor:
        return 0.5 + _HALF_LOG_TWO_PI + self.scale.log()

    def _repr_fields(self):
        return [_describe_parameter("loc", self.loc), _describe_parameter("scale", self.scale)]
