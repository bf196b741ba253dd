"""Bernoulli(probs=... | logits=...): 1 with probability p, else 0."""

from __future__ import annotations as _annotations

from collections.abc import Sequence
from typing import cast

from chainrule._core import Tensor
from chainrule._creation import rand, tensor
from chainrule._grad_mode import no_grad
from chainrule._typing import TensorLike
from chainrule.distributions.distribution import (
    Distribution,
    _as_parameter,
    _broadcast,
    _broadcast_shape,
    _check,
    _clamp_probs,
    _describe_parameter,
    _one_of,
    _softplus,
    _values,
)

__all__ = ["Bernoulli"]


class Bernoulli(Distribution):
    """Bernoulli by ``probs`` in [0, 1] or by ``logits`` (log-odds); exactly one of them."""

    # One parameterization is given; the other is computed on first use.
    _probs: Tensor | None
    _logits: Tensor | None

    def __init__(
        self, probs: TensorLike | None = None, logits: TensorLike | None = None, validate_args: bool | None = None
    ) -> None:
        name, parameter = _one_of(probs, logits)
        parameter = _as_parameter(parameter, name)
        self._param_name, self._param = name, parameter
        if name == "probs":
            self._probs, self._logits = parameter, None
        else:
            self._probs, self._logits = None, parameter
        super().__init__(batch_shape=tuple(parameter.shape), validate_args=validate_args)
        if self._validate_args:
            values = _values(parameter)
            if name == "probs":
                _check(
                    ((values >= 0) & (values <= 1)).all(),
                    "probs",
                    parameter,
                    "Interval(lower_bound=0.0, upper_bound=1.0)",
                    self,
                )
            else:
                _check((values == values).all(), "logits", parameter, "Real()", self)

    @property
    def probs(self) -> Tensor:
        if self._probs is None:
            self._probs = cast(Tensor, self._logits).sigmoid()
        return self._probs

    @property
    def logits(self) -> Tensor:
        if self._logits is None:
            clamped = _clamp_probs(cast(Tensor, self._probs))
            self._logits = clamped.log() - (1 - clamped).log()
        return self._logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.batch_shape

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        with no_grad():
            return tensor(_values(self.probs) >= 0.5, dtype=self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """0./1. samples in the parameter's dtype; no graph back to the parameter."""
        with no_grad():
            probs = self.probs
            uniform = rand(self._extended_shape(sample_shape), dtype=probs.dtype)
            return tensor(_values(uniform) < _values(probs), dtype=probs.dtype)

    def log_prob(self, value: TensorLike) -> Tensor:
        value = _as_parameter(value, "value", like=self.probs if self._probs is not None else self._logits)
        if self._validate_args:
            values = _values(value)
            _check(((values == 0) | (values == 1)).all(), "value", value, "Boolean()", self)
        logits = self.logits
        shape = _broadcast_shape(logits, value)
        logits, value = _broadcast(logits, shape), _broadcast(value, shape)
        # -binary_cross_entropy_with_logits(logits, value): value * logits - softplus(logits)
        return value * logits - _softplus(logits)

    def entropy(self) -> Tensor:
        logits = self.logits
        return _softplus(logits) - self.probs * logits

    def _repr_fields(self):
        return [_describe_parameter(self._param_name, self._param)]
