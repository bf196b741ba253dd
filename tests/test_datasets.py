"""chainrule.datasets: the shipped digits (found as package data of the installed package) and the
train/test split."""

from importlib import resources

import numpy as np
import pytest

from chainrule import datasets
from optional_dependencies import require

# Per-class counts of the 1797 digits, as scikit-learn documents them.
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shapes_dtypes_and_values():
    digits = datasets.load_digits()
    assert digits.data.shape == (1797, 64) and digits.data.dtype == np.float32
    assert digits.target.shape == (1797,) and digits.target.dtype == np.int64
    assert digits.images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(digits.images.reshape(1797, 64), digits.data)
    np.testing.assert_array_equal(digits.target_names, np.arange(10))
    assert digits.data.min() == 0 and digits.data.max() == 16
    np.testing.assert_array_equal(digits.data, np.round(digits.data))
    assert np.bincount(digits.target).tolist() == CLASS_COUNTS
    assert "Alpaydin" in digits.description


def test_digits_return_X_y_and_dtype():
    X, y = datasets.load_digits(return_X_y=True, dtype=np.float64)
    assert isinstance(X, np.ndarray) and X.dtype == np.float64 and y.dtype == np.int64
    X32, y32 = datasets.load_digits(return_X_y=True)
    np.testing.assert_array_equal(X, X32)
    np.testing.assert_array_equal(y, y32)
    with pytest.raises(TypeError):
        datasets.load_digits(dtype=np.int32)


def test_digits_calls_do_not_share_arrays():
    first = datasets.load_digits(return_X_y=True)[0]
    first[:] = -1
    assert datasets.load_digits(return_X_y=True)[0].min() == 0


def test_digits_match_scikit_learn():
    sklearn_datasets = require("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    digits = datasets.load_digits(dtype=np.float64)
    np.testing.assert_array_equal(digits.data, reference.data)
    np.testing.assert_array_equal(digits.target, reference.target)


def test_data_files_are_small_and_attributed():
    # The installed package carries the data and its attribution.
    data_dir = resources.files("chainrule.datasets").joinpath("data")
    assert len(data_dir.joinpath("digits.npz").read_bytes()) < 200_000
    notes = data_dir.joinpath("README.md").read_text() + data_dir.joinpath("LICENSE").read_text()
    for phrase in ("Alpaydin", "Kaynak", "CC BY 4.0", "BSD 3-Clause", "scikit-learn developers"):
        assert phrase in notes


def test_split_partitions_rows_consistently():
    X = np.arange(50 * 3).reshape(50, 3)
    y = np.arange(50)
    X_train, X_test, y_train, y_test = datasets.split(X, y, test_fraction=0.2, seed=7)
    assert X_train.shape == (40, 3) and X_test.shape == (10, 3) and y_train.shape == (40,) and y_test.shape == (10,)
    # Rows stay paired with their labels, and together the parts are the whole set exactly once.
    np.testing.assert_array_equal(X_train[:, 0] // 3, y_train)
    np.testing.assert_array_equal(X_test[:, 0] // 3, y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(50))
    again = datasets.split(X, y, test_fraction=0.2, seed=7)
    np.testing.assert_array_equal(again[1], X_test)
    other = datasets.split(X, y, test_fraction=0.2, seed=8)
    assert not np.array_equal(other[3], y_test)


@pytest.mark.parametrize("count, fraction, test_count", [(2, 0.01, 1), (2, 0.99, 1), (10, 0.25, 2), (1797, 0.2, 359)])
def test_split_sizes_at_the_edges(count, fraction, test_count):
    X = np.zeros((count, 1))
    y = np.zeros(count)
    _, X_test, y_train, _ = datasets.split(X, y, test_fraction=fraction)
    assert X_test.shape[0] == test_count and y_train.shape[0] == count - test_count


@pytest.mark.parametrize(
    "X, y, fraction",
    [
        (np.zeros((5, 2)), np.zeros(4), 0.2),
        (np.zeros((5, 2)), np.zeros(5), 0.0),
        (np.zeros((5, 2)), np.zeros(5), 1.0),
        (np.zeros((1, 2)), np.zeros(1), 0.5),
    ],
)
def test_split_rejects_bad_arguments(X, y, fraction):
    with pytest.raises(ValueError):
        datasets.split(X, y, test_fraction=fraction)


def test_digits_are_learnable_by_the_baseline():
    # End to end with the NumPy baseline: a small MLP beats chance by far on held-out digits.
    from chainrule import baseline

    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = datasets.split(X / 16, y, seed=0)
    model = baseline.MLP.from_sizes([64, 32, 10], dtype=np.float32, rng=0)
    for _epoch in range(20):
        for start in range(0, len(X_train), 64):
            batch = slice(start, start + 64)
            model.train_step(X_train[batch], y_train[batch], "cross_entropy", lr=0.1, momentum=0.9)
    accuracy = np.mean(model.forward(X_test).argmax(axis=1) == y_test)
    assert accuracy > 0.9
