"""The Python loop (model(x), loss, zero_grad, backward, step per minibatch) and validation."""

from __future__ import annotations

import numpy as np

from chainrule._grad_mode import no_grad
from chainrule.training._data import batch_count


def python_epoch(model, loss_fn, optimizer, Xt, yt, order, batch_size, count_correct, on_batch):
    n = Xt.shape[0]
    losses, sizes, correct = [], [], 0
    for bi in range(batch_count(n, batch_size)):
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


def evaluate(model, loss_fn, X, y, count_correct):
    from chainrule._core import from_numpy

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
