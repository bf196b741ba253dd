"""NeuralNetClassifier / NeuralNetRegressor: any chainrule nn.Module as a scikit-learn estimator.

Parameters follow skorch's conventions: ``module`` (an nn.Module class, built at fit with the
``module__*`` parameters, or a module instance), ``criterion`` (a loss class or instance, with
``criterion__*``), ``optimizer`` (a chainrule.optim class, built over the module's parameters with
``lr`` and ``optimizer__*``), ``max_epochs``, ``batch_size``. Prefixed parameters are ordinary
estimator parameters, so ``GridSearchCV`` searches layer widths and learning rates together::

    search = GridSearchCV(NeuralNetClassifier(MLP, max_epochs=20),
                          {"module__hidden": [32, 64], "lr": [0.01, 0.1]})

Training runs chainrule.fit (its native C++ loop when the model is an nn.Sequential of built-in
layers). A fitted estimator pickles: its module's tensors travel as NumPy arrays.
"""

from __future__ import annotations as _annotations

import inspect
import io
import pickle
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import chainrule
from chainrule import _core, nn, optim
from chainrule.fit import fit as _fit_loop

from ._mlp import _ThreadLimit

_PREFIXES = ("module__", "criterion__", "optimizer__")


# ---- pickling modules: chainrule never pickles tensors, so their values travel as arrays ----------


class _ModulePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _core.Tensor):
            return ("tensor", isinstance(obj, nn.Parameter), obj.detach().numpy().copy(), bool(obj.requires_grad))
        if isinstance(obj, _core.DenseChain):
            return ("rebuilt",)  # nn.Sequential's fused path is rebuilt from the layers on first use
        return None


class _ModuleUnpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        if pid[0] == "rebuilt":
            return None
        _, is_parameter, array, requires_grad = pid
        tensor = chainrule.from_numpy(np.ascontiguousarray(array))
        if is_parameter:
            return nn.Parameter(tensor, requires_grad=requires_grad)
        if requires_grad:
            tensor.requires_grad = True
        return tensor


def _dump_module(module):
    buffer = io.BytesIO()
    _ModulePickler(buffer).dump(module)
    return buffer.getvalue()


def _load_module(data):
    module = _ModuleUnpickler(io.BytesIO(data)).load()
    for m in module.modules() if isinstance(module, nn.Module) else []:
        m.__dict__.pop("_chain_version", None)  # forces nn.Sequential to rebuild its fused chain
    return module


class _NeuralNet(BaseEstimator):
    """The shared estimator; see the module docstring."""

    def __init__(
        self,
        module: nn.Module | Callable[..., nn.Module],
        criterion: Any = None,
        optimizer: Callable[..., optim.Optimizer] = optim.SGD,
        lr: float = 0.01,
        max_epochs: int = 10,
        batch_size: int = 128,
        shuffle: bool = True,
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        **kwargs: Any,
    ) -> None:
        self.module = module
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        unknown = sorted(k for k in kwargs if not k.startswith(_PREFIXES))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected argument(s) {', '.join(unknown)}; "
                f"routed parameters start with one of {', '.join(_PREFIXES)}"
            )
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ---- parameters: the named ones plus every routed module__/criterion__/optimizer__ one -------

    def _routed_keys(self):
        return sorted(k for k in vars(self) if k.startswith(_PREFIXES))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=False)
        params.update({k: getattr(self, k) for k in self._routed_keys()})
        return params

    def set_params(self, **params: Any) -> _NeuralNet:
        routed = {k: v for k, v in params.items() if k.startswith(_PREFIXES)}
        for key, value in routed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in routed}
        return super().set_params(**rest) if rest else self

    def _routed(self, prefix):
        return {k[len(prefix) :]: getattr(self, k) for k in self._routed_keys() if k.startswith(prefix)}

    # ---- building the module, criterion and optimizer -------------------------------------------

    def _check_parameters(self):
        for name in ("max_epochs", "batch_size"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < (0 if name == "max_epochs" else 1)
            ):
                raise ValueError(
                    f"{name} must be a {'non-negative' if name == 'max_epochs' else 'positive'} int, got {value!r}"
                )
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, (int, float, np.floating, np.integer))
            or not self.lr > 0
        ):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    def _build(self, n_features, n_outputs):
        if self.random_state is not None:
            chainrule.manual_seed(int(np.random.RandomState(self.random_state).randint(2**31 - 1)))
        module_params = self._routed("module__")
        if isinstance(self.module, nn.Module):
            if module_params:
                raise ValueError("module__* parameters need `module` to be a class; got an instance")
            module = _load_module(_dump_module(self.module))  # a fresh copy: fitting never changes `module`
        elif inspect.isclass(self.module) and issubclass(self.module, nn.Module):
            module = self.module(**module_params)
        else:
            raise TypeError(f"module must be a chainrule nn.Module class or instance, got {self.module!r}")
        criterion = self.criterion if self.criterion is not None else self._default_criterion
        criterion_params = self._routed("criterion__")
        if inspect.isclass(criterion):
            criterion = criterion(**criterion_params)
        elif criterion_params:
            raise ValueError("criterion__* parameters need `criterion` to be a class; got an instance")
        if not (inspect.isclass(self.optimizer) and issubclass(self.optimizer, optim.Optimizer)):
            raise TypeError(f"optimizer must be a chainrule.optim.Optimizer class, got {self.optimizer!r}")
        self.module_ = module
        self.criterion_ = criterion
        self.optimizer_ = self.optimizer(module.parameters(), lr=self.lr, **self._routed("optimizer__"))

    def _dtype(self):
        for p in self.module_.parameters():
            return np.float64 if p.dtype == chainrule.float64 else np.float32
        return np.float32

    def _forward(self, X):
        with chainrule.no_grad():
            out = self.module_(chainrule.from_numpy(np.ascontiguousarray(X, dtype=self._dtype())))
        return out.numpy().copy()

    def _train(self, X, y, epochs):
        seed = None
        if self.random_state is not None:
            seed = int(np.random.RandomState(self.random_state).randint(2**31 - 1)) + len(getattr(self, "history_", []))
        history = _fit_loop(
            self.module_,
            self.criterion_,
            self.optimizer_,
            X,
            y,
            epochs=epochs,
            batch_size=int(self.batch_size),
            shuffle=bool(self.shuffle),
            seed=seed,
            progress=bool(self.verbose),
        )
        self.history_ = list(getattr(self, "history_", [])) + list(history.history.get("loss", []))
        self.n_iter_ = len(self.history_)
        return self

    def _fit(self, X, y, epochs, partial, classes=None):
        self._check_parameters()
        first = not hasattr(self, "module_") or not (partial or self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=(np.float32, np.float64),
            multi_output=True,
            y_numeric=not isinstance(self, ClassifierMixin),
        )
        y = self._encode_targets(y, first, classes)
        if first:
            self.history_ = []
            self._build(X.shape[1], self._n_outputs)
        dtype = self._dtype()
        if y.dtype.kind == "f":
            y = y.astype(dtype, copy=False)
        with _ThreadLimit():
            return self._train(X.astype(dtype, copy=False), y, epochs)

    def fit(self, X: ArrayLike, y: ArrayLike) -> _NeuralNet:
        """Trains for max_epochs (continuing from the fitted module when warm_start is set)."""
        return self._fit(X, y, int(self.max_epochs), partial=False)

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> _NeuralNet:
        """One more epoch on (X, y); the first call builds the module."""
        return self._fit(X, y, 1, partial=True, classes=classes)

    # ---- pickling ---------------------------------------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("module", "criterion", "module_", "criterion_"):
            if isinstance(state.get(key), nn.Module):
                state[key] = ("chainrule-module", _dump_module(state[key]))
        # An optimizer holds native step objects over the module's tensors: it is rebuilt on load
        # (with fresh state, as after a new fit's first step).
        state.pop("optimizer_", None)
        return state

    def __setstate__(self, state):
        for key, value in list(state.items()):
            if isinstance(value, tuple) and len(value) == 2 and value[0] == "chainrule-module":
                state[key] = _load_module(value[1])
        self.__dict__.update(state)
        if "module_" in state:
            self.optimizer_ = self.optimizer(self.module_.parameters(), lr=self.lr, **self._routed("optimizer__"))

    def __deepcopy__(self, memo):
        return pickle.loads(pickle.dumps(self))


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A chainrule nn.Module as a scikit-learn classifier. The module maps (n, n_features) to
    (n, n_classes) logits; the default criterion is nn.CrossEntropyLoss, predict_proba is their
    softmax and predict the most probable class (labels of any type, as scikit-learn's)."""

    _default_criterion = nn.CrossEntropyLoss

    def _encode_targets(self, y, first, classes):
        check_classification_targets(y)
        if np.ndim(y) != 1:
            raise ValueError("NeuralNetClassifier takes one label per sample (y of shape (n_samples,))")
        if first:
            self._label_encoder = LabelEncoder().fit(classes if classes is not None else y)
            self.classes_ = self._label_encoder.classes_
            self._n_outputs = len(self.classes_)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} is not the same as on the first call to partial_fit, {self.classes_!r}"
            )
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains previously unseen labels: {unseen.tolist()}")
        return self._label_encoder.transform(y).astype(np.int64)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        logits = self._forward(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A chainrule nn.Module as a scikit-learn regressor. The module maps (n, n_features) to
    (n, n_outputs); the default criterion is nn.MSELoss; 1-D y gives 1-D predictions."""

    _default_criterion = nn.MSELoss

    def _encode_targets(self, y, first, classes):
        y = np.asarray(y)
        if first:
            self._y_ndim = y.ndim
            self._n_outputs = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), -1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        out = self._forward(X)
        return out.ravel() if self._y_ndim == 1 else out
