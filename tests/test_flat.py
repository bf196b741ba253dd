"""nn.utils.flatten_parameters: one contiguous arena for parameters, one for gradients."""

import os
import runpy

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule.nn.utils import FlatParameters, flatten_parameters, grad_in_arena
from optional_dependencies import require

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def small_model(dtype=None):
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5, dtype=dtype), nn.Tanh(), nn.Linear(5, 2, dtype=dtype))


def loss_of(model, seed=0, n=8):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((n, 3)).astype(np.float32))
    y = cr.tensor(rng.standard_normal((n, 2)).astype(np.float32))
    return nn.MSELoss()(model(x), y)


def test_views_share_memory_and_keep_values_and_identity():
    model = small_model()
    params = list(model.parameters())
    before = [p.detach().numpy().copy() for p in params]
    flat = flatten_parameters(model)
    assert isinstance(flat, FlatParameters)
    assert all(a is b for a, b in zip(model.parameters(), params))  # identity kept
    assert flat.numel == sum(p.numel() for p in params) == 3 * 5 + 5 + 5 * 2 + 2
    assert flat.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert flat.shapes == ((5, 3), (5,), (2, 5), (2,))
    assert flat.offsets == (0, 15, 20, 30)
    assert flat.params.shape == (flat.numel,) and flat.grads.shape == (flat.numel,)
    for p, b, off in zip(params, before, flat.offsets):
        assert p.requires_grad and p.is_leaf and isinstance(p, nn.Parameter)
        np.testing.assert_array_equal(p.detach().numpy(), b)
        assert np.shares_memory(p.detach().numpy(), flat.params)
        assert np.shares_memory(p.grad.numpy(), flat.grads)
        np.testing.assert_array_equal(flat.params[off : off + p.numel()], b.ravel())
    assert not flat.grads.any()
    # writes through the flat view reach the parameters, and back
    flat.params[0] = 42.0
    assert model[0].weight.detach().numpy()[0, 0] == 42.0
    model[2].bias.detach().numpy()[1] = -7.0
    assert flat.params[31] == -7.0
    assert flat.is_intact()


def test_backward_accumulates_into_the_arena():
    model = small_model()
    flat = flatten_parameters(model)
    loss_of(model).backward()
    reference = small_model()
    loss_of(reference).backward()
    expected = np.concatenate([p.grad.numpy().ravel() for p in reference.parameters()])
    np.testing.assert_allclose(flat.grads, expected, rtol=1e-6)
    loss_of(model).backward()  # a second backward adds in place
    loss_of(reference).backward()  # the same accumulation without an arena (2 * g rounds differently)
    accumulated = np.concatenate([p.grad.numpy().ravel() for p in reference.parameters()])
    np.testing.assert_allclose(flat.grads, accumulated, rtol=1e-6)
    np.testing.assert_allclose(flat.grads, 2 * expected, rtol=1e-5)
    assert flat.is_intact()


def test_existing_grads_are_kept():
    model = small_model()
    loss_of(model).backward()
    grads = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    flat = flatten_parameters(model)
    np.testing.assert_array_equal(flat.grads, grads)


@pytest.mark.parametrize("opt_cls, kwargs", [(optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {"lr": 0.01})])
def test_optimizer_after_flattening_updates_the_flat_buffer(opt_cls, kwargs):
    model, reference = small_model(), small_model()
    flat = flatten_parameters(model)
    opt, ref_opt = opt_cls(model.parameters(), **kwargs), opt_cls(reference.parameters(), **kwargs)
    start = flat.get_flat()
    for step in range(3):
        for m, o in ((model, opt), (reference, ref_opt)):
            o.zero_grad()
            loss_of(m, seed=step).backward()
            o.step()
    assert flat.is_intact()
    assert not np.allclose(flat.params, start)
    expected = np.concatenate([p.detach().numpy().ravel() for p in reference.parameters()])
    np.testing.assert_allclose(flat.params, expected, rtol=1e-5, atol=1e-6)


def test_zero_grad_keeps_the_views():
    model = small_model()
    flat = flatten_parameters(model)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for zero in (model.zero_grad, opt.zero_grad, lambda: model.zero_grad(set_to_none=False), flat.zero_grad):
        loss_of(model).backward()
        assert flat.grads.any()
        zero()
        assert not flat.grads.any()
        for p in model.parameters():
            assert p.grad is not None and np.shares_memory(p.grad.numpy(), flat.grads)
        assert flat.is_intact()
    # parameters outside an arena still get PyTorch's set_to_none
    other = small_model()
    loss_of(other).backward()
    other.zero_grad()
    assert all(p.grad is None for p in other.parameters())


def test_plain_tensors_and_frozen_parameters():
    a = cr.randn(2, 3, requires_grad=True)
    b = cr.randn(4, requires_grad=True)
    frozen = nn.Parameter(cr.ones(2), requires_grad=False)
    flat = flatten_parameters([a, b, frozen, a])  # a listed twice: one slot
    assert flat.names == ("0", "1", "2") and flat.numel == 12
    assert grad_in_arena(a) and grad_in_arena(b) and not grad_in_arena(frozen)
    assert frozen.grad is None  # optimizers keep skipping it
    (a.sum() * 2 + b.sum()).backward()
    np.testing.assert_array_equal(flat.grads, [2] * 6 + [1] * 4 + [0, 0])
    opt = optim.SGD([a, b], lr=1.0)
    opt.zero_grad()  # plain tensors cannot carry a marker attribute: the registry keeps their views
    assert a.grad is not None and np.shares_memory(a.grad.numpy(), flat.grads)
    assert not flat.grads.any()


def test_get_set_flat_and_float64():
    model = small_model(dtype=cr.float64)
    flat = flatten_parameters(model, with_grads=False)
    assert flat.dtype == cr.float64 and flat.params.dtype == np.float64 and flat.grads is None
    values = np.arange(flat.numel, dtype=np.float32)
    flat.set_flat(values)
    np.testing.assert_array_equal(model[0].weight.detach().numpy().ravel(), values[:15])
    copy = flat.get_flat()
    copy[0] = 99.0
    assert flat.params[0] == 0.0  # get_flat is a copy
    with pytest.raises(ValueError, match="set_flat: array must be 1-D with 32 values"):
        flat.set_flat(np.zeros(31))
    with pytest.raises(ValueError, match="set_flat"):
        flat.set_flat(np.zeros((4, 8)))
    with pytest.raises(TypeError, match="set_flat"):
        flat.set_flat(np.array(["a"] * 32))
    with pytest.raises(RuntimeError, match="with_grads=False"):
        flat.zero_grad()
    assert "numel=32" in repr(flat) and len(flat) == 4


def test_is_intact_detects_repointing():
    model = small_model()
    flat = flatten_parameters(model)
    model[0].bias.data = cr.zeros(5)
    assert not flat.is_intact()
    model = small_model()
    flat = flatten_parameters(model)
    model[2].weight.grad = cr.zeros(2, 5)
    assert not flat.is_intact()


def test_bad_input():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2, dtype=cr.float64))
    with pytest.raises(TypeError, match=r"model_or_params mixes dtypes.*0\.weight.*1\.weight"):
        flatten_parameters(model)
    with pytest.raises(TypeError, match="model_or_params must be an nn.Module or an iterable"):
        flatten_parameters(3)
    with pytest.raises(TypeError, match="single Tensor"):
        flatten_parameters(cr.zeros(3))
    with pytest.raises(TypeError, match=r"model_or_params\[1\] is a str"):
        flatten_parameters([cr.zeros(3), "w"])
    with pytest.raises(ValueError, match="no parameters"):
        flatten_parameters(nn.Sequential(nn.ReLU()))
    with pytest.raises(TypeError, match="'0' is chainrule.int64"):
        flatten_parameters([cr.zeros(3, dtype=cr.int64)])
    with pytest.raises(TypeError, match="with_grads must be a bool"):
        flatten_parameters(small_model(), with_grads=None)


def test_lbfgs_example_reduces_the_loss():
    require("scipy")
    example = runpy.run_path(os.path.join(EXAMPLES, "lbfgs_scipy.py"))
    before, after = example["main"](maxiter=30, n=64, verbose=False)
    assert after < 0.1 * before
