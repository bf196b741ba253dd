"""Gradient clipping, the usual remedy for the exploding gradients the seed warns about.

Both functions work on NumPy views of the gradients, so no gradient is copied.
"""

from __future__ import annotations as _annotations

import math as _math

import numpy as _np

from chainrule._core import Tensor
from chainrule._creation import tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
) -> Tensor:
    """Scale all gradients together so their joint norm is at most max_norm; returns the norm.

    Matches torch.nn.utils.clip_grad_norm_: the scale is max_norm / (total_norm + 1e-6), clamped
    to 1, and applied to every gradient (also when the norm is non-finite and error_if_nonfinite
    is False). The per-tensor norms are accumulated in float64, so a float32 norm can differ from
    torch's in the last bit.
    """
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if max_norm < 0 or _math.isnan(max_norm):
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    if norm_type <= 0 and not _math.isinf(norm_type):
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    views = [g.numpy() for g in grads]
    dtype = views[0].dtype
    if _math.isinf(norm_type):
        total = max(float(_np.max(_np.abs(v))) if v.size else 0.0 for v in views)
    else:
        per_tensor = [_np.linalg.norm(v.ravel().astype(_np.float64), norm_type) if v.size else 0.0 for v in views]
        total = float(_np.linalg.norm(_np.asarray(per_tensor), norm_type))
    total = float(dtype.type(total))
    if error_if_nonfinite and not _math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite, "
            "so it cannot be clipped; pass error_if_nonfinite=False to clip anyway"
        )
    clip_coef = dtype.type(max_norm) / (dtype.type(total) + dtype.type(1e-6))
    # "not >= 1" rather than "< 1": a NaN norm scales the gradients to NaN, as torch's clamp does.
    if not clip_coef >= 1:
        with _np.errstate(invalid="ignore"):  # inf * 0 is NaN in torch too, without a warning
            for v in views:
                v *= clip_coef
    return tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grads(parameters):
        v = g.numpy()
        _np.clip(v, -clip_value, clip_value, out=v)
