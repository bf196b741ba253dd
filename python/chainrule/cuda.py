"""chainrule.cuda: the optional CUDA backend, in PyTorch's ``torch.cuda`` shape.

The backend is its own extension module, ``chainrule._cuda``, built only where a CUDA compiler and
cuBLAS were found (README, "CUDA backend"). It is imported on first use, never by ``import
chainrule``, so machines without CUDA libraries or a driver never load one. Every function here
works on such machines: ``is_built()`` and ``is_available()`` return False, ``device_count()`` 0.

Status: the kernels are compiled and can be run on NumPy arrays (``chainrule._cuda``'s test entry
points), but tensors cannot yet live on a GPU: ``Tensor.to('cuda')`` raises.
"""
from __future__ import annotations

import importlib
import operator

__all__ = ["is_built", "is_available", "device_count", "synchronize", "manual_seed", "manual_seed_all",
           "initial_seed"]

_module = None           # chainrule._cuda once imported
_import_error = None     # why it could not be, once tried
_seed = 0


def _backend():
    """chainrule._cuda, or None when this build has no CUDA backend (or it cannot be loaded here)."""
    global _module, _import_error
    if _module is None and _import_error is None:
        try:
            _module = importlib.import_module("chainrule._cuda")
        except ImportError as e:  # not built, or libcublasLt not loadable
            _import_error = e
    return _module


def is_built() -> bool:
    """Whether this installation has the CUDA backend (chainrule._cuda imports)."""
    return _backend() is not None


def device_count() -> int:
    """Number of visible CUDA devices; 0 when the backend, the driver or a GPU is missing."""
    backend = _backend()
    if backend is None:
        return 0
    try:
        return int(backend.device_count())
    except Exception:  # noqa: BLE001 - "no device" in any form means 0, as torch.cuda.device_count
        return 0


def is_available() -> bool:
    """Whether the backend is built and a GPU can be used. Never raises."""
    return device_count() > 0


def synchronize() -> None:
    """Waits for all queued GPU work. Does nothing where no GPU is available."""
    if is_available():
        _backend().synchronize()


def manual_seed(seed: int) -> None:
    """Seeds the GPU's random number generation, as torch.cuda.manual_seed.

    Like torch's, it may be called where CUDA is unavailable (it is then recorded only). No CUDA
    kernel draws random numbers yet, so the seed is stored for when one does; chainrule.manual_seed
    still seeds the CPU generator that every random tensor comes from.
    """
    global _seed
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}") from None
    _seed = seed & 0xFFFF_FFFF_FFFF_FFFF  # torch accepts negative seeds the same way


manual_seed_all = manual_seed  # one generator for all devices, as far as chainrule is concerned


def initial_seed() -> int:
    """The seed last given to manual_seed (0 before any)."""
    return _seed
