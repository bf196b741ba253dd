"""Datasets: the map-style base class, TensorDataset, Subset, ConcatDataset, random_split."""

from __future__ import annotations as _annotations

import bisect as _bisect
import math as _math
import numbers as _numbers
import warnings as _warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from chainrule._core import Tensor
from chainrule._random import Generator

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """A map-style dataset: ``dataset[i]`` is item i. Subclasses define __getitem__ (and __len__)."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of items: subclasses define __iter__. With workers, each worker runs its own copy
    of the iterator (split the work with ``get_worker_info()``, as in PyTorch)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset) -> Any:
        raise TypeError("IterableDataset: '+' is only defined for map-style datasets")


class TensorDataset(Dataset):
    """Rows of tensors that share their first dimension: ``dataset[i] == (t[i] for t in tensors)``."""

    def __init__(self, *tensors: Tensor) -> None:
        for position, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"TensorDataset: argument {position} must be a Tensor, got "
                    f"{type(t).__name__} (convert arrays with chainrule.as_tensor)"
                )
            if t.ndim == 0:
                raise ValueError(
                    f"TensorDataset: argument {position} is 0-d; every tensor needs a first dimension to index rows by"
                )
        if tensors and any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError(
                f"TensorDataset: size mismatch between tensors: first dimensions are {[t.shape[0] for t in tensors]}"
            )
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset: does not support IterableDataset")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)  # type: ignore[arg-type]
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: Any) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError("ConcatDataset: absolute value of index should not exceed dataset length")
            index = len(self) + index
        which = _bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def _split_lengths(lengths, total):
    """Integer lengths; fractions summing to 1 become floors with the remainder dealt round-robin."""
    lengths = list(lengths)
    if (
        lengths
        and all(isinstance(x, _numbers.Real) and not isinstance(x, _numbers.Integral) for x in lengths)
        and _math.isclose(sum(lengths), 1)
        and sum(lengths) <= 1
    ):
        counts = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1")
            counts.append(int(_math.floor(total * fraction)))
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                _warnings.warn(
                    f"random_split: length of split at index {i} is 0; this might result in an empty dataset",
                    stacklevel=3,
                )
        return counts
    for i, x in enumerate(lengths):
        if isinstance(x, bool) or not isinstance(x, _numbers.Integral) or x < 0:
            raise ValueError(
                f"random_split: lengths must be non-negative ints or fractions summing to 1, got {x!r} at index {i}"
            )
    if sum(lengths) != total:
        raise ValueError(
            "random_split: sum of input lengths does not equal the length of the input "
            f"dataset ({sum(lengths)} vs {total})"
        )
    return [int(x) for x in lengths]


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator: Generator | None = None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths (or fractions)."""
    from chainrule._creation import randperm

    counts = _split_lengths(lengths, len(dataset))  # type: ignore[arg-type]
    order = randperm(sum(counts), generator=generator).tolist()
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start : start + count]))
        start += count
    return subsets
