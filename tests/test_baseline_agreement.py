"""chainrule against its oracle, the NumPy baseline (chainrule.baseline): the seed's backprop
equations written out in NumPy. Same initial weights and data; the loss of every step and the
final weights must agree, on several architectures (deep, wide, every activation and loss)."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule import baseline

_MODULE_OF = {
    "identity": lambda a: nn.Identity(),
    "relu": lambda a: nn.ReLU(),
    "leaky_relu": lambda a: nn.LeakyReLU(a.negative_slope),
    "sigmoid": lambda a: nn.Sigmoid(),
    "tanh": lambda a: nn.Tanh(),
    "gelu": lambda a: nn.GELU(approximate=a.approximate),
}

_CRITERION_OF = {
    "mse": lambda r, o: nn.MSELoss(reduction=r),
    "l1": lambda r, o: nn.L1Loss(reduction=r),
    "huber": lambda r, o: nn.HuberLoss(reduction=r, **o),
    "cross_entropy": lambda r, o: nn.CrossEntropyLoss(reduction=r),
    "bce_with_logits": lambda r, o: nn.BCEWithLogitsLoss(reduction=r),
    "bce": lambda r, o: nn.BCELoss(reduction=r),
}

A = baseline.Activation

# name: (sizes, hidden activation, output activation, loss, loss options, SGD options, steps)
ARCHITECTURES = {
    "seed": ([10, 5, 1], A("relu"), A("identity"), "mse", {}, dict(lr=0.01), 30),
    "deep_tanh": ([6, 8, 8, 8, 8, 8, 8, 3], A("tanh"), A("identity"), "mse", {}, dict(lr=0.1, momentum=0.9), 20),
    "deep_sigmoid_l1": (
        [5, 7, 7, 7, 7, 2],
        A("sigmoid"),
        A("identity"),
        "l1",
        {},
        dict(lr=0.2, momentum=0.5, dampening=0.5),
        20,
    ),
    "wide_relu_ce": (
        [20, 256, 4],
        A("relu"),
        A("identity"),
        "cross_entropy",
        {},
        dict(lr=0.1, nesterov=True, momentum=0.9),
        20,
    ),
    "very_wide_leaky_huber": (
        [3, 512, 512, 2],
        A("leaky_relu", negative_slope=0.2),
        A("identity"),
        "huber",
        {"delta": 0.5},
        dict(lr=0.05, weight_decay=0.01),
        10,
    ),
    "gelu_tanh_bce": ([4, 12, 12, 1], A("gelu", approximate="tanh"), A("sigmoid"), "bce", {}, dict(lr=0.5), 20),
    "gelu_bce_logits": (
        [4, 16, 3],
        A("gelu"),
        A("identity"),
        "bce_with_logits",
        {},
        dict(lr=0.3, momentum=0.8, weight_decay=1e-3),
        20,
    ),
    "identity_ce_maximize": (
        [6, 6, 5],
        A("identity"),
        A("identity"),
        "cross_entropy",
        {},
        dict(lr=0.01, maximize=True),
        10,
    ),
    "tanh_output_mse": ([3, 10, 10, 2], A("relu"), A("tanh"), "mse", {}, dict(lr=0.1, momentum=0.9, nesterov=True), 20),
}


def _chainrule_model(mlp: baseline.MLP, dtype):
    modules = []
    for act in mlp.activations:
        modules.append(None)  # placeholder for the Linear
        if act.name != "identity":
            modules.append(_MODULE_OF[act.name](act))
    linears = iter(range(len(mlp.weights)))
    layers = []
    for m in modules:
        if m is None:
            i = next(linears)
            layers.append(nn.Linear(mlp.weights[i].shape[1], mlp.weights[i].shape[0], dtype=dtype))
        else:
            layers.append(m)
    model = nn.Sequential(*layers)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    state = {}
    for name, w, b in zip(names, mlp.weights, mlp.biases):
        state[f"{name}.weight"], state[f"{name}.bias"] = w, b
    model.load_state_dict(state)
    return model, names


def _data(sizes, loss, np_dtype, seed=1, batch=24):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np_dtype)
    if loss == "cross_entropy":
        return x, rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    if loss in ("bce", "bce_with_logits"):
        return x, (rng.uniform(size=(batch, sizes[-1])) > 0.5).astype(np_dtype)
    return x, rng.standard_normal((batch, sizes[-1])).astype(np_dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_training_agrees_with_numpy_baseline(arch, dtype, reduction):
    sizes, hidden, output, loss, loss_options, sgd, steps = ARCHITECTURES[arch]
    if reduction == "sum":
        sgd = dict(sgd, lr=sgd["lr"] / 24)  # the batch is 24: keep the same step size
    np_dtype = np.dtype(dtype).type
    mlp = baseline.MLP.from_sizes(sizes, activation=hidden, output_activation=output, dtype=np_dtype, rng=0)
    model, names = _chainrule_model(mlp, cr.float32 if dtype == "float32" else cr.float64)
    opt = optim.SGD(model.parameters(), **sgd)
    criterion = _CRITERION_OF[loss](reduction, loss_options)
    x, y = _data(sizes, loss, np_dtype)
    cx, cy = cr.from_numpy(x), cr.from_numpy(y)

    expected, actual = [], []
    for _ in range(steps):
        expected.append(mlp.train_step(x, y, loss=loss, reduction=reduction, **sgd, **loss_options))
        value = criterion(model(cx), cy)
        opt.zero_grad()
        value.backward()
        opt.step()
        actual.append(value.item())

    if dtype == "float32":
        # Both sides round in float32, in different orders (BLAS vs chainrule's kernels).
        tol = dict(rtol=1e-5, atol=1e-6)
    else:
        tol = dict(rtol=1e-9, atol=1e-11)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(actual, expected, **tol, err_msg="loss per step")
    if not sgd.get("maximize"):
        assert actual[-1] < actual[0]
    state = model.state_dict()
    for name, w, b in zip(names, mlp.weights, mlp.biases):
        assert state[f"{name}.weight"].numpy().dtype == np_dtype
        np.testing.assert_allclose(state[f"{name}.weight"].numpy(), w, **tol, err_msg=f"{name}.weight")
        np.testing.assert_allclose(state[f"{name}.bias"].numpy(), b, **tol, err_msg=f"{name}.bias")


@pytest.mark.parametrize(
    "activation",
    [
        A("identity"),
        A("relu"),
        A("leaky_relu", negative_slope=0.1),
        A("sigmoid"),
        A("tanh"),
        A("gelu"),
        A("gelu", approximate="tanh"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "cross_entropy", "bce_with_logits", "bce"])
def test_single_step_gradients_agree(activation, loss):
    # One backward, float64: chainrule's gradients are the baseline's delta recursion to ~1e-12.
    sizes = [5, 9, 9, 3] if loss != "bce" else [5, 9, 9, 1]
    output = A("sigmoid") if loss == "bce" else A("identity")
    mlp = baseline.MLP.from_sizes(sizes, activation=activation, output_activation=output, dtype=np.float64, rng=4)
    model, names = _chainrule_model(mlp, cr.float64)
    x, y = _data(sizes, loss, np.float64, seed=5)
    value, dout = baseline.LOSSES[loss](mlp.forward(x), y)
    mlp.backward(dout)
    c_value = _CRITERION_OF[loss]("mean", {})(model(cr.from_numpy(x)), cr.from_numpy(y))
    c_value.backward()
    np.testing.assert_allclose(c_value.item(), value, rtol=1e-12)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer, dw, db in zip(linears, mlp.dweights, mlp.dbiases):
        np.testing.assert_allclose(layer.weight.grad.numpy(), dw, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(layer.bias.grad.numpy(), db, rtol=1e-10, atol=1e-13)
