"""emlearn turns a fitted chainrule.sklearn.MLPClassifier into C code that predicts as it does."""

import numpy as np
import pytest

from optional_dependencies import require

require("sklearn")
# Importing emlearn switches NumPy to raise on every floating-point warning, process-wide; the
# other test modules expect NumPy's defaults, so they are put back.
_numpy_errors = np.geterr()
try:
    emlearn = require("emlearn")
finally:
    np.seterr(**_numpy_errors)
from sklearn.datasets import make_classification  # noqa: E402

from chainrule.sklearn import MLPClassifier  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_emlearn_convert_predicts_as_ours(n_classes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # emlearn compiles the generated C under ./tmp
    X, y = make_classification(200, 6, n_informative=4, n_classes=n_classes, random_state=0)
    X = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(10, 6), max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, y)
    converted = emlearn.convert(clf, method="loadable")
    np.testing.assert_array_equal(converted.predict(X), clf.predict(X))
