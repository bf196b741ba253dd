"""Steps per second of whole training epochs: chainrule.fit's native C++ loop against the same
PyTorch-style loop written with PyTorch (eager) and with chainrule, in one run.

Each epoch shuffles the rows, gathers every minibatch, and runs forward, loss, zero_grad,
backward and an optimizer step. Workloads: the standard seed (10-5-1, batch 100, MSE) and mnist
(784-256-10, batch 128, cross-entropy) with SGD, and the tabular (BatchNorm1d + ReLU + Dropout) and
deep (20 x Linear + LayerNorm + GELU) models of benchmarks/_models.py with AdamW; 64 minibatches
per epoch. chainrule and PyTorch start from the same weights.

    python benchmarks/bench_fit.py --workloads tabular,deep

    python benchmarks/bench_fit.py [--threads 2] [--epochs 7] [--seconds 0.5] [--json fit.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _environment  # noqa: E402
import _models  # noqa: E402

WORKLOADS = {
    "seed": ((10, 5, 1), 100, "mse"),
    "mnist": ((784, 256, 10), 128, "cross_entropy"),
    **{spec.name: ((spec.features, spec.outputs), spec.batch, spec.loss) for spec in _models.MODELS.values()},
}
BATCHES_PER_EPOCH = 64
ROUNDS = 3
MAX_EPOCHS = 5000


def make_data(sizes, batch, loss, rng):
    n = batch * BATCHES_PER_EPOCH
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    if loss == "mse":
        y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
    else:
        y = rng.integers(0, sizes[-1], n).astype(np.int64)
    return X, y


def chainrule_model(name, sizes):
    import chainrule as cr
    from chainrule import nn, optim

    cr.manual_seed(0)
    if name in _models.MODELS:
        model = _models.build(nn, _models.MODELS[name])
        return model, optim.AdamW(model.parameters(), lr=1e-3)
    model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
    return model, optim.SGD(model.parameters(), lr=1e-3)


def chainrule_epoch_times(name, sizes, batch, loss, X, y, epochs, native):
    import chainrule as cr
    from chainrule import nn

    model, opt = chainrule_model(name, sizes)
    loss_fn = nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()
    times = []
    state = {"t": None}

    def timer(epoch, logs):
        now = time.perf_counter()
        times.append(now - state["t"])
        state["t"] = now

    state["t"] = time.perf_counter()
    history = cr.fit(
        model,
        loss_fn,
        opt,
        X,
        y,
        epochs=epochs,
        batch_size=batch,
        seed=0,
        progress=False,
        native=native,
        callbacks=[timer],
    )
    assert history.native == native, "fit did not take the loop it was asked for"
    return times


def torch_epoch_times(torch, name, sizes, batch, loss, X, y, epochs):
    torch.manual_seed(0)
    if name in _models.MODELS:
        model = _models.build(torch.nn, _models.MODELS[name])
        _models.copy_state(torch, model, chainrule_model(name, sizes)[0])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    else:
        model = torch.nn.Sequential(
            torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(), torch.nn.Linear(sizes[1], sizes[2])
        )
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X)))
        for lo in range(0, len(X), batch):
            idx = order[lo : lo + batch]
            xb, yb = Xt[idx], yt[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=7, help="the fewest epochs per loop and round")
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="time per loop and round (more epochs for fast loops)"
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {','.join(WORKLOADS)}")
    args = parser.parse_args()
    unknown = [name for name in args.workloads.split(",") if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")

    import chainrule as cr

    cr.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(
        f"chainrule {cr.config()['cpu_isa']} path, torch {getattr(torch, '__version__', '-')} eager; "
        f"{args.threads} threads; {_environment.machine()}"
    )
    results = {
        "machine": _environment.machine(),
        "threads": args.threads,
        "chainrule": cr.config(),
        "torch": getattr(torch, "__version__", None),
        "workloads": {},
    }
    print(
        f"{'workload':8}  {'fit native':>12}  {'cr Python loop':>14}  {'torch eager':>12}  "
        f"{'native/torch':>12}  {'python/torch':>12}  {'native/py':>9}   (steps per second, median epoch)"
    )
    for name in args.workloads.split(","):
        sizes, batch, loss = WORKLOADS[name]
        X, y = make_data(sizes, batch, loss, np.random.default_rng(1))
        loops = {
            "native": functools.partial(chainrule_epoch_times, name, sizes, batch, loss, X, y, native=True),
            "python": functools.partial(chainrule_epoch_times, name, sizes, batch, loss, X, y, native=False),
        }
        if torch is not None:
            loops["torch"] = functools.partial(torch_epoch_times, torch, name, sizes, batch, loss, X, y)
        # Each loop runs about --seconds per round (at least --epochs epochs): a native seed epoch
        # takes about 0.15 ms, so a fixed handful of epochs would time a millisecond just after a
        # pause, on cold caches, while PyTorch's loop is timed over a tenth of a second.
        epochs = {}
        for library, run in loops.items():
            estimate = statistics.median(run(3)[1:])
            epochs[library] = max(args.epochs, min(MAX_EPOCHS, round(args.seconds / estimate)))
        rows = {}
        # Interleave the three so machine noise hits them alike; the first epoch of each is warm-up.
        for _ in range(ROUNDS):
            for library, run in loops.items():
                _environment.settle()
                rows.setdefault(library, []).extend(run(epochs[library])[1:])
        sps = {k: BATCHES_PER_EPOCH / statistics.median(v) for k, v in rows.items()}
        t = sps.get("torch")
        print(
            f"{name:8}  {sps['native']:12.0f}  {sps['python']:14.0f}  {t or float('nan'):12.0f}  "
            f"{(sps['native'] / t) if t else float('nan'):11.2f}x  {(sps['python'] / t) if t else float('nan'):11.2f}x  "
            f"{sps['native'] / sps['python']:8.2f}x"
        )
        results["workloads"][name] = {
            "steps_per_second": sps,
            "native_over_torch": sps["native"] / t if t else None,
            "python_over_torch": sps["python"] / t if t else None,
            "native_over_python_loop": sps["native"] / sps["python"],
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
