"""chainrule.sklearn's MLPs in scikit-learn's machinery: cloning, parameters, pipelines, searches,
pickles, pandas, string labels, multi-output, and scikit-learn's errors for bad input."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from optional_dependencies import require

require("sklearn")
import joblib  # noqa: E402
from sklearn import neural_network as reference  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def classification():
    return make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)


def test_import_chainrule_does_not_need_scikit_learn():
    code = "import sys, chainrule; sys.exit('sklearn' in sys.modules or 'chainrule.sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_same_parameters_and_defaults_as_scikit_learn():
    for ours, theirs in [(MLPClassifier(), reference.MLPClassifier()), (MLPRegressor(), reference.MLPRegressor())]:
        assert ours.get_params() == theirs.get_params()
        assert isinstance(ours, type(theirs))


def test_clone_and_set_params(classification):
    X, y = classification
    clf = MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
    copy = clone(clf.set_params(alpha=0.01, hidden_layer_sizes=(9, 4)))
    assert copy.get_params() == clf.get_params() and type(copy) is MLPClassifier
    assert [c.shape for c in copy.fit(X, y).coefs_] == [(6, 9), (9, 4), (4, 3)]
    with pytest.raises(ValueError, match="Invalid parameter 'widths'"):
        clf.set_params(widths=3)


def test_pipeline_search_and_cross_validation(classification):
    X, y = classification
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0))
    theirs = make_pipeline(
        StandardScaler(), reference.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    )
    assert pipe.fit(X, y).score(X, y) == theirs.fit(X, y).score(X, y)
    search = GridSearchCV(
        pipe, {"mlpclassifier__alpha": [1e-4, 1e-1], "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3
    ).fit(X, y)
    assert set(search.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__hidden_layer_sizes"}
    assert isinstance(search.best_estimator_[-1], MLPClassifier)
    scores = cross_val_score(MLPRegressor(max_iter=20, random_state=0), *make_regression(90, 4, random_state=0), cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_pickle_and_joblib_round_trips(tmp_path, classification):
    X, y = classification
    for est in [
        MLPClassifier(max_iter=10, random_state=0).fit(X, y),
        MLPRegressor(solver="lbfgs", max_iter=10, random_state=0).fit(X, y.astype(float)),
    ]:
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(restored.predict(X), est.predict(X))
        joblib.dump(est, tmp_path / "model.joblib")
        np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X), est.predict(X))
    # A restored estimator keeps training where it stopped.
    clf = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    again.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], again.coefs_[0])


def test_pandas_feature_names_and_string_labels():
    pd = require("pandas")
    X, y = make_classification(120, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier(max_iter=30, random_state=0).fit(frame, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert set(clf.predict(frame)) <= {"cat", "dog", "emu"}
    theirs = reference.MLPClassifier(max_iter=30, random_state=0).fit(frame, labels)
    np.testing.assert_array_equal(clf.predict(frame), theirs.predict(frame))
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["b", "a", "c", "d"]])


def test_multilabel_and_multioutput():
    X, y = make_classification(120, 5, random_state=0)
    Y = np.stack([y, 1 - y, (X[:, 0] > 0).astype(int)], axis=1)
    clf = MLPClassifier(max_iter=30, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == (120, 3)
    assert clf.predict_proba(X).shape == (120, 3)
    reg = MLPRegressor(max_iter=30, random_state=0).fit(X, np.stack([X[:, 0], X[:, 1] * 2], axis=1))
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (120, 2)


def _error(estimator, fit_args, predict_args=None):
    try:
        estimator.fit(*fit_args)
        if predict_args is not None:
            estimator.predict(*predict_args)
    except Exception as error:  # noqa: BLE001 - the test compares whatever is raised
        return type(error), str(error)
    return None


@pytest.mark.parametrize(
    "case", ["nan", "inf", "one_sample", "empty", "complex", "features_at_predict", "one_class", "bad_param", "3d"]
)
def test_bad_input_raises_as_scikit_learn_does(case):
    X, y = make_classification(40, 4, random_state=0)
    fit_args, predict_args = (X, y), None
    params = dict(max_iter=5, random_state=0)
    if case == "nan":
        X = X.copy()
        X[3, 1] = np.nan
        fit_args = (X, y)
    elif case == "inf":
        X = X.copy()
        X[0, 0] = np.inf
        fit_args = (X, y)
    elif case == "one_sample":
        fit_args = (X[:1], y[:1])
    elif case == "empty":
        fit_args = (X[:0], y[:0])
    elif case == "complex":
        fit_args = (X + 1j, y)
    elif case == "features_at_predict":
        predict_args = (X[:, :3],)
    elif case == "one_class":
        fit_args = (X, np.zeros_like(y))
    elif case == "bad_param":
        params["solver"] = "newton"
    elif case == "3d":
        fit_args = (X.reshape(40, 2, 2), y)
    for ours, theirs in [(MLPClassifier, reference.MLPClassifier), (MLPRegressor, reference.MLPRegressor)]:
        expected = _error(theirs(**params), fit_args, predict_args)
        got = _error(ours(**params), fit_args, predict_args)
        if expected is None:
            assert got is None
            continue
        assert got is not None and got[0] is expected[0]
        assert got[1] == expected[1].replace(theirs.__name__, ours.__name__)


def test_threadpoolctl_sees_and_limits_chainrule():
    threadpoolctl = require("threadpoolctl")
    import chainrule

    info = [lib for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "chainrule"]
    assert len(info) == 1 and info[0]["num_threads"] == chainrule.get_num_threads()
    before = chainrule.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="chainrule"):
        assert chainrule.get_num_threads() == 1
    assert chainrule.get_num_threads() == before


def _misaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = raw[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    return view


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize(
    "layout",
    [_misaligned, _read_only, np.asfortranarray, lambda a: np.repeat(a, 2, axis=0)[::2]],
    ids=["misaligned", "read-only", "fortran", "strided"],
)
def test_odd_array_layouts_train_and_predict_like_plain_arrays(solver, layout):
    """The native trainer reads only aligned C-contiguous arrays: any other layout of the same
    values is copied first, and gives exactly the plain array's model and predictions."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = X[:, 1] * 2 - X[:, 0]
    plain = MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
    odd = MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 5 iterations
        plain.fit(X, y)
        odd.fit(layout(X), layout(y))
    np.testing.assert_array_equal(odd.predict(layout(X)), plain.predict(X))
    labels = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = (
            MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
            .fit(layout(X), labels)
            .predict_proba(layout(X))
        )
    assert proba.shape == (40, 2) and np.all(np.isfinite(proba))


def test_native_trainer_refuses_misaligned_arrays():
    from chainrule import _core
    from chainrule._kinds import mlp_activation

    X = _misaligned(np.ones((3, 2)))
    coefs, intercepts = [np.ones((2, 1))], [np.zeros(1)]
    with pytest.raises(ValueError, match="not aligned"):
        _core._mlp_predict(X, coefs, intercepts, mlp_activation("relu"), mlp_activation("identity"))
