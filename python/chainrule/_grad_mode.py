"""Grad-mode switches, usable as context managers and decorators like PyTorch's."""
from __future__ import annotations

import functools

from chainrule import _core


class _GradModeContext:
    _enabled: bool

    def __enter__(self):
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _core._set_grad_enabled(self._previous)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__() if not isinstance(self, set_grad_enabled) else set_grad_enabled(self._enabled):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Records nothing inside the block: results have no grad_fn (inference, weight updates)."""
    _enabled = False


class enable_grad(_GradModeContext):
    _enabled = True


class set_grad_enabled(_GradModeContext):
    """set_grad_enabled(False) switches recording off now, and restores it when used with `with`."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self._enabled = mode
        self._previous = _core.is_grad_enabled()
        _core._set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _core._set_grad_enabled(self._previous)
        return False


is_grad_enabled = _core.is_grad_enabled
