"""Dropout, BatchNorm1d, LayerNorm and Embedding with PyTorch's arguments, buffers and modes."""

from __future__ import annotations as _annotations

import numbers as _numbers

import numpy as _np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._typing import DeviceLike, ShapeLike, TensorOrArray
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.layers import _float_dtype, _input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class Dropout(Module):
    """Zeroes each element with probability p while training and scales the kept ones by
    1 / (1 - p); the identity in eval mode. Masks come from chainrule's generator."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = F._check_probability(p, "Dropout")
        self.inplace = inplace

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.dropout(_input(input, None), self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, _np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class BatchNorm1d(Module):
    """Batch normalisation (Ioffe & Szegedy 2015) over (N, C) or (N, C, L) input, per channel C.

    Training mode normalises with the batch statistics and updates running_mean/running_var
    (momentum, or a cumulative average when momentum is None); eval mode uses the running
    statistics. Buffers and state_dict keys are PyTorch's: running_mean, running_var,
    num_batches_tracked.
    """

    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    weight: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: DeviceLike = None,
        dtype: _core.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = _positive_int("BatchNorm1d", "num_features", num_features)
        if not isinstance(eps, _numbers.Real) or not eps >= 0:
            raise ValueError(f"BatchNorm1d: eps must be a non-negative number, got {eps!r}")
        if momentum is not None and (not isinstance(momentum, _numbers.Real) or not 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1] or None, got {momentum!r}")
        dtype = _float_dtype("BatchNorm1d", dtype)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(_core.ones(self.num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(_core.zeros(self.num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", _core.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", _core.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", _core.zeros([], dtype=_core.dtype.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine and self.weight is not None:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: TensorOrArray) -> Tensor:
        x = _input(input, self.weight.dtype if self.weight is not None else None)
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d: the input has {x.shape[1]} features (dim 1 of shape {tuple(x.shape)}) "
                f"but num_features={self.num_features}"
            )
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.track_running_stats:
            count = x.shape[0] * (x.shape[2] if x.ndim == 3 else 1)
            if count > 1:
                F._on_host("batch_norm", x, self.num_batches_tracked)
                self.num_batches_tracked.numpy()[...] += 1
        update = self.training and self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if update or not use_batch_stats else None,
            self.running_var if update or not use_batch_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            self.momentum,
            self.eps,
            self.num_batches_tracked,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016) over the trailing normalized_shape dims, with an
    elementwise weight (ones) and bias (zeros) when elementwise_affine."""

    normalized_shape: tuple[int, ...]
    eps: float
    elementwise_affine: bool
    weight: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        normalized_shape: ShapeLike,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: DeviceLike = None,
        dtype: _core.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, _np.integer)) and not isinstance(normalized_shape, bool):
            normalized_shape = (int(normalized_shape),)
        if (
            not isinstance(normalized_shape, (tuple, list))
            or not normalized_shape
            or not all(
                isinstance(s, (int, _np.integer)) and not isinstance(s, bool) and s > 0 for s in normalized_shape
            )
        ):
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty tuple of positive "
                f"ints, got {normalized_shape!r}"
            )
        if not isinstance(eps, _numbers.Real) or not eps >= 0:
            raise ValueError(f"LayerNorm: eps must be a non-negative number, got {eps!r}")
        dtype = _float_dtype("LayerNorm", dtype)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(_core.ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(_core.zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine and self.weight is not None:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: TensorOrArray) -> Tensor:
        x = _input(input, self.weight.dtype if self.weight is not None else None)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: int64 indices of any shape -> rows of weight (num_embeddings, embedding_dim),
    initialised N(0, 1) with the padding_idx row zeroed; that row gets no gradient.

    max_norm (renormalising looked-up rows in place) and sparse gradients are not supported and
    raise ValueError when set.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: TensorOrArray | None = None,
        _freeze: bool = False,
        device: DeviceLike = None,
        dtype: _core.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within num_embeddings ({self.num_embeddings}), got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        if max_norm is not None:
            raise ValueError("Embedding: max_norm is not supported by chainrule")
        if scale_grad_by_freq:
            raise ValueError("Embedding: scale_grad_by_freq is not supported by chainrule")
        if sparse:
            raise ValueError("Embedding: sparse gradients are not supported by chainrule")
        self.padding_idx = padding_idx
        self.max_norm = None
        self.norm_type = norm_type
        self.scale_grad_by_freq = False
        self.sparse = False
        dtype = _float_dtype("Embedding", dtype)
        if _weight is None:
            self.weight = Parameter(
                _core.empty(self.num_embeddings, self.embedding_dim, dtype=dtype), requires_grad=not _freeze
            )
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError("Embedding: shape of _weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.detach().numpy()[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        if embeddings.ndim != 2:
            raise ValueError("Embedding.from_pretrained: embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=embeddings.detach().clone(),
            _freeze=freeze,
        )

    def forward(self, input: TensorOrArray) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
