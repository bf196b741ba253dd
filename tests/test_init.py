"""nn.init: every initializer's distribution (moments within sampling error) and shape rules,
against the formulas PyTorch documents, and calculate_gain against PyTorch's table."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn import init
from optional_dependencies import require

ROWS, COLS = 300, 400  # 120,000 draws: a standard deviation of the sample mean of ~0.003 sigma


def _w(*shape, dtype=cr.float64):
    return cr.empty(*shape, dtype=dtype)


def _check_moments(values, mean, std):
    n = values.size
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(n) + 1e-12
    assert abs(values.std() - std) < 5 * std / math.sqrt(2 * n) + 1e-12


def test_calculate_gain_matches_torch():
    torch = require("torch")
    for name, param in [
        ("linear", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("selu", None),
        ("conv2d", None),
    ]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_uniform_normal_constant():
    cr.manual_seed(0)
    _check_moments(init.uniform_(_w(ROWS, COLS), -2, 4).numpy(), 1.0, 6 / math.sqrt(12))
    _check_moments(init.normal_(_w(ROWS, COLS), 0.5, 2.0).numpy(), 0.5, 2.0)
    assert np.all(init.constant_(_w(3, 3), 0.25).numpy() == 0.25)
    assert np.all(init.ones_(_w(2)).numpy() == 1) and np.all(init.zeros_(_w(2)).numpy() == 0)


def test_xavier_and_kaiming():
    cr.manual_seed(1)
    fan_in, fan_out = COLS, ROWS
    bound = 1.3 * math.sqrt(6 / (fan_in + fan_out))
    v = init.xavier_uniform_(_w(ROWS, COLS), gain=1.3).numpy()
    assert np.abs(v).max() <= bound
    _check_moments(v, 0.0, bound / math.sqrt(3))
    _check_moments(init.xavier_normal_(_w(ROWS, COLS)).numpy(), 0.0, math.sqrt(2 / (fan_in + fan_out)))
    std = math.sqrt(2) / math.sqrt(fan_in)
    _check_moments(init.kaiming_normal_(_w(ROWS, COLS), nonlinearity="relu").numpy(), 0.0, std)
    _check_moments(
        init.kaiming_uniform_(_w(ROWS, COLS), mode="fan_out", nonlinearity="relu").numpy(),
        0.0,
        math.sqrt(2) / math.sqrt(fan_out),
    )
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(_w(2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(_w(3))


def test_eye_and_orthogonal():
    e = init.eye_(_w(3, 5)).numpy()
    np.testing.assert_array_equal(e, np.eye(3, 5))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(_w(2, 2, 2))
    cr.manual_seed(2)
    for shape in [(6, 6), (4, 9), (9, 4)]:
        q = init.orthogonal_(_w(*shape), gain=2.0).numpy()
        if shape[0] <= shape[1]:
            np.testing.assert_allclose(q @ q.T, 4 * np.eye(shape[0]), atol=1e-12)
        else:
            np.testing.assert_allclose(q.T @ q, 4 * np.eye(shape[1]), atol=1e-12)
    # Uniformly distributed: entries of a random orthogonal n x n matrix have variance 1/n.
    samples = np.concatenate([init.orthogonal_(_w(20, 20)).numpy().ravel() for _ in range(100)])
    _check_moments(samples, 0.0, math.sqrt(1 / 20))


def test_trunc_normal():
    cr.manual_seed(3)
    v = init.trunc_normal_(_w(ROWS, COLS), mean=1.0, std=2.0, a=-1.0, b=2.0).numpy()
    assert v.min() >= -1.0 and v.max() <= 2.0
    # Moments of N(1, 2) truncated to [-1, 2] (alpha = -1, beta = 0.5 in standard units).
    from math import erf, exp, pi, sqrt

    phi = lambda z: exp(-z * z / 2) / sqrt(2 * pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + erf(z / sqrt(2)))  # noqa: E731
    alpha, beta = -1.0, 0.5
    Z = cdf(beta) - cdf(alpha)
    mean = 1.0 + 2.0 * (phi(alpha) - phi(beta)) / Z
    var = 4.0 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z) ** 2)
    _check_moments(v, mean, math.sqrt(var))
    with pytest.raises(ValueError, match="a must be less than b"):
        init.trunc_normal_(_w(2), a=1.0, b=0.0)


def test_sparse():
    cr.manual_seed(4)
    v = init.sparse_(_w(50, 200), sparsity=0.3, std=0.05).numpy()
    zeros_per_column = (v == 0).sum(axis=0)
    assert np.all(zeros_per_column == math.ceil(0.3 * 50))
    _check_moments(v[v != 0], 0.0, 0.05)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(_w(3), 0.1)


def test_init_through_apply_and_seed():
    def reinit(m):
        if isinstance(m, nn.Linear):
            init.xavier_uniform_(m.weight, gain=init.calculate_gain("relu"))
            init.zeros_(m.bias)

    cr.manual_seed(5)
    a = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)).apply(reinit)
    cr.manual_seed(5)
    b = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)).apply(reinit)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=k)
    assert np.all(a[0].bias.detach().numpy() == 0)
