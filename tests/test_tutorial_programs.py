"""Four small programs in the style of the public PyTorch tutorials, each written once against a
module object `torch`: it runs with `chainrule` and, when it is importable, with real PyTorch from
the same initial weights and data, and the losses must agree step by step (float64 to 1e-10,
float32 to 1e-5, relative). Without PyTorch each still runs and must show that it learned.

- fit_sine_polynomial: raw tensors, a cubic fitted to sin(x), manual updates under no_grad.
- fit_with_custom_function: an autograd.Function (the Legendre polynomial P3) inside the model.
- train_classifier: a quickstart-style loop with DataLoader, CrossEntropyLoss, SGD and an
  argmax / == / .type(torch.float) accuracy.
- train_physics_informed: a network whose loss uses the second derivative of its output with
  respect to its input, through autograd.grad(..., create_graph=True) twice.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule

DTYPES = ["float64", "float32"]
# Relative agreement of the per-step losses with PyTorch's.
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def fit_sine_polynomial(torch, dtype_name: str, steps: int = 300) -> list[float]:
    """y = a + b x + c x^2 + d x^3 fitted to sin(x) on [-pi, pi] by plain gradient descent."""
    dtype = getattr(torch, dtype_name)
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    y = torch.sin(x)
    start = np.random.default_rng(0).standard_normal(4)
    a, b, c, d = (torch.tensor(float(v), dtype=dtype, requires_grad=True) for v in start)
    learning_rate = 1e-6
    losses = []
    for step in range(steps):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= learning_rate * p.grad
            # both ways tutorials reset a gradient
            a.grad = None
            b.grad = None
            c.grad.zero_()
            d.grad.zero_()
    return losses


def legendre_p3(torch):
    class LegendrePolynomial3(torch.autograd.Function):
        """P3(x) = (5x^3 - 3x) / 2 with its derivative written by hand."""

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    return LegendrePolynomial3


def fit_with_custom_function(torch, dtype_name: str, steps: int = 300) -> list[float]:
    """y = a + b P3(c + d x) fitted to sin(x), P3 an autograd.Function."""
    dtype = getattr(torch, dtype_name)
    P3 = legendre_p3(torch)
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    y = torch.sin(x)
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    losses = []
    for step in range(steps):
        y_pred = a + b * P3.apply(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        assert d.grad is not None and d.grad.shape == ()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= learning_rate * p.grad
                p.grad = None
    return losses


def _classification_data(n: int, seed: int):
    """n points of three Gaussian blobs in 20 dimensions (the same blobs for every seed), labels 0..2."""
    centers = np.random.default_rng(0).standard_normal((3, 20))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    features = centers[labels] + rng.standard_normal((n, 20))
    return features, labels


def _set_weights(torch, model, dtype, seed: int) -> None:
    """PyTorch's default Linear initialisation drawn from NumPy, so both libraries start alike."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                bound = 1 / math.sqrt(layer.in_features)
                layer.weight.copy_(torch.tensor(rng.uniform(-bound, bound, tuple(layer.weight.shape)), dtype=dtype))
                layer.bias.copy_(torch.tensor(rng.uniform(-bound, bound, tuple(layer.bias.shape)), dtype=dtype))


def train_classifier(torch, dtype_name: str, epochs: int = 4) -> list[float]:
    """Train and test loops as in the quickstart: per-batch losses, then test loss and accuracy."""
    dtype = getattr(torch, dtype_name)
    data = torch.utils.data
    train_x, train_y = _classification_data(512, seed=1)
    test_x, test_y = _classification_data(256, seed=2)
    train_loader = data.DataLoader(
        data.TensorDataset(torch.tensor(train_x, dtype=dtype), torch.tensor(train_y)), batch_size=32
    )
    test_loader = data.DataLoader(
        data.TensorDataset(torch.tensor(test_x, dtype=dtype), torch.tensor(test_y)), batch_size=64
    )
    nn = torch.nn
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))
    model = model.to(dtype)
    _set_weights(torch, model, dtype, seed=3)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    record = []
    for epoch in range(epochs):
        model.train()
        for batch, (X, y) in enumerate(train_loader):
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            record.append(loss.item())
        model.eval()
        test_loss, correct = 0.0, 0.0
        with torch.no_grad():
            for X, y in test_loader:
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        record.append(test_loss / len(test_loader))
        record.append(correct / len(test_loader.dataset))
    return record


def train_physics_informed(torch, dtype_name: str, steps: int = 60) -> list[float]:
    """u'' = -pi^2 sin(pi x) on [0, 1] with u(0) = u(1) = 0 (solution sin(pi x)), learned by a
    tanh network whose loss holds the residual of the equation."""
    dtype = getattr(torch, dtype_name)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)
    _set_weights(torch, model, dtype, seed=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.linspace(0, 1, 64, dtype=dtype).reshape(-1, 1).requires_grad_(True)
    boundary = torch.tensor([[0.0], [1.0]], dtype=dtype)
    forcing = -(math.pi**2) * torch.sin(math.pi * x.detach())
    losses = []
    for step in range(steps):
        u = model(x)
        (du,) = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)
        (d2u,) = torch.autograd.grad(du, x, grad_outputs=torch.ones_like(du), create_graph=True)
        residual = d2u - forcing
        loss = residual.pow(2).mean() + 10 * model(boundary).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


PROGRAMS = {
    "fit_sine_polynomial": fit_sine_polynomial,
    "fit_with_custom_function": fit_with_custom_function,
    "train_classifier": train_classifier,
    "train_physics_informed": train_physics_informed,
}


# How much each regression's loss must have fallen by its last step.
LOSS_FALLS_BY = {"fit_sine_polynomial": 10, "fit_with_custom_function": 4, "train_physics_informed": 10}


def _learned(name: str, record: list[float]) -> None:
    assert all(math.isfinite(v) for v in record)
    if name == "train_classifier":
        first_loss, final_accuracy = record[0], record[-1]
        assert record[-2] < first_loss / 2, "the test loss did not fall"
        assert final_accuracy > 0.9, f"accuracy {final_accuracy:.3f} after training"
    else:
        assert record[-1] < record[0] / LOSS_FALLS_BY[name], f"loss went from {record[0]:.4g} to {record[-1]:.4g}"


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_learns_with_chainrule(name, dtype_name):
    _learned(name, PROGRAMS[name](chainrule, dtype_name))


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_matches_pytorch_step_for_step(name, dtype_name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the step-by-step comparison needs it")
    torch.set_num_threads(chainrule.get_num_threads())
    ours = PROGRAMS[name](chainrule, dtype_name)
    theirs = PROGRAMS[name](torch, dtype_name)
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[dtype_name], atol=0)
