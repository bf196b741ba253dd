"""A short seeded training run on a given device: what the device tests compare with the CPU's."""

import chainrule as cr
from chainrule import nn


def train(make_model, make_optimizer, criterion, device, *, dtype=cr.float64, rows=40, steps=25):
    """`steps` full-batch steps of a freshly seeded model on `device`: (losses, final parameters as
    host arrays, the model). The data and the initial parameters are drawn on the CPU, so every
    device starts from the same numbers."""
    cr.manual_seed(11)
    model = make_model().to(dtype)
    x = cr.randn(rows, 6, dtype=dtype)
    y = cr.randint(0, 3, (rows,)) if isinstance(criterion, nn.CrossEntropyLoss) else cr.randn(rows, 3, dtype=dtype)
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = make_optimizer(model.parameters())
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().cpu().numpy() for p in model.parameters()], model
