"""fit's arguments as the NumPy arrays both loops train on."""

from __future__ import annotations

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._tensor import numpy_dtype


def as_array(value, name):
    if isinstance(value, Tensor):
        return value.detach().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    raise TypeError(f"fit: {name} must be a NumPy array or a chainrule.Tensor, got {type(value).__name__}")


def model_dtype(model):
    for p in model.parameters():
        return p.dtype
    return _core.dtype.float32


def prepare_data(model, loss_fn, X, y, name_x="X", name_y="y"):
    """NumPy arrays in the layout the loops use: X (N, features) in the model's dtype, y int64
    class labels for cross-entropy and NLL, else in the model's dtype. Copies only when needed."""
    from chainrule import nn

    X, y = as_array(X, name_x), as_array(y, name_y)
    if X.ndim < 1 or y.ndim < 1:
        raise ValueError(
            f"fit: {name_x} and {name_y} need a first (sample) dimension, got shapes {X.shape} and {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"fit: {name_x} has {X.shape[0]} rows but {name_y} has {y.shape[0]}")
    dtype = numpy_dtype(model_dtype(model))
    # C-contiguous and aligned ("CA"): the tensors share these arrays, so odd layouts are copied.
    X = np.require(X, dtype=dtype, requirements="CA")
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)) and y.dtype.kind in "iub":
        y = np.require(y, dtype=np.int64, requirements="CA")
    else:
        y = np.require(y, dtype=dtype, requirements="CA")
    return X, y


def batch_count(n, batch_size):
    return (n + batch_size - 1) // batch_size
