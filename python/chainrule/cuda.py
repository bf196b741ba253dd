"""chainrule.cuda: the optional CUDA backend, in PyTorch's ``torch.cuda`` shape.

The backend is its own extension module, ``chainrule._cuda``, built only where a CUDA compiler and
cuBLAS were found (README, "CUDA backend"). It is imported on first use, never by ``import
chainrule``, so machines without CUDA libraries or a driver never load one. Every function here
works on such machines: ``is_built()`` tells whether this installation was compiled with the
backend, ``is_available()`` returns False and ``device_count()`` 0 where there is no driver or GPU.

A backend that was built but cannot be loaded (a missing ``libcublasLt``, say) is not mistaken for
"no GPU": on a machine whose driver reports a GPU, ``is_available()`` and ``device_count()`` raise
RuntimeError with the reason, instead of every GPU code path quietly being skipped.

Tensors live on a GPU once the backend is loaded: ``Tensor.to('cuda')``, ``device='cuda'`` in a
factory, or ``Module.to('cuda')`` import ``chainrule._cuda``, which registers its device backend with
``chainrule._core``. Device memory comes from a caching allocator (``memory_allocated``,
``max_memory_allocated``, ``memory_reserved``, ``empty_cache``), so a training loop does not ask the
driver for memory at every step.
"""

from __future__ import annotations as _annotations

import ctypes as _ctypes
import importlib as _importlib
import operator as _operator
import typing as _typing

__all__ = [
    "is_built",
    "is_available",
    "device_count",
    "synchronize",
    "manual_seed",
    "manual_seed_all",
    "initial_seed",
    "epilogue_paths",
    "reset_epilogue_paths",
    "current_device",
    "memory_allocated",
    "max_memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "empty_cache",
]

_module = None  # chainrule._cuda once imported
_import_error = None  # why it could not be, once tried
_driver_devices = None  # what the driver said, once asked
_seed = 0

# The NVIDIA driver's library on Linux and on Windows.
_DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


def _built_into_core() -> bool:
    """Whether CMake built the backend alongside this installation's _core (config()['cuda_built'])."""
    from chainrule import _core

    return bool(_core._cuda_built)


def _driver_device_count() -> int:
    """Devices the NVIDIA driver reports, asked directly through its library, without chainrule._cuda:
    0 when there is no driver (no libcuda) or it finds no device."""
    global _driver_devices
    if _driver_devices is None:
        _driver_devices = 0
        for name in _DRIVER_LIBRARIES:
            try:
                driver = _ctypes.CDLL(name)
            except OSError:
                continue
            count = _ctypes.c_int(0)
            # cuInit and cuDeviceGetCount return CUDA_SUCCESS (0) or an error code.
            if driver.cuInit(0) == 0 and driver.cuDeviceGetCount(_ctypes.byref(count)) == 0:
                _driver_devices = int(count.value)
            break
    return _driver_devices


def _load_backend():
    """chainrule._cuda, or None when it cannot be imported (the reason is kept in _import_error)."""
    global _module, _import_error
    if _module is None and _import_error is None:
        try:
            _module = _importlib.import_module("chainrule._cuda")
        except ImportError as e:  # not built, or built and not loadable (libcublasLt missing, ...)
            _import_error = e
    return _module


def _backend():
    """chainrule._cuda, or None where this installation has no usable backend and no GPU needs one.

    Raises RuntimeError when the backend was built, the driver reports a GPU, and the module still
    cannot be imported: that is a broken installation, not a machine without CUDA.
    """
    module = _load_backend()
    if module is None and _built_into_core() and _driver_device_count() > 0:
        raise RuntimeError(
            "chainrule was built with its CUDA backend and the driver reports "
            f"{_driver_device_count()} GPU(s), but chainrule._cuda cannot be imported: {_import_error}"
        ) from _import_error
    return module


def is_built() -> bool:
    """Whether this installation was compiled with the CUDA backend. Never raises, loads no CUDA library."""
    return _built_into_core()


def _registered_device_count() -> int:
    """Devices of the CUDA backend registered with _core; -1 when none is (the module registers on import)."""
    from chainrule import _core

    return int(_core._device_count("cuda"))


def device_count() -> int:
    """Number of visible CUDA devices; 0 when the backend, the driver or a GPU is missing.

    Raises RuntimeError when the backend was built and a GPU is present but chainrule._cuda cannot
    be imported (the message gives the import error).
    """
    registered = _registered_device_count()
    if registered >= 0:
        return registered
    backend = _backend()
    if backend is None:
        return 0
    registered = _registered_device_count()  # importing the module registered its backend
    return registered if registered >= 0 else int(backend.device_count())


def _ready_index(requested: _typing.Any, where: str) -> int:
    """The index of the CUDA device a tensor goes to for `requested` (a chainrule.device of type
    'cuda'; its index may be None, meaning the current device).

    RuntimeError, saying why, when no CUDA device can hold tensors here.
    """
    count = device_count()
    index = current_device() if requested.index is None else requested.index
    if count <= 0:
        if not is_built():
            reason = "this chainrule was built without its CUDA backend (README, 'CUDA backend')"
        else:
            reason = "no CUDA GPU is available (no driver, or no device visible)"
        raise RuntimeError(f"{where}: cannot place a tensor on '{requested}': {reason}")
    if _registered_device_count() < 0:
        raise RuntimeError(
            f"{where}: cannot place a tensor on '{requested}': chainrule._cuda was loaded but registered no "
            "device backend (a module from another chainrule version?)"
        )
    if index >= count:
        raise RuntimeError(
            f"{where}: CUDA error: invalid device ordinal: device cuda:{index} requested, {count} visible"
        )
    return index


def is_available() -> bool:
    """Whether the backend is built and a GPU can be used.

    False where there is no driver or GPU; raises RuntimeError only for a built backend that cannot
    be imported on a machine with a GPU (see device_count).
    """
    return device_count() > 0


def epilogue_paths() -> list:
    """Which route each cuBLASLt epilogue took since the last reset_epilogue_paths().

    One dict per (site, epilogue, dtype): ``site`` is the kernel ("linear_forward", "dense_forward",
    "linear_backward"), ``epilogue`` the fused operation asked of cuBLASLt ("bias", "relu_bias",
    "gelu_bias", "bgradb", ...), ``fused`` how many calls ran it inside the GEMM, ``fallback`` how
    many ran chainrule's own epilogue kernels after a plain GEMM instead, and ``last_refusal``
    cuBLASLt's status name for the last fallback (None if none). Empty without the backend.
    """
    backend = _backend()
    return [] if backend is None else list(backend.epilogue_paths())


def reset_epilogue_paths() -> None:
    """Forgets what epilogue_paths() reports."""
    backend = _backend()
    if backend is not None:
        backend.reset_epilogue_paths()


def synchronize(device: _typing.Any = None) -> None:
    """Waits for all queued work on a GPU (the current one by default). Does nothing where no GPU is available."""
    if is_available():
        from chainrule import _core

        _core._device_synchronize("cuda", _index(device, "synchronize"))


def current_device() -> int:
    """The index of the device that device='cuda' means: 0 (chainrule has no per-thread current device)."""
    return 0


def _index(device: _typing.Any, where: str) -> int:
    """The CUDA device index that `device` (None, an int, 'cuda', 'cuda:1', a chainrule.device) names."""
    if device is None:
        return current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        index = device
    else:
        name = device if isinstance(device, str) else str(device)  # a chainrule.device prints as 'cuda:1'
        kind, _, suffix = name.partition(":")
        if kind != "cuda" or (suffix and not suffix.isdigit()):
            raise ValueError(f"{where}: expected a CUDA device such as 'cuda:0' or an index, got {device!r}")
        index = int(suffix) if suffix else current_device()
    if index < 0:
        raise ValueError(f"{where}: device index must be non-negative, got {index}")
    return index


def _memory_stats(device: _typing.Any, where: str) -> dict:
    from chainrule import _core

    index = _index(device, where)
    if _registered_device_count() < 0:  # no backend, so nothing was ever allocated
        return {"allocated": 0, "peak_allocated": 0, "reserved": 0, "backend_allocations": 0}
    return dict(_core._device_memory_stats("cuda", index))


def memory_allocated(device: _typing.Any = None) -> int:
    """Bytes of GPU memory that tensors hold now (in the caching allocator's blocks)."""
    return int(_memory_stats(device, "memory_allocated")["allocated"])


def max_memory_allocated(device: _typing.Any = None) -> int:
    """The most memory_allocated() has been since the start or reset_peak_memory_stats()."""
    return int(_memory_stats(device, "max_memory_allocated")["peak_allocated"])


def memory_reserved(device: _typing.Any = None) -> int:
    """Bytes the caching allocator holds from the driver: what tensors hold plus its cache."""
    return int(_memory_stats(device, "memory_reserved")["reserved"])


def reset_peak_memory_stats(device: _typing.Any = None) -> None:
    """Starts max_memory_allocated() afresh from what is allocated now."""
    from chainrule import _core

    index = _index(device, "reset_peak_memory_stats")
    if _registered_device_count() >= 0:
        _core._device_reset_peak("cuda", index)


def empty_cache() -> None:
    """Gives the cached, unused GPU blocks back to the driver (tensors keep theirs)."""
    from chainrule import _core

    for index in range(max(_registered_device_count(), 0)):
        _core._device_empty_cache("cuda", index)


def manual_seed(seed: int) -> None:
    """Seeds the GPU's random number generation, as torch.cuda.manual_seed.

    Like torch's, it may be called where CUDA is unavailable (it is then recorded only). No CUDA
    kernel draws random numbers yet, so the seed is stored for when one does; chainrule.manual_seed
    still seeds the CPU generator that every random tensor comes from.
    """
    global _seed
    try:
        seed = _operator.index(seed)
    except TypeError:
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}") from None
    _seed = seed & 0xFFFF_FFFF_FFFF_FFFF  # torch accepts negative seeds the same way


manual_seed_all = manual_seed  # one generator for all devices, as far as chainrule is concerned


def initial_seed() -> int:
    """The seed last given to manual_seed (0 before any)."""
    return _seed
