"""Devices as PyTorch spells them: ``chainrule.device`` and the default device.

Tensors live on the CPU; every factory checks its ``device=`` argument with ``_check_device``.
"""

from __future__ import annotations

import numbers
from typing import Any

_DEVICE_TYPES = ("cpu", "cuda")


class device:
    """A device: ``device("cpu")``, ``device("cuda:0")`` or ``device("cuda", 0)``.

    Tensors live on the CPU; naming 'cuda' is allowed here (as in PyTorch, where a device object
    may name hardware that is absent) and refused where a tensor would have to be placed there.
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


def _cuda_refusal(where: str, name) -> ValueError:
    return ValueError(
        f"{where}: device '{name}' is not available: tensors live on 'cpu' only; the "
        "CUDA backend (chainrule.cuda) cannot yet hold tensors"
    )


def _check_device(value, where: str) -> None:
    """Accept None and the CPU in any spelling; refuse 'cuda' with the reason."""
    if value is None:
        return
    if isinstance(value, str) or isinstance(value, device):
        parsed = device(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        parsed = device("cuda", int(value))  # PyTorch reads a bare int as a CUDA device index
    else:
        raise TypeError(
            f"{where}: device must be a string like 'cpu' or a chainrule.device, got {type(value).__name__}"
        )
    if parsed.type != "cpu":
        raise _cuda_refusal(where, parsed)


_default_device = device("cpu")


def set_default_device(device_arg: str | int | device | None) -> None:
    """Where factories put tensors that name no device. Only the CPU can hold tensors."""
    global _default_device
    _check_device(device_arg, "set_default_device")
    _default_device = device("cpu")


def get_default_device() -> device:
    return _default_device
