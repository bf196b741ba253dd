"""scikit-learn estimators on chainrule (needs the ``sklearn`` extra: ``pip install "chainrule[sklearn]"``).

``MLPClassifier``/``MLPRegressor`` replace scikit-learn's estimators of the same names;
``NeuralNetClassifier``/``NeuralNetRegressor`` wrap any chainrule ``nn.Module``.
"""

try:
    import sklearn as _sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError('chainrule.sklearn needs scikit-learn: pip install "chainrule[sklearn]"') from error

from ._mlp import MLPClassifier, MLPRegressor
from ._neuralnet import NeuralNetClassifier, NeuralNetRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor"]
