"""chainrule.autograd: gradcheck by finite differences, and the grad-mode switches."""
from __future__ import annotations

from typing import Callable

import numpy as np

from chainrule._core import Tensor
from chainrule._tensor import float64
from chainrule._grad_mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare autograd's gradients of `fn` with central finite differences.

    Every input that requires grad must be float64 (finite differences in float32 are too noisy to
    say anything). The check runs on the sum of each output weighted by fixed random weights, so
    every output element contributes: d/dx sum(w * fn(x)).
    """
    inputs = _as_tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: at least one input must be a Tensor with requires_grad=True")
    for t in checked:
        if t.dtype != float64:
            raise TypeError(f"gradcheck: inputs that require grad must be float64, got {t.dtype!r}; use .double()")
        if not t.is_leaf:
            raise ValueError("gradcheck: inputs must be leaf tensors")

    from chainrule import from_numpy

    with enable_grad():
        outputs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
    rng = np.random.default_rng(1234)
    weights = [rng.standard_normal(o.shape) if o.ndim else np.asarray(rng.standard_normal()) for o in outputs]

    def scalar_objective() -> float:
        with no_grad():
            outs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
        return float(sum(np.sum(w * o.detach().numpy()) for w, o in zip(weights, outs)))

    # Analytic gradient: backward of sum(w * out).
    for t in checked:
        t.grad = None
    with enable_grad():
        outputs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
        total = None
        for w, o in zip(weights, outputs):
            if not o.requires_grad:
                continue
            term = (o * from_numpy(np.ascontiguousarray(w, dtype=np.float64))).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.numpy().copy() for t in checked]

    for t, grad in zip(checked, analytic):
        values = t.detach().numpy()  # a view: perturbing it perturbs the input in place
        flat = values.reshape(-1)
        numeric = np.zeros(flat.shape)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = scalar_objective()
            flat[i] = original - eps
            minus = scalar_objective()
            flat[i] = original
            numeric[i] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(values.shape)
        if not np.allclose(grad, numeric, atol=atol, rtol=rtol):
            worst = np.unravel_index(np.argmax(np.abs(grad - numeric)), grad.shape) if grad.size else ()
            message = (f"gradcheck: analytic and numerical gradients differ for an input of shape {tuple(t.shape)}; "
                       f"largest difference at index {tuple(int(i) for i in worst)}: analytic "
                       f"{grad[worst]!r} vs numerical {numeric[worst]!r}")
            if raise_exception:
                raise GradcheckError(message)
            return False
    for t in checked:
        t.grad = None
    return True


def grad(outputs, inputs, grad_outputs=None, retain_graph=None):
    """Gradients of `outputs` with respect to `inputs`, returned instead of accumulated."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    saved = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    try:
        for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
            keep = retain_graph if retain_graph is not None else False
            o.backward(g, retain_graph=keep or i < len(outputs) - 1)
        return tuple(t.grad for t in inputs)
    finally:
        for t, s in zip(inputs, saved):
            t.grad = s


from chainrule._variable import Variable  # noqa: E402,F401 - the legacy wrapper, by PyTorch's path
