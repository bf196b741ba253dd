"""chainrule.cuda: the optional CUDA backend, in PyTorch's ``torch.cuda`` shape.

The backend is its own extension module, ``chainrule._cuda``, built only where a CUDA compiler and
cuBLAS were found (README, "CUDA backend"). It is imported on first use, never by ``import
chainrule``, so machines without CUDA libraries or a driver never load one. Every function here
works on such machines: ``is_built()`` tells whether this installation was compiled with the
backend, ``is_available()`` returns False and ``device_count()`` 0 where there is no driver or GPU.

A backend that was built but cannot be loaded (a missing ``libcublasLt``, say) is not mistaken for
"no GPU": on a machine whose driver reports a GPU, ``is_available()`` and ``device_count()`` raise
RuntimeError with the reason, instead of every GPU code path quietly being skipped.

Status: the kernels are compiled and can be run on NumPy arrays (``chainrule._cuda``'s test entry
points), but tensors cannot yet live on a GPU: ``Tensor.to('cuda')`` raises.
"""

from __future__ import annotations as _annotations

import ctypes as _ctypes
import importlib as _importlib
import operator as _operator

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


def device_count() -> int:
    """Number of visible CUDA devices; 0 when the backend, the driver or a GPU is missing.

    Raises RuntimeError when the backend was built and a GPU is present but chainrule._cuda cannot
    be imported (the message gives the import error).
    """
    backend = _backend()
    if backend is None:
        return 0
    return int(backend.device_count())  # 0, never an error, without a driver or device


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
        seed = _operator.index(seed)
    except TypeError:
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}") from None
    _seed = seed & 0xFFFF_FFFF_FFFF_FFFF  # torch accepts negative seeds the same way


manual_seed_all = manual_seed  # one generator for all devices, as far as chainrule is concerned


def initial_seed() -> int:
    """The seed last given to manual_seed (0 before any)."""
    return _seed
