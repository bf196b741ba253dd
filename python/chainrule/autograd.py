"""chainrule.autograd: gradcheck by finite differences, and the grad-mode switches."""

from __future__ import annotations as _annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as _np

from chainrule import _core
from chainrule._arrays import c_contiguous
from chainrule._core import Tensor, from_numpy
from chainrule._grad_mode import _GradModeContext, enable_grad, no_grad, set_grad_enabled  # noqa: F401
from chainrule._tensor import float64


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def gradcheck(
    fn: Callable,
    inputs: Tensor | Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
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

    with enable_grad():
        outputs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
    rng = _np.random.default_rng(1234)
    weights = [rng.standard_normal(o.shape) if o.ndim else _np.asarray(rng.standard_normal()) for o in outputs]

    def scalar_objective() -> float:
        with no_grad():
            outs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
        return float(sum(_np.sum(w * o.detach().numpy()) for w, o in zip(weights, outs)))

    # Analytic gradient: backward of sum(w * out).
    for t in checked:
        t.grad = None
    with enable_grad():
        outputs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
        total = None
        for w, o in zip(weights, outputs):
            if not o.requires_grad:
                continue
            term = (o * from_numpy(c_contiguous(w, dtype=_np.float64))).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    analytic = [_np.zeros(t.shape) if t.grad is None else t.grad.numpy().copy() for t in checked]

    for t, grad in zip(checked, analytic):
        values = t.detach().numpy()  # a view: perturbing it perturbs the input in place
        flat = values.reshape(-1)
        numeric = _np.zeros(flat.shape)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = scalar_objective()
            flat[i] = original - eps
            minus = scalar_objective()
            flat[i] = original
            numeric[i] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(values.shape)
        if not _np.allclose(grad, numeric, atol=atol, rtol=rtol):
            worst = _np.unravel_index(_np.argmax(_np.abs(grad - numeric)), grad.shape) if grad.size else ()
            message = (
                f"gradcheck: analytic and numerical gradients differ for an input of shape {tuple(t.shape)}; "
                f"largest difference at index {tuple(int(i) for i in worst)}: analytic "
                f"{grad[worst]!r} vs numerical {numeric[worst]!r}"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    for t in checked:
        t.grad = None
    return True


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned instead of accumulated into .grad.

    create_graph=True records the backward itself, so the returned gradients can be
    differentiated again (higher-order derivatives)."""
    if is_grads_batched:
        raise NotImplementedError("autograd.grad: is_grads_batched=True is not supported by chainrule")
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("grad requires non-empty inputs.")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"autograd.grad: inputs[{i}] must be a Tensor, got {type(t).__name__}")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise RuntimeError(
                f"grad requires one grad_output per output: got {len(grad_outputs)} grad_outputs and "
                f"{len(outputs)} outputs"
            )
    if allow_unused is None:
        allow_unused = materialize_grads
    retain = create_graph if retain_graph is None else retain_graph
    grads = _core._run_backward(list(outputs), list(grad_outputs), list(inputs), retain, create_graph, False)
    result = []
    for i, (t, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (inputs[{i}]) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
            if materialize_grads:
                g = zeros_like(t)
        result.append(g)
    return tuple(result)


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """torch.autograd.backward: backward() from several outputs at once."""
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    retain = create_graph if retain_graph is None else retain_graph
    _core._run_backward(
        list(tensors),
        list(grad_tensors),
        list(_as_tuple(inputs)) if inputs is not None else [],
        retain,
        create_graph,
        True,
    )


def gradgradcheck(
    fn: Callable,
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Checks second derivatives: gradcheck of the function x -> d/dx sum(w * fn(x)), whose
    gradient comes from a recorded backward (create_graph=True)."""
    inputs = _as_tuple(inputs)
    with enable_grad():
        outputs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor) and o.requires_grad]
    rng = _np.random.default_rng(4321)
    weights = [from_numpy(_np.array(rng.standard_normal(tuple(o.shape)), dtype=_np.float64)) for o in outputs]

    def first_derivatives(*xs):
        with enable_grad():
            outs = [o for o in _as_tuple(fn(*xs)) if isinstance(o, Tensor) and o.requires_grad]
            wanted = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
            grads = grad(
                outs,
                wanted,
                [w.to(o.dtype) for w, o in zip(weights, outs)],
                create_graph=True,
                allow_unused=True,
                materialize_grads=True,
            )
        return tuple(grads)

    return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)


# ---- custom differentiable functions -------------------------------------------------------------
class FunctionCtx:
    """The `ctx` of a custom Function: what forward leaves for backward."""

    def __init__(self) -> None:
        self.saved_tensors: tuple[Tensor | None, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self._materialize = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument is of type {type(t).__name__}"
                )
        self.saved_tensors = tuple(tensors)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable = set(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        pass


class Function:
    """Subclass with static forward(ctx, *args) and backward(ctx, *grad_outputs); call .apply(*args).

    forward runs without recording; backward returns one gradient (or None) per forward argument.
    backward is built from chainrule ops, so it can itself be differentiated (create_graph=True).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        if not (_core.is_grad_enabled() and any(ctx.needs_input_grad)):
            return result
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        non_diff: set[int] = getattr(ctx, "_non_differentiable", set())
        # An output that is one of the inputs gets a fresh alias, so the input keeps its history.
        input_ids = {id(a) for a in args if isinstance(a, Tensor)}
        outputs = tuple(o.detach() if isinstance(o, Tensor) and id(o) in input_ids else o for o in outputs)
        tensor_args = [a if isinstance(a, Tensor) else None for a in args]
        name = cls.__name__ + "Backward"
        for k, out in enumerate(outputs):
            if not isinstance(out, Tensor) or id(out) in non_diff or not out.dtype.is_floating_point:
                continue
            _core._record(out, _function_backward(cls, ctx, outputs, k, len(args)), tensor_args, name)
        return outputs[0] if single else outputs


def _function_backward(cls, ctx, outputs, k, nargs):
    def backward(g):
        # One node per output: the others' gradients are zeros here (backward is linear in them).
        grads_in = [
            g if j == k else (zeros_like(o) if isinstance(o, Tensor) and ctx._materialize else None)
            for j, o in enumerate(outputs)
        ]
        result = cls.backward(ctx, *grads_in)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) < nargs:
            raise RuntimeError(
                f"function {cls.__name__}Backward returned an incorrect number of gradients "
                f"(expected {nargs}, got {len(result)})"
            )
        return tuple(result[:nargs]) if all(r is None for r in result[nargs:]) else result

    return backward


def zeros_like(t: Tensor) -> Tensor:
    return _core.zeros(*t.shape, dtype=t.dtype)


class inference_mode(_GradModeContext):
    """Like no_grad: nothing is recorded inside (chainrule has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        self._enabled = not mode

    def _fresh(self) -> inference_mode:
        return inference_mode(not self._enabled)


from chainrule._variable import Variable  # noqa: E402,F401 - the legacy wrapper, by PyTorch's path
