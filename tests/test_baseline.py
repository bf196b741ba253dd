"""The NumPy baseline (chainrule.baseline): finite differences always, PyTorch when importable."""

import math

import numpy as np
import pytest

from chainrule import baseline
from optional_dependencies import require

Activation = baseline.Activation
MLP = baseline.MLP

ALL_ACTIVATIONS = [
    Activation("identity"),
    Activation("relu"),
    Activation("leaky_relu", negative_slope=0.2),
    Activation("sigmoid"),
    Activation("tanh"),
    Activation("gelu", approximate="none"),
    Activation("gelu", approximate="tanh"),
]


def _ids(values):
    return [repr(v) for v in values]


# --------------------------------------------------------------------------------------------------
# Without PyTorch: erf, finite differences, dtypes, errors.


def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 4001), [0.0, -0.0, 1e-300, 30.0, -30.0, np.inf, -np.inf]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(baseline.erf(x), expected, rtol=0, atol=5e-15)
    assert baseline.erf(x.astype(np.float32)).dtype == np.float32


def _numerical_gradient(function, array, step=1e-6):
    """Central differences of the scalar function() with respect to each element of array, in place."""
    gradient = np.zeros_like(array)
    flat, flat_gradient = array.reshape(-1), gradient.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + step
        plus = function()
        flat[i] = saved - step
        minus = function()
        flat[i] = saved
        flat_gradient[i] = (plus - minus) / (2 * step)
    return gradient


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS, ids=_ids(ALL_ACTIVATIONS))
def test_activation_backward_matches_finite_differences(activation):
    # Avoid the kinks of relu and leaky_relu at 0, where the derivative is a convention.
    z = np.array([-3.0, -1.2, -0.3, 0.25, 0.9, 2.7])
    da = np.linspace(0.5, 1.5, z.size)
    a = activation.forward(z)
    dz = activation.backward(da, z, a)
    expected = _numerical_gradient(lambda: float(da @ activation.forward(z)), z)
    np.testing.assert_allclose(dz, expected, rtol=1e-7, atol=1e-9)


LOSS_CASES = [
    ("mse", {}),
    ("l1", {}),
    ("huber", {"delta": 0.7}),
    ("cross_entropy", {}),
    ("bce_with_logits", {}),
    ("bce", {}),
]


def _loss_inputs(name, rng, batch=5, features=3):
    output = rng.normal(size=(batch, features))
    if name == "cross_entropy":
        return output, rng.integers(0, features, size=batch)
    if name == "bce":
        return rng.uniform(0.05, 0.95, size=(batch, features)), rng.uniform(0, 1, size=(batch, features))
    if name == "bce_with_logits":
        return output, rng.uniform(0, 1, size=(batch, features))
    # Offsets keep output - target away from l1's and huber's kinks.
    return output, output + rng.choice([-1.3, -0.4, 0.2, 1.1], size=output.shape)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, options", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_gradient_matches_finite_differences(name, options, reduction):
    rng = np.random.default_rng(1)
    output, target = _loss_inputs(name, rng)
    loss_function = baseline.LOSSES[name]
    value, doutput = loss_function(output, target, reduction=reduction, **options)
    assert isinstance(value, float) and doutput.shape == output.shape
    expected = _numerical_gradient(lambda: loss_function(output, target, reduction=reduction, **options)[0], output)
    np.testing.assert_allclose(doutput, expected, rtol=1e-6, atol=1e-8)


def test_mlp_backward_matches_finite_differences():
    model = MLP.from_sizes([4, 6, 5, 3], activation="tanh", dtype=np.float64, rng=3)
    model.activations[1] = Activation("gelu")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(7, 4))
    labels = rng.integers(0, 3, size=7)

    def loss():
        return baseline.cross_entropy_loss(model.forward(X), labels)[0]

    _, doutput = baseline.cross_entropy_loss(model.forward(X), labels)
    dweights, dbiases = model.backward(doutput)
    for layer in range(3):
        np.testing.assert_allclose(
            dweights[layer], _numerical_gradient(loss, model.weights[layer]), rtol=1e-6, atol=1e-9
        )
        np.testing.assert_allclose(dbiases[layer], _numerical_gradient(loss, model.biases[layer]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_the_parameters(dtype):
    model = MLP.from_sizes([3, 4, 2], activation="gelu", dtype=dtype, rng=0)
    X = np.ones((5, 3), dtype=dtype)
    output = model.forward(X)
    assert output.dtype == dtype
    assert all(z.dtype == dtype for z in model.z) and all(a.dtype == dtype for a in model.a)
    for name, _ in LOSS_CASES:
        target = np.zeros(5, dtype=np.int64) if name == "cross_entropy" else np.full(output.shape, 0.5, dtype)
        probabilities = 1 / (1 + np.exp(-output)) if name == "bce" else output
        _, doutput = baseline.LOSSES[name](probabilities, target)
        assert doutput.dtype == dtype, name
    model.train_step(X, np.zeros((5, 2), dtype), "mse", lr=0.1, momentum=0.9, weight_decay=1e-2)
    assert all(p.dtype == dtype for p in model.parameters() + model.gradients())
    assert all(buffer.dtype == dtype for buffer in model.momentum_buffers)


def test_backward_overwrites_gradients():
    model = MLP.from_sizes([3, 4, 2], dtype=np.float64, rng=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    model.forward(X)
    first = [g.copy() for g in model.backward(np.ones((6, 2)))[0]]
    model.forward(X)
    second = model.backward(np.ones((6, 2)))[0]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_from_sizes_uses_torch_default_bounds():
    model = MLP.from_sizes([400, 300, 10], dtype=np.float64, rng=0)
    for weight, bias in zip(model.weights, model.biases):
        bound = 1 / math.sqrt(weight.shape[1])
        assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
        assert np.abs(weight).max() > 0.99 * bound
    assert model.sizes == [400, 300, 10]
    assert "Linear(400, 300)" in repr(model)


def test_parameters_are_copied():
    weight, bias = np.ones((2, 3)), np.zeros(2)
    model = MLP([weight], [bias], ["identity"])
    model.train_step(np.ones((1, 3)), np.zeros((1, 2)), "mse", lr=0.1)
    assert np.all(weight == 1) and np.all(bias == 0)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-5e3, 5e3, 0.0]])
    value, dlogits = baseline.cross_entropy_loss(logits, np.array([1, 1]))
    assert np.isfinite(value) and np.all(np.isfinite(dlogits))
    assert value == pytest.approx(1e4 / 2)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: MLP([np.ones((2, 3))], [np.ones(3)], ["relu"]), ValueError),
        (
            lambda: MLP([np.ones((2, 3)), np.ones((4, 3))], [np.ones(2), np.ones(4)], ["relu", "identity"]),
            ValueError,
        ),
        (lambda: MLP([np.ones((2, 3), np.int64)], [np.ones(2, np.int64)], ["relu"]), TypeError),
        (lambda: MLP([np.ones((2, 3))], [np.ones(2, np.float32)], ["relu"]), TypeError),
        (lambda: MLP([np.ones((2, 3))], [np.ones(2)], ["swish"]), ValueError),
        (lambda: Activation("gelu", approximate="erf"), ValueError),
        (
            lambda: MLP([np.ones((2, 3))], [np.ones(2)], ["relu"]).forward(np.ones((4, 3), np.float32)),
            TypeError,
        ),
        (lambda: MLP([np.ones((2, 3))], [np.ones(2)], ["relu"]).forward(np.ones((4, 2))), ValueError),
        (lambda: MLP([np.ones((2, 3))], [np.ones(2)], ["relu"]).backward(np.ones((4, 2))), RuntimeError),
        (lambda: MLP([np.ones((2, 3))], [np.ones(2)], ["relu"]).sgd_step(0.1), RuntimeError),
        (lambda: baseline.mse_loss(np.ones((4, 1)), np.ones(4)), ValueError),
        (lambda: baseline.mse_loss(np.ones((4, 1)), np.ones((4, 1)), reduction="none"), ValueError),
        (lambda: baseline.cross_entropy_loss(np.ones((4, 3)), np.array([0, 1, 2, 3])), ValueError),
        (lambda: baseline.cross_entropy_loss(np.ones((4, 3)), np.zeros(4)), ValueError),
        (lambda: baseline.huber_loss(np.ones(2), np.ones(2), delta=0.0), ValueError),
    ],
)
def test_bad_arguments_raise(call, error):
    with pytest.raises(error):
        call()


def test_nesterov_needs_momentum_and_no_dampening():
    model = MLP.from_sizes([2, 2], dtype=np.float64, rng=0)
    model.forward(np.ones((1, 2)))
    model.backward(np.ones((1, 2)))
    with pytest.raises(ValueError):
        model.sgd_step(0.1, nesterov=True)
    with pytest.raises(ValueError):
        model.sgd_step(0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_training_reduces_the_seed_loss():
    # The seed document's example: 10-5-1 ReLU, MSE, SGD lr 0.01, 100 random samples.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 10)).astype(np.float32)
    y = rng.normal(size=(100, 1)).astype(np.float32)
    model = MLP.from_sizes([10, 5, 1], dtype=np.float32, rng=0)
    losses = [model.train_step(X, y, "mse", lr=0.01) for _ in range(100)]
    assert losses[-1] < losses[0]


# --------------------------------------------------------------------------------------------------
# Against PyTorch: same initial weights, same data, several steps; losses and final parameters agree.


@pytest.fixture(scope="module")
def torch():
    """PyTorch, or a skip of the test that asks for it (the tests above still run without it)."""
    return require("torch")


def _torch_activation(torch, activation):
    return {
        "identity": lambda: torch.nn.Identity(),
        "relu": lambda: torch.nn.ReLU(),
        "leaky_relu": lambda: torch.nn.LeakyReLU(activation.negative_slope),
        "sigmoid": lambda: torch.nn.Sigmoid(),
        "tanh": lambda: torch.nn.Tanh(),
        "gelu": lambda: torch.nn.GELU(approximate=activation.approximate),
    }[activation.name]()


def _torch_model(torch, model):
    layers = []
    for weight, bias, activation in zip(model.weights, model.biases, model.activations):
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.from_numpy(weight).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight))
            linear.bias.copy_(torch.from_numpy(bias))
        layers += [linear, _torch_activation(torch, activation)]
    return torch.nn.Sequential(*layers)


def _torch_loss(torch, name, reduction, options):
    return {
        "mse": lambda: torch.nn.MSELoss(reduction=reduction),
        "l1": lambda: torch.nn.L1Loss(reduction=reduction),
        "huber": lambda: torch.nn.HuberLoss(reduction=reduction, **options),
        "cross_entropy": lambda: torch.nn.CrossEntropyLoss(reduction=reduction),
        "bce_with_logits": lambda: torch.nn.BCEWithLogitsLoss(reduction=reduction),
        "bce": lambda: torch.nn.BCELoss(reduction=reduction),
    }[name]()


# (sizes, hidden activation, output activation, loss, loss options, reduction, SGD options)
PARITY_CASES = {
    "seed_relu_mse": ([10, 5, 1], "relu", "identity", "mse", {}, "mean", {"lr": 0.01}),
    "tanh_cross_entropy_momentum": (
        [8, 16, 16, 4],
        "tanh",
        "identity",
        "cross_entropy",
        {},
        "mean",
        {"lr": 0.1, "momentum": 0.9},
    ),
    "sigmoid_bce_logits_nesterov_decay": (
        [6, 12, 3],
        "sigmoid",
        "identity",
        "bce_with_logits",
        {},
        "mean",
        {"lr": 0.2, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
    ),
    "leaky_huber_sum_dampening": (
        [5, 7, 7, 2],
        Activation("leaky_relu", negative_slope=0.1),
        "identity",
        "huber",
        {"delta": 0.5},
        "sum",
        {"lr": 0.01, "momentum": 0.5, "dampening": 0.3},
    ),
    "gelu_l1_maximize": (
        [4, 9, 3],
        Activation("gelu"),
        "identity",
        "l1",
        {},
        "mean",
        {"lr": 0.01, "maximize": True},
    ),
    "gelu_tanh_mse_sum_decay": (
        [6, 10, 2],
        Activation("gelu", approximate="tanh"),
        "identity",
        "mse",
        {},
        "sum",
        {"lr": 0.005, "weight_decay": 0.1, "momentum": 0.8},
    ),
    "relu_sigmoid_output_bce": (
        [7, 11, 3],
        "relu",
        "sigmoid",
        "bce",
        {},
        "mean",
        {"lr": 0.5, "momentum": 0.5},
    ),
    "deep_relu_cross_entropy_sum": (
        [12, 20, 20, 20, 5],
        "relu",
        "identity",
        "cross_entropy",
        {},
        "sum",
        {"lr": 0.01, "weight_decay": 1e-3},
    ),
}

STEPS = 6


def _targets(loss_name, rng, batch, outputs, dtype):
    if loss_name == "cross_entropy":
        return rng.integers(0, outputs, size=batch)  # int64, as torch wants
    if loss_name in ("bce", "bce_with_logits"):
        return rng.uniform(0, 1, size=(batch, outputs)).astype(dtype)
    return rng.normal(size=(batch, outputs)).astype(dtype)


# float64 agrees to rounding; float32 to the accumulated float32 rounding of a few steps.
TOLERANCES = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 2e-4, "atol": 2e-5}}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", list(PARITY_CASES), ids=list(PARITY_CASES))
def test_training_matches_torch(torch, case, dtype):
    sizes, hidden, output_activation, loss_name, loss_options, reduction, sgd_options = PARITY_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    model = MLP.from_sizes(sizes, hidden, output_activation, dtype=dtype, rng=rng)
    reference = _torch_model(torch, model)
    criterion = _torch_loss(torch, loss_name, reduction, loss_options)
    optimizer = torch.optim.SGD(reference.parameters(), **sgd_options)

    batch = 16
    for step in range(STEPS):
        X = rng.normal(size=(batch, sizes[0])).astype(dtype)
        target = _targets(loss_name, rng, batch, sizes[-1], dtype)

        loss = model.train_step(X, target, loss_name, reduction=reduction, **sgd_options, **loss_options)

        optimizer.zero_grad()
        reference_loss = criterion(reference(torch.from_numpy(X)), torch.from_numpy(target))
        reference_loss.backward()
        optimizer.step()

        np.testing.assert_allclose(loss, reference_loss.item(), **TOLERANCES[dtype], err_msg=f"loss at step {step}")

    for index, (ours, theirs) in enumerate(zip(model.parameters(), reference.parameters())):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOLERANCES[dtype], err_msg=f"parameter {index}")


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS, ids=_ids(ALL_ACTIVATIONS))
def test_activation_matches_torch_at_edges(torch, activation):
    z = np.array([-40.0, -8.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 3.0, 9.0, 40.0])
    da = np.linspace(-1, 2, z.size)
    z_torch = torch.tensor(z, requires_grad=True)
    a_torch = _torch_activation(torch, activation)(z_torch)
    a_torch.backward(torch.from_numpy(da))
    a = activation.forward(z)
    np.testing.assert_allclose(a, a_torch.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(activation.backward(da, z, a), z_torch.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, options", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_torch_at_edges(torch, name, options, reduction):
    # Extreme values: saturated logits, probabilities of exactly 0 and 1, exact hits for l1 and huber.
    if name == "cross_entropy":
        output = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0], [-800.0, 800.0, 799.0]])
        target = np.array([2, 0, 2])
    elif name == "bce":
        output = np.array([[0.0, 1.0, 0.5], [1e-13, 1 - 1e-13, 0.3]])
        target = np.array([[0.0, 1.0, 0.2], [1.0, 0.0, 0.3]])
    elif name == "bce_with_logits":
        output = np.array([[-800.0, 800.0, 0.0], [40.0, -40.0, 1e-9]])
        target = np.array([[0.0, 1.0, 0.5], [0.0, 1.0, 1.0]])
    else:
        output = np.array([[0.0, 1.0, -2.0], [0.7, -0.2, 5.0]])
        target = np.array([[0.0, 0.3, -2.7], [0.0, -0.2, -5.0]])
    value, doutput = baseline.LOSSES[name](output, target, reduction=reduction, **options)
    output_torch = torch.tensor(output, requires_grad=True)
    expected = _torch_loss(torch, name, reduction, options)(output_torch, torch.from_numpy(target))
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(doutput, output_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
