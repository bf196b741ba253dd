"""TensorDataset and DataLoader at the NumPy level (DataLoader._iter_numpy): no compiled core."""

import re

import numpy as np
import pytest

from chainrule import data


def _dataset(rows=10, features=3):
    inputs = np.arange(rows * features, dtype=np.float32).reshape(rows, features)
    targets = np.arange(rows, dtype=np.int64)
    return inputs, targets, data.TensorDataset(inputs, targets)


def _epoch(loader):
    return list(loader._iter_numpy())


class FakeTensor:
    """Stands in for a chainrule Tensor: exposes its storage through .numpy()."""

    def __init__(self, array):
        self._array = array

    def numpy(self):
        return self._array


# --------------------------------------------------------------------------------------------
# TensorDataset
# --------------------------------------------------------------------------------------------


def test_tensor_dataset_rows_and_length():
    inputs, targets, dataset = _dataset()
    assert len(dataset) == 10
    row = dataset[3]
    assert isinstance(row, tuple) and len(row) == 2
    np.testing.assert_array_equal(row[0], inputs[3])
    assert row[1] == 3
    np.testing.assert_array_equal(dataset[-1][0], inputs[-1])


def test_tensor_dataset_accepts_objects_with_numpy_method_without_copying():
    storage = np.ones((4, 2), dtype=np.float32)
    dataset = data.TensorDataset(FakeTensor(storage), np.zeros(4))
    assert np.shares_memory(dataset.arrays[0], storage)


def test_tensor_dataset_single_array_rows_are_one_tuples():
    dataset = data.TensorDataset(np.arange(5))
    assert dataset[2] == (2,)


def test_tensor_dataset_makes_non_contiguous_input_contiguous_once():
    strided = np.arange(40, dtype=np.float64).reshape(10, 4)[:, ::2]
    dataset = data.TensorDataset(strided)
    assert dataset.arrays[0].flags.c_contiguous
    np.testing.assert_array_equal(dataset.arrays[0], strided)


def test_tensor_dataset_length_mismatch_names_the_lengths():
    with pytest.raises(ValueError, match=re.escape("same first dimension, got lengths [4, 5]")):
        data.TensorDataset(np.zeros((4, 2)), np.zeros(5))


@pytest.mark.parametrize(
    "arrays,error,message",
    [
        ((), ValueError, "needs at least one array"),
        (([1, 2, 3],), TypeError, "argument 0 must be a NumPy array or a Tensor, got list"),
        ((np.zeros(3), np.float64(1.0)), TypeError, "argument 1 must be a NumPy array"),
        ((np.array(1.0),), ValueError, "argument 0 is 0-d"),
    ],
)
def test_tensor_dataset_bad_arguments(arrays, error, message):
    with pytest.raises(error, match="^TensorDataset: " + re.escape(message)):
        data.TensorDataset(*arrays)


# --------------------------------------------------------------------------------------------
# DataLoader over a TensorDataset
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows,batch_size,drop_last,expected_sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (9, 3, True, [3, 3, 3]),
        (10, 1, False, [1] * 10),
        (10, 10, True, [10]),
        (10, 11, False, [10]),
        (10, 11, True, []),
        (0, 4, False, []),
    ],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_shapes_and_len(rows, batch_size, drop_last, expected_sizes, shuffle):
    inputs, targets, dataset = _dataset(rows)
    loader = data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    batches = _epoch(loader)
    assert len(loader) == len(expected_sizes) == len(batches)
    for batch, size in zip(batches, expected_sizes):
        assert isinstance(batch, tuple) and len(batch) == 2
        assert batch[0].shape == (size, 3) and batch[0].dtype == np.float32
        assert batch[1].shape == (size,) and batch[1].dtype == np.int64


def test_in_order_batches_are_contiguous_views_of_the_data():
    inputs, targets, dataset = _dataset(rows=10)
    batches = _epoch(data.DataLoader(dataset, batch_size=4))
    for index, (x, y) in enumerate(batches):
        assert np.shares_memory(x, inputs) and np.shares_memory(y, targets)
        assert x.flags.c_contiguous and y.flags.c_contiguous
        np.testing.assert_array_equal(x, inputs[4 * index : 4 * index + 4])
        np.testing.assert_array_equal(y, targets[4 * index : 4 * index + 4])


def test_shuffled_batches_are_fresh_arrays_that_stay_valid():
    inputs, targets, dataset = _dataset(rows=12)
    batches = _epoch(data.DataLoader(dataset, batch_size=4, shuffle=True, seed=1))
    kept = [(x.copy(), y.copy()) for x, y in batches]
    for (x, y), (x_kept, y_kept) in zip(batches, kept):
        assert not np.shares_memory(x, inputs)
        assert x.flags.c_contiguous
        # Rows stay paired: row i of the inputs is [3i, 3i+1, 3i+2] and its target is i.
        np.testing.assert_array_equal(x[:, 0], 3 * y)
        # Later batches did not overwrite earlier ones.
        np.testing.assert_array_equal(x, x_kept)
        np.testing.assert_array_equal(y, y_kept)
    assert len({id(x) for x, _ in batches}) == len(batches)


@pytest.mark.parametrize("rows,batch_size", [(10, 3), (64, 8), (7, 7), (5, 1)])
def test_every_index_seen_exactly_once_per_epoch(rows, batch_size):
    _, _, dataset = _dataset(rows)
    loader = data.DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=123)
    orders = []
    for _ in range(4):
        seen = np.concatenate([y for _, y in _epoch(loader)])
        assert sorted(seen.tolist()) == list(range(rows))
        orders.append(seen.tolist())
    if rows >= 10:
        assert len({tuple(order) for order in orders}) == len(orders)  # new order each epoch


def test_drop_last_with_shuffle_drops_some_row_each_epoch_but_no_duplicates():
    _, _, dataset = _dataset(rows=10)
    loader = data.DataLoader(dataset, batch_size=4, shuffle=True, drop_last=True, seed=5)
    seen = np.concatenate([y for _, y in _epoch(loader)])
    assert len(seen) == 8 and len(set(seen.tolist())) == 8


def test_same_seed_same_orders_different_seed_different_orders():
    _, _, dataset = _dataset(rows=50)

    def orders(seed, epochs=3):
        loader = data.DataLoader(dataset, batch_size=7, shuffle=True, seed=seed)
        return [np.concatenate([y for _, y in _epoch(loader)]).tolist() for _ in range(epochs)]

    assert orders(42) == orders(42)
    assert orders(42) != orders(43)


def test_set_epoch_replays_an_epoch_for_resume():
    _, _, dataset = _dataset(rows=30)
    uninterrupted = data.DataLoader(dataset, batch_size=4, shuffle=True, seed=9)
    epochs = [np.concatenate([y for _, y in _epoch(uninterrupted)]) for _ in range(3)]
    resumed = data.DataLoader(dataset, batch_size=4, shuffle=True, seed=9)
    resumed.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([y for _, y in _epoch(resumed)]), epochs[2])
    assert resumed.epoch == 3


def test_epoch_counter_advances_at_iter_even_if_unconsumed():
    _, _, dataset = _dataset()
    loader = data.DataLoader(dataset, batch_size=2, shuffle=True, seed=0)
    loader._iter_numpy()
    assert loader.epoch == 1


def test_unseeded_shuffle_still_shuffles():
    _, _, dataset = _dataset(rows=100)
    loader = data.DataLoader(dataset, batch_size=100, shuffle=True)
    ((_, y),) = _epoch(loader)
    assert sorted(y.tolist()) == list(range(100)) and y.tolist() != list(range(100))


def test_unshuffled_order_is_the_dataset_order_every_epoch():
    _, targets, dataset = _dataset(rows=10)
    loader = data.DataLoader(dataset, batch_size=3)
    for _ in range(2):
        np.testing.assert_array_equal(np.concatenate([y for _, y in _epoch(loader)]), targets)


# --------------------------------------------------------------------------------------------
# DataLoader over generic datasets
# --------------------------------------------------------------------------------------------


class PairDataset:
    """A generic dataset: item i is (a feature vector, an int label)."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return self.rows

    def __getitem__(self, index):
        if not 0 <= index < self.rows:
            raise IndexError(index)
        return np.full(2, index, dtype=np.float32), index


class ScalarDataset:
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return float(index) * 0.5


def test_generic_dataset_batches_by_stacking():
    loader = data.DataLoader(PairDataset(7), batch_size=3)
    batches = _epoch(loader)
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert batches[0][0].dtype == np.float32
    np.testing.assert_array_equal(batches[1][1], [3, 4, 5])
    np.testing.assert_array_equal(batches[1][0][:, 0], [3, 4, 5])


def test_generic_dataset_shuffled_covers_every_index():
    loader = data.DataLoader(PairDataset(11), batch_size=4, shuffle=True, seed=3)
    for _ in range(2):
        labels = np.concatenate([y for _, y in _epoch(loader)])
        assert sorted(labels.tolist()) == list(range(11))


def test_generic_dataset_with_single_field_items_yields_one_tuples():
    batches = _epoch(data.DataLoader(ScalarDataset(), batch_size=2))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in batches)
    np.testing.assert_array_equal(batches[0][0], [0.0, 0.5])


def test_generic_dataset_items_with_numpy_method_are_unwrapped():
    class TensorItems(PairDataset):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return FakeTensor(x), y

    ((x, y),) = _epoch(data.DataLoader(TensorItems(3), batch_size=3))
    assert x.shape == (3, 2)


# --------------------------------------------------------------------------------------------
# Conversion hook and arguments
# --------------------------------------------------------------------------------------------


def test_iter_converts_every_batch_entry_through_from_numpy(monkeypatch):
    seen = []
    monkeypatch.setattr(data, "_from_numpy", lambda array: seen.append(array) or ("tensor", array.shape))
    inputs, _, dataset = _dataset(rows=5)
    batches = list(data.DataLoader(dataset, batch_size=2))
    assert batches[0] == (("tensor", (2, 3)), ("tensor", (2,)))
    assert len(seen) == 6 and np.shares_memory(seen[0], inputs)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"batch_size": 0}, ValueError, "batch_size must be positive, got 0"),
        ({"batch_size": -2}, ValueError, "batch_size must be positive, got -2"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int, got float"),
        ({"batch_size": True}, TypeError, "batch_size must be an int, got bool"),
        ({"shuffle": 1}, TypeError, "shuffle must be a bool, got int"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be a bool, got str"),
        ({"drop_last": None}, TypeError, "drop_last must be a bool, got NoneType"),
        ({"seed": 1.5}, TypeError, "seed must be an int or None, got float"),
        ({"seed": -1}, ValueError, "seed must be non-negative, got -1"),
    ],
)
def test_loader_bad_arguments(kwargs, error, message):
    _, _, dataset = _dataset()
    with pytest.raises(error, match="^DataLoader: " + re.escape(message)):
        data.DataLoader(dataset, **kwargs)


def test_loader_rejects_non_dataset():
    with pytest.raises(TypeError, match="^DataLoader: dataset must define __len__ and __getitem__"):
        data.DataLoader(42)


def test_numpy_int_batch_size_is_accepted():
    _, _, dataset = _dataset()
    assert len(data.DataLoader(dataset, batch_size=np.int64(4))) == 3
