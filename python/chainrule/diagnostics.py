"""Gradient health: the seed's vanishing and exploding gradients, made visible.

Two tools:

* ``gradient_health(model)`` reads the ``.grad`` of every parameter after a backward pass and
  labels each one 'ok', 'vanishing', 'exploding', 'nonfinite' or 'no_grad' (thresholds below).
* ``record_activations(model)`` makes the model's ReLU / LeakyReLU / GELU / Sigmoid / Tanh modules
  keep statistics of their last output (dead units, saturation); ``activation_stats(model)``
  returns them.

Recording contract (for code that bypasses per-module forwards, such as nn.Sequential's fused
path): an activation module records when its ``_record`` attribute is not None. The class default
is None, so a forward with recording off costs one attribute lookup. record_activations assigns
``_record`` through Module.__setattr__; nn.Sequential watches that name (nn._structure), so its
cached fused chain is rebuilt. A fused path must run the per-module forwards whenever
``is_recording(child)`` (or ``child._record is not None``) holds for a child it would fuse;
otherwise nothing is recorded.
Only module forwards record: functional calls (F.relu(x)) are not seen.

Usage::

    with diagnostics.record_activations(model):
        loss = loss_fn(model(x), y)
    loss.backward()
    print(diagnostics.format_health(diagnostics.gradient_health(model)))
    print(diagnostics.format_activation_stats(diagnostics.activation_stats(model)))
"""

from __future__ import annotations as _annotations

import enum as _enum
import math as _math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as _np

from chainrule.nn.layers import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from chainrule.nn.module import Module

# ---- gradient health thresholds ------------------------------------------------------------------
#
# Vanishing and exploding gradients are a property of depth: delta(l) = W(l+1)^T delta(l+1) * sigma'(z(l))
# multiplies, layer after layer, by factors below one (sigmoid' <= 1/4) or above one (large weights)
# on the way back from the loss. The gradient that has crossed no such factor is the one nearest
# the loss, so each parameter is compared with an ANCHOR there: by default the last weight matrix
# (ndim >= 2) in named_parameters order whose gradient is finite and nonzero - the output layer of
# a feed-forward model - for weight matrices, and the last such 1-D parameter (its bias) for the
# other parameters. A median over the model cannot tell which end is healthy: in a vanishing net
# the last layer is far above the median, in an exploding net far below. Weight matrices and
# biases get separate anchors because dL/dW = delta a^T carries the size of the layer's input a
# while dL/db = sum(delta) does not: with large weights the activations a grow forward about as
# fast as delta grows backward, so the weight gradients stay level across layers and only the
# biases show the growth. Pass anchor= the name of the output module (e.g. 'head') when
# registration order is not depth order.
#
# Parameters are compared by per-element RMS of the gradient, so a (32, 1) head and a (32, 32)
# hidden layer are comparable.
#
# VANISHING_FACTOR = 1e-4: a gradient 10^4 times weaker than the output layer's means SGD with one
# learning rate trains that layer 10^4 times slower. With PyTorch's default Linear init (weights
# U(+-1/sqrt(fan_in)), std 1/sqrt(3 fan_in)) a width-32 sigmoid layer attenuates the gradient about
# 7x (sigmoid' ~ 1/4 times sqrt(1/3)): a 20-layer sigmoid MLP measures ~1e-17 at its first layer,
# so the acceptance case holds by 13 orders of magnitude. Measured with one MSE backward on
# width-32 MLPs: default-init ReLU reads 2e-4 at depth 10 (flagged from about 11
# layers on: real, the default init is not Kaiming-correct for ReLU), Tanh 3e-3 at depth 10;
# ReLU with kaiming_normal_ stays above 3e-2 at depth 20.
VANISHING_FACTOR = 1e-4
# EXPLODING_FACTOR = 1e4, the mirror image: a gradient that grew 10^4x on the way back. In an MLP
# with large weights it fires on the biases; the weight gradients stay level (see above), which is
# why the next test exists.
EXPLODING_FACTOR = 1e4
# EXPLODING_RATIO = 1e3: for a weight matrix with ||grad|| > 1000 ||W||, one SGD step with
# lr = 1e-3 already moves the weights by more than their own norm. The healthy nets above measure
# at most 13 (Kaiming ReLU, depth 5); weights scaled x10 in a 5-layer ReLU stack measure 1.6e4,
# and more with depth. Weight matrices only: biases often start at zero, where the ratio means
# nothing.
EXPLODING_RATIO = 1e3


class Status(str, _enum.Enum):
    """A parameter's gradient status; a str, so ``entry.status == 'ok'`` works."""

    OK = "ok"
    NO_GRAD = "no_grad"  # .grad is None: frozen, not used by the loss, or no backward yet
    VANISHING = "vanishing"
    EXPLODING = "exploding"
    NONFINITE = "nonfinite"

    __str__ = str.__str__

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


# Severity order for check_gradients: the worst status wins.
_SEVERITY = (Status.OK, Status.NO_GRAD, Status.VANISHING, Status.EXPLODING, Status.NONFINITE)


@dataclass(frozen=True)
class GradientHealth:
    """One parameter's gradient statistics.

    grad_norm and weight_norm are L2 norms (0.0 when there is no grad). ratio is
    grad_norm / weight_norm: inf when the weights are all zero and the gradient is not, 0.0 when both
    are zero, nan when either norm is not finite. relative is grad_rms / the anchor's grad_rms (nan
    when there is no anchor or no grad).
    """

    name: str
    shape: tuple
    grad_norm: float
    weight_norm: float
    ratio: float
    grad_rms: float
    relative: float
    status: Status


def _check_module(model, where: str) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"{where}: model must be a chainrule.nn.Module, got {type(model).__name__}")


def _norm(values: _np.ndarray) -> float:
    """L2 norm in float64, scaled by the largest magnitude so float64 weights near 1e200 do not
    overflow; inf or nan when any element is not finite."""
    v = _np.asarray(values, dtype=_np.float64).ravel()
    if v.size == 0:
        return 0.0
    if not _np.isfinite(v).all():
        return float("nan") if _np.isnan(v).any() else float("inf")
    scale = float(_np.max(_np.abs(v)))
    if scale == 0.0:
        return 0.0
    v = v / scale
    return scale * _math.sqrt(float(_np.dot(v, v)))


def _ratio(grad_norm: float, weight_norm: float) -> float:
    if not (_math.isfinite(grad_norm) and _math.isfinite(weight_norm)):
        return float("nan")
    if weight_norm == 0.0:
        return 0.0 if grad_norm == 0.0 else float("inf")
    return grad_norm / weight_norm


def _owner(name: str) -> str:
    return name.rpartition(".")[0]


def gradient_health(model: Module, anchor: str | None = None) -> list[GradientHealth]:
    """One GradientHealth per parameter of `model`, in named_parameters() order.

    Call it after backward(). Statuses, checked in this order:

    * 'no_grad'   - .grad is None (frozen parameter, not reached by the loss, or no backward yet).
      Kept apart from 'vanishing' so that frozen layers raise no alarm.
    * 'nonfinite' - the gradient or the weights contain nan or inf.
    * 'exploding' - grad_rms > EXPLODING_FACTOR * the anchor's grad_rms, or, for a weight matrix,
      ||grad|| / ||W|| > EXPLODING_RATIO.
    * 'vanishing' - grad_rms < VANISHING_FACTOR * the anchor's grad_rms, or the gradient is all zero.
    * 'ok'        - otherwise.

    `anchor` is the name of the module nearest the loss (as in named_modules(), e.g. 'head' or
    '38'); its weight matrix anchors the weight matrices and its 1-D parameter (bias) the other
    parameters. Default: the last parameters of each kind with a finite nonzero gradient, in
    named_parameters order (see the notes at the top of this file). A kind without an anchor of
    its own (Linear(bias=False) everywhere) is compared with the other kind's.
    """
    _check_module(model, "gradient_health")
    if anchor is not None and not isinstance(anchor, str):
        raise TypeError(f"gradient_health: anchor must be a module name (str) or None, got {type(anchor).__name__}")
    rows = []
    for name, p in model.named_parameters():
        weight_norm = _norm(p.detach().numpy())
        grad = p.grad
        if grad is None:
            grad_norm, rms = 0.0, 0.0
        else:
            grad_norm = _norm(grad.numpy())
            rms = grad_norm / _math.sqrt(grad.numel()) if grad.numel() else 0.0
        rows.append((name, p, grad is not None, grad_norm, weight_norm, rms))

    def usable(row):
        return row[2] and _math.isfinite(row[3]) and _math.isfinite(row[4]) and row[5] > 0.0

    pool = rows
    if anchor is not None:
        modules = dict(model.named_modules())
        if anchor not in modules:
            raise KeyError(
                f"gradient_health: anchor {anchor!r} is not a module of the model; "
                f"modules with parameters are {sorted({_owner(r[0]) for r in rows})}"
            )
        pool = [row for row in rows if _owner(row[0]) == anchor]
        if not any(usable(row) for row in pool):
            raise ValueError(
                f"gradient_health: anchor {anchor!r} has no parameter with a finite nonzero gradient to compare with"
            )
    matrices = [row[5] for row in pool if usable(row) and row[1].ndim >= 2]
    vectors = [row[5] for row in pool if usable(row) and row[1].ndim < 2]
    matrix_ref = matrices[-1] if matrices else (vectors[-1] if vectors else None)
    vector_ref = vectors[-1] if vectors else matrix_ref

    entries = []
    for name, p, has_grad, grad_norm, weight_norm, rms in rows:
        reference = matrix_ref if p.ndim >= 2 else vector_ref
        ratio = _ratio(grad_norm, weight_norm) if has_grad else 0.0
        relative = rms / reference if (has_grad and reference) else float("nan")
        if not has_grad:
            status = Status.NO_GRAD
        elif not (_math.isfinite(grad_norm) and _math.isfinite(weight_norm)):
            status = Status.NONFINITE
        elif (reference and rms > reference * EXPLODING_FACTOR) or (
            p.ndim >= 2 and weight_norm > 0.0 and ratio > EXPLODING_RATIO
        ):
            status = Status.EXPLODING
        elif rms == 0.0 or (reference and rms < reference * VANISHING_FACTOR):
            status = Status.VANISHING
        else:
            status = Status.OK
        entries.append(
            GradientHealth(
                name=name,
                shape=tuple(p.shape),
                grad_norm=grad_norm,
                weight_norm=weight_norm,
                ratio=ratio,
                grad_rms=rms,
                relative=relative,
                status=status,
            )
        )
    return entries


def worst_status(entries: Iterable[GradientHealth]) -> Status:
    """The most severe status among GradientHealth entries ('ok' for none)."""
    worst = Status.OK
    for e in entries:
        if _SEVERITY.index(Status(e.status)) > _SEVERITY.index(worst):
            worst = Status(e.status)
    return worst


def check_gradients(model: Module, anchor: str | None = None) -> Status:
    """The worst gradient status of `model`, in the order ok < no_grad < vanishing < exploding <
    nonfinite. For a training loop: ``if check_gradients(model) != 'ok': print(format_health(...))``."""
    return worst_status(gradient_health(model, anchor=anchor))


def _fmt(x: float) -> str:
    return f"{x:.3g}" if _math.isfinite(x) else str(x)


def _table(header, rows) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_health(entries: Iterable[GradientHealth]) -> str:
    """A text table of gradient_health() entries, one line per parameter."""
    header = ("name", "shape", "grad_norm", "weight_norm", "ratio", "relative", "status")
    rows = [
        (
            e.name,
            "x".join(map(str, e.shape)) or "()",
            _fmt(e.grad_norm),
            _fmt(e.weight_norm),
            _fmt(e.ratio),
            _fmt(e.relative),
            str(e.status),
        )
        for e in entries
    ]
    return _table(header, rows)


# ---- activation statistics -----------------------------------------------------------------------
#
# Conventions: the last axis of an activation output is the unit (feature) axis, every other axis
# indexes samples (a 1-D output is one sample).
#
# dead_fraction (ReLU, LeakyReLU, GELU): the share of UNITS that were inactive for every sample of the
#   last batch - PyTorch-world's "dead ReLU": such a unit passes no gradient (or, for LeakyReLU,
#   only negative_slope times it) to its weights. zero_fraction is the share of inactive
#   ACTIVATIONS (all units, all samples). Inactive means: ReLU output == 0; LeakyReLU output <= 0;
#   GELU output in [-GELU_INACTIVE, 0], i.e. input below about -3 where GELU' < 0.012 (or within
#   ~0.008 below zero).
# saturation_fraction (Sigmoid, Tanh): the share of activations in the flat tails: sigmoid output
#   < 0.01 or > 0.99 (|input| > 4.6, sigmoid' < 0.0099, 4% of its peak 1/4) and |tanh| > 0.99
#   (|input| > 2.65, tanh' < 0.02, 2% of its peak 1). Saturated units are the seed's vanishing
#   gradient at the source.
SIGMOID_SATURATION = 0.01
TANH_SATURATION = 0.99
GELU_INACTIVE = 4e-3  # |gelu(-3)| = 0.00405

_KINDS = (ReLU, LeakyReLU, GELU, Sigmoid, Tanh)


@dataclass(frozen=True)
class ActivationStats:
    """Statistics of one activation module's last recorded output. Fields that do not apply to the
    kind (dead_fraction for Sigmoid, saturation_fraction for ReLU) are None."""

    name: str
    kind: str
    num_samples: int
    num_units: int
    mean: float
    std: float
    dead_fraction: float | None
    zero_fraction: float | None
    saturation_fraction: float | None


def _record_output(module, output) -> None:
    """The `_record` callable: computes the statistics of one forward's output and stores them."""
    a = output.detach().numpy()
    rows = a.reshape(1, -1) if a.ndim < 2 else a.reshape(int(_np.prod(a.shape[:-1])), a.shape[-1])
    dead = zero = saturated = None
    if isinstance(module, ReLU):
        inactive = rows == 0
    elif isinstance(module, LeakyReLU):
        inactive = rows <= 0
    elif isinstance(module, GELU):
        inactive = (rows <= 0) & (rows >= -GELU_INACTIVE)
    else:
        inactive = None
    if inactive is not None:
        dead = float(inactive.all(axis=0).mean()) if rows.size else 0.0
        zero = float(inactive.mean()) if rows.size else 0.0
    elif isinstance(module, Sigmoid):
        saturated = (
            float(((rows < SIGMOID_SATURATION) | (rows > 1.0 - SIGMOID_SATURATION)).mean()) if rows.size else 0.0
        )
    else:
        saturated = float((_np.abs(rows) > TANH_SATURATION).mean()) if rows.size else 0.0
    stats = {
        "kind": type(module).__name__,
        "num_samples": int(rows.shape[0]),
        "num_units": int(rows.shape[1]),
        "mean": float(rows.mean(dtype=_np.float64)) if rows.size else 0.0,
        "std": float(rows.std(dtype=_np.float64)) if rows.size else 0.0,
        "dead_fraction": dead,
        "zero_fraction": zero,
        "saturation_fraction": saturated,
    }
    # Straight into __dict__: statistics are not module structure, and a recorded forward should
    # not pay for Module.__setattr__'s registry checks.
    module.__dict__["_activation_stats"] = stats


def _activation_modules(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, _KINDS)]


class ActivationRecording:
    """Returned by record_activations; as a context manager it restores each module's previous
    recording state on exit (the statistics stay readable)."""

    def __init__(self, previous: list[tuple[Module, Any]]) -> None:
        self._previous = previous

    def __enter__(self) -> ActivationRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        for module, record in self._previous:
            module._record = record


def record_activations(model: Module, enabled: bool = True) -> ActivationRecording:
    """Turn recording on (or off) for every ReLU/LeakyReLU/GELU/Sigmoid/Tanh module in `model`.

    Takes effect at once and stays until turned off, or until the ``with`` block ends when used as
    a context manager. Turning it on clears statistics from earlier recordings; turning it off
    keeps them.
    """
    _check_module(model, "record_activations")
    if not isinstance(enabled, bool):
        raise TypeError(f"record_activations: enabled must be a bool, got {type(enabled).__name__}")
    previous: list[tuple[Module, Any]] = []
    for _, m in _activation_modules(model):
        previous.append((m, m._record))
        if enabled:
            m.__dict__.pop("_activation_stats", None)
        # Through Module.__setattr__ on purpose: it invalidates fused Sequential chains.
        m._record = _record_output if enabled else None
    return ActivationRecording(previous)


def is_recording(module: Module) -> bool:
    """True when `module` or any module inside it records its activations."""
    _check_module(module, "is_recording")
    return any(getattr(m, "_record", None) is not None for m in module.modules())


def activation_stats(model: Module) -> list[ActivationStats]:
    """ActivationStats for each activation module of `model` (named_modules order) that recorded a
    forward; modules that recorded nothing yet are left out."""
    _check_module(model, "activation_stats")
    out = []
    for name, m in _activation_modules(model):
        stats = m.__dict__.get("_activation_stats")
        if stats is not None:
            out.append(ActivationStats(name=name, **stats))
    return out


def format_activation_stats(entries: Iterable[ActivationStats]) -> str:
    """A text table of activation_stats() entries."""

    def opt(x):
        return "-" if x is None else f"{x:.3f}"

    header = ("name", "kind", "samples", "units", "mean", "std", "dead", "zero", "saturated")
    rows = [
        (
            e.name or "(model)",
            e.kind,
            e.num_samples,
            e.num_units,
            _fmt(e.mean),
            _fmt(e.std),
            opt(e.dead_fraction),
            opt(e.zero_fraction),
            opt(e.saturation_fraction),
        )
        for e in entries
    ]
    return _table(header, rows)


__all__ = [
    "Status",
    "GradientHealth",
    "ActivationStats",
    "ActivationRecording",
    "gradient_health",
    "check_gradients",
    "worst_status",
    "format_health",
    "record_activations",
    "is_recording",
    "activation_stats",
    "format_activation_stats",
    "VANISHING_FACTOR",
    "EXPLODING_FACTOR",
    "EXPLODING_RATIO",
    "SIGMOID_SATURATION",
    "TANH_SATURATION",
    "GELU_INACTIVE",
]
