"""chainrule.fit: a Keras-like epoch loop, run natively in C++ when the model allows it.

The native loop (chainrule.training._native) needs an nn.Sequential whose fused_chain() exists
(Linear, built-in activations, Dropout, BatchNorm1d, LayerNorm), a built-in loss and a built-in
optimizer over exactly the model's parameters. Anything else runs the same steps as a Python loop
(chainrule.training._loops). For the same seed and thread count both loops produce
bitwise-identical weights (and BatchNorm running statistics).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule.training._data import batch_count, prepare_data
from chainrule.training._history import History
from chainrule.training._loops import evaluate, python_epoch
from chainrule.training._monitoring import monitor_gradients
from chainrule.training._native import native_epoch, native_reason
from chainrule.training._progress import progress_bar

__all__ = ["fit"]

_METRICS = ("accuracy",)


def _sum(values) -> float:
    """The correctly rounded sum (math.fsum), at a quarter of np.dot's cost on the epoch's lists of
    batch losses (their conversion to arrays took 6% of a native seed epoch); nan where fsum
    refuses inf + -inf, as NumPy gives."""
    try:
        return math.fsum(values)
    except ValueError:
        return math.nan


def _epoch_total(losses: list, sizes: list, mean: bool) -> float:
    """The epoch's summed loss: each batch's mean times its size (or the batches' sums). When every
    batch has one size (all epochs whose rows divide evenly), that is the sum of the batch losses
    times the size: one fsum instead of a product per batch."""
    if not mean:
        return _sum(losses)
    size = sizes[0] if sizes else 0
    if sizes.count(size) == len(sizes):
        return _sum(losses) * size
    return _sum(map(operator.mul, losses, sizes))


def fit(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    seed=None,
    validation_data=None,
    scheduler=None,
    metrics=None,
    callbacks=None,
    progress: bool = True,
    monitor: bool = False,
    native=None,
) -> History:
    """Train `model` on (X, y) for `epochs` passes of minibatches; returns a History.

    - shuffle: a new row order each epoch, drawn in C++ from `seed` and the epoch number (the
      same order for both loops); seed=None draws a fresh seed.
    - validation_data: (X_val, y_val), evaluated after every epoch ('val_loss', 'val_accuracy').
    - scheduler: stepped once per epoch (ReduceLROnPlateau with val_loss, or loss without
      validation data).
    - metrics: ['accuracy'] for classification with CrossEntropyLoss or NLLLoss and class labels.
    - callbacks: callables cb(epoch, logs) (or objects with on_epoch_end(epoch, logs)) run after
      each epoch; one returning True stops training.
    - progress: a tqdm bar per epoch showing the running loss.
    - monitor: record chainrule.diagnostics.gradient_health after each epoch ('gradient_health')
      and warn once when a layer turns vanishing, exploding or non-finite.
    - native: None picks the C++ loop when possible; True demands it (ValueError saying why it
      cannot run); False forces the Python loop.

    The epoch 'loss' is the mean over the epoch's samples of the per-batch losses (weighted by
    batch size; with reduction='sum' it is the per-sample sum).
    """
    from chainrule import nn, optim
    from chainrule._core import from_numpy

    if not isinstance(model, nn.Module):
        raise TypeError(f"fit: model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    if not isinstance(optimizer, optim.Optimizer):
        raise TypeError(f"fit: optimizer must be a chainrule.optim.Optimizer, got {type(optimizer).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < (0 if name == "epochs" else 1)
        ):
            raise ValueError(
                f"fit: {name} must be a {'non-negative' if name == 'epochs' else 'positive'} int, got {value!r}"
            )
    if native not in (None, True, False):
        raise ValueError(f"fit: native must be None, True or False, got {native!r}")
    metrics = list(metrics or [])
    for m in metrics:
        if m not in _METRICS:
            raise ValueError(f"fit: unknown metric {m!r}; supported: {', '.join(_METRICS)}")
    count_correct = "accuracy" in metrics
    if count_correct and not isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        raise ValueError("fit: the 'accuracy' metric needs CrossEntropyLoss or NLLLoss with class labels")
    # Each callback's hook, looked up once (an object's on_epoch_end, or the callable itself).
    hooks = [getattr(cb, "on_epoch_end", cb) for cb in (callbacks or [])]

    X, y = prepare_data(model, loss_fn, X, y)
    if count_correct and y.dtype != np.int64:
        raise ValueError("fit: the 'accuracy' metric needs integer class labels as y")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a tuple (X_val, y_val)")
        X_val, y_val = prepare_data(
            model, loss_fn, validation_data[0], validation_data[1], name_x="X_val", name_y="y_val"
        )

    reason = native_reason(model, loss_fn, optimizer, y)
    if native is True and reason is not None:
        raise ValueError(f"fit: native=True but the native loop cannot run: {reason}")
    use_native = native is not False and reason is None
    device = next((p.device for p in model.parameters() if p.device.type != "cpu"), None)
    if device is not None:
        # On a device only the native loop runs (the Python loop gathers minibatches through
        # NumPy), and validation and gradient monitoring read the model on the host.
        why = (
            reason
            or ("native=False" if native is False else None)
            or ("validation_data" if validation_data is not None else None)
            or ("monitor=True" if monitor else None)
        )
        if why is not None:
            raise NotImplementedError(
                f"fit: the model is on {device}, where fit runs only the native loop, without validation_data "
                f"or monitor; here: {why}. Move the model to the CPU with model.cpu(), or train with a loop "
                "of your own"
            )

    if use_native:
        # The Python loop's first zero_grad drops every gradient, and frozen parameters never get
        # a new one; the native loop writes only the trainable ones, so drop the frozen ones' here.
        for p in model.parameters():
            if not p.requires_grad:
                p.grad = None
    Xt, yt = from_numpy(X), from_numpy(y)
    if device is not None:  # moved once: the native loop gathers each minibatch on the device
        Xt, yt = Xt.to(device), yt.to(device)
    base_seed = int(np.random.default_rng(seed).integers(2**63))
    history = History()
    history.native = use_native
    warned: set[tuple[str, str]] = set()  # (parameter name, status) pairs already warned about
    bar_factory = progress_bar if progress else None
    model.train()
    for epoch in range(int(epochs)):
        bar = bar_factory(epoch, int(epochs), batch_count(X.shape[0], batch_size)) if bar_factory else None
        order: int | Tensor | None = None
        if shuffle:
            epoch_seed = (base_seed + epoch) % 2**64
            # The native loop without a progress bar (one call per epoch) draws the same order
            # from the seed itself; the others get it as a tensor.
            if use_native and bar is None:
                order = epoch_seed
            else:
                order = _core.random_permutation(X.shape[0], epoch_seed)
        running = [0.0, 0]

        def on_batch(value, size, bar=bar, running=running):
            running[0] += value * size
            running[1] += size
            bar.update(1)
            bar.set_postfix(loss=f"{running[0] / running[1]:.4f}", refresh=False)

        # One batch of all rows is the most there can be: this keeps any Python int batch_size
        # (2**63 - 1, 10**30) within the native loop's int64 arithmetic.
        rows_per_batch = int(min(batch_size, max(1, X.shape[0])))
        report = on_batch if bar is not None else None
        if use_native:
            losses, sizes, correct = native_epoch(
                model,
                loss_fn,
                optimizer,
                Xt,
                yt,
                order,
                rows_per_batch,
                count_correct,
                report,
                chunks=20 if bar is not None else 1,
            )
        else:
            losses, sizes, correct = python_epoch(
                model, loss_fn, optimizer, Xt, yt, order, rows_per_batch, count_correct, report
            )
        n = max(sum(sizes), 1)
        total = _epoch_total(losses, sizes, loss_fn.reduction == "mean")
        logs = {"loss": total / n}
        if count_correct:
            logs["accuracy"] = correct / n
        if validation_data is not None:
            val_loss, val_accuracy = evaluate(model, loss_fn, X_val, y_val, count_correct)
            logs["val_loss"] = val_loss
            if count_correct:
                logs["val_accuracy"] = val_accuracy
        logs["lr"] = float(optimizer.param_groups[0]["lr"])
        if monitor:
            logs["gradient_health"] = monitor_gradients(model, epoch, warned)
        if bar is not None:
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if isinstance(v, float) and k != "lr"})
            bar.close()
        history._record(epoch, logs)
        if scheduler is not None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        stop = False
        for hook in hooks:
            stop = bool(hook(epoch, logs)) or stop
        if stop:
            break
    return history
