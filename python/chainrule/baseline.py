"""The NumPy baseline: backpropagation for a dense network, written as the seed document writes it.

For layer l with input a(l-1) (the network input X for l = 1):

    z(l) = W(l) a(l-1) + b(l)          a(l) = sigma(z(l))
    delta(L) = dL/dz(L)
    delta(l) = W(l+1)^T delta(l+1) * sigma'(z(l))
    dL/dW(l) = delta(l) a(l-1)^T       dL/db(l) = delta(l)
    W(l) -= lr dL/dW(l)                b(l) -= lr dL/db(l)

Batches are row-major, one sample per row, so every column vector of the equations becomes a row:
X is (B, in), z(l) and a(l) are (B, out), W(l) is (out, in) like ``torch.nn.Linear.weight``, and the
equations read z = a W^T + b, delta(l) = (delta(l+1) W(l+1)) * sigma'(z(l)), dW = delta^T a,
db = delta summed over the batch.

This module is the reference the compiled core is tested and benchmarked against, so it favours
plainness over speed: NumPy arrays only, a Python loop over layers and never over elements. The
dtype follows the parameters (float32 or float64); inputs must match it.

Typical use::

    model = MLP.from_sizes([10, 5, 1], activation="relu", dtype=np.float64, rng=0)
    for step in range(100):
        loss = model.train_step(X, y, loss="mse", lr=0.01)
"""

from __future__ import annotations as _annotations

import math as _math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Union

import numpy as _np
import numpy.typing as _npt

__all__ = [
    "Activation",
    "ActivationLike",
    "LOSSES",
    "LossFunction",
    "MLP",
    "bce_loss",
    "bce_with_logits_loss",
    "cross_entropy_loss",
    "erf",
    "huber_loss",
    "l1_loss",
    "mse_loss",
]

_FLOAT_DTYPES = (_np.dtype(_np.float32), _np.dtype(_np.float64))
_REDUCTIONS = ("mean", "sum")


# --------------------------------------------------------------------------------------------------
# erf, for the exact GELU: NumPy has none, and the baseline must not depend on SciPy.


def erf(x: _np.ndarray) -> _np.ndarray:
    """The error function, elementwise, accurate to about 1e-14 absolute in float64.

    Uses the series erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    (Abramowitz and Stegun 7.1.6): every term has the sign of x, so the sum has no cancellation.
    |x| is clipped at 6, where erf already rounds to +-1 in float64. Computed in float64 and
    returned in the input's dtype.
    """
    x = _np.asarray(x)
    x64 = _np.clip(x.astype(_np.float64, copy=False), -6.0, 6.0)
    two_x_squared = 2.0 * x64 * x64
    term = x64.copy()
    total = x64.copy()
    # Terms grow until n ~ x^2, then fall; at |x| = 6 about 130 terms reach float64 precision.
    for n in range(1, 200):
        term *= two_x_squared / (2 * n + 1)
        total += term
        if _np.all(_np.abs(term) <= 1e-17 * _np.abs(total)):
            break
    result = (2.0 / _math.sqrt(_math.pi)) * _np.exp(-x64 * x64) * total
    return result.astype(x.dtype if x.dtype in _FLOAT_DTYPES else _np.float64, copy=False)


# --------------------------------------------------------------------------------------------------
# Activations: sigma and sigma'.

_ACTIVATION_NAMES = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu")

# GELU's tanh form, as torch.nn.GELU(approximate="tanh") writes it (Hendrycks and Gimpel 2016, eq. 2).
_SQRT_2_OVER_PI = _math.sqrt(2.0 / _math.pi)
_GELU_TANH_CUBIC = 0.044715


def _sigmoid(z: _np.ndarray) -> _np.ndarray:
    # exp(-|z|) never overflows; the two branches are the same function rearranged.
    e = _np.exp(-_np.abs(z))
    return _np.where(z >= 0, 1 / (1 + e), e / (1 + e))


@dataclass(frozen=True)
class Activation:
    """sigma in a = sigma(z), and the product with sigma'(z) that the delta recursion needs.

    name: one of "identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu".
    negative_slope: leaky_relu's slope for z <= 0 (torch.nn.LeakyReLU's default, 0.01).
    approximate: gelu's form, "none" (exact, z * Phi(z)) or "tanh" (torch.nn.GELU's two options).

    At z = 0, relu' is 0 and leaky_relu' is negative_slope, as in PyTorch.
    """

    name: str
    negative_slope: float = 0.01
    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.name not in _ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {self.name!r}; expected one of {_ACTIVATION_NAMES}")
        if self.approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {self.approximate!r}")

    def forward(self, z: _np.ndarray) -> _np.ndarray:
        """a = sigma(z); may return z itself (identity)."""
        if self.name == "identity":
            return z
        if self.name == "relu":
            return _np.maximum(z, 0)
        if self.name == "leaky_relu":
            return _np.where(z > 0, z, z * self.negative_slope)
        if self.name == "sigmoid":
            return _sigmoid(z)
        if self.name == "tanh":
            return _np.tanh(z)
        if self.approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (z + _GELU_TANH_CUBIC * z**3)
            return 0.5 * z * (1 + _np.tanh(inner))
        return z * (0.5 * (1 + erf(z / _math.sqrt(2.0))))

    def backward(self, da: _np.ndarray, z: _np.ndarray, a: _np.ndarray) -> _np.ndarray:
        """dz = da * sigma'(z), given the forward's z and a = sigma(z); may return da itself."""
        if self.name == "identity":
            return da
        if self.name == "relu":
            return da * (z > 0)
        if self.name == "leaky_relu":
            return _np.where(z > 0, da, da * self.negative_slope)
        if self.name == "sigmoid":
            return da * (a * (1 - a))
        if self.name == "tanh":
            return da * (1 - a * a)
        if self.approximate == "tanh":
            t = _np.tanh(_SQRT_2_OVER_PI * (z + _GELU_TANH_CUBIC * z**3))
            dinner = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_CUBIC * z * z)
            return da * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * dinner)
        # d/dz [z Phi(z)] = Phi(z) + z phi(z), phi the standard normal density.
        cdf = 0.5 * (1 + erf(z / _math.sqrt(2.0)))
        pdf = _np.exp(-0.5 * z * z) / _math.sqrt(2.0 * _math.pi)
        return da * (cdf + z * pdf)

    def __repr__(self) -> str:
        if self.name == "leaky_relu":
            return f"Activation('leaky_relu', negative_slope={self.negative_slope})"
        if self.name == "gelu":
            return f"Activation('gelu', approximate={self.approximate!r})"
        return f"Activation({self.name!r})"


ActivationLike = Union[str, Activation]


def _as_activation(spec: ActivationLike) -> Activation:
    return spec if isinstance(spec, Activation) else Activation(spec)


# --------------------------------------------------------------------------------------------------
# Losses. Each takes the network output and the target and returns (loss, dL/d(output)), the
# loss as a Python float and the gradient with the output's shape and dtype. reduction is
# "mean" (over every element; over the batch for cross_entropy) or "sum", as in torch.nn.

LossFunction = Callable[..., "tuple[float, _np.ndarray]"]


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _regression_target(output: _np.ndarray, target: _np.ndarray) -> _np.ndarray:
    target = _np.asarray(target, dtype=output.dtype)
    if target.shape != output.shape:
        # PyTorch broadcasts here with a warning; (B, 1) against (B,) is almost always a bug.
        raise ValueError(f"target shape {target.shape} differs from output shape {output.shape}")
    return target


def _reduce(elementwise: _np.ndarray, dout: _np.ndarray, reduction: str, count: int):
    if reduction == "sum":
        return float(elementwise.sum()), dout
    return float(elementwise.mean()), dout / dout.dtype.type(count)


def mse_loss(output: _np.ndarray, target: _np.ndarray, reduction: str = "mean") -> tuple[float, _np.ndarray]:
    """(output - target)^2, like torch.nn.MSELoss."""
    _check_reduction(reduction)
    diff = output - _regression_target(output, target)
    return _reduce(diff * diff, 2 * diff, reduction, diff.size)


def l1_loss(output: _np.ndarray, target: _np.ndarray, reduction: str = "mean") -> tuple[float, _np.ndarray]:
    """|output - target|, like torch.nn.L1Loss (gradient 0 where they are equal)."""
    _check_reduction(reduction)
    diff = output - _regression_target(output, target)
    return _reduce(_np.abs(diff), _np.sign(diff), reduction, diff.size)


def huber_loss(
    output: _np.ndarray, target: _np.ndarray, reduction: str = "mean", delta: float = 1.0
) -> tuple[float, _np.ndarray]:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta); d = output - target. torch.nn.HuberLoss."""
    _check_reduction(reduction)
    if delta <= 0:
        raise ValueError(f"huber delta must be positive, got {delta}")
    diff = output - _regression_target(output, target)
    quadratic = _np.abs(diff) <= delta
    elementwise = _np.where(quadratic, 0.5 * diff * diff, delta * (_np.abs(diff) - 0.5 * delta))
    dout = _np.clip(diff, -delta, delta)
    return _reduce(elementwise, dout, reduction, diff.size)


def cross_entropy_loss(logits: _np.ndarray, labels: _np.ndarray, reduction: str = "mean") -> tuple[float, _np.ndarray]:
    """-log softmax(logits)[label], like torch.nn.CrossEntropyLoss with class-index targets.

    logits is (B, C); labels is (B,) of integers in [0, C). "mean" divides by B.
    """
    _check_reduction(reduction)
    labels = _np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects (B, C) logits, got shape {logits.shape}")
    batch, classes = logits.shape
    if labels.shape != (batch,) or labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy expects ({batch},) integer labels, got {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes})")
    # Subtracting the row maximum keeps exp() from overflowing; log_softmax is unchanged by it.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - _np.log(_np.exp(shifted).sum(axis=1, keepdims=True))
    rows = _np.arange(batch)
    dlogits = _np.exp(log_probs)  # softmax(logits) - onehot(labels)
    dlogits[rows, labels] -= 1
    return _reduce(-log_probs[rows, labels], dlogits, reduction, batch)


def bce_with_logits_loss(
    logits: _np.ndarray, target: _np.ndarray, reduction: str = "mean"
) -> tuple[float, _np.ndarray]:
    """-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), like torch.nn.BCEWithLogitsLoss."""
    _check_reduction(reduction)
    target = _regression_target(logits, target)
    # The same value rewritten so exp() sees only -|x|: max(x, 0) - x y + log(1 + exp(-|x|)).
    elementwise = _np.maximum(logits, 0) - logits * target + _np.log1p(_np.exp(-_np.abs(logits)))
    return _reduce(elementwise, _sigmoid(logits) - target, reduction, logits.size)


# torch.nn.BCELoss clamps each log at -100 so that p = 0 or 1 gives a finite loss, and its backward
# divides by max(p (1 - p), 1e-12) (aten/src/ATen/native/Loss.cpp), that 1e-12 being a C++ float:
# both are reproduced here so that the two agree even at p = 0 or 1.
_BCE_LOG_FLOOR = -100.0
_BCE_GRAD_EPSILON = float(_np.float32(1e-12))


def bce_loss(probabilities: _np.ndarray, target: _np.ndarray, reduction: str = "mean") -> tuple[float, _np.ndarray]:
    """-(y log p + (1 - y) log(1 - p)) for p in [0, 1], like torch.nn.BCELoss."""
    _check_reduction(reduction)
    p = probabilities
    target = _regression_target(p, target)
    with _np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
        log_p = _np.maximum(_np.log(p), _BCE_LOG_FLOOR)
        log_1mp = _np.maximum(_np.log1p(-p), _BCE_LOG_FLOOR)
    elementwise = -(target * log_p + (1 - target) * log_1mp)
    dout = (p - target) / _np.maximum(p * (1 - p), p.dtype.type(_BCE_GRAD_EPSILON))
    return _reduce(elementwise, dout, reduction, p.size)


LOSSES: dict[str, LossFunction] = {
    "mse": mse_loss,
    "l1": l1_loss,
    "huber": huber_loss,
    "cross_entropy": cross_entropy_loss,
    "bce_with_logits": bce_with_logits_loss,
    "bce": bce_loss,
}


# --------------------------------------------------------------------------------------------------
# The network.


class MLP:
    """A stack of dense layers, z(l) = a(l-1) W(l)^T + b(l), a(l) = activations[l](z(l)).

    weights[l] is (out_l, in_l) and biases[l] is (out_l,), as torch.nn.Linear stores them; both are
    copied, all in one dtype (float32 or float64), which becomes the model's dtype. activations[l]
    follows layer l; use "identity" after the last layer for raw outputs (logits).

    After forward(): z[l] and a[l + 1] hold each layer's pre-activation and activation, a[0] the input.
    After backward(): dweights[l] and dbiases[l] hold dL/dW(l) and dL/db(l); backward overwrites them
    (it never accumulates), so there is no zero_grad.
    """

    def __init__(
        self,
        weights: Sequence[_np.ndarray],
        biases: Sequence[_np.ndarray],
        activations: Sequence[ActivationLike],
    ) -> None:
        if not (len(weights) == len(biases) == len(activations)) or not weights:
            raise ValueError(
                f"need one weight, bias and activation per layer, got {len(weights)}, "
                f"{len(biases)} and {len(activations)}"
            )
        dtype = _np.asarray(weights[0]).dtype
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"parameters must be float32 or float64, got {dtype}")
        self.dtype: _np.dtype = dtype
        self.weights: list[_np.ndarray] = []
        self.biases: list[_np.ndarray] = []
        for layer, (weight, bias) in enumerate(zip(weights, biases)):
            weight, bias = _np.asarray(weight), _np.asarray(bias)
            if weight.dtype != dtype or bias.dtype != dtype:
                raise TypeError(f"layer {layer}: parameters must all be {dtype}, got {weight.dtype}, {bias.dtype}")
            if weight.ndim != 2 or bias.shape != (weight.shape[0],):
                raise ValueError(
                    f"layer {layer}: weight must be (out, in) and bias (out,), got {weight.shape} and {bias.shape}"
                )
            if layer and weight.shape[1] != self.weights[-1].shape[0]:
                raise ValueError(
                    f"layer {layer} takes {weight.shape[1]} inputs "
                    f"but layer {layer - 1} gives {self.weights[-1].shape[0]}"
                )
            self.weights.append(_np.array(weight, order="C", copy=True))
            self.biases.append(_np.array(bias, copy=True))
        self.activations: list[Activation] = [_as_activation(spec) for spec in activations]

        self.z: list[_np.ndarray] = []
        self.a: list[_np.ndarray] = []
        self.dweights: list[_np.ndarray] = []
        self.dbiases: list[_np.ndarray] = []
        self.momentum_buffers: list[_np.ndarray | None] = [None] * (2 * len(self.weights))

    @classmethod
    def from_sizes(
        cls,
        sizes: Sequence[int],
        activation: ActivationLike = "relu",
        output_activation: ActivationLike = "identity",
        *,
        dtype: _npt.DTypeLike = _np.float32,
        rng: _np.random.Generator | int | None = None,
    ) -> MLP:
        """Layers sizes[0] -> sizes[1] -> ... -> sizes[-1], `activation` between them.

        Initialised as torch.nn.Linear does by default: weight and bias uniform in
        (-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5) reduces to that bound).
        """
        if len(sizes) < 2:
            raise ValueError(f"need at least an input and an output size, got {list(sizes)}")
        rng = _np.random.default_rng(rng)
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / _math.sqrt(fan_in)
            weights.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype))
            biases.append(rng.uniform(-bound, bound, size=fan_out).astype(dtype))
        activations = [activation] * (len(sizes) - 2) + [output_activation]
        return cls(weights, biases, activations)

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [weight.shape[0] for weight in self.weights]

    def parameters(self) -> list[_np.ndarray]:
        """[W0, b0, W1, b1, ...], the order of torch's Sequential(...).parameters()."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def gradients(self) -> list[_np.ndarray]:
        """[dW0, db0, dW1, db1, ...], matching parameters(); empty before the first backward()."""
        return [g for pair in zip(self.dweights, self.dbiases) for g in pair]

    def forward(self, X: _np.ndarray) -> _np.ndarray:
        """The network's output (B, sizes[-1]) for X (B, sizes[0]); keeps every z and a for backward."""
        X = _np.asarray(X)
        if X.dtype != self.dtype:
            raise TypeError(f"input is {X.dtype} but the model is {self.dtype}")
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"input must be (batch, {self.sizes[0]}), got {X.shape}")
        self.a = [X]
        self.z = []
        for weight, bias, activation in zip(self.weights, self.biases, self.activations):
            z = self.a[-1] @ weight.T  # (B, out) = (B, in) (in, out)
            z += bias
            self.z.append(z)
            self.a.append(activation.forward(z))
        return self.a[-1]

    __call__ = forward

    def backward(self, doutput: _np.ndarray) -> tuple[list[_np.ndarray], list[_np.ndarray]]:
        """The delta recursion from dL/d(output) (B, sizes[-1]); writes and returns (dweights, dbiases).

        dL/dX is not formed: the input needs no gradient, and skipping it saves a matrix product.
        """
        if not self.z:
            raise RuntimeError("backward() needs a forward() first")
        doutput = _np.asarray(doutput)
        if doutput.shape != self.a[-1].shape or doutput.dtype != self.dtype:
            raise ValueError(f"doutput must be {self.a[-1].shape} {self.dtype}, got {doutput.shape} {doutput.dtype}")
        layers = len(self.weights)
        dweights: list[_np.ndarray] = [None] * layers  # type: ignore[list-item]
        dbiases: list[_np.ndarray] = [None] * layers  # type: ignore[list-item]
        # delta(L) = dL/da(L) * sigma'(z(L))
        delta = self.activations[-1].backward(doutput, self.z[-1], self.a[-1])
        for layer in reversed(range(layers)):
            dweights[layer] = delta.T @ self.a[layer]  # (out, in) = (out, B) (B, in)
            dbiases[layer] = delta.sum(axis=0)  # (out,)
            if layer:
                # delta(l-1) = W(l)^T delta(l) * sigma'(z(l-1)), row-major: (B, in) = (B, out) (out, in)
                dprevious_a = delta @ self.weights[layer]
                delta = self.activations[layer - 1].backward(dprevious_a, self.z[layer - 1], self.a[layer])
        self.dweights, self.dbiases = dweights, dbiases
        return dweights, dbiases

    def sgd_step(
        self,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        """Update every parameter in place from the last backward(), with torch.optim.SGD's rule.

        g = -grad if maximize else grad;  g += weight_decay * p;
        with momentum: buf = g on the first step, else buf = momentum buf + (1 - dampening) g,
                       and g = g + momentum buf (nesterov) or g = buf;
        p -= lr g.  Momentum buffers live in momentum_buffers until reset_optimizer_state().
        Passing different options from step to step is allowed but, as in PyTorch, keeps the buffers.
        """
        if not self.dweights:
            raise RuntimeError("sgd_step() needs a backward() first")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires a positive momentum and zero dampening")
        for index, (param, grad) in enumerate(zip(self.parameters(), self.gradients())):
            step = -grad if maximize else grad
            if weight_decay != 0:
                step = step + weight_decay * param
            if momentum != 0:
                buffer = self.momentum_buffers[index]
                if buffer is None:
                    buffer = self.momentum_buffers[index] = step.copy()
                else:
                    buffer *= momentum
                    buffer += (1 - dampening) * step
                step = step + momentum * buffer if nesterov else buffer
            param -= lr * step

    def reset_optimizer_state(self) -> None:
        """Forget the momentum buffers, as a freshly made torch.optim.SGD would."""
        self.momentum_buffers = [None] * (2 * len(self.weights))

    def train_step(
        self,
        X: _np.ndarray,
        target: _np.ndarray,
        loss: str | LossFunction = "mse",
        lr: float = 0.01,
        *,
        reduction: str = "mean",
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
        **loss_options: float,
    ) -> float:
        """forward, loss, backward, sgd_step; returns the loss before the update.

        loss is a name in LOSSES or a function (output, target, reduction=..., **loss_options)
        -> (loss, dL/d(output)); loss_options go to it (e.g. delta=0.5 for "huber").
        """
        loss_function = LOSSES[loss] if isinstance(loss, str) else loss
        output = self.forward(X)
        value, doutput = loss_function(output, target, reduction=reduction, **loss_options)
        self.backward(doutput)
        self.sgd_step(lr, momentum, dampening, weight_decay, nesterov, maximize)
        return value

    def __repr__(self) -> str:
        layers = ", ".join(
            f"Linear({w.shape[1]}, {w.shape[0]}) -> {act!r}" for w, act in zip(self.weights, self.activations)
        )
        return f"MLP([{layers}], dtype={self.dtype})"
