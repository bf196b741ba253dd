"""What zero_grad does, for Module.zero_grad and Optimizer.zero_grad alike, and the registry of
gradients that live in a flat parameter arena (nn.utils.flatten_parameters), which zero_grad
zeroes in place instead of dropping."""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from chainrule import _core
from chainrule._core import Tensor

# Plain chainrule Tensors (not nn.Parameter) cannot carry Python attributes, so the ones whose grads
# live in an arena are remembered here: id -> weak reference (the identity check in grad_in_arena
# guards against a recycled id).
_plain_in_arena: dict = {}
# Whether any tensor was ever put in an arena: until then zero_grad need not look for one.
_arena_ever_used = False
# Every live optimizer, so that Module.to / .cuda() / .cpu() can have them move their state tensors
# beside the parameters they moved (nothing per step: the steps never look).
_optimizers: weakref.WeakSet = weakref.WeakSet()


def register_optimizer(optimizer: object) -> None:
    _optimizers.add(optimizer)


def parameters_moved() -> None:
    """Called after parameters moved between devices: every optimizer's state follows them."""
    for optimizer in list(_optimizers):
        optimizer._state_to_parameter_devices()


def grad_in_arena(tensor: Tensor) -> bool:
    """True when `tensor`'s .grad is a view into a FlatParameters gradient buffer, which
    zero_grad must zero in place rather than drop."""
    if getattr(tensor, "_grad_in_arena", False):
        return True
    if not _plain_in_arena:
        return False
    ref = _plain_in_arena.get(id(tensor))
    return ref is not None and ref() is tensor


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """What Module.zero_grad and Optimizer.zero_grad do: drop each parameter's .grad (or zero it in
    place with set_to_none=False). A flat arena's gradient views are always zeroed in place, never
    dropped, so the arena keeps holding every gradient.

    The gradients are dropped or zeroed in one C++ call: reading p.grad from Python would build a
    Python object per gradient, which costs more than a small network's whole backward pass."""
    params = params if isinstance(params, list) else list(params)
    if not set_to_none or not _arena_ever_used:
        _core._clear_grads(params, set_to_none)
    else:
        in_arena = [grad_in_arena(p) for p in params]
        _core._clear_grads([p for p, kept in zip(params, in_arena) if not kept], True)
        _core._clear_grads([p for p, kept in zip(params, in_arena) if kept], False)


def mark_in_arena(tensor: Tensor, flag: bool) -> None:
    """Record whether `tensor`'s .grad is a view into an arena (`flag`), for grad_in_arena."""
    global _arena_ever_used
    _arena_ever_used = _arena_ever_used or flag
    try:
        tensor._grad_in_arena = flag
        return
    except AttributeError:
        pass
    for key in [k for k, r in _plain_in_arena.items() if r() is None]:
        del _plain_in_arena[key]
    if flag:
        _plain_in_arena[id(tensor)] = weakref.ref(tensor)
    else:
        _plain_in_arena.pop(id(tensor), None)
