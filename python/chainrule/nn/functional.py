"""chainrule.nn.functional: the stateless functions behind the modules (all computed in C++)."""

from __future__ import annotations as _annotations

from collections.abc import Sequence

import numpy as _np

from chainrule import _core
from chainrule._arrays import c_contiguous
from chainrule._core import Tensor
from chainrule._kinds import reduction_kind
from chainrule._tensor import numpy_dtype
from chainrule._tensor_ops import one_hot  # noqa: F401  (torch.nn.functional.one_hot)
from chainrule._typing import ShapeLike, TensorLike

linear = _core.linear
relu = _core.relu
sigmoid = _core.sigmoid
tanh = _core.tanh
leaky_relu = _core.leaky_relu
gelu = _core.gelu
softmax = _core.softmax
log_softmax = _core.log_softmax


def identity(input: Tensor) -> Tensor:
    return input


# ---- activations built from the core ops -----------------------------------------------------------
# Each is a composition of differentiable C++ ops whose gradient equals the activation's own
# derivative (checked by gradcheck and against PyTorch in tests/test_nn_layers.py). Branches that
# PyTorch takes per element (Softplus' threshold) use a constant 0/1 mask built from the input's
# values: the mask carries no gradient, as a branch would not.


def _check_tensor(x, fn: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {arg} must be a chainrule.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {arg} must be a floating point tensor, got {x.dtype!r}")
    return x


def _constant(array, like: Tensor) -> Tensor:
    """A constant (no grad) tensor of like's dtype from a NumPy array."""
    return _core.from_numpy(c_contiguous(array, dtype=numpy_dtype(like.dtype)))


def _mask(condition, like: Tensor) -> Tensor:
    return _constant(condition, like)


def _negative_part(x: Tensor) -> Tensor:
    # min(x, 0), with derivative 1 where x < 0 and 0 where x > 0.
    return x - _core.relu(x)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (Elfwing et al. 2017; PyTorch's SiLU)."""
    x = _check_tensor(input, "silu")
    return x * _core.sigmoid(x)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise (Clevert et al. 2015)."""
    x = _check_tensor(input, "elu")
    return _core.relu(x) + (_negative_part(x).exp() - 1.0) * float(alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    return elu(_check_tensor(input, "selu"), _SELU_ALPHA) * _SELU_SCALE


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (Barron 2017)."""
    x = _check_tensor(input, "celu")
    if float(alpha) == 0.0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    return _core.relu(x) + ((_negative_part(x) * (1.0 / float(alpha))).exp() - 1.0) * float(alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's rule)."""
    x = _check_tensor(input, "softplus")
    beta, threshold = float(beta), float(threshold)
    bx = x * beta
    # log(1 + exp(t)) = max(t, 0) + log(1 + exp(-|t|)) never overflows.
    smooth = (_core.relu(bx) + ((-bx.abs()).exp() + 1.0).log()) * (1.0 / beta)
    _on_host("softplus", bx)
    linear = bx.detach().numpy() > threshold
    if not linear.any():
        return smooth
    keep = _mask(linear, x)
    return x * keep + smooth * (1.0 - keep)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (Misra 2019)."""
    x = _check_tensor(input, "mish")
    return x * _core.tanh(softplus(x))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside, 0 outside."""
    x = _check_tensor(input, "hardtanh")
    min_val, max_val = float(min_val), float(max_val)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must be <= max_val ({max_val})")
    _on_host("hardtanh", x)
    values = x.detach().numpy()
    inside = (values > min_val) & (values < max_val)
    clamped = _np.where(values >= max_val, max_val, _np.where(values <= min_val, min_val, 0.0))
    return x * _mask(inside, x) + _constant(clamped, x)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(_check_tensor(input, "relu6"), 0.0, 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3)."""
    x = _check_tensor(input, "hardswish")
    _on_host("hardswish", x)
    values = x.detach().numpy()
    # PyTorch's derivative: 0 for x < -3, (2x + 3) / 6 for -3 <= x <= 3, 1 above.
    middle = _mask((values >= -3.0) & (values <= 3.0), x)
    above = _mask(values > 3.0, x)
    return x * (x + 3.0) * (middle * (1.0 / 6.0)) + x * above


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), stable for large |x|."""
    x = _check_tensor(input, "logsigmoid")
    return _negative_part(x) - ((-x.abs()).exp() + 1.0).log()


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _check_tensor(input, "softsign")
    return x / (x.abs() + 1.0)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, weight * x otherwise; weight has 1 entry or one per channel (dim 1)."""
    x = _check_tensor(input, "prelu")
    _check_tensor(weight, "prelu", "weight")
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {tuple(weight.shape)}")
    n = weight.shape[0]
    if n != 1:
        channels = x.shape[1] if x.ndim >= 2 else (x.shape[0] if x.ndim == 1 else 1)
        if channels != n:
            raise ValueError(
                f"prelu: weight has {n} entries (num_parameters) but the input has {channels} "
                f"channels (shape {tuple(x.shape)}); num_parameters must be 1 or the channel count"
            )
        if x.ndim >= 2:
            weight = weight.reshape(n, *([1] * (x.ndim - 2)))
    return _core.relu(x) + _negative_part(x) * weight


# ---- dropout and normalisation ---------------------------------------------------------------------


def _check_probability(p, fn: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, _np.floating, _np.integer)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{fn}: dropout probability has to be between 0 and 1, but got p={p!r}")
    return float(p)


def _on_host(op: str, *tensors: object) -> None:
    """The functions here written with NumPy read host memory: a tensor on a device gets a clear error."""
    for t in tensors:
        if isinstance(t, Tensor) and t.device.type != "cpu":
            raise NotImplementedError(
                f"{op}: no implementation for tensors on {t.device} yet; move them to the CPU with .cpu() first"
            )


def dropout_mask(shape: Sequence[int], p: float, dtype: _core.dtype) -> Tensor:
    """keep / (1 - p) per element, keep ~ Bernoulli(1 - p), drawn from chainrule's generator
    (chainrule.manual_seed makes it reproducible)."""
    uniform = _core.rand(*shape, dtype=dtype).numpy()
    if p >= 1.0:
        return _core.zeros(*shape, dtype=dtype)
    scale = 1.0 / (1.0 - p)
    return _core.from_numpy(_np.where(uniform < 1.0 - p, scale, 0.0).astype(uniform.dtype))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p) while training;
    the identity otherwise (Srivastava et al. 2014, PyTorch's inverted dropout)."""
    p = _check_probability(p, "dropout")
    x = _check_tensor(input, "dropout")
    if not training or p == 0.0:
        return x
    mask = dropout_mask(tuple(x.shape), p, x.dtype)  # drawn on the host: one seed, one mask, on every device
    return x * (mask if x.device.type == "cpu" else mask.to(x.device))


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: Tensor | None = None,
) -> Tensor:
    """Normalises each channel (dim 1) of (N, C) or (N, C, L) input over the other dims.

    training=True uses the batch statistics and, when running_mean/running_var are given, updates
    them in place as PyTorch does: running = (1 - momentum) * running + momentum * batch, with the
    unbiased batch variance; momentum=None takes the cumulative average 1 / num_batches_tracked
    (num_batches_tracked: the 0-d int64 buffer, already incremented for this batch).
    """
    x = _check_tensor(input, "batch_norm")
    if x.ndim not in (2, 3):
        raise ValueError(f"batch_norm: expected 2D or 3D input (got {x.ndim}D input)")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(
                f"batch_norm: {name} has shape {tuple(t.shape)} but the input has {channels} channels "
                f"(shape {tuple(x.shape)})"
            )
    dims = [0] if x.ndim == 2 else [0, 2]
    channel_shape = (channels,) if x.ndim == 2 else (channels, 1)
    if training:
        count = x.shape[0] * (x.shape[2] if x.ndim == 3 else 1)
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        mean = x.mean(dims, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dims, keepdim=True)
        output = centered / (var + float(eps)).sqrt()
        if running_mean is not None and running_var is not None:
            if momentum is None:
                factor = 1.0 / float(num_batches_tracked.item()) if num_batches_tracked is not None else 0.0
            else:
                factor = float(momentum)
            _on_host("batch_norm", running_mean, running_var)
            rm, rv = running_mean.numpy(), running_var.numpy()
            batch_mean = mean.detach().numpy().reshape(channels)
            batch_var = var.detach().numpy().reshape(channels) * (count / (count - 1))
            rm *= 1.0 - factor
            rm += factor * batch_mean
            rv *= 1.0 - factor
            rv += factor * batch_var
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        _on_host("batch_norm", running_mean, running_var)
        rm = running_mean.detach().numpy().astype(numpy_dtype(x.dtype)).reshape(channel_shape)
        rv = running_var.detach().numpy().astype(numpy_dtype(x.dtype)).reshape(channel_shape)
        inv_std = 1.0 / _np.sqrt(rv + eps)
        output = (x - _constant(rm, x)) * _constant(inv_std, x)
    if weight is not None:
        output = output * weight.reshape(*channel_shape)
    if bias is not None:
        output = output + bias.reshape(*channel_shape)
    return output


def layer_norm(
    input: Tensor,
    normalized_shape: ShapeLike,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalises over the trailing dims given by normalized_shape (Ba et al. 2016), with the
    biased variance, then scales by weight and shifts by bias (both of normalized_shape)."""
    x = _check_tensor(input, "layer_norm")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, _np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape={list(shape)} does not match the input: expected input "
            f"with shape [*, {', '.join(str(s) for s in shape)}], but got input of size {list(x.shape)}"
        )
    dims = list(range(x.ndim - k, x.ndim))
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dims, keepdim=True)
    output = centered / (var + float(eps)).sqrt()
    if weight is not None:
        output = output * weight
    if bias is not None:
        output = output + bias
    return output


def embedding(input: TensorLike, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of weight picked by the int64 indices in input (any shape): output input.shape + (D,).
    The row at padding_idx receives no gradient."""
    indices = input if isinstance(input, Tensor) else _core.from_numpy(c_contiguous(input, dtype=_np.int64))
    if indices.is_floating_point():
        raise TypeError(f"embedding: indices must be an integer tensor, got {indices.dtype!r}")
    num, dim = weight.shape
    _on_host("embedding", indices)
    flat_values = indices.numpy().reshape(-1)
    if flat_values.size and (flat_values.min() < 0 or flat_values.max() >= num):
        bad = flat_values[(flat_values < 0) | (flat_values >= num)][0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {num} embeddings (num_embeddings)")
    flat = indices.reshape(-1)
    rows = weight[flat]
    if padding_idx is not None and (flat_values == padding_idx).any():
        keep = _mask((flat_values != padding_idx).reshape(-1, 1), weight)
        rows = rows * keep + weight.detach()[flat] * (1.0 - keep)
    return rows.reshape(*indices.shape, dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = input
    nd = max(x.ndim, 1)
    start = start_dim + nd if start_dim < 0 else start_dim
    end = end_dim + nd if end_dim < 0 else end_dim
    if not (0 <= start < nd and 0 <= end < nd):
        raise IndexError(
            f"flatten: dimension out of range (start_dim={start_dim}, end_dim={end_dim} for a {x.ndim}-D input)"
        )
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    if x.ndim == 0:
        return x.reshape(1)
    shape = list(x.shape)
    merged = 1
    for s in shape[start : end + 1]:
        merged *= s
    return x.reshape(*(shape[:start] + [merged] + shape[end + 1 :]))


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    x = input
    nd = x.ndim
    d = dim + nd if dim < 0 else dim
    if not 0 <= d < nd:
        raise IndexError(f"unflatten: dim {dim} is out of range for a {nd}-D input")
    sizes = [int(s) for s in sizes]
    if sizes.count(-1) > 1:
        raise ValueError("unflatten: only one dimension of unflattened_size may be -1")
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if -1 in sizes:
        if known == 0 or x.shape[d] % known:
            raise ValueError(
                f"unflatten: unflattened_size {tuple(sizes)} does not divide dim {dim} of size {x.shape[d]}"
            )
        sizes[sizes.index(-1)] = x.shape[d] // known
    elif known != x.shape[d]:
        raise ValueError(
            f"unflatten: provided sizes {tuple(sizes)} don't multiply up to the size of dim {dim} "
            f"({x.shape[d]}) in the input tensor"
        )
    shape = list(x.shape)
    return x.reshape(*(shape[:d] + sizes + shape[d + 1 :]))


# ---- losses with options -------------------------------------------------------------------------------
# The plain forms (mean/sum/none of MSE, L1, Huber, BCE, cross-entropy with class indices or
# probabilities) run as one C++ op; the options (class weights, ignore_index, label smoothing,
# pos_weight, ...) are compositions of differentiable ops whose constant coefficients (one-hot
# weights, masks) are built once in NumPy.

_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction: str, fn: str) -> str:
    # PyTorch's deprecated size_average/reduce pair still decides when given.
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
    if reduction not in _REDUCTIONS and not (reduction == "batchmean" and fn == "kl_div"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _as_input(x, fn: str, arg: str = "input", like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _np.ndarray) or _np.isscalar(x):
        array = _np.asarray(x)
        if array.dtype.kind in "iub":
            return _core.from_numpy(c_contiguous(array, dtype=_np.int64))
        dtype = (
            like.dtype
            if like is not None
            else (_core.dtype.float64 if array.dtype == _np.float64 else _core.dtype.float32)
        )
        return _core.from_numpy(c_contiguous(array, dtype=numpy_dtype(dtype)))
    raise TypeError(f"{fn}: {arg} must be a chainrule.Tensor or a NumPy array, got {type(x).__name__}")


def _class_weight(weight, classes: int, like: Tensor, fn: str):
    if weight is None:
        return None
    _on_host("class weights", weight)
    w = weight.detach().numpy() if isinstance(weight, Tensor) else _np.asarray(weight)
    if w.shape != (classes,):
        raise ValueError(f"{fn}: weight must have one entry per class, shape ({classes},), got {tuple(w.shape)}")
    return w.astype(numpy_dtype(like.dtype))


def _class_targets(target: Tensor, input: Tensor, fn: str, ignore_index: int):
    """Validated class-index targets as a NumPy int64 array of shape (N,)."""
    if target.is_floating_point():
        raise TypeError(f"{fn}: target must hold int64 class indices, got {target.dtype!r}")
    expected = (input.shape[0],) if input.ndim == 2 else ()
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{fn}: target has shape {tuple(target.shape)}, expected {expected} for input of shape {tuple(input.shape)}"
        )
    classes = input.shape[-1]
    _on_host("class-index targets", target, input)
    t = target.numpy().reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(
            f"{fn}: target {int(t[bad][0])} is out of bounds: class indices must be in [0, {classes}) "
            f"or equal ignore_index={ignore_index}"
        )
    return t


def _indexed_log_prob_loss(
    log_probs: Tensor, t: _np.ndarray, weight, ignore_index: int, reduction: str, label_smoothing: float, squeeze: bool
) -> Tensor:
    """-sum_c A[i, c] log_probs[i, c] per sample, with A the (label-smoothed, weighted) one-hot
    coefficients of the targets; mean divides by the total weight of the non-ignored targets, as
    PyTorch does."""
    n, classes = log_probs.shape
    dtype = numpy_dtype(log_probs.dtype)
    w = _np.ones(classes, dtype=dtype) if weight is None else weight
    kept = t != ignore_index
    rows = _np.arange(n)[kept]
    coefficients = _np.zeros((n, classes), dtype=dtype)
    coefficients[rows, t[kept]] = w[t[kept]] * (1.0 - label_smoothing)
    if label_smoothing > 0:
        coefficients[kept] += w * (label_smoothing / classes)
    per_sample = -(log_probs * _core.from_numpy(coefficients)).sum(1)
    if reduction == "none":
        return per_sample.reshape(()) if squeeze else per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return total
    denominator = w[t[kept]].astype(_np.float64).sum()
    return total * (1.0 / denominator) if denominator != 0 else total * float("nan")


def _class_input(input, fn: str) -> tuple[Tensor, bool]:
    x = _check_tensor(_as_input(input, fn), fn)
    if x.ndim == 1:
        return x.reshape(1, x.shape[0]), True
    if x.ndim != 2:
        raise ValueError(
            f"{fn}: input must be (N, C) or (C,) (got shape {tuple(x.shape)}); more dimensions are not supported"
        )
    return x, False


def nll_loss(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities input (N, C) or (C,)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "nll_loss")
    x, squeeze = _class_input(input, "nll_loss")
    target = _as_input(target, "nll_loss", "target")
    t = _class_targets(target.reshape(1) if squeeze and target.ndim == 0 else target, x, "nll_loss", ignore_index)
    w = _class_weight(weight, x.shape[1], x, "nll_loss")
    return _indexed_log_prob_loss(x, t, w, ignore_index, reduction, 0.0, squeeze)


def cross_entropy(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax over classes + negative log-likelihood; target holds class indices (N,) or class
    probabilities (N, C). weight rescales classes, ignore_index drops samples, label_smoothing
    mixes the targets with the uniform distribution (Szegedy et al. 2016)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, (int, float))
        or not 0.0 <= label_smoothing <= 1.0
    ):
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
    x = _as_input(input, "cross_entropy")
    target = _as_input(target, "cross_entropy", "target", like=x if isinstance(x, Tensor) else None)
    if weight is None and ignore_index == -100 and label_smoothing == 0.0:
        try:
            return _core.cross_entropy(x, target, reduction_kind(reduction))  # the plain case: one fused C++ op
        except IndexError:
            if target.is_floating_point() or not (target.cpu().numpy() == -100).any():
                raise
    x, squeeze = _class_input(x, "cross_entropy")
    log_probs = _core.log_softmax(x, 1)
    w = _class_weight(weight, x.shape[1], x, "cross_entropy")
    if target.is_floating_point():
        if tuple(target.shape) != tuple(x.shape) and not (squeeze and target.ndim == 1):
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape {tuple(x.shape)}, "
                f"got {tuple(target.shape)}"
            )
        probs = target.reshape(*x.shape)
        if label_smoothing > 0:
            probs = probs * (1.0 - label_smoothing) + label_smoothing / x.shape[1]
        if w is not None:
            probs = probs * _core.from_numpy(w)
        per_sample = -(log_probs * probs).sum(1)
        if reduction == "none":
            return per_sample.reshape(()) if squeeze else per_sample
        return per_sample.sum() if reduction == "sum" else per_sample.sum() * (1.0 / x.shape[0])
    t = _class_targets(target.reshape(1) if squeeze and target.ndim == 0 else target, x, "cross_entropy", ignore_index)
    return _indexed_log_prob_loss(log_probs, t, w, ignore_index, reduction, float(label_smoothing), squeeze)


def _pointwise_pair(input, target, fn: str) -> tuple[Tensor, Tensor]:
    x = _check_tensor(_as_input(input, fn), fn)
    y = _as_input(target, fn, "target", like=x)
    if not y.is_floating_point():
        y = y.to(x.dtype)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"{fn}: target size {tuple(y.shape)} must be the same as input size {tuple(x.shape)}")
    return x, y


def mse_loss(
    input: TensorLike,
    target: TensorLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    return _core.mse_loss(input, target, reduction_kind(_legacy_reduction(size_average, reduce, reduction, "mse_loss")))


def l1_loss(
    input: TensorLike,
    target: TensorLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    return _core.l1_loss(input, target, reduction_kind(_legacy_reduction(size_average, reduce, reduction, "l1_loss")))


def huber_loss(
    input: TensorLike, target: TensorLike, reduction: str = "mean", delta: float = 1.0, weight: TensorLike | None = None
) -> Tensor:
    if weight is not None:
        raise ValueError("huber_loss: weight is not supported")
    return _core.huber_loss(
        input, target, reduction_kind(_legacy_reduction(None, None, reduction, "huber_loss")), delta
    )


def binary_cross_entropy(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    if weight is None:
        return _core.binary_cross_entropy(input, target, reduction_kind(reduction))
    x, y = _pointwise_pair(input, target, "binary_cross_entropy")
    loss = _core.binary_cross_entropy(x, y, _core.Reduction.none) * _as_input(
        weight, "binary_cross_entropy", "weight", like=x
    )
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: TensorLike | None = None,
) -> Tensor:
    """-w [pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], computed stably as
    (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    if weight is None and pos_weight is None:
        return _core.binary_cross_entropy_with_logits(input, target, reduction_kind(reduction))
    x, y = _pointwise_pair(input, target, "binary_cross_entropy_with_logits")
    softplus_neg = _core.relu(-x) + ((-x.abs()).exp() + 1.0).log()
    if pos_weight is not None:
        pw = _as_input(pos_weight, "binary_cross_entropy_with_logits", "pos_weight", like=x)
        loss = (1.0 - y) * x + ((pw - 1.0) * y + 1.0) * softplus_neg
    else:
        loss = (1.0 - y) * x + softplus_neg
    if weight is not None:
        loss = loss * _as_input(weight, "binary_cross_entropy_with_logits", "weight", like=x)
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: TensorLike,
    target: TensorLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is L1.
    Equal to huber_loss(delta=beta) / beta."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"smooth_l1_loss: beta must be a number, got {type(beta).__name__}")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta (got beta={beta})")
    if beta == 0:
        return _core.l1_loss(input, target, reduction_kind(reduction))
    return _core.huber_loss(input, target, reduction_kind(reduction), float(beta)) * (1.0 / float(beta))


def kl_div(
    input: TensorLike,
    target: TensorLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Pointwise target * (log(target) - input) with input log-probabilities (target as
    log-probabilities too when log_target). reduction='batchmean' divides the sum by the batch
    size (the mathematically correct KL divergence); 'mean' divides by the element count."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "kl_div")
    x, y = _pointwise_pair(input, target, "kl_div")
    if log_target:
        loss = y.exp() * (y - x)
    elif y.requires_grad:
        _on_host("kl_div", y)
        zero = _mask(y.detach().numpy() == 0, y)
        loss = y * (y + zero).log() - y * x
    else:
        t = y.numpy()
        with _np.errstate(divide="ignore", invalid="ignore"):
            xlogy = _np.where(t == 0, 0.0, t * _np.log(_np.where(t == 0, 1.0, t)))
        loss = _constant(xlogy, x) - y * x
    if reduction == "batchmean":
        return loss.sum() * (1.0 / x.shape[0]) if x.ndim else loss.sum()
    return _reduce(loss, reduction)


def poisson_nll_loss(
    input: TensorLike,
    target: TensorLike,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of target ~ Poisson(rate): exp(input) - target * input when
    log_input (input is log(rate)), else input - target * log(input + eps); full adds Stirling's
    approximation of log(target!) for target > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "poisson_nll_loss")
    x, y = _pointwise_pair(input, target, "poisson_nll_loss")
    if log_input:
        loss = x.exp() - y * x
    else:
        loss = x - y * (x + float(eps)).log()
    if full:
        _on_host("poisson_nll_loss", y)
        t: _np.ndarray = y.detach().numpy().astype(_np.float64)
        with _np.errstate(divide="ignore", invalid="ignore"):
            stirling = _np.where(
                t > 1,
                t * _np.log(_np.where(t > 1, t, 1.0)) - t + 0.5 * _np.log(2 * _np.pi * _np.where(t > 1, t, 1.0)),
                0.0,
            )
        loss = loss + _constant(stirling, x)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: TensorLike,
    target: TensorLike,
    var: TensorLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) when full).
    var has the input's shape, or one dim fewer / a last dim of 1 (one variance per sample), or
    is a number; its clamping to eps carries no gradient, as in PyTorch."""
    reduction = _legacy_reduction(None, None, reduction, "gaussian_nll_loss")
    x, y = _pointwise_pair(input, target, "gaussian_nll_loss")
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        var = _core.full(list(x.shape), float(var), dtype=x.dtype)
    v = _as_input(var, "gaussian_nll_loss", "var", like=x)
    if tuple(v.shape) != tuple(x.shape):
        if tuple(x.shape[:-1]) == tuple(v.shape):
            v = v.reshape(*v.shape, 1)
        elif not (x.ndim and v.ndim == x.ndim and tuple(v.shape[:-1]) == tuple(x.shape[:-1]) and v.shape[-1] == 1):
            raise ValueError(
                f"gaussian_nll_loss: var of shape {tuple(v.shape)} does not match input of shape "
                f"{tuple(x.shape)} (expected the same shape, or one variance per sample)"
            )
    _on_host("gaussian_nll_loss", v)
    values = v.detach().numpy()
    if (values < 0).any():
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    clamped = _np.maximum(values, eps)
    if (clamped != values).any():
        v = v + _constant(clamped - values, x)
    diff = x - y
    loss = (v.log() + diff * diff / v) * 0.5
    if full:
        loss = loss + 0.5 * float(_np.log(2 * _np.pi))
    return _reduce(loss, reduction)
