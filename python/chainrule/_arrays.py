"""NumPy array helpers shared by the Python layer."""

from __future__ import annotations

import numpy as _np


def c_contiguous(array, dtype=None) -> _np.ndarray:
    """`array` as a C-contiguous NumPy array of `dtype`, aligned to its elements (a view at an odd
    byte offset is copied, as C++ reads it through typed pointers), copied only when needed.

    Unlike `np.ascontiguousarray`, which returns at least one dimension, a 0-d input stays 0-d, so
    a scalar keeps PyTorch's shape `()` on its way into a tensor.
    """
    result = _np.asarray(array, dtype=dtype)
    return result if (result.flags.c_contiguous and result.flags.aligned) else result.copy(order="C")
