"""The 8x8 handwritten digits (UCI, E. Alpaydin and C. Kaynak), as scikit-learn ships them.

The data lives in data/digits.npz beside this file; data/README.md says where it came from and under
which licences.
"""

from __future__ import annotations as _annotations

from dataclasses import dataclass
from importlib import resources as _resources

import numpy as _np
import numpy.typing as _npt

__all__ = ["Dataset", "load_digits", "split"]

_DIGITS_FILE = "digits.npz"


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset: data (N, features) float, target (N,) int64, and what they mean."""

    data: _np.ndarray
    target: _np.ndarray
    images: _np.ndarray
    target_names: _np.ndarray
    description: str


def load_digits(
    return_X_y: bool = False, dtype: _npt.DTypeLike = _np.float32
) -> Dataset | tuple[_np.ndarray, _np.ndarray]:
    """The 1797 digits: data (1797, 64) of pixel counts 0..16 in `dtype`, target (1797,) int64 in 0..9.

    Returns a Dataset (with images, the same pixels as (1797, 8, 8)), or (data, target) when
    return_X_y is true, as sklearn.datasets.load_digits does. Pixels are not rescaled: divide by 16
    for inputs in [0, 1]. Every call reads the file afresh, so callers may modify what they get.
    """
    dtype = _np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    data_file = _resources.files(__package__).joinpath("data").joinpath(_DIGITS_FILE)
    with data_file.open("rb") as stream, _np.load(stream, allow_pickle=False) as archive:
        data = archive["images"].astype(dtype)  # (1797, 64)
        target = archive["labels"].astype(_np.int64)  # (1797,)
    if return_X_y:
        return data, target
    return Dataset(
        data=data,
        target=target,
        images=data.reshape(-1, 8, 8),
        target_names=_np.arange(10),
        description=(
            "Optical Recognition of Handwritten Digits (UCI ML repository, test set; E. Alpaydin and "
            "C. Kaynak, 1998): 8x8 images of pixel counts 0..16, labels 0..9. CC BY 4.0; "
            "see chainrule/datasets/data/README.md."
        ),
    )


def split(
    X: _np.ndarray, y: _np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[_np.ndarray, _np.ndarray, _np.ndarray, _np.ndarray]:
    """Shuffle the rows of X and y together and cut them: (X_train, X_test, y_train, y_test).

    The test part has round(test_fraction * N) rows, at least one, and so does the training part.
    The same seed gives the same split; the shuffle uses numpy.random.default_rng(seed).
    """
    X, y = _np.asarray(X), _np.asarray(y)
    count = X.shape[0]
    if y.shape[0] != count:
        raise ValueError(f"X has {count} rows but y has {y.shape[0]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    test_count = min(max(round(test_fraction * count), 1), count - 1)
    if test_count < 1:
        raise ValueError(f"cannot split {count} rows into two non-empty parts")
    order = _np.random.default_rng(seed).permutation(count)
    test_rows, train_rows = order[:test_count], order[test_count:]
    return X[train_rows], X[test_rows], y[train_rows], y[test_rows]
