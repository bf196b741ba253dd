"""Devices as PyTorch spells them: ``chainrule.device`` and the default device.

Every factory resolves its ``device=`` argument with ``_check_device`` and moves its result there
with ``_place``; naming a CUDA device loads the backend (chainrule.cuda).
"""

from __future__ import annotations

import numbers
from typing import Any

_DEVICE_TYPES = ("cpu", "cuda")


class device:
    """A device: ``device("cpu")``, ``device("cuda:0")`` or ``device("cuda", 0)``.

    Naming 'cuda' is allowed here even where there is no GPU (as in PyTorch, a device object may
    name hardware that is absent); placing a tensor there is what needs the backend.
    """

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:  # noqa: A002 - PyTorch's names
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: an index cannot be given with a device object")
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or a device, got {type!r}")
        name, _, suffix = type.partition(":")
        if name not in _DEVICE_TYPES:
            raise ValueError(f"device: unknown device type '{type}'; expected 'cpu' or 'cuda'")
        if suffix:
            if index is not None:
                raise ValueError(f"device: the index is given twice in device('{type}', {index})")
            if not suffix.isdigit():
                raise ValueError(f"device: invalid device string '{type}'; expected e.g. 'cuda:0'")
            index = int(suffix)
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
                raise ValueError(f"device: index must be a non-negative int, got {index!r}")
            index = int(index)
        self.type, self.index = name, index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, device) and (other.type, other.index) == (self.type, self.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __reduce__(self) -> tuple[Any, tuple[str, int | None]]:
        return device, (self.type, self.index)


def _parse(value, where: str) -> device:
    """A device from any of PyTorch's spellings: 'cuda:0', device('cuda'), or a bare int (a CUDA index)."""
    if isinstance(value, str) or isinstance(value, device):
        return device(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return device("cuda", int(value))  # PyTorch reads a bare int as a CUDA device index
    raise TypeError(f"{where}: device must be a string like 'cpu' or a chainrule.device, got {type(value).__name__}")


def _check_device(value, where: str) -> device | None:
    """Where a tensor made by `where` goes: None for the CPU, else the CUDA device (index filled in).

    ``None`` means the default device (set_default_device). Naming CUDA loads the backend; a
    device that cannot hold tensors here raises RuntimeError saying why.
    """
    if value is None:
        return _default_target
    parsed = _parse(value, where)
    if parsed.type == "cpu":
        return None
    from chainrule import cuda  # deferred: loading the backend is the first CUDA placement's job

    return device("cuda", cuda._ready_index(parsed, where))


def _place(t, target: device | None):
    """t on `target` (the result of _check_device); t itself for the CPU."""
    if target is None:
        return t
    return t._to_device(target.type, target.index or 0)


_default_device = device("cpu")
_default_target: device | None = None  # _default_device as _check_device returns it


def set_default_device(device_arg: str | int | device | None) -> None:
    """Where factories put tensors that name no device (None or 'cpu': the CPU)."""
    global _default_device, _default_target
    target = None if device_arg is None else _check_device(device_arg, "set_default_device")
    _default_target = target
    _default_device = device("cpu") if target is None else target


def get_default_device() -> device:
    return _default_device
