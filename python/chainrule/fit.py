"""chainrule.fit: a Keras-like epoch loop, run natively in C++ when the model allows it.

The native loop needs an nn.Sequential of built-in layers (Linear followed by at most one
built-in activation each), a built-in loss and a built-in optimizer over exactly the model's
parameters. Each epoch then runs in C++ with the GIL released: gather the shuffled minibatch,
forward, loss, backward, update. Anything else runs the same steps as a Python loop
(model(x), loss_fn, zero_grad, backward, step). For the same seed and thread count both loops
produce bitwise-identical weights.
"""
from __future__ import annotations

import warnings

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._grad_mode import no_grad
from chainrule._kinds import reduction_kind
from chainrule._tensor import numpy_dtype

__all__ = ["fit", "History"]

_METRICS = ("accuracy",)
# Gradient statuses that fit(monitor=True) warns about (once per parameter and status).
_UNHEALTHY = ("vanishing", "exploding", "nonfinite")


class History:
    """What fit() recorded: .history maps 'loss', 'val_loss', 'accuracy', 'val_accuracy', 'lr'
    (and 'gradient_health' with monitor=True) to one value per epoch; .epoch lists the epochs."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.native: bool = False

    def _record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def plot(self, path) -> None:
        """Write a PNG of the loss (and accuracy) curves to `path` (needs matplotlib: the 'plot' extra)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("History.plot needs matplotlib: pip install 'chainrule[plot]'") from exc
        curves = [k for k in ("loss", "val_loss") if k in self.history]
        accuracy = [k for k in ("accuracy", "val_accuracy") if k in self.history]
        panels = 1 + bool(accuracy)
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for key in curves:
            axes[0][0].plot(epochs, self.history[key], marker="o", label=key)
        axes[0][0].set_xlabel("epoch")
        axes[0][0].set_ylabel("loss")
        axes[0][0].legend()
        for key in accuracy:
            axes[0][1].plot(epochs, self.history[key], marker="o", label=key)
        if accuracy:
            axes[0][1].set_xlabel("epoch")
            axes[0][1].set_ylabel("accuracy")
            axes[0][1].legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)}, native={self.native})"


# ---- argument handling --------------------------------------------------------------------------

def _as_array(value, name):
    if isinstance(value, Tensor):
        return value.detach().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    raise TypeError(f"fit: {name} must be a NumPy array or a chainrule.Tensor, got {type(value).__name__}")


def _model_dtype(model):
    for p in model.parameters():
        return p.dtype
    return _core.dtype.float32


def _prepare_data(model, loss_fn, X, y, name_x="X", name_y="y"):
    """NumPy arrays in the layout the loops use: X (N, features) in the model's dtype, y int64
    class labels for cross-entropy, else in the model's dtype. Copies only when needed."""
    from chainrule import nn
    X, y = _as_array(X, name_x), _as_array(y, name_y)
    if X.ndim < 1 or y.ndim < 1:
        raise ValueError(f"fit: {name_x} and {name_y} need a first (sample) dimension, got shapes {X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"fit: {name_x} has {X.shape[0]} rows but {name_y} has {y.shape[0]}")
    dtype = numpy_dtype(_model_dtype(model))
    # C-contiguous and aligned ("CA"): the tensors share these arrays, so odd layouts are copied.
    X = np.require(X, dtype=dtype, requirements="CA")
    if isinstance(loss_fn, nn.CrossEntropyLoss) and y.dtype.kind in "iub":
        y = np.require(y, dtype=np.int64, requirements="CA")
    else:
        y = np.require(y, dtype=dtype, requirements="CA")
    return X, y


def _native_reason(model, loss_fn, optimizer, y):
    """None when the native loop can run this training, else why not."""
    from chainrule import nn, optim
    if type(model) is not nn.Sequential:
        return f"the model is a {type(model).__name__}, not an nn.Sequential of built-in layers"
    chain = model._dense_chain()
    if chain is None:
        return "the Sequential is not Linear layers each followed by at most one built-in activation"
    loss_kind = _native_loss_kind(loss_fn)
    if loss_kind is None:
        return f"the loss {type(loss_fn).__name__} is not a built-in loss"
    if loss_fn.reduction == "none":
        return "the loss has reduction='none'"
    if any(getattr(loss_fn, name, None) is not None for name in ("weight", "pos_weight")) \
            or getattr(loss_fn, "label_smoothing", 0.0) != 0.0 or getattr(loss_fn, "ignore_index", -100) != -100:
        return "the loss's weight, pos_weight, ignore_index or label_smoothing run in the Python loop"
    if loss_kind == _core.LossKind.cross_entropy and y.dtype != np.int64:
        return "cross-entropy with probability targets runs in the Python loop"
    if loss_kind == _core.LossKind.bce:
        last = [m for m in model if type(m) is not nn.Identity][-1]
        if type(last) is not nn.Sigmoid:
            return "BCELoss natively needs the model to end with Sigmoid"
    if type(optimizer).step is not optim.Optimizer.step:
        return f"the optimizer {type(optimizer).__name__} has its own step()"
    model_params = {id(p) for p in model.parameters()}
    opt_params = [p for g in optimizer.param_groups for p in g["params"]]
    if {id(p) for p in opt_params} != model_params or len(opt_params) != len(model_params):
        return "the optimizer does not hold exactly the model's parameters"
    return None


def _native_loss_kind(loss_fn):
    """The name fit_batches knows a built-in loss by, or None (subclasses run in Python)."""
    from chainrule import nn
    kind = _core.LossKind
    kinds = {nn.MSELoss: kind.mse, nn.L1Loss: kind.l1, nn.HuberLoss: kind.huber, nn.BCELoss: kind.bce,
             nn.BCEWithLogitsLoss: kind.bce_with_logits, nn.CrossEntropyLoss: kind.cross_entropy}
    return kinds.get(type(loss_fn))


# ---- the loops ----------------------------------------------------------------------------------

def _batch_count(n, batch_size):
    return (n + batch_size - 1) // batch_size


def _python_epoch(model, loss_fn, optimizer, Xt, yt, order, batch_size, count_correct, on_batch):
    n = Xt.shape[0]
    losses, sizes, correct = [], [], 0
    for bi in range(_batch_count(n, batch_size)):
        lo, hi = bi * batch_size, min(n, (bi + 1) * batch_size)
        if order is None:
            xb, yb = Xt[lo:hi], yt[lo:hi]
        else:
            idx = order[lo:hi]
            xb, yb = Xt[idx], yt[idx]
        out = model(xb)
        loss = loss_fn(out, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(hi - lo)
        if count_correct:
            with no_grad():
                correct += int(np.sum(out.detach().argmax(dim=1).numpy() == yb.numpy()))
        if on_batch is not None:
            on_batch(losses[-1], hi - lo)
    return losses, sizes, correct


def _native_epoch(model, loss_fn, optimizer, Xt, yt, order, batch_size, count_correct, on_batch, chunks):
    """One epoch in C++: in `chunks` calls (for a progress bar), or one. on_batch is None or
    called with each batch's loss and size after its chunk."""
    chain = model._dense_chain()
    loss_kind = _native_loss_kind(loss_fn)
    delta = float(getattr(loss_fn, "delta", 0.0))
    steps = optimizer.group_steps()
    batches = _batch_count(Xt.shape[0], batch_size)
    chunks = max(1, min(chunks, batches))
    losses, sizes, correct = [], [], 0
    try:
        for chunk in range(chunks):
            first, last = batches * chunk // chunks, batches * (chunk + 1) // chunks
            chunk_losses, chunk_sizes, chunk_correct = _core.fit_batches(
                chain, Xt, yt, order, batch_size, first, last, loss_kind, reduction_kind(loss_fn.reduction), delta, steps,
                count_correct)
            losses += chunk_losses
            sizes += chunk_sizes
            correct += chunk_correct
            if on_batch is not None:
                for value, size in zip(chunk_losses, chunk_sizes):
                    on_batch(value, size)
    finally:
        optimizer.publish_state()
    return losses, sizes, correct


def _evaluate(model, loss_fn, X, y, count_correct):
    from chainrule import from_numpy
    # Validation runs in eval mode (Dropout off, BatchNorm on its running statistics), as a PyTorch
    # loop would, and training resumes in train mode.
    model.eval()
    try:
        with no_grad():
            out = model(from_numpy(X))
            loss = float(loss_fn(out, from_numpy(y)).item())
            accuracy = float(np.mean(out.argmax(dim=1).numpy() == y)) if count_correct else None
    finally:
        model.train()
    return loss, accuracy


def _entry(value, key):
    return value[key] if isinstance(value, dict) else getattr(value, key)


def fit(model, loss_fn, optimizer, X, y, *, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
        seed=None, validation_data=None, scheduler=None, metrics=None, callbacks=None, progress: bool = True,
        monitor: bool = False, native=None) -> History:
    """Train `model` on (X, y) for `epochs` passes of minibatches; returns a History.

    - shuffle: a new row order each epoch, drawn in C++ from `seed` and the epoch number (the
      same order for both loops); seed=None draws a fresh seed.
    - validation_data: (X_val, y_val), evaluated after every epoch ('val_loss', 'val_accuracy').
    - scheduler: stepped once per epoch (ReduceLROnPlateau with val_loss, or loss without
      validation data).
    - metrics: ['accuracy'] for classification with CrossEntropyLoss and class labels.
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
    from chainrule import from_numpy, nn, optim
    if not isinstance(model, nn.Module):
        raise TypeError(f"fit: model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    if not isinstance(optimizer, optim.Optimizer):
        raise TypeError(f"fit: optimizer must be a chainrule.optim.Optimizer, got {type(optimizer).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "epochs" else 1):
            raise ValueError(f"fit: {name} must be a {'non-negative' if name == 'epochs' else 'positive'} int, got {value!r}")
    if native not in (None, True, False):
        raise ValueError(f"fit: native must be None, True or False, got {native!r}")
    metrics = list(metrics or [])
    for m in metrics:
        if m not in _METRICS:
            raise ValueError(f"fit: unknown metric {m!r}; supported: {', '.join(_METRICS)}")
    count_correct = "accuracy" in metrics
    if count_correct and not isinstance(loss_fn, nn.CrossEntropyLoss):
        raise ValueError("fit: the 'accuracy' metric needs CrossEntropyLoss with class labels")
    callbacks = list(callbacks or [])

    X, y = _prepare_data(model, loss_fn, X, y)
    if count_correct and y.dtype != np.int64:
        raise ValueError("fit: the 'accuracy' metric needs integer class labels as y")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a tuple (X_val, y_val)")
        X_val, y_val = _prepare_data(model, loss_fn, *validation_data, name_x="X_val", name_y="y_val")

    reason = _native_reason(model, loss_fn, optimizer, y)
    if native is True and reason is not None:
        raise ValueError(f"fit: native=True but the native loop cannot run: {reason}")
    use_native = native is not False and reason is None

    if use_native:
        # The Python loop's first zero_grad drops every gradient, and frozen parameters never get
        # a new one; the native loop writes only the trainable ones, so drop the frozen ones' here.
        for p in model.parameters():
            if not p.requires_grad:
                p.grad = None
    Xt, yt = from_numpy(X), from_numpy(y)
    base_seed = int(np.random.default_rng(seed).integers(2**63))
    history = History()
    history.native = use_native
    warned = set()
    bar_factory = _progress_bar if progress else None
    model.train()
    for epoch in range(int(epochs)):
        order = _core.random_permutation(X.shape[0], (base_seed + epoch) % 2**64) if shuffle else None
        bar = bar_factory(epoch, int(epochs), _batch_count(X.shape[0], batch_size)) if bar_factory else None
        running = [0.0, 0]

        def on_batch(value, size, bar=bar, running=running):
            running[0] += value * size
            running[1] += size
            bar.update(1)
            bar.set_postfix(loss=f"{running[0] / running[1]:.4f}", refresh=False)

        run = _native_epoch if use_native else _python_epoch
        # One batch of all rows is the most there can be: this keeps any Python int batch_size
        # (2**63 - 1, 10**30) within the native loop's int64 arithmetic.
        args = (model, loss_fn, optimizer, Xt, yt, order, int(min(batch_size, max(1, X.shape[0]))), count_correct,
                on_batch if bar is not None else None)
        losses, sizes, correct = run(*args, chunks=20 if bar is not None else 1) if use_native else run(*args)
        n = max(sum(sizes), 1)
        logs = {"loss": float(np.dot(losses, sizes) / n) if loss_fn.reduction == "mean" else float(np.sum(losses) / n)}
        if count_correct:
            logs["accuracy"] = correct / n
        if validation_data is not None:
            val_loss, val_accuracy = _evaluate(model, loss_fn, X_val, y_val, count_correct)
            logs["val_loss"] = val_loss
            if count_correct:
                logs["val_accuracy"] = val_accuracy
        logs["lr"] = float(optimizer.param_groups[0]["lr"])
        if monitor:
            logs["gradient_health"] = _monitor(model, epoch, warned)
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
        for cb in callbacks:
            hook = getattr(cb, "on_epoch_end", cb)
            stop = bool(hook(epoch, logs)) or stop
        if stop:
            break
    return history


def _monitor(model, epoch, warned):
    from chainrule import diagnostics
    entries = diagnostics.gradient_health(model)
    for e in entries:
        status, name = str(_entry(e, "status")), _entry(e, "name")
        if status in _UNHEALTHY and (name, status) not in warned:
            warned.add((name, status))
            warnings.warn(f"fit: epoch {epoch + 1}: the gradient of '{name}' is {status} "
                          "(see chainrule.diagnostics.gradient_health)", RuntimeWarning, stacklevel=3)
    return entries


class _PlainBar:
    """A minimal stand-in when tqdm is not installed: one line per epoch."""

    def __init__(self, epoch, epochs, total):
        self.prefix = f"epoch {epoch + 1}/{epochs}"
        self.postfix = {}

    def update(self, n):
        pass

    def set_postfix(self, values=None, refresh=True, **kwargs):
        self.postfix = dict(values or {}, **kwargs)

    def close(self):
        print(self.prefix + "  " + "  ".join(f"{k}={v}" for k, v in self.postfix.items()), flush=True)


def _progress_bar(epoch, epochs, total):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(epoch, epochs, total)
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True)
