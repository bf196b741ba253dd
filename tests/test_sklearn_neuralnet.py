"""NeuralNetClassifier/NeuralNetRegressor: any chainrule nn.Module as a scikit-learn estimator, with
skorch-style module__/optimizer__/criterion__ parameters."""

import pickle

import numpy as np
import pytest

from optional_dependencies import require

require("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from chainrule import nn, optim  # noqa: E402
from chainrule.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


class MLP(nn.Module):
    def __init__(self, n_in=6, hidden=16, n_out=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    return X.astype(np.float32), np.array(["a", "b", "c"])[y]


def test_classifier_learns_and_predicts_labels(classification):
    X, y = classification
    clf = NeuralNetClassifier(
        MLP, optimizer=optim.Adam, lr=0.01, max_epochs=40, batch_size=32, random_state=0, module__hidden=32
    ).fit(X, y)
    assert clf.module_.net[0].weight.shape == (32, 6)
    np.testing.assert_array_equal(clf.classes_, ["a", "b", "c"])
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert clf.score(X, y) > 0.8
    assert len(clf.history_) == 40 and clf.history_[-1] < clf.history_[0]


def test_routed_parameters_in_get_set_params_and_clone(classification):
    clf = NeuralNetClassifier(MLP, lr=0.1, module__hidden=8, optimizer__momentum=0.9)
    params = clf.get_params()
    assert params["module__hidden"] == 8 and params["optimizer__momentum"] == 0.9 and params["lr"] == 0.1
    clf.set_params(module__hidden=4, lr=0.05, optimizer__momentum=0.5)
    copy = clone(clf)
    assert copy.get_params()["module__hidden"] == 4 and copy.lr == 0.05
    copy.fit(*classification)
    assert copy.module_.net[0].weight.shape == (4, 6)
    assert copy.optimizer_.param_groups[0]["momentum"] == 0.5
    with pytest.raises(TypeError, match="unexpected argument"):
        NeuralNetClassifier(MLP, hidden=3)


def test_grid_search_over_widths_and_learning_rates(classification):
    X, y = classification
    search = GridSearchCV(
        NeuralNetClassifier(MLP, optimizer=optim.Adam, max_epochs=5, random_state=0),
        {"module__hidden": [4, 16], "lr": [1e-3, 3e-2]},
        cv=2,
    ).fit(X, y)
    assert set(search.best_params_) == {"module__hidden", "lr"}
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.module_.net[0].weight.shape[0] == search.best_params_["module__hidden"]


def test_same_random_state_same_model(classification):
    X, y = classification
    a = NeuralNetClassifier(MLP, max_epochs=3, random_state=7).fit(X, y)
    b = NeuralNetClassifier(MLP, max_epochs=3, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_regressor_multioutput_pipeline_and_module_instance():
    X, y = make_regression(150, 5, n_targets=2, random_state=0)
    y = y / y.std(axis=0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
    pipe = make_pipeline(
        StandardScaler(),
        NeuralNetRegressor(model, optimizer=optim.Adam, lr=0.01, max_epochs=60, batch_size=16, random_state=0),
    )
    before = model[0].weight.detach().numpy().copy()
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (150, 2) and pipe.score(X, y) > 0.8
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)  # the given instance is never trained
    reg = NeuralNetRegressor(MLP, module__n_in=5, module__n_out=1, max_epochs=2).fit(X, y[:, 0])
    assert reg.predict(X).shape == (150,)


def test_partial_fit_warm_start_and_pickle(classification, tmp_path):
    X, y = classification
    clf = NeuralNetClassifier(MLP, optimizer=optim.Adam, lr=0.01, random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=["a", "b", "c"])
    assert clf.n_iter_ == 3
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    restored.partial_fit(X, y)
    assert restored.n_iter_ == 4
    warm = NeuralNetClassifier(MLP, max_epochs=2, warm_start=True, random_state=0).fit(X, y).fit(X, y)
    assert warm.n_iter_ == 4


def test_bad_input_errors(classification):
    X, y = classification
    clf = NeuralNetClassifier(MLP, max_epochs=1)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="max_epochs"):
        NeuralNetClassifier(MLP, max_epochs=-1).fit(X, y)
    with pytest.raises(TypeError, match="module must be"):
        NeuralNetClassifier(3).fit(X, y)
    fitted = NeuralNetClassifier(MLP, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :4])
