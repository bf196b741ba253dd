"""The one place where the strings of PyTorch's API become the kinds chainrule._core takes.

C++ never parses these strings: a reduction ('mean', 'sum', 'none') crosses the binding as a
``_core.Reduction``, a fused activation as a ``_core.Activation``, a native loss as a
``_core.LossKind``.
"""
from __future__ import annotations

from chainrule import _core

_REDUCTIONS = {name: kind for name, kind in _core.Reduction.__members__.items()}


def reduction_kind(reduction: str, owner: str = "") -> _core.Reduction:
    """The _core.Reduction named by `reduction`; ValueError naming it when it is not one."""
    kind = _REDUCTIONS.get(reduction) if isinstance(reduction, str) else None
    if kind is None:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return kind
