"""The native loop: whole epochs in C++ (_core.fit_batches) over a Sequential's fused chain.

It runs when the model is an nn.Sequential whose fused_chain() exists, the loss is built in and
the optimizer's step() is the base class's: each epoch then gathers the shuffled minibatch, runs
forward, loss, backward and the optimizer's own group steps in C++ with the GIL released.
"""

from __future__ import annotations

import numpy as np

from chainrule import _core
from chainrule._kinds import reduction_kind
from chainrule.training._data import batch_count


def native_reason(model, loss_fn, optimizer, y):
    """None when the native loop can run this training, else why not."""
    from chainrule import nn, optim

    if type(model) is not nn.Sequential:
        return f"the model is a {type(model).__name__}, not an nn.Sequential of built-in layers"
    if model.fused_chain() is None:
        return (
            "the Sequential has a module the fused chain cannot take (only Linear, built-in activations, "
            "Dropout, BatchNorm1d on 2-D input, LayerNorm over the last dimension and Softmax or LogSoftmax over "
            "the features)"
        )
    loss_kind = native_loss_kind(loss_fn)
    if loss_kind is None:
        return f"the loss {type(loss_fn).__name__} is not a built-in loss"
    if loss_fn.reduction == "none":
        return "the loss has reduction='none'"
    if (
        any(getattr(loss_fn, name, None) is not None for name in ("weight", "pos_weight"))
        or getattr(loss_fn, "label_smoothing", 0.0) != 0.0
        or getattr(loss_fn, "ignore_index", -100) != -100
    ):
        return "the loss's weight, pos_weight, ignore_index or label_smoothing run in the Python loop"
    if loss_kind == _core.LossKind.cross_entropy and y.dtype != np.int64:
        return "cross-entropy with probability targets runs in the Python loop"
    if loss_kind == _core.LossKind.nll and y.dtype != np.int64:
        return "NLLLoss natively needs integer class labels as y"
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


_LOSS_KINDS: dict = {}


def native_loss_kind(loss_fn):
    """The name fit_batches knows a built-in loss by, or None (subclasses run in Python)."""
    if not _LOSS_KINDS:  # built at the first call: chainrule.nn imports this module's package
        from chainrule import nn

        kind = _core.LossKind
        _LOSS_KINDS.update(
            {
                nn.MSELoss: kind.mse,
                nn.L1Loss: kind.l1,
                nn.HuberLoss: kind.huber,
                nn.BCELoss: kind.bce,
                nn.BCEWithLogitsLoss: kind.bce_with_logits,
                nn.CrossEntropyLoss: kind.cross_entropy,
                nn.NLLLoss: kind.nll,
            }
        )
    return _LOSS_KINDS.get(type(loss_fn))


def native_epoch(model, loss_fn, optimizer, Xt, yt, order, batch_size, count_correct, on_batch, chunks):
    """One epoch in C++: in `chunks` calls (for a progress bar), or one. on_batch is None or
    called with each batch's loss and size after its chunk. order: the row order as a tensor,
    None, or the int seed that random_permutation draws it from (one call: fit_batches draws it)."""
    chain = model.fused_chain()  # set to the modules' current (training) modes
    loss_kind = native_loss_kind(loss_fn)
    # Only HuberLoss has a delta (a getattr that fails costs a microsecond in Module.__getattr__).
    delta = float(loss_fn.delta) if loss_kind == _core.LossKind.huber else 0.0
    steps = optimizer.group_steps()
    batches = batch_count(len(Xt), batch_size)
    chunks = max(1, min(chunks, batches))
    if isinstance(order, int) and chunks > 1:  # drawn once, not once per chunk
        order = _core.random_permutation(Xt.shape[0], order)
    losses, sizes, correct = [], [], 0
    try:
        for chunk in range(chunks):
            first, last = batches * chunk // chunks, batches * (chunk + 1) // chunks
            chunk_losses, chunk_sizes, chunk_correct = _core.fit_batches(
                chain,
                Xt,
                yt,
                order,
                batch_size,
                first,
                last,
                loss_kind,
                reduction_kind(loss_fn.reduction),
                delta,
                steps,
                count_correct,
            )
            losses += chunk_losses
            sizes += chunk_sizes
            correct += chunk_correct
            if on_batch is not None:
                for value, size in zip(chunk_losses, chunk_sizes):
                    on_batch(value, size)
    finally:
        optimizer.publish_state(steps)
    return losses, sizes, correct
