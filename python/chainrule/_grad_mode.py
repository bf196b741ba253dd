"""Grad-mode switches, usable as context managers and decorators like PyTorch's."""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, TypeVar

from chainrule import _core

# A function decorated by a grad-mode context keeps its own type.
_F = TypeVar("_F", bound=Callable[..., Any])


class _GradModeContext:
    _enabled: bool

    def __enter__(self) -> _GradModeContext:
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _core._set_grad_enabled(self._previous)
        return False

    def _fresh(self) -> _GradModeContext:
        """A new context with this one's mode, entered at each call of a decorated function."""
        return type(self)()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # the same signature as fn


class _NoParamContext(_GradModeContext):
    # Like PyTorch 2.x, `@no_grad` works without parentheses too: no_grad(fn) is the decorated fn.
    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamContext):
    """Records nothing inside the block: results have no grad_fn (inference, weight updates)."""

    _enabled = False


class enable_grad(_NoParamContext):
    _enabled = True


class set_grad_enabled(_GradModeContext):
    """set_grad_enabled(False) switches recording off now, and restores it when used with `with`."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self._enabled = mode
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(mode)

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _core._set_grad_enabled(self._previous)
        return False

    def _fresh(self) -> set_grad_enabled:
        return set_grad_enabled(self._enabled)

    def __call__(self, fn: _F) -> _F:
        # Used as a decorator, the mode must apply inside calls only: undo the switch that
        # __init__ made at decoration time (as PyTorch does).
        _core._set_grad_enabled(self._previous)
        return super().__call__(fn)


is_grad_enabled = _core.is_grad_enabled
