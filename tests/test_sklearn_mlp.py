"""chainrule.sklearn.MLPClassifier/MLPRegressor train the same model as scikit-learn's for the same
random_state: loss curves and parameters agree (float64) for sgd, adam and lbfgs, and the work runs
in the native trainer."""

import warnings

import numpy as np
import pytest

from optional_dependencies import require

require("sklearn")
from sklearn import neural_network as reference  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import chainrule.sklearn as crsk  # noqa: E402
import chainrule.sklearn._mlp as mlp_module  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(kind):
    if kind == "multiclass":
        return make_classification(240, 8, n_informative=5, n_classes=3, random_state=0)
    if kind == "binary":
        return make_classification(240, 8, random_state=1)
    if kind == "multilabel":
        return make_multilabel_classification(240, 8, n_classes=3, random_state=2)
    X, y = make_regression(240, 8, n_targets=2, random_state=0)
    return X / 10, y / 100


def _pair(kind, **params):
    ours, theirs = (
        (crsk.MLPRegressor, reference.MLPRegressor)
        if kind == "regression"
        else (crsk.MLPClassifier, reference.MLPClassifier)
    )
    X, y = _data(kind)
    return ours(**params).fit(X, y), theirs(**params).fit(X, y)


def _relative(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _assert_same_model(ours, theirs, rtol):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    if hasattr(theirs, "loss_curve_"):
        assert len(ours.loss_curve_) == len(theirs.loss_curve_)
        assert _relative(ours.loss_curve_, theirs.loss_curve_) <= rtol
    assert _relative(ours.loss_, theirs.loss_) <= rtol
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert _relative(a, b) <= rtol


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("solver,learning_rate", [("adam", "constant"), ("sgd", "constant"), ("sgd", "invscaling")])
def test_stochastic_solvers_match_scikit_learn(kind, activation, solver, learning_rate):
    ours, theirs = _pair(
        kind,
        hidden_layer_sizes=(12, 7),
        activation=activation,
        solver=solver,
        learning_rate=learning_rate,
        learning_rate_init=0.01,
        alpha=1e-3,
        max_iter=15,
        batch_size=50,
        random_state=3,
    )
    _assert_same_model(ours, theirs, 1e-6)


@pytest.mark.parametrize("nesterov,momentum", [(True, 0.9), (False, 0.5), (True, 0.0)])
def test_sgd_momentum_variants_match(nesterov, momentum):
    ours, theirs = _pair(
        "multiclass",
        hidden_layer_sizes=(10,),
        solver="sgd",
        nesterovs_momentum=nesterov,
        momentum=momentum,
        learning_rate_init=0.05,
        max_iter=12,
        random_state=0,
    )
    _assert_same_model(ours, theirs, 1e-6)


def test_adaptive_rate_and_convergence_stop_match():
    # A large tol makes the loss "stop improving" early: the adaptive schedule divides the rate
    # by 5 several times and then stops, at the same epoch as scikit-learn's.
    params = dict(
        hidden_layer_sizes=(10,),
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.05,
        tol=0.05,
        n_iter_no_change=2,
        max_iter=200,
        random_state=0,
    )
    ours, theirs = _pair("multiclass", **params)
    assert theirs.n_iter_ < 200
    _assert_same_model(ours, theirs, 1e-6)
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
    ours, theirs = _pair("regression", **dict(params, solver="adam", learning_rate="constant"))
    assert theirs.n_iter_ < 200
    _assert_same_model(ours, theirs, 1e-6)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-6)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_early_stopping_matches(kind):
    ours, theirs = _pair(
        kind,
        hidden_layer_sizes=(10,),
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        max_iter=60,
        learning_rate_init=0.01,
        random_state=5,
    )
    _assert_same_model(ours, theirs, 1e-6)
    assert ours.validation_scores_ == pytest.approx(theirs.validation_scores_, rel=1e-6)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-6)
    assert ours.best_loss_ is None


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_lbfgs_matches(kind, activation):
    ours, theirs = _pair(
        kind, hidden_layer_sizes=(9,), activation=activation, solver="lbfgs", max_iter=40, random_state=1
    )
    _assert_same_model(ours, theirs, 1e-4)


def test_lbfgs_max_fun_limits_evaluations():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours, theirs = _pair(
            "multiclass", hidden_layer_sizes=(9,), solver="lbfgs", max_fun=7, max_iter=500, random_state=1
        )
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    _assert_same_model(ours, theirs, 1e-4)


def test_no_shuffle_and_explicit_batch_size_match():
    ours, theirs = _pair(
        "regression", hidden_layer_sizes=(6,), shuffle=False, batch_size=37, max_iter=10, random_state=0
    )
    _assert_same_model(ours, theirs, 1e-6)
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        crsk.MLPRegressor(batch_size=1000, max_iter=2).fit(*_data("regression"))


def test_partial_fit_and_warm_start_match():
    X, y = _data("multiclass")
    ours = crsk.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    theirs = reference.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for lo in range(0, 240, 60):
        ours.partial_fit(X[lo : lo + 60], y[lo : lo + 60], classes=np.unique(y))
        theirs.partial_fit(X[lo : lo + 60], y[lo : lo + 60], classes=np.unique(y))
    _assert_same_model(ours, theirs, 1e-6)
    ours = crsk.MLPRegressor(hidden_layer_sizes=(8,), warm_start=True, max_iter=5, random_state=0)
    theirs = reference.MLPRegressor(hidden_layer_sizes=(8,), warm_start=True, max_iter=5, random_state=0)
    X, y = _data("regression")
    for _ in range(3):
        ours.fit(X, y)
        theirs.fit(X, y)
    _assert_same_model(ours, theirs, 1e-6)


def test_float32_trains_in_float32():
    X, y = _data("multiclass")
    X32 = X.astype(np.float32)
    ours = crsk.MLPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X32, y)
    theirs = reference.MLPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X32, y)
    assert all(p.dtype == np.float32 for p in ours.coefs_ + ours.intercepts_)
    assert ours.predict_proba(X32).dtype == np.float32
    assert _relative(ours.loss_curve_, theirs.loss_curve_) < 1e-4
    lbfgs = crsk.MLPRegressor(solver="lbfgs", max_iter=10, random_state=0).fit(X32, y.astype(np.float32))
    assert all(p.dtype == np.float32 for p in lbfgs.coefs_ + lbfgs.intercepts_)


def test_predictions_match():
    for kind in ["multiclass", "binary", "multilabel", "regression"]:
        ours, theirs = _pair(kind, hidden_layer_sizes=(10, 5), max_iter=20, random_state=0)
        X, _ = _data(kind)
        if kind == "regression":
            np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6, atol=1e-9)
        else:
            np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
            np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=1e-6)


def test_training_and_prediction_run_in_the_native_trainer(monkeypatch):
    calls = {"epoch": 0, "objective": 0, "predict": 0}
    core = mlp_module._core

    class CountingCore:
        def __getattr__(self, name):
            return getattr(core, name)

        def _mlp_train_epoch(self, *args):
            calls["epoch"] += 1
            return core._mlp_train_epoch(*args)

        def _mlp_loss_gradient(self, *args):
            calls["objective"] += 1
            return core._mlp_loss_gradient(*args)

        def _mlp_predict(self, *args):
            calls["predict"] += 1
            return core._mlp_predict(*args)

    monkeypatch.setattr(mlp_module, "_core", CountingCore())
    X, y = _data("multiclass")
    clf = crsk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0).fit(X, y)
    assert calls["epoch"] == 4
    clf.predict(X)
    assert calls["predict"] == 1
    crsk.MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=4, random_state=0).fit(X, y)
    assert calls["objective"] >= 4


def test_scikit_learn_code_covers_sparse_and_sample_weight():
    # Inputs the native trainer does not take still train scikit-learn's model.
    import scipy.sparse

    X, y = _data("multiclass")
    for fit_args in [(scipy.sparse.csr_matrix(X), y), (X, y, np.linspace(0.5, 1.5, len(y)))]:
        ours = crsk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(*fit_args)
        theirs = reference.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(*fit_args)
        _assert_same_model(ours, theirs, 1e-6)
        np.testing.assert_array_equal(ours.predict(fit_args[0]), theirs.predict(fit_args[0]))


def test_native_trainer_checks_its_arguments():
    from chainrule._kinds import mlp_activation, mlp_loss, mlp_solver

    core = mlp_module._core
    relu, identity = mlp_activation("relu"), mlp_activation("identity")
    X = np.zeros((4, 3))
    coefs, intercepts = [np.zeros((3, 2))], [np.zeros(2)]
    with pytest.raises(TypeError, match="dtype"):
        core._mlp_predict(X.astype(np.float32), coefs, intercepts, relu, identity)
    with pytest.raises(ValueError, match="columns"):
        core._mlp_predict(np.zeros((4, 5)), coefs, intercepts, relu, identity)
    with pytest.raises(ValueError, match="takes 4 inputs"):
        core._mlp_predict(X, [np.zeros((3, 2)), np.zeros((4, 1))], [np.zeros(2), np.zeros(1)], relu, identity)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        mlp_activation("swish")
    with pytest.raises(TypeError):  # strings do not cross the binding
        core._mlp_predict(X, coefs, intercepts, "relu", "identity")
    epoch_args = (
        mlp_loss("squared_error"),
        0.0,
        mlp_solver("sgd"),
        [np.zeros((3, 2)), np.zeros(2)],
        [],
        0.1,
        0.9,
        True,
        0.9,
        0.999,
        1e-8,
        0,
    )
    with pytest.raises(IndexError, match="order"):
        core._mlp_train_epoch(
            X, np.zeros((4, 2)), np.array([0, 1, 2, 9]), 2, coefs, intercepts, relu, identity, *epoch_args
        )
    with pytest.raises(ValueError, match="batch_size"):
        core._mlp_train_epoch(X, np.zeros((4, 2)), None, 0, coefs, intercepts, relu, identity, *epoch_args)
