"""Categorical(probs=... | logits=...): one of K categories."""

from __future__ import annotations as _annotations

import math as _math
from collections.abc import Sequence
from typing import cast

import numpy as _np

from chainrule._core import Tensor, from_numpy
from chainrule._creation import full, multinomial, tensor, zeros
from chainrule._grad_mode import no_grad
from chainrule._tensor import int64
from chainrule._typing import TensorLike
from chainrule.distributions.distribution import (
    Distribution,
    _as_parameter,
    _broadcast,
    _check,
    _clamp_probs,
    _describe_parameter,
    _one_of,
    _values,
)

__all__ = ["Categorical"]


class Categorical(Distribution):
    """Categories 0..K-1 weighted by the last dimension of ``probs`` (normalized) or ``logits``."""

    # One parameterization is given; the other is computed on first use.
    _probs: Tensor | None
    _logits: Tensor | None

    def __init__(
        self, probs: TensorLike | None = None, logits: TensorLike | None = None, validate_args: bool | None = None
    ) -> None:
        name, parameter = _one_of(probs, logits)
        parameter = _as_parameter(parameter, name)
        if parameter.ndim < 1:
            raise ValueError(f"`{name}` parameter must be at least one-dimensional.")
        super().__init__(batch_shape=tuple(parameter.shape[:-1]), validate_args=validate_args)
        values = _values(parameter) if self._validate_args else None
        if name == "probs":
            if values is not None:
                _check(_np.isfinite(values).all() and (values >= 0).all(), "probs", parameter, "Simplex()", self)
            self._probs = parameter / parameter.sum(-1, keepdim=True)
            self._logits = None
        else:
            if values is not None:
                _check((values == values).all(), "logits", parameter, "IndependentConstraint(Real(), 1)", self)
            self._logits = parameter.log_softmax(-1)
            self._probs = None
        self._param_name = name
        self._param = parameter
        self._num_events = parameter.shape[-1]

    @property
    def probs(self) -> Tensor:
        if self._probs is None:
            self._probs = cast(Tensor, self._logits).softmax(-1)
        return self._probs

    @property
    def logits(self) -> Tensor:
        if self._logits is None:
            self._logits = _clamp_probs(cast(Tensor, self._probs)).log()
        return self._logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self._param.shape)

    @property
    def mean(self) -> Tensor:
        return full(self._extended_shape(), _math.nan, dtype=self._param.dtype)

    @property
    def variance(self) -> Tensor:
        return full(self._extended_shape(), _math.nan, dtype=self._param.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(dim=-1)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """int64 category indices of shape sample_shape + batch_shape."""
        shape = self._extended_shape(sample_shape)
        count = int(_np.prod(shape[: len(shape) - len(self.batch_shape)], dtype=_np.int64))
        with no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            if count == 0:
                return zeros(shape, dtype=int64)
            samples_2d = multinomial(probs_2d, count, True).T
        return samples_2d.reshape(shape)

    def log_prob(self, value: TensorLike) -> Tensor:
        if not isinstance(value, Tensor):
            value = tensor(value)
        if self._validate_args:
            values = _values(value)
            ok = (values == _np.floor(values)).all() and (values >= 0).all() and (values < self._num_events).all()
            _check(ok, "value", value, f"IntegerInterval(lower_bound=0, upper_bound={self._num_events - 1})", self)
        # log_pmf[..., value], read by one gather over the flattened logits (the gradient flows back
        # to the chosen entries only).
        indices: _np.ndarray = _values(value).astype(_np.int64)
        shape = tuple(_np.broadcast_shapes(indices.shape, self.batch_shape))
        logits = _broadcast(self.logits, shape + (self._num_events,))
        flat = _np.arange(int(_np.prod(shape, dtype=_np.int64))) * self._num_events + _np.broadcast_to(
            indices, shape
        ).reshape(-1)
        return logits.reshape(-1)[from_numpy(flat)].reshape(shape)

    def entropy(self) -> Tensor:
        # -sum p log p over each row. Categories with logit -inf have p = 0 and add nothing, so only
        # the finite entries are gathered; a constant 0/1 matrix then sums them per row.
        logits, probs = self.logits, self.probs
        finite = _np.flatnonzero(_np.isfinite(_values(logits)).reshape(-1))
        rows = int(_np.prod(self.batch_shape, dtype=_np.int64))
        index = from_numpy(finite.astype(_np.int64))
        terms = logits.reshape(-1)[index] * probs.reshape(-1)[index]
        row_sum = _np.zeros((finite.size, rows), dtype=_values(logits).dtype)
        row_sum[_np.arange(finite.size), finite // self._num_events] = 1
        return -(terms.reshape(1, -1) @ from_numpy(row_sum)).reshape(self.batch_shape)

    def _repr_fields(self):
        return [_describe_parameter(self._param_name, self.probs if self._param_name == "probs" else self.logits)]
