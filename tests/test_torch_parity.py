"""The issue's core acceptance: chainrule trains exactly like PyTorch.

The same architecture is built in both libraries, torch's initial weights are copied into chainrule
through load_state_dict (torch's state_dict converted to NumPy), and both train for a few SGD steps
on the same data. The loss of every step and the final weights must agree, for every activation,
every loss, every SGD option and both floating dtypes.
"""

import itertools

import numpy as np
import pytest

from optional_dependencies import require

torch = require("torch")

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.optim as optim  # noqa: E402

ACTIVATIONS = {
    "relu": (lambda m: m.ReLU()),
    "sigmoid": (lambda m: m.Sigmoid()),
    "tanh": (lambda m: m.Tanh()),
    "leaky_relu": (lambda m: m.LeakyReLU(0.1)),
    "gelu": (lambda m: m.GELU()),
    "gelu_tanh": (lambda m: m.GELU(approximate="tanh")),
    "identity": (lambda m: m.Identity()),
}

LOSSES = ["mse", "l1", "huber", "bce_with_logits", "bce", "cross_entropy"]

SGD_OPTIONS = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.9),
    "dampening": dict(lr=0.05, momentum=0.8, dampening=0.3),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "maximize": dict(lr=0.02, momentum=0.5, maximize=True),
    "everything": dict(lr=0.05, momentum=0.7, weight_decay=0.01, nesterov=True),
}

DTYPES = {
    "float32": (np.float32, torch.float32, cr.float32, dict(rtol=1e-5, atol=1e-6)),
    "float64": (np.float64, torch.float64, cr.float64, dict(rtol=1e-10, atol=1e-12)),
}

IN, HIDDEN, OUT, BATCH = 6, 8, 3, 16
STEPS = 8


def _build(mod, activation, loss, torch_dtype_or_cr, container="sequential"):
    layers = [
        mod.Linear(IN, HIDDEN, dtype=torch_dtype_or_cr),
        ACTIVATIONS[activation](mod),
        mod.Linear(HIDDEN, HIDDEN, dtype=torch_dtype_or_cr),
        ACTIVATIONS[activation](mod),
        mod.Linear(HIDDEN, OUT, dtype=torch_dtype_or_cr),
    ]
    if loss == "bce":
        layers.append(mod.Sigmoid())
    if container == "sequential":
        return mod.Sequential(*layers)

    class Loop(mod.Module):
        """Calls each layer from Python: chainrule's per-module path, not a fused Sequential."""

        def __init__(self):
            super().__init__()
            self.layers = mod.Sequential(*layers)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return Loop()


def _criterion(mod, loss, reduction="mean"):
    return {
        "mse": lambda: mod.MSELoss(reduction=reduction),
        "l1": lambda: mod.L1Loss(reduction=reduction),
        "huber": lambda: mod.HuberLoss(reduction=reduction, delta=0.7),
        "bce_with_logits": lambda: mod.BCEWithLogitsLoss(reduction=reduction),
        "bce": lambda: mod.BCELoss(reduction=reduction),
        "cross_entropy": lambda: mod.CrossEntropyLoss(reduction=reduction),
    }[loss]()


def _data(loss, np_dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, IN)).astype(np_dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, OUT, size=BATCH).astype(np.int64)
    elif loss in ("bce", "bce_with_logits"):
        y = rng.uniform(0, 1, size=(BATCH, OUT)).astype(np_dtype)
    else:
        y = rng.standard_normal((BATCH, OUT)).astype(np_dtype)
    return x, y


def _train_both(activation, loss, sgd, dtype, reduction="mean", steps=STEPS, seed=0, container="sequential"):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    torch.manual_seed(seed)
    t_model = _build(torch.nn, activation, loss, t_dtype, container)
    c_model = _build(nn, activation, loss, c_dtype, container)
    result = c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    t_opt = torch.optim.SGD(t_model.parameters(), **SGD_OPTIONS[sgd])
    c_opt = optim.SGD(c_model.parameters(), **SGD_OPTIONS[sgd])
    t_crit, c_crit = _criterion(torch.nn, loss, reduction), _criterion(nn, loss, reduction)
    x, y = _data(loss, np_dtype, seed + 1)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.from_numpy(x), cr.from_numpy(y)
    t_losses, c_losses = [], []
    for _ in range(steps):
        t_loss = t_crit(t_model(tx), ty)
        c_loss = c_crit(c_model(cx), cy)
        if reduction == "none":
            t_loss, c_loss = t_loss.sum(), c_loss.sum()
        t_opt.zero_grad()
        c_opt.zero_grad()
        t_loss.backward()
        c_loss.backward()
        t_opt.step()
        c_opt.step()
        t_losses.append(t_loss.item())
        c_losses.append(c_loss.item())
    return t_model, c_model, np.array(t_losses), np.array(c_losses), tol


def _assert_same(t_model, c_model, t_losses, c_losses, tol):
    assert np.all(np.isfinite(t_losses))
    np.testing.assert_allclose(c_losses, t_losses, **tol, err_msg="loss per step")
    t_state = t_model.state_dict()
    c_state = c_model.state_dict()
    assert list(c_state) == list(t_state)
    for key in t_state:
        c_value = c_state[key].numpy()
        assert c_value.dtype == t_state[key].numpy().dtype, key
        np.testing.assert_allclose(c_value, t_state[key].numpy(), **tol, err_msg=key)


# Every activation x every loss x both dtypes, each with one SGD variant (cycled so that every
# option meets several activations and losses).
_CASES = [(a, loss, d) for a, loss, d in itertools.product(ACTIVATIONS, LOSSES, DTYPES)]
_SGD_CYCLE = list(SGD_OPTIONS)


@pytest.mark.parametrize("container", ["sequential", "loop"])
@pytest.mark.parametrize("activation,loss,dtype", _CASES)
def test_activation_x_loss(activation, loss, dtype, container):
    index = _CASES.index((activation, loss, dtype))
    sgd = _SGD_CYCLE[(index // 2) % len(_SGD_CYCLE)]
    _assert_same(*_train_both(activation, loss, sgd, dtype, container=container))


# Every SGD option x every loss x both dtypes, with a fixed activation.
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sgd", list(SGD_OPTIONS))
def test_sgd_option_x_loss(sgd, loss, dtype):
    _assert_same(*_train_both("tanh", loss, sgd, dtype))


# Every SGD option x every activation, the MSE loss, both dtypes.
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("sgd", list(SGD_OPTIONS))
def test_sgd_option_x_activation(sgd, activation, dtype):
    _assert_same(*_train_both(activation, "mse", sgd, dtype))


@pytest.mark.parametrize("container", ["sequential", "loop"])
@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("loss", LOSSES)
def test_reductions(loss, reduction, container):
    _assert_same(*_train_both("relu", loss, "momentum", "float64", reduction=reduction, container=container))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_longer_training(dtype):
    # More steps: errors would compound; the agreement must hold all along.
    t_model, c_model, t_losses, c_losses, tol = _train_both("tanh", "cross_entropy", "nesterov", dtype, steps=60)
    assert c_losses[-1] < c_losses[0]
    if dtype == "float32":
        tol = dict(rtol=1e-4, atol=1e-5)  # 60 float32 steps: rounding differences compound
    _assert_same(t_model, c_model, t_losses, c_losses, tol)


@pytest.mark.slow
def test_seed_architecture_full_batch_float32():
    # The seed's Linear(10, 5) -> ReLU -> Linear(5, 1) with MSE and SGD(lr=0.01), 100 epochs.
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    c_model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))
    c_model.load_state_dict({k: v.numpy() for k, v in t_model.state_dict().items()})
    x, y = torch.randn(100, 10), torch.randn(100, 1)
    cx, cy = cr.from_numpy(x.numpy()), cr.from_numpy(y.numpy())
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.01)
    c_opt = optim.SGD(c_model.parameters(), lr=0.01)
    for epoch in range(100):
        t_loss = torch.nn.MSELoss()(t_model(x), y)
        c_loss = nn.MSELoss()(c_model(cx), cy)
        np.testing.assert_allclose(c_loss.item(), t_loss.item(), rtol=1e-5, err_msg=f"epoch {epoch}")
        for opt, loss in ((t_opt, t_loss), (c_opt, c_loss)):
            opt.zero_grad()
            loss.backward()
            opt.step()
