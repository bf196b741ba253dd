"""chainrule.sklearn against scikit-learn at identical parameters, in one run.

Fit time and test accuracy of chainrule.sklearn.MLPClassifier and sklearn.neural_network's
MLPClassifier (same random_state, so the same initialisation and batch order) on
  digits      chainrule.datasets.load_digits (pixels / 16), default MLPClassifier (adam, (100,)),
              max_iter=200, 75/25 split;
  synthetic   make_classification(rows x 50), hidden_layer_sizes=(256, 256), adam, 20 epochs;
and, with --dask, the wall time of a 16-candidate GridSearchCV over chainrule's MLPClassifier on
digits, sequential against a local dask.distributed cluster of 2 workers x 1 thread.

    python benchmarks/bench_sklearn.py [--threads 2] [--rows 100000] [--epochs 20] [--dtype float64] [--dask]

Both libraries run with --threads threads (OpenBLAS for NumPy, OpenMP for chainrule).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _environment  # noqa: E402

_environment.prepare(pin_openmp=True)

import numpy as np  # noqa: E402


def timed_fit(estimator, X, y):
    _environment.settle()
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def compare(name, params, X_train, X_test, y_train, y_test):
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from chainrule.sklearn import MLPClassifier

    ours, theirs = MLPClassifier(**params), SklearnMLP(**params)
    t_ours = timed_fit(ours, X_train, y_train)
    t_theirs = timed_fit(theirs, X_train, y_train)
    acc_ours, acc_theirs = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    curve = np.abs(np.subtract(ours.loss_curve_, theirs.loss_curve_)) / np.abs(theirs.loss_curve_)
    print(
        f"{name:10s} {X_train.shape[0]:>7d}x{X_train.shape[1]:<4d} {str(params['hidden_layer_sizes']):>11s} "
        f"{ours.n_iter_:>6d} {t_theirs:>10.2f} {t_ours:>10.2f} {t_theirs / t_ours:>7.1f}x "
        f"{100 * acc_theirs:>8.2f} {100 * acc_ours:>8.2f} {curve.max():>10.1e}",
        flush=True,
    )


def dask_search(X, y, threads):
    import distributed
    import joblib
    from sklearn.model_selection import GridSearchCV

    from chainrule.sklearn import MLPClassifier

    grid = {"hidden_layer_sizes": [(32,), (64,), (128,), (64, 32)], "alpha": [1e-4, 1e-3, 1e-2, 1e-1]}
    search = GridSearchCV(MLPClassifier(max_iter=50, random_state=0), grid, cv=3)
    start = time.perf_counter()
    sequential = search.fit(X, y)
    t_seq = time.perf_counter() - start
    best_seq = (sequential.best_params_, sequential.best_score_)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster),
    ):
        search = GridSearchCV(MLPClassifier(max_iter=50, random_state=0), grid, cv=3, n_jobs=-1)
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        t_dask = time.perf_counter() - start
    same = (search.best_params_, search.best_score_) == best_seq
    print(
        f"\n16-candidate GridSearchCV (cv=3, 48 fits) on digits: sequential ({threads} threads) {t_seq:.1f} s, "
        f"dask LocalCluster 2 workers x 1 thread {t_dask:.1f} s ({t_seq / t_dask:.2f}x); same best params "
        f"and score: {same}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--dask", action="store_true", help="also time a 16-candidate search on a dask cluster")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    import chainrule
    from chainrule.datasets import load_digits

    chainrule.set_num_threads(args.threads)
    removed = _environment.removed_variables()
    print(
        f"chainrule {chainrule.__version__} ({chainrule.config()['cpu_isa']}), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.threads} threads, {args.dtype}" + (f" (removed {removed})" if removed else "")
    )
    print(
        f"{'workload':10s} {'data':>12s} {'hidden':>11s} {'epochs':>6s} {'sklearn s':>10s} {'chainrule s':>10s} "
        f"{'speedup':>8s} {'acc sk %':>8s} {'acc cr %':>8s} {'curve rel':>10s}"
    )
    dtype = np.dtype(args.dtype)

    X, y = load_digits(return_X_y=True, dtype=dtype)
    X = X / dtype.type(16)
    split = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    compare("digits", dict(hidden_layer_sizes=(100,), random_state=0), *split)

    if not args.skip_synthetic:
        X, y = make_classification(int(args.rows * 1.25), 50, n_informative=30, n_classes=2, random_state=0)
        split = train_test_split(X.astype(dtype), y, test_size=0.2, random_state=0)
        compare(
            "synthetic",
            dict(
                hidden_layer_sizes=(256, 256),
                solver="adam",
                max_iter=args.epochs,
                tol=0.0,
                n_iter_no_change=args.epochs + 1,
                random_state=0,
            ),
            *split,
        )
    if args.dask:
        X, y = load_digits(return_X_y=True, dtype=np.float64)
        dask_search(X / 16, y, args.threads)


if __name__ == "__main__":
    main()
