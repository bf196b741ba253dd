"""DataLoader: batches from a dataset, in the main thread or in worker threads.

The batches are the same either way: with ``num_workers > 0`` the index batches are dealt to the
workers round-robin and their results handed back in order (PyTorch's ``in_order=True``). Workers
are threads of this process, not processes: the dataset is shared, not copied, and nothing needs
to be picklable. Work that holds the GIL (pure-Python ``__getitem__``) runs one worker at a time;
file reads, NumPy and other GIL-releasing code overlap. ``get_worker_info()`` inside a worker
gives its id, the worker count, its seed and the dataset, as in PyTorch; the random generator is
the process's one, so a worker's ``seed`` is informative only (PyTorch seeds each worker process
with it).

For a ``TensorDataset`` (or a ``Subset`` of one) with the default collate function a batch is
gathered with one indexing call per tensor instead of stacking rows one by one; the result is the
same list of tensors.
"""

from __future__ import annotations as _annotations

import itertools as _itertools
import numbers as _numbers
import queue as _queue
import threading as _threading
import warnings as _warnings
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from chainrule._random import Generator
from chainrule.utils.data._collate import default_collate, default_convert
from chainrule.utils.data.dataset import IterableDataset, Subset, TensorDataset
from chainrule.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]


class WorkerInfo:
    """What get_worker_info() returns inside a worker: id, num_workers, seed, dataset."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Any) -> None:  # noqa: A002 - PyTorch's name
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers})"


_worker_state = _threading.local()


def get_worker_info() -> WorkerInfo | None:
    """The WorkerInfo of the calling worker thread; None in the main thread."""
    return getattr(_worker_state, "info", None)


def _gather_rows(dataset, indices):
    """The fast path's batch: [t[indices] for t in tensors], or None when `dataset` has no such path."""
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:  # a subclass may change __getitem__
        return None
    from chainrule._creation import tensor
    from chainrule._tensor import int64

    count = len(dataset)
    for i in indices:
        if not -count <= i < count:
            raise IndexError(f"index {i} is out of bounds for dimension 0 with size {count}")
    rows = tensor(indices, dtype=int64)
    return [t[rows] for t in dataset.tensors]


class _MapFetcher:
    """Turns one entry of the index sampler into one batch."""

    def __init__(self, dataset, auto_collation, collate_fn, fast_rows):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.fast_rows = fast_rows

    def __call__(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.fast_rows:
            batch = _gather_rows(self.dataset, [int(i) for i in index])
            if batch is not None:
                return batch
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(index) if getitems is not None else [self.dataset[i] for i in index]
        return self.collate_fn(items)


def _iterable_batches(dataset, auto_collation, batch_size, drop_last, collate_fn):
    """The batches of an IterableDataset, read through its own iterator."""
    items = iter(dataset)
    if not auto_collation:
        for item in items:
            yield collate_fn(item)
        return
    while True:
        chunk = list(_itertools.islice(items, batch_size))
        if not chunk or (drop_last and len(chunk) < batch_size):
            return
        yield collate_fn(chunk)


class _WorkerFailure:
    """An exception raised in a worker, carried to the main thread to be raised there."""

    def __init__(self, worker_id, error):
        self.worker_id = worker_id
        self.error = error


_STOP = object()


class _Worker(_threading.Thread):
    def __init__(self, info, init_fn, tasks, results):
        super().__init__(name=f"chainrule DataLoader worker {info.id}", daemon=True)
        self.info = info
        self.init_fn = init_fn
        self.tasks = tasks
        self.results = results

    def run(self):
        _worker_state.info = self.info
        try:
            if self.init_fn is not None:
                self.init_fn(self.info.id)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self.results.put((None, _WorkerFailure(self.info.id, error)))
            return
        while True:
            task = self.tasks.get()
            if task is _STOP:
                return
            number, work = task
            try:
                result = work()
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                result = _WorkerFailure(self.info.id, error)
            self.results.put((number, result))


class _WorkerPool:
    """num_workers threads, each with its own task queue, sharing one result queue."""

    def __init__(self, loader, base_seed):
        self.results = _queue.Queue()
        self.task_queues = [_queue.Queue() for _ in range(loader.num_workers)]
        self.workers = []
        for worker_id, tasks in enumerate(self.task_queues):
            info = WorkerInfo(worker_id, loader.num_workers, base_seed + worker_id, loader.dataset)
            worker = _Worker(info, loader.worker_init_fn, tasks, self.results)
            worker.start()
            self.workers.append(worker)

    def submit(self, worker_id, number, work):
        self.task_queues[worker_id].put((number, work))

    def get(self, timeout):
        try:
            number, result = self.results.get(timeout=timeout if timeout > 0 else None)
        except _queue.Empty:
            raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for a batch") from None
        if isinstance(result, _WorkerFailure):
            raise RuntimeError(
                f"DataLoader worker {result.worker_id} raised {type(result.error).__name__}: {result.error}"
            ) from result.error
        return number, result

    def close(self):
        for tasks in self.task_queues:
            tasks.put(_STOP)
        for worker in self.workers:
            worker.join()


def _check_int(value, where, minimum):
    if isinstance(value, bool) or not isinstance(value, _numbers.Integral) or value < minimum:
        raise ValueError(f"DataLoader: {where} should be an int >= {minimum}, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in batches, as torch.utils.data.DataLoader.

    Args mirror PyTorch's: ``batch_size`` (None turns batching off), ``shuffle`` (a RandomSampler
    drawing from ``generator``), ``sampler`` or ``batch_sampler`` to choose the order,
    ``drop_last``, ``collate_fn`` (default_collate), ``num_workers`` (worker threads, see the module
    docstring), ``prefetch_factor`` (batches in flight per worker, default 2), ``persistent_workers``
    (keep the workers between epochs), ``worker_init_fn``, ``timeout`` (seconds to wait for a
    worker's batch). ``pin_memory`` is accepted: there is no accelerator to pin memory for, so it
    warns and loads as without it.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[Any] | None = None,
        batch_sampler: Sampler | Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if (
            not hasattr(dataset, "__getitem__")
            and not isinstance(dataset, IterableDataset)
            and not hasattr(dataset, "__iter__")
        ):
            raise TypeError(
                f"DataLoader: dataset must define __getitem__ (map-style) or be an "
                f"IterableDataset, got {type(dataset).__name__}"
            )
        self.num_workers = _check_int(num_workers, "num_workers", 0)
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
        if self.num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if prefetch_factor is None:
            prefetch_factor = 2 if self.num_workers > 0 else None
        else:
            prefetch_factor = _check_int(prefetch_factor, "prefetch_factor", 1)
        if persistent_workers and self.num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise ValueError(
                "DataLoader: multiprocessing_context is not supported: chainrule's workers "
                "are threads of this process (leave it None)"
            )
        if not in_order:
            raise ValueError("DataLoader: in_order=False is not supported; batches always come back in order")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError("DataLoader: worker_init_fn must be callable or None")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable or None")
        if pin_memory:
            _warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device "
                "pinned memory won't be used.",
                stacklevel=2,
            )

        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
                )
        else:
            batch_size = _check_int(batch_size, "batch_size", 1)
        if not isinstance(drop_last, bool):
            raise TypeError(f"DataLoader: drop_last must be a bool, got {type(drop_last).__name__}")

        if not isinstance(dataset, IterableDataset):
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.collate_fn = (
            collate_fn
            if collate_fn is not None
            else (default_collate if batch_size is not None or batch_sampler is not None else default_convert)
        )
        self._default_collate = collate_fn is None
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self._pool = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None
        )

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            # A TypeError when the dataset has no length, as in PyTorch.
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                full, rest = divmod(length, self.batch_size)
                return full if self.drop_last or not rest else full + 1
            return length
        return len(self._index_sampler)

    def _base_seed(self) -> int:
        from chainrule._random import _draw_seed

        return _draw_seed(self.generator, "DataLoader") % (1 << 63)

    def __iter__(self) -> Iterator[Any]:
        # Every epoch draws a base seed first, with or without workers (as PyTorch does), so the
        # sampler's draws and therefore the batches are the same either way.
        base_seed = self._base_seed()
        if self.num_workers == 0:
            return self._single_thread_batches()
        return self._worker_batches(base_seed)

    # -- in the calling thread ------------------------------------------------------------------

    def _single_thread_batches(self):
        if isinstance(self.dataset, IterableDataset):
            yield from _iterable_batches(
                self.dataset, self._auto_collation, self.batch_size, self.drop_last, self.collate_fn
            )
            return
        fetch = _MapFetcher(self.dataset, self._auto_collation, self.collate_fn, self._default_collate)
        for index in self._index_sampler:
            yield fetch(index)

    # -- in worker threads ----------------------------------------------------------------------

    def _acquire_pool(self, base_seed):
        if self._pool is not None:
            return self._pool
        pool = _WorkerPool(self, base_seed)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _release_pool(self, pool):
        if pool is not self._pool:
            pool.close()

    def _worker_batches(self, base_seed):
        pool = self._acquire_pool(base_seed)
        try:
            if isinstance(self.dataset, IterableDataset):
                yield from self._iterable_worker_batches(pool)
            else:
                yield from self._map_worker_batches(pool)
        finally:
            self._release_pool(pool)

    def _map_worker_batches(self, pool):
        fetch = _MapFetcher(self.dataset, self._auto_collation, self.collate_fn, self._default_collate)
        indices = iter(self._index_sampler)
        in_flight = self.num_workers * self.prefetch_factor
        submitted = received = 0
        done = {}

        def submit_next():
            nonlocal submitted
            index = next(indices, _STOP)
            if index is _STOP:
                return False
            pool.submit(submitted % self.num_workers, submitted, lambda index=index: fetch(index))
            submitted += 1
            return True

        while submitted < in_flight and submit_next():
            pass
        while received < submitted:
            while received not in done:
                number, batch = pool.get(self.timeout)
                done[number] = batch
            batch = done.pop(received)
            received += 1
            submit_next()
            yield batch

    def _iterable_worker_batches(self, pool):
        # Each worker reads its own iterator of the dataset (get_worker_info() tells it which
        # part to read); batches come back in turn from workers that still have some.
        streams = {}
        for worker_id in range(self.num_workers):
            streams[worker_id] = None
            pool.submit(
                worker_id,
                worker_id,
                lambda: iter(
                    _iterable_batches(
                        self.dataset, self._auto_collation, self.batch_size, self.drop_last, self.collate_fn
                    )
                ),
            )
        for _ in range(self.num_workers):
            worker_id, stream = pool.get(self.timeout)
            streams[worker_id] = stream
        finished = object()
        active = list(range(self.num_workers))
        while active:
            for worker_id in list(active):
                pool.submit(worker_id, worker_id, lambda s=streams[worker_id]: next(s, finished))
                _, batch = pool.get(self.timeout)
                if batch is finished:
                    active.remove(worker_id)
                else:
                    yield batch

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
