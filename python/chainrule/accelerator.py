"""chainrule.accelerator: PyTorch's device-agnostic accelerator queries.

Tensors live on the CPU in this version (the CUDA backend cannot hold tensors yet), so there is no
accelerator to place them on: ``current_accelerator()`` is None, ``is_available()`` False and
``device_count()`` 0, which sends PyTorch programs down their CPU path.
"""

from __future__ import annotations as _annotations

from chainrule._typing import DeviceLike

__all__ = [
    "current_accelerator",
    "is_available",
    "device_count",
    "current_device_index",
    "set_device_index",
    "synchronize",
]


def current_accelerator(check_available: bool = False) -> None:
    """The accelerator tensors can be placed on: None, since they live on the CPU."""
    return None


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_device_index() -> int:
    raise RuntimeError("current_device_index: there is no accelerator; chainrule tensors live on the CPU")


def set_device_index(device: DeviceLike) -> None:
    raise RuntimeError("set_device_index: there is no accelerator; chainrule tensors live on the CPU")


def synchronize(device: DeviceLike = None) -> None:
    """Waits for accelerator work: there is none, so this returns at once."""
