"""MLPClassifier and MLPRegressor: scikit-learn's estimators, trained by chainrule's native loop.

They are subclasses of scikit-learn's own ``MLPClassifier``/``MLPRegressor``: the constructor,
parameter validation, input checks, label handling, initialisation (drawn from ``random_state``
exactly as scikit-learn draws it), ``predict*``/``score`` and every fitted attribute are
scikit-learn's, so a chainrule estimator is accepted wherever scikit-learn's is (pipelines,
searches, ``emlearn.convert``, pickles). What changes is where the work happens: minibatch
epochs (``sgd``/``adam``), the full-batch objective that L-BFGS minimises, and the forward pass of
``predict`` run in chainrule's C++ trainer (``csrc/ops/mlp_trainer.cpp``) with the GIL released.
The trainer implements scikit-learn's objective, backpropagation, batch order and optimizer
formulas, so ``loss_curve_`` and ``coefs_`` agree with scikit-learn's for the same
``random_state`` (to rounding: the GEMMs sum in a different order than NumPy's BLAS).

Cases the native trainer does not cover run scikit-learn's own code unchanged: sparse ``X``,
``sample_weight``, the regressor's ``loss="poisson"``, and parameters whose dtype differs from
``X``'s (a warm start across dtypes).
"""

import sys
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as _SklearnMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import validate_data

from .. import _core
from .._arrays import c_contiguous
from .._kinds import mlp_activation, mlp_loss, mlp_solver
from ._threadpool import register as _register_threadpool_controller

_register_threadpool_controller()

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _dask_worker_threads():
    """The thread count of the dask worker running this call, or None outside a dask worker."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:
        return None
    return getattr(worker.state, "nthreads", None) or getattr(worker, "nthreads", None)


class _ThreadLimit:
    """Inside a dask worker, limits chainrule's (and OpenMP's) threads to the worker's own thread
    count for the duration of a fit, so that several estimators on one machine do not each start a
    thread per core. Elsewhere it changes nothing."""

    def __enter__(self):
        threads = _dask_worker_threads()
        self._limits = None
        if threads:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits={"chainrule": int(threads), "openmp": int(threads)})
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        return False


def _contiguous_parameters(arrays, dtype):
    """The arrays as C-contiguous, aligned, writable arrays of dtype (the trainer updates them in place)."""
    return [
        a
        if (a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned and a.flags.writeable)
        else np.array(a, dtype=dtype, order="C")
        for a in arrays
    ]


class _NativeTrainer:
    """The training and prediction paths shared by both estimators (mixed in before scikit-learn's
    class, so these methods replace its pure-NumPy ones)."""

    # ---- when the native trainer applies --------------------------------------------------------

    def _loss_function_name(self):
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _native_fit_supported(self, X, sample_weight):
        return (
            not scipy.sparse.issparse(X)
            and sample_weight is None
            and self.loss != "poisson"
            and X.dtype in _FLOAT_DTYPES
            and all(c.dtype == X.dtype for c in self.coefs_ + self.intercepts_)
        )

    def _native_parameters(self, dtype):
        self.coefs_ = _contiguous_parameters(self.coefs_, dtype)
        self.intercepts_ = _contiguous_parameters(self.intercepts_, dtype)

    # ---- fit ------------------------------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False):
        with _ThreadLimit():
            return super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)

    def _fit_stochastic(
        self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
    ):
        if not self._native_fit_supported(X, sample_weight):
            return super()._fit_stochastic(
                X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
            )
        self._native_parameters(X.dtype)
        params = self.coefs_ + self.intercepts_
        if not incremental or not hasattr(self, "_optimizer"):
            # scikit-learn's optimizer objects hold the state (velocities, moments, step count,
            # current rate), so a fit can continue in either implementation.
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(
                    params,
                    self.learning_rate_init,
                    self.learning_rate,
                    self.momentum,
                    self.nesterovs_momentum,
                    self.power_t,
                )
            else:
                self._optimizer = AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        optimizer = self._optimizer
        if self.solver == "sgd":
            optimizer.velocities = _contiguous_parameters(optimizer.velocities, X.dtype)
            first, second = optimizer.velocities, []
        else:
            optimizer.ms = _contiguous_parameters(optimizer.ms, X.dtype)
            optimizer.vs = _contiguous_parameters(optimizer.vs, X.dtype)
            first, second = optimizer.ms, optimizer.vs

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        X_val = y_val = None
        if early_stopping:
            # The same split scikit-learn makes: stratified for single-output classification,
            # drawn from the estimator's random state after the initialisation.
            stratify = y if (is_classifier(self) and self.n_outputs_ == 1) else None
            X, X_val, y, y_val = train_test_split(
                X, y, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)

        n_samples = X.shape[0]
        X_native = c_contiguous(X)
        Y_native = c_contiguous(y, dtype=X.dtype)  # (n, n_outputs); booleans for classifiers
        sample_idx = np.arange(n_samples, dtype=np.int64)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        hidden, output = mlp_activation(self.activation), mlp_activation(self.out_activation_)
        loss_kind, solver = mlp_loss(self._loss_function_name()), mlp_solver(self.solver)

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    # scikit-learn's order: sklearn.utils.shuffle(sample_idx, random_state), which
                    # shuffles arange(n) with the estimator's RandomState and indexes by it (done
                    # here without its per-call input validation).
                    permutation = np.arange(n_samples)
                    self._random_state.shuffle(permutation)
                    sample_idx = sample_idx[permutation]
                order = np.ascontiguousarray(sample_idx, dtype=np.int64) if self.shuffle else None
                accumulated_loss, steps, adam_rate = _core._mlp_train_epoch(
                    X_native,
                    Y_native,
                    order,
                    batch_size,
                    self.coefs_,
                    self.intercepts_,
                    hidden,
                    output,
                    loss_kind,
                    float(self.alpha),
                    solver,
                    first,
                    second,
                    float(optimizer.learning_rate if self.solver == "sgd" else optimizer.learning_rate_init),
                    float(self.momentum),
                    bool(self.nesterovs_momentum),
                    float(self.beta_1),
                    float(self.beta_2),
                    float(self.epsilon),
                    int(getattr(optimizer, "t", 0)),
                )
                if self.solver == "adam":
                    optimizer.t = steps
                    optimizer.learning_rate = np.float64(adam_rate)

                self.n_iter_ += 1
                self.loss_ = accumulated_loss / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                self._update_no_improvement_count(early_stopping, X_val, y_val, None)
                optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = "Validation score did not improve more than tol=%f for %d consecutive epochs." % (
                            self.tol,
                            self.n_iter_no_change,
                        )
                    else:
                        msg = "Training loss did not improve more than tol=%f for %d consecutive epochs." % (
                            self.tol,
                            self.n_iter_no_change,
                        )
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                        "hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        if not self._native_fit_supported(X, sample_weight):
            return super()._fit_lbfgs(
                X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units
            )
        dtype = X.dtype
        # The flat parameter vector L-BFGS works on: all coefs (row-major), then all intercepts,
        # the layout scikit-learn packs (its _coef_indptr/_intercept_indptr describe it).
        self._coef_indptr, self._intercept_indptr = [], []
        start = 0
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            self._coef_indptr.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
            start += fan_in * fan_out
        for fan_out in layer_units[1:]:
            self._intercept_indptr.append((start, start + fan_out))
            start += fan_out
        gradient = np.empty(start, dtype=dtype)
        dcoefs = [gradient[a:b].reshape(shape) for a, b, shape in self._coef_indptr]
        dintercepts = [gradient[a:b] for a, b in self._intercept_indptr]
        X_native = c_contiguous(X)
        Y_native = c_contiguous(y, dtype=dtype)
        hidden, output = mlp_activation(self.activation), mlp_activation(self.out_activation_)
        loss_kind = mlp_loss(self._loss_function_name())

        def objective(packed):
            self._unpack_as(packed, dtype)
            loss = _core._mlp_loss_gradient(
                X_native,
                Y_native,
                self.coefs_,
                self.intercepts_,
                hidden,
                output,
                loss_kind,
                float(self.alpha),
                dcoefs,
                dintercepts,
            )
            return loss, gradient.astype(np.float64)

        packed = np.hstack([p.ravel() for p in self.coefs_ + self.intercepts_]).astype(np.float64)
        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        result = scipy.optimize.minimize(
            objective,
            packed,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **_lbfgs_verbosity_options(iprint),
            },
        )
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = result.fun
        self._unpack_as(result.x, dtype)

    def _unpack_as(self, packed, dtype):
        self.coefs_ = [
            np.ascontiguousarray(packed[a:b], dtype=dtype).reshape(shape) for a, b, shape in self._coef_indptr
        ]
        self.intercepts_ = [np.ascontiguousarray(packed[a:b], dtype=dtype) for a, b in self._intercept_indptr]

    # ---- predict --------------------------------------------------------------------------------

    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        dtype = self.coefs_[0].dtype
        if (
            scipy.sparse.issparse(X)
            or self.out_activation_ not in ("identity", "logistic", "softmax")
            or dtype not in _FLOAT_DTYPES
            or any(p.dtype != dtype for p in self.coefs_ + self.intercepts_)
            or (X.dtype in _FLOAT_DTYPES and X.dtype != dtype)
        ):
            return super()._forward_pass_fast(X, check_input=False)
        X = c_contiguous(X, dtype=dtype)
        coefs = _contiguous_parameters(self.coefs_, dtype)
        intercepts = _contiguous_parameters(self.intercepts_, dtype)
        return _core._mlp_predict(
            X, coefs, intercepts, mlp_activation(self.activation), mlp_activation(self.out_activation_)
        )


def _lbfgs_verbosity_options(iprint):
    """scipy's L-BFGS-B verbosity option where this scipy still takes one (scikit-learn's helper)."""
    try:
        from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
    except ImportError:
        return {"iprint": iprint}
    return _get_additional_lbfgs_options_dict("iprint", iprint)


class MLPClassifier(_NativeTrainer, _SklearnMLPClassifier):
    __doc__ = (
        "Multi-layer perceptron classifier trained by chainrule's native loop; a drop-in replacement for "
        "sklearn.neural_network.MLPClassifier (same parameters, attributes and results for the same "
        "random_state).\n\n" + (_SklearnMLPClassifier.__doc__ or "").split("\n", 2)[-1]
    )


class MLPRegressor(_NativeTrainer, _SklearnMLPRegressor):
    __doc__ = (
        "Multi-layer perceptron regressor trained by chainrule's native loop; a drop-in replacement for "
        "sklearn.neural_network.MLPRegressor (same parameters, attributes and results for the same "
        "random_state).\n\n" + (_SklearnMLPRegressor.__doc__ or "").split("\n", 2)[-1]
    )
