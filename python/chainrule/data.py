"""Datasets and mini-batch loading at the NumPy level.

PyTorch's API (``torch.utils.data``: Dataset, TensorDataset of tensors, DataLoader with samplers,
collate functions and workers, random_split, Subset) is ``chainrule.utils.data``; its names that
this module does not define itself are importable from here too. This module's own
``TensorDataset`` and ``DataLoader`` are a leaner loader over NumPy arrays, with a ``seed`` for the
epoch order, that ``chainrule.fit``-style scripts use:

``TensorDataset`` holds whole arrays, so ``DataLoader`` cuts a batch out of each array at once:
a slice (a zero-copy view) when reading in order, one gather (``np.take``) when shuffling. Any
other object with ``__len__`` and ``__getitem__`` also works; its items are fetched one by one and
stacked.

Every batch is a tuple with one entry per field, even when there is a single field, so the type
of what a loop receives never depends on the dataset. Entries become chainrule Tensors through
``_to_tensor``, the one place where this module touches the compiled package.
"""

from __future__ import annotations as _annotations

import math as _math
import numbers as _numbers
from collections.abc import Iterator
from typing import Any

import numpy as _np

from chainrule._arrays import c_contiguous
from chainrule._core import Tensor
from chainrule._core import from_numpy as _from_numpy
from chainrule._typing import TensorOrArray
from chainrule.utils.data import (  # noqa: F401 - PyTorch's names, forwarded
    BatchSampler,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

__all__ = [
    "TensorDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]


def _as_array(value, what):
    """NumPy arrays pass through; chainrule Tensors (anything with .numpy()) become their view."""
    if isinstance(value, _np.ndarray):
        return value
    if hasattr(value, "numpy"):
        if hasattr(value, "detach"):  # a tensor that requires grad refuses .numpy() in PyTorch
            value = value.detach()
        return _np.asarray(value.numpy())
    raise TypeError(
        f"{what} must be a NumPy array or a Tensor, got {type(value).__name__}; "
        "wrap Python lists with np.asarray(..., dtype=...) to choose the dtype"
    )


def _to_tensor(array):
    """Wrap a batch array as a chainrule Tensor without copying it."""
    # An array at an odd byte offset cannot be shared (from_numpy refuses it): copy that one.
    return _from_numpy(array if array.flags.aligned else array.copy())


class TensorDataset(Dataset):
    """Rows of several arrays that share their first dimension (e.g. inputs and targets).

    ``dataset[i]`` is the tuple ``(arrays[0][i], arrays[1][i], ...)``.
    """

    def __init__(self, *arrays: TensorOrArray) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        checked = []
        for position, value in enumerate(arrays):
            array = _as_array(value, f"TensorDataset: argument {position}")
            if array.ndim == 0:
                raise ValueError(
                    f"TensorDataset: argument {position} is 0-d; every array needs a first dimension to index rows by"
                )
            # Made C-contiguous once here (a no-op for the usual case) so that every later batch
            # slice is itself a contiguous view that from_numpy can wrap without a copy.
            checked.append(c_contiguous(array))
        lengths = [len(array) for array in checked]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension, got lengths {lengths}")
        self.arrays = tuple(checked)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(array[index] for array in self.arrays)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({fields})"


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Args:
        dataset: a TensorDataset, or any object with ``__len__`` and ``__getitem__`` whose items
            are arrays, numbers, or tuples of them.
        batch_size: rows per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: visit rows in a new random order each epoch.
        drop_last: skip the final batch when it is smaller than ``batch_size``.
        seed: makes shuffling reproducible: epoch ``k`` of a loader with seed ``s`` always uses the
            same order, whatever happened before. With None, a random seed is drawn once.

    Each ``iter(loader)`` starts a new epoch. ``set_epoch`` moves the counter, e.g. on resume.
    """

    dataset: Any
    batch_size: int
    shuffle: bool
    drop_last: bool
    _epoch: int

    def __init__(
        self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed: int | None = None
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got {type(dataset).__name__}")
        if not isinstance(batch_size, _numbers.Integral) or isinstance(batch_size, bool):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"DataLoader: shuffle must be a bool, got {type(shuffle).__name__}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"DataLoader: drop_last must be a bool, got {type(drop_last).__name__}")
        if seed is not None:
            if not isinstance(seed, _numbers.Integral) or isinstance(seed, bool):
                raise TypeError(f"DataLoader: seed must be an int or None, got {type(seed).__name__}")
            if seed < 0:
                raise ValueError(f"DataLoader: seed must be non-negative, got {seed}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed) if seed is not None else int(_np.random.SeedSequence().entropy)
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` will produce (0 for the first)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        if not isinstance(epoch, _numbers.Integral) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"DataLoader: epoch must be a non-negative int, got {epoch!r}")
        self._epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.dataset) // self.batch_size
        return _math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        batches = self._iter_numpy()
        return (tuple(_to_tensor(array) for array in batch) for batch in batches)

    def _iter_numpy(self):
        """Start the next epoch; return a generator of batches as tuples of NumPy arrays."""
        # The order is fixed here, not inside the generator, so the epoch counter advances at
        # iter() even if no batch is ever drawn.
        order = self._epoch_order()
        self._epoch += 1
        bounds = self._batch_bounds()
        if isinstance(self.dataset, TensorDataset):
            return self._tensor_batches(self.dataset.arrays, order, bounds)
        return self._stacked_batches(order, bounds)

    def _epoch_order(self):
        """The row order for this epoch, or None to read rows in order."""
        if not self.shuffle:
            return None
        # Seeding from (seed, epoch) makes each epoch's order a pure function of the two, so a
        # resumed run (set_epoch) replays the same orders as an uninterrupted one.
        rng = _np.random.default_rng([self.seed, self._epoch])
        return rng.permutation(len(self.dataset))

    def _batch_bounds(self):
        count = len(self.dataset)
        stop = count - count % self.batch_size if self.drop_last else count
        return [(start, min(start + self.batch_size, stop)) for start in range(0, stop, self.batch_size)]

    @staticmethod
    def _tensor_batches(arrays, order, bounds):
        for start, stop in bounds:
            if order is None:
                yield tuple(array[start:stop] for array in arrays)
            else:
                rows = order[start:stop]
                # One gather into a fresh array per batch. The batch is handed out as a zero-copy
                # tensor that the caller may keep, so a buffer reused across batches would
                # silently rewrite earlier batches.
                yield tuple(_np.take(array, rows, axis=0) for array in arrays)

    def _stacked_batches(self, order, bounds):
        for start, stop in bounds:
            indices = range(start, stop) if order is None else order[start:stop]
            items = [self._item_fields(int(index)) for index in indices]
            width = len(items[0])
            if any(len(fields) != width for fields in items):
                raise ValueError(
                    f"DataLoader: dataset items in rows {start}..{stop - 1} have different numbers of fields"
                )
            yield tuple(_np.stack([fields[k] for fields in items]) for k in range(width))

    def _item_fields(self, index):
        item = self.dataset[index]
        fields = item if isinstance(item, (tuple, list)) else (item,)
        # Tensors go through their zero-copy .numpy(); numbers and arrays through np.asarray.
        return [
            _as_array(field, f"DataLoader: a field of dataset[{index}]")
            if hasattr(field, "numpy")
            else _np.asarray(field)
            for field in fields
        ]

    def __repr__(self) -> str:
        return (
            f"DataLoader(batches={len(self)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
