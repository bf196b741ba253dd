"""Hyper-parameter searches over chainrule.sklearn estimators on a real dask.distributed cluster
(two worker processes with one thread each, on the loopback interface)."""

import sys

import numpy as np
import pytest

from optional_dependencies import require

require("sklearn")
distributed = require("distributed")
import cloudpickle  # noqa: E402
import joblib  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402

import chainrule  # noqa: E402
from chainrule.sklearn import MLPClassifier, NeuralNetClassifier  # noqa: E402
from chainrule.sklearn._mlp import _ThreadLimit  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::DeprecationWarning", "ignore::ResourceWarning"
)
# The workers import this module's functions by value (it is not importable in their processes).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _pids_of_fits(estimator_search, X, y, client):
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"):
            estimator_search.fit(X, y)
    return {task["worker"] for task in stream.data}


def _threads_inside_a_fit():
    with _ThreadLimit():
        return chainrule.get_num_threads()


@pytest.mark.slow
def test_grid_search_on_the_cluster_matches_sequential(client):
    X, y = make_classification(200, 8, n_informative=5, n_classes=3, random_state=0)
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(8,), (16,)]}
    est = MLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0)
    sequential = GridSearchCV(est, grid, cv=3).fit(X, y)
    distributed_search = GridSearchCV(est, grid, cv=3, n_jobs=-1)
    workers = _pids_of_fits(distributed_search, X, y, client)
    assert workers  # the fits ran as tasks on the cluster's workers
    assert distributed_search.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(
        distributed_search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )


def test_randomized_search_of_a_wrapped_module_on_the_cluster(client):
    X, y = make_classification(160, 6, n_informative=4, random_state=1)
    X = X.astype(np.float32)
    from chainrule import nn, optim

    est = NeuralNetClassifier(
        nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)), optimizer=optim.Adam, max_epochs=4, random_state=0
    )
    params = {"lr": [1e-3, 1e-2, 3e-2], "batch_size": [16, 32]}
    sequential = RandomizedSearchCV(est, params, n_iter=4, cv=2, random_state=0).fit(X, y)
    search = RandomizedSearchCV(est, params, n_iter=4, cv=2, random_state=0, n_jobs=-1)
    assert _pids_of_fits(search, X, y, client)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"])


def test_fits_inside_a_worker_use_the_workers_thread_count(client):
    assert client.submit(_threads_inside_a_fit, pure=False).result() == 1
    assert _threads_inside_a_fit() == chainrule.get_num_threads()  # outside a worker: unchanged
