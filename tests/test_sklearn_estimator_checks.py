"""scikit-learn's own estimator checks on chainrule.sklearn's MLPs."""

from optional_dependencies import require

require("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _expected_failed_checks(estimator):
    return {}


# max_iter=100 as scikit-learn's own test suite configures its MLPs (fewer epochs, same checks).
@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)], expected_failed_checks=_expected_failed_checks
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
