"""chainrule.utils.data: datasets, samplers, collate and DataLoader, checked against PyTorch's."""

import collections
import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)
from optional_dependencies import require


def _dataset(rows=10):
    x = cr.arange(rows * 3, dtype=cr.float32).reshape(rows, 3)
    y = cr.arange(rows)
    return x, y, TensorDataset(x, y)


def _as_lists(batch):
    if hasattr(batch, "tolist") and hasattr(batch, "dtype"):  # a chainrule or a PyTorch tensor
        return batch.tolist()
    if isinstance(batch, dict):
        return {k: _as_lists(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_as_lists(b) for b in batch]
    return batch


class Squares(Dataset):
    """Items of several kinds: a NumPy row, a float, an int, a string and a dict."""

    def __init__(self, n=7):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, dtype=np.float32), "sq": float(i * i), "i": i, "name": f"item{i}"}


# ---- datasets ----------------------------------------------------------------------------------


def test_tensor_dataset_items_are_tensors():
    x, y, dataset = _dataset()
    assert len(dataset) == 10
    row, label = dataset[3]
    assert isinstance(row, cr.Tensor) and row.tolist() == [9.0, 10.0, 11.0]
    assert isinstance(label, cr.Tensor) and label.ndim == 0 and label.item() == 3
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(cr.zeros(3), cr.zeros(4))
    with pytest.raises(TypeError, match="argument 1 must be a Tensor"):
        TensorDataset(cr.zeros(3), np.zeros(3))


def test_subset_concat_and_add():
    _, _, dataset = _dataset()
    sub = Subset(dataset, [4, 2, 9])
    assert len(sub) == 3 and sub[1][1].item() == 2
    both = dataset + sub
    assert isinstance(both, ConcatDataset) and len(both) == 13 and both[11][1].item() == 2
    assert both[-1][1].item() == 9


def test_random_split_lengths_fractions_and_generator():
    _, _, dataset = _dataset(10)
    a, b = random_split(dataset, [7, 3], generator=cr.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3 and sorted(a.indices + b.indices) == list(range(10))
    a2, _ = random_split(dataset, [7, 3], generator=cr.Generator().manual_seed(0))
    assert a2.indices == a.indices
    parts = random_split(range(10), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    assert [len(p) for p in random_split(range(11), [0.5, 0.5])] == [6, 5]
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(dataset, [5, 6])


def test_random_split_fraction_lengths_match_torch():
    torch = require("torch")
    for n, fractions in [(10, [0.5, 0.3, 0.2]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]), (100, [0.33, 0.33, 0.34])]:
        ours = [len(p) for p in random_split(range(n), fractions)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


# ---- collate -----------------------------------------------------------------------------------


def test_default_collate_matches_torch():
    torch = require("torch")
    Point = collections.namedtuple("Point", "x y")
    batches = [
        lambda lib: [lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])],
        lambda lib: [np.array([1, 2]), np.array([3, 4])],
        lambda lib: [1.5, 2.5],
        lambda lib: [1, 2],
        lambda lib: ["a", "b"],
        lambda lib: [(lib.tensor(1.0), 2), (lib.tensor(3.0), 4)],
        lambda lib: [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
        lambda lib: [Point(1, 2.0), Point(3, 4.0)],
        lambda lib: [np.float64(1.5), np.float64(2.0)],
    ]
    for make in batches:
        ours, theirs = default_collate(make(cr)), torch.utils.data.default_collate(make(torch))
        assert type(ours).__name__ == type(theirs).__name__ or isinstance(ours, cr.Tensor)
        assert _as_lists(ours) == _as_lists(theirs)

        def dtypes(batch):
            if hasattr(batch, "dtype"):
                return str(batch.dtype).split(".")[-1]
            if isinstance(batch, dict):
                return {k: dtypes(v) for k, v in batch.items()}
            if isinstance(batch, (list, tuple)):
                return [dtypes(b) for b in batch]
            return None

        assert dtypes(ours) == dtypes(theirs)


def test_default_collate_errors():
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([cr.zeros(2), cr.zeros(3)])


# ---- samplers ----------------------------------------------------------------------------------


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    order = list(RandomSampler(range(20), generator=cr.Generator().manual_seed(1)))
    assert sorted(order) == list(range(20)) and order != list(range(20))
    assert order == list(RandomSampler(range(20), generator=cr.Generator().manual_seed(1)))
    more = list(RandomSampler(range(5), num_samples=12))
    assert len(more) == 12 and sorted(more[:5]) == list(range(5))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}
    subset = list(SubsetRandomSampler([10, 20, 30]))
    assert sorted(subset) == [10, 20, 30]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(7), 0, False)


def test_unseeded_random_sampler_follows_manual_seed():
    cr.manual_seed(11)
    first = list(RandomSampler(range(30)))
    cr.manual_seed(11)
    assert list(RandomSampler(range(30))) == first


def test_weighted_random_sampler():
    cr.manual_seed(0)
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3.0) < 0.4
    unique = list(WeightedRandomSampler([1.0, 1.0, 5.0, 0.0], 3, replacement=False))
    assert sorted(unique) == [0, 1, 2]
    with pytest.raises(ValueError, match="not enough"):
        list(WeightedRandomSampler([1.0, 0.0], 2, replacement=False))
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], 0)


def test_multinomial():
    g = cr.Generator().manual_seed(3)
    probs = cr.tensor([[0.0, 0.2, 0.8], [1.0, 0.0, 0.0]])
    picks = cr.multinomial(probs, 500, replacement=True, generator=g)
    assert tuple(picks.shape) == (2, 500) and picks.dtype == cr.int64
    assert set(picks[1].tolist()) == {0} and 0 not in picks[0].tolist()
    assert sorted(cr.multinomial(cr.tensor([1.0, 2.0, 3.0]), 3).tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="n_sample > prob_dist"):
        cr.multinomial(cr.tensor([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="inf, nan or element < 0"):
        cr.multinomial(cr.tensor([1.0, -2.0]), 1)


# ---- DataLoader --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows,batch_size,drop_last",
    [(10, 3, False), (10, 3, True), (9, 3, False), (0, 4, False), (10, 11, True), (5, 1, False)],
)
def test_batches_of_a_tensor_dataset(rows, batch_size, drop_last):
    x, y, dataset = _dataset(rows)
    loader = DataLoader(dataset, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = []
    for xb, yb in batches:
        assert isinstance(xb, cr.Tensor) and xb.shape[1:] == (3,) and xb.shape[0] == yb.shape[0]
        assert xb.numpy()[:, 0].tolist() == (yb.numpy() * 3).tolist()  # rows stay paired
        seen += yb.tolist()
    expected = list(range(rows - rows % batch_size if drop_last else rows))
    assert seen == expected


def test_batches_are_fresh_tensors():
    x, _, dataset = _dataset(6)
    ((xb, _),) = list(DataLoader(dataset, batch_size=6))
    with cr.no_grad():
        xb.zero_()
    assert x.sum().item() == sum(range(18))


def test_shuffle_with_generator_is_reproducible_and_covers_everything():
    _, _, dataset = _dataset(50)

    def epoch(loader):
        return [int(v) for _, yb in loader for v in yb.tolist()]

    first = epoch(DataLoader(dataset, batch_size=7, shuffle=True, generator=cr.Generator().manual_seed(5)))
    again = epoch(DataLoader(dataset, batch_size=7, shuffle=True, generator=cr.Generator().manual_seed(5)))
    assert first == again and sorted(first) == list(range(50)) and first != list(range(50))
    loader = DataLoader(dataset, batch_size=7, shuffle=True)
    assert epoch(loader) != epoch(loader)  # a new order each epoch


def test_generic_dataset_dicts_strings_and_numbers():
    loader = DataLoader(Squares(5), batch_size=2)
    batch = next(iter(loader))
    assert set(batch) == {"x", "sq", "i", "name"}
    assert batch["x"].tolist() == [[0.0, 0.0], [1.0, 1.0]] and batch["x"].dtype == cr.float32
    assert batch["sq"].dtype == cr.float64 and batch["i"].dtype == cr.int64 and batch["name"] == ["item0", "item1"]
    assert len(loader) == 3


def test_batch_size_none_converts_items_one_by_one():
    items = list(DataLoader(Squares(3), batch_size=None))
    assert len(items) == 3 and isinstance(items[1]["x"], cr.Tensor) and items[1]["i"] == 1


def test_sampler_batch_sampler_and_collate_fn():
    _, _, dataset = _dataset(8)
    loader = DataLoader(dataset, batch_size=2, sampler=[7, 6, 5, 4])
    assert [yb.tolist() for _, yb in loader] == [[7, 6], [5, 4]]
    loader = DataLoader(dataset, batch_sampler=[[0, 3], [5]])
    assert [yb.tolist() for _, yb in loader] == [[0, 3], [5]]
    loader = DataLoader(dataset, batch_size=4, collate_fn=lambda items: len(items))
    assert list(loader) == [4, 4]


def test_subset_batches_match_row_by_row_stacking():
    x, y, dataset = _dataset(12)
    train, _ = random_split(dataset, [8, 4], generator=cr.Generator().manual_seed(2))
    fast = [_as_lists(b) for b in DataLoader(train, batch_size=3)]
    slow = [_as_lists(b) for b in DataLoader(train, batch_size=3, collate_fn=default_collate)]
    assert fast == slow


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_workers": -1}, "num_workers"),
        ({"sampler": [0], "shuffle": True}, "mutually exclusive with shuffle"),
        ({"batch_sampler": [[0]], "batch_size": 2}, "mutually exclusive"),
        ({"prefetch_factor": 2}, "prefetch_factor"),
        ({"persistent_workers": True}, "persistent_workers"),
        ({"batch_size": None, "drop_last": True}, "drop_last"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_bad_arguments(kwargs, message):
    _, _, dataset = _dataset()
    with pytest.raises(ValueError, match=message):
        DataLoader(dataset, **kwargs)


def test_pin_memory_is_accepted_with_a_warning():
    _, _, dataset = _dataset()
    with pytest.warns(UserWarning, match="pin_memory"):
        loader = DataLoader(dataset, batch_size=4, pin_memory=True)
    assert len(list(loader)) == 3


# ---- workers -----------------------------------------------------------------------------------


class SlowThreadRecorder(Dataset):
    """Records which thread fetched each item, and sleeps so that workers overlap."""

    def __init__(self, n):
        self.n = n
        self.threads = set()
        self.worker_ids = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        info = get_worker_info()
        self.worker_ids.add(None if info is None else info.id)
        time.sleep(0.002)
        return np.array([i, i * i], dtype=np.int64), float(i)


@pytest.mark.parametrize("num_workers", [1, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_give_the_same_batches(num_workers, shuffle):
    plain = SlowThreadRecorder(23)
    workers = SlowThreadRecorder(23)
    kwargs = dict(batch_size=4, shuffle=shuffle)
    expected = [_as_lists(b) for b in DataLoader(plain, generator=cr.Generator().manual_seed(0), **kwargs)]
    loader = DataLoader(workers, num_workers=num_workers, generator=cr.Generator().manual_seed(0), **kwargs)
    got = [_as_lists(b) for b in loader]
    assert got == expected
    assert plain.worker_ids == {None} and workers.worker_ids == set(range(num_workers))
    assert threading.get_ident() not in workers.threads


def test_persistent_workers_prefetch_and_worker_init_fn():
    started = []
    dataset = SlowThreadRecorder(10)
    loader = DataLoader(
        dataset,
        batch_size=3,
        num_workers=2,
        persistent_workers=True,
        prefetch_factor=1,
        worker_init_fn=lambda worker_id: started.append(worker_id),
    )
    first = [_as_lists(b) for b in loader]
    second = [_as_lists(b) for b in loader]
    assert first == second and sorted(started) == [0, 1]  # the same two workers served both epochs


def test_worker_errors_reach_the_caller():
    class Broken(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("bad row")
            return i

    with pytest.raises(RuntimeError, match="worker .* raised KeyError") as info:
        list(DataLoader(Broken(), batch_size=1, num_workers=2))
    assert isinstance(info.value.__cause__, KeyError)


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def test_iterable_dataset_with_and_without_workers():
    plain = [b.tolist() for b in DataLoader(Stream(10), batch_size=3)]
    assert plain == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    sharded = [b.tolist() for b in DataLoader(Stream(10), batch_size=2, num_workers=2)]
    assert sorted(v for b in sharded for v in b) == list(range(10))
    assert sharded[0] == [0, 2] and sharded[1] == [1, 3]  # batches in turn from each worker, as PyTorch
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)


def test_loader_len_matches_torch():
    torch = require("torch")
    for rows, bs, drop in [(10, 3, False), (10, 3, True), (0, 2, False), (7, 7, True)]:
        ours = DataLoader(range(rows), batch_size=bs, drop_last=drop)
        theirs = torch.utils.data.DataLoader(range(rows), batch_size=bs, drop_last=drop)
        assert len(ours) == len(theirs)
        assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]
