"""`python -m chainrule`: train a small network on the digits shipped with chainrule.

It trains a 64-128-10 ReLU network with cross-entropy and SGD on the 8x8 handwritten digits
(1438 training and 359 validation images) with chainrule.fit (the native C++ loop), prints the
loss and validation accuracy per epoch, then trains the same network from the same weights with
the NumPy baseline and prints the time per epoch of both.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import chainrule
from chainrule import baseline, nn, optim
from chainrule.datasets import load_digits, split


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m chainrule", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--hidden", type=int, default=128, help="hidden layer width (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, split and shuffling (default 0)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    p.add_argument(
        "--save", metavar="PATH", default=None, help="write the trained model's state_dict here (safetensors format)"
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        default=None,
        help="write a PNG of the loss and accuracy curves here (needs matplotlib)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-baseline", action="store_true", help="skip the NumPy baseline comparison")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.lr < 0 or args.momentum < 0:
        p.error("--lr and --momentum must be non-negative")
    return args


def accuracy(model, X, y):
    with chainrule.no_grad():
        predicted = model(chainrule.from_numpy(X)).argmax(dim=1).numpy()
    return float(np.mean(predicted == y))


class EpochTimer:
    """A fit() callback that keeps the wall time of every epoch."""

    def __init__(self):
        self.times = []
        self._start = time.perf_counter()

    def __call__(self, epoch, logs):
        now = time.perf_counter()
        self.times.append(now - self._start)
        self._start = now


def train_baseline(weights, biases, X, y, orders, args):
    net = baseline.MLP(weights, biases, ["relu", "identity"])
    times = []
    for order in orders:
        Xs, ys = X[order], y[order]
        start = time.perf_counter()
        for lo in range(0, len(order), args.batch_size):
            net.train_step(
                Xs[lo : lo + args.batch_size],
                ys[lo : lo + args.batch_size],
                "cross_entropy",
                lr=args.lr,
                momentum=args.momentum,
            )
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        chainrule.set_num_threads(args.threads)
    X, y = load_digits(return_X_y=True)
    X /= 16.0  # pixel counts 0..16 -> [0, 1]
    X_train, X_val, y_train, y_val = split(X, y, test_fraction=0.2, seed=args.seed)

    chainrule.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    initial = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    cfg = chainrule.config()
    print(f"chainrule {chainrule.__version__}: {cfg['cpu_isa']} kernels, {cfg['num_threads']} threads")
    print(f"digits: {len(X_train)} training / {len(X_val)} validation images\n{model}\n")
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    timer = EpochTimer()
    history = chainrule.fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        validation_data=(X_val, y_val),
        metrics=["accuracy"],
        callbacks=[timer],
        progress=not args.no_progress,
    )
    times = timer.times  # includes validation and the progress bar
    print(f"\n{'epoch':>5}  {'loss':>8}  {'val loss':>8}  {'val acc':>8}  {'time':>9}")
    for epoch, (loss, val_loss, val_acc, seconds) in enumerate(
        zip(history.history["loss"], history.history["val_loss"], history.history["val_accuracy"], times), 1
    ):
        print(f"{epoch:5d}  {loss:8.4f}  {val_loss:8.4f}  {val_acc:8.2%}  {seconds * 1e3:7.2f} ms")
    print(
        f"\n{'native C++' if history.native else 'Python'} loop; final validation accuracy "
        f"{history.history['val_accuracy'][-1]:.2%}"
    )

    if args.save:
        chainrule.save(model.state_dict(), args.save)
        print(f"saved the model's state_dict to {args.save}")
    if args.plot:
        try:
            history.plot(args.plot)
            print(f"saved the loss and accuracy curves to {args.plot}")
        except ImportError as exc:
            print(f"--plot: {exc}", file=sys.stderr)

    if not args.no_baseline:
        # The speed comparison: the same training (same initial weights, epochs, batches) without
        # progress bar or validation, chainrule's native fit against the NumPy baseline.
        timed = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
        timed.load_state_dict(initial)
        timer = EpochTimer()
        chainrule.fit(
            timed,
            nn.CrossEntropyLoss(),
            optim.SGD(timed.parameters(), lr=args.lr, momentum=args.momentum),
            X_train,
            y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            callbacks=[timer],
            progress=False,
        )
        ours = float(np.median(timer.times))
        weights = [initial["0.weight"], initial["2.weight"]]
        biases = [initial["0.bias"], initial["2.bias"]]
        orders = [np.random.default_rng(args.seed + 1 + e).permutation(len(X_train)) for e in range(args.epochs)]
        base = float(np.median(train_baseline(weights, biases, X_train, y_train, orders, args)))
        # "2.0x faster" or "1.4x slower": a ratio below 1 is never called faster.
        verdict = f"{base / ours:.1f}x faster" if base >= ours else f"{ours / base:.1f}x slower"
        print(
            f"\ntime per epoch (median of {args.epochs}): chainrule.fit {ours * 1e3:.2f} ms, "
            f"NumPy baseline {base * 1e3:.2f} ms -> chainrule is {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
