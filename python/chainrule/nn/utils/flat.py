"""A flat parameter arena: all of a model's parameters in one contiguous buffer, gradients in another.

After ``flat = flatten_parameters(model)`` every parameter is a view into ``flat.params`` and every
gradient a view into ``flat.grads`` (both 1-D NumPy arrays, zero-copy), the layout llm.c's
malloc_and_point_parameters uses. That gives, for free:

* a NumPy view of the whole model: ``flat.get_flat()`` / ``flat.set_flat(x)`` for optimizers that
  work on one vector (scipy.optimize, see examples/lbfgs_scipy.py);
* one buffer to all-reduce for data-parallel training: one call over ``flat.grads`` (or
  ``flat.grad_buffer``) instead of one per parameter.

Parameters keep their identity (only their storage moves, through ``p.data = view``), so modules
and optimizers holding them keep working, and the optimizers' in-place kernels write into the arena.

Keeping the gradient views alive. Autograd adds into an existing ``.grad`` in place, so the views
survive backward. ``zero_grad(set_to_none=True)`` - the default of Module.zero_grad and
Optimizer.zero_grad - would drop them; for arena-backed parameters (``grad_in_arena(p)``) both
zero_grad implementations zero the view in place instead. This deviates from PyTorch: after
zero_grad such a parameter has a zero gradient, not None, so an optimizer steps it even when the
next loss does not use it (momentum and weight decay still act), exactly as with
set_to_none=False. Parameters with requires_grad=False get no gradient view: their slots in
``flat.grads`` stay zero and optimizers keep skipping them.

What breaks the arena: anything that re-points a parameter (``p.data = other``, Module.to(dtype),
or assigning ``p.grad = other``). ``flat.is_intact()`` says whether every view is still in place.
"""

from __future__ import annotations as _annotations

import numpy as _np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._grads import grad_in_arena, mark_in_arena
from chainrule._tensor import numpy_dtype
from chainrule.nn.module import Module


def _named_tensors(model_or_params):
    if isinstance(model_or_params, Module):
        return list(model_or_params.named_parameters())
    if isinstance(model_or_params, Tensor):
        raise TypeError(
            "flatten_parameters: model_or_params must be an nn.Module or an iterable of Tensors, "
            "got a single Tensor; pass [tensor]"
        )
    try:
        items = list(model_or_params)
    except TypeError:
        raise TypeError(
            "flatten_parameters: model_or_params must be an nn.Module or an iterable of Tensors, "
            f"got {type(model_or_params).__name__}"
        ) from None
    named, seen = [], set()
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise TypeError(f"flatten_parameters: model_or_params[{i}] is a {type(p).__name__}, not a Tensor")
        if id(p) not in seen:  # a tensor listed twice gets one slot, like named_parameters()
            seen.add(id(p))
            named.append((str(i), p))
    return named


class FlatParameters:
    """The arena built by flatten_parameters (see the module docstring).

    Attributes: params / grads (1-D NumPy views of the buffers; grads is None without gradients),
    param_buffer / grad_buffer (the same memory as chainrule Tensors), numel, dtype, and per
    parameter, in order: names, shapes, offsets, tensors.
    """

    def __init__(self, named, with_grads: bool):
        if not named:
            raise ValueError("flatten_parameters: model_or_params has no parameters")
        for name, p in named:
            if not p.is_floating_point():
                raise TypeError(
                    f"flatten_parameters: parameter '{name}' is {p.dtype!r}; only floating point "
                    "parameters can be flattened"
                )
            if not p.is_leaf:
                raise ValueError(f"flatten_parameters: parameter '{name}' is not a leaf tensor")
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) != 1:
            by_dtype: dict[str, list[str]] = {}
            for name, p in named:
                by_dtype.setdefault(repr(p.dtype), []).append(name)
            listing = "; ".join(f"{d}: {', '.join(names)}" for d, names in by_dtype.items())
            raise TypeError(
                "flatten_parameters: model_or_params mixes dtypes, one arena holds one dtype "
                f"(convert with model.to(dtype) first): {listing}"
            )
        self.dtype = named[0][1].dtype
        self.names = tuple(name for name, _ in named)
        self.tensors = tuple(p for _, p in named)
        self.shapes = tuple(tuple(p.shape) for p in self.tensors)
        sizes = [p.numel() for p in self.tensors]
        self.offsets = tuple(int(o) for o in _np.concatenate([[0], _np.cumsum(sizes)[:-1]]))
        self.numel = int(sum(sizes))

        self.param_buffer = _core.zeros(self.numel, dtype=self.dtype)
        self.params = self.param_buffer.numpy()
        self.grad_buffer = _core.zeros(self.numel, dtype=self.dtype) if with_grads else None
        self.grads = self.grad_buffer.numpy() if self.grad_buffer is not None else None
        for p, offset, n, shape in zip(self.tensors, self.offsets, sizes, self.shapes):
            self.params[offset : offset + n] = p.detach().numpy().ravel()
            p.data = self.param_buffer[offset : offset + n].reshape(*shape)
            if self.grad_buffer is not None and self.grads is not None and p.requires_grad:
                if p.grad is not None:  # keep what has been accumulated so far
                    self.grads[offset : offset + n] = p.grad.numpy().ravel()
                p.grad = self.grad_buffer[offset : offset + n].reshape(*shape)
                mark_in_arena(p, True)

    # ---- whole-model vector ----------------------------------------------------------------------
    def get_flat(self) -> _np.ndarray:
        """A copy of all parameters as one 1-D array (params is the zero-copy view)."""
        return self.params.copy()

    def set_flat(self, array) -> None:
        """Copy a 1-D array of numel values (any real dtype, converted) into the parameters."""
        values = _np.asarray(array)
        if values.ndim != 1 or values.shape[0] != self.numel:
            raise ValueError(f"set_flat: array must be 1-D with {self.numel} values, got shape {values.shape}")
        if values.dtype.kind not in "fiu":
            raise TypeError(f"set_flat: array must hold real numbers, got dtype {values.dtype}")
        self.params[...] = values.astype(numpy_dtype(self.dtype), copy=False)

    def get_flat_grad(self) -> _np.ndarray:
        """A copy of all gradients as one 1-D array."""
        return self._need_grads("get_flat_grad").copy()

    def zero_grad(self) -> None:
        """Zero every gradient in place, with one memset-like write over the gradient buffer."""
        self._need_grads("zero_grad")[...] = 0

    def _need_grads(self, where: str) -> _np.ndarray:
        """The gradient buffer's view; a RuntimeError naming `where` when there is none."""
        if self.grads is None:
            raise RuntimeError(f"FlatParameters.{where}: built with with_grads=False, there is no gradient buffer")
        return self.grads

    # ---- checks ----------------------------------------------------------------------------------
    def is_intact(self) -> bool:
        """True when every parameter (and every gradient the arena manages) still views the arena."""
        itemsize = self.dtype.itemsize
        base = self.param_buffer._data_ptr()
        for p, offset in zip(self.tensors, self.offsets):
            if not (
                p._is_view_of(self.param_buffer) and p._data_ptr() == base + offset * itemsize and p.dtype == self.dtype
            ):
                return False
        if self.grad_buffer is not None:
            gbase = self.grad_buffer._data_ptr()
            for p, offset in zip(self.tensors, self.offsets):
                if not p.requires_grad:
                    continue
                g = p.grad
                if g is None or not g._is_view_of(self.grad_buffer) or g._data_ptr() != gbase + offset * itemsize:
                    return False
        return True

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return (
            f"FlatParameters(tensors={len(self.tensors)}, numel={self.numel}, dtype={self.dtype!r}, "
            f"grads={'yes' if self.grads is not None else 'no'})"
        )


def flatten_parameters(model_or_params, with_grads: bool = True) -> FlatParameters:
    """Move all parameters of a Module (or an iterable of Tensors) into one contiguous buffer.

    All parameters must share one floating dtype (else TypeError). With with_grads=True each
    parameter that requires grad gets its .grad re-pointed to a view into a second buffer (holding
    any gradient accumulated so far, zeros otherwise). See the module docstring for what zero_grad
    does with those views and what breaks the arena. Returns the FlatParameters.
    """
    if not isinstance(with_grads, bool):
        raise TypeError(f"flatten_parameters: with_grads must be a bool, got {type(with_grads).__name__}")
    return FlatParameters(_named_tensors(model_or_params), with_grads)


__all__ = ["FlatParameters", "flatten_parameters", "grad_in_arena"]
