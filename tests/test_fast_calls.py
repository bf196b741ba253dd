"""The training step's per-batch calls (DenseChain.forward, the loss functions, Tensor.backward and
the optimizer steps' step_if_holds / clear_grads_if_holds) are CPython fastcall functions over
their pybind11 definitions: the common positional form with the exact types runs directly, and
everything else (keywords, NumPy arrays, other types) goes to the full definition. Both routes
must give the same results and the same errors."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import _core, nn, optim

REDUCTIONS = [_core.Reduction.mean, _core.Reduction.sum, _core.Reduction.none]


def _pair(shape=(6, 3), seed=0, low=None):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    b = rng.standard_normal(shape)
    if low is not None:  # probabilities and 0/1 targets
        a = rng.uniform(0.05, 0.95, shape)
        b = (rng.uniform(0, 1, shape) > 0.5).astype(np.float64)
    return a, b


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, probabilities",
    [
        ("mse_loss", False),
        ("l1_loss", False),
        ("binary_cross_entropy", True),
        ("binary_cross_entropy_with_logits", False),
    ],
)
def test_elementwise_losses_agree_on_both_routes(name, probabilities, reduction):
    a, b = _pair(low=0 if probabilities else None)
    f = getattr(_core, name)
    fast = f(cr.tensor(a), cr.tensor(b), reduction)  # positional Tensors: the fast route
    by_keyword = f(cr.tensor(a), cr.tensor(b), reduction=reduction)  # the full definition
    from_numpy = f(a, b, reduction)  # NumPy arrays: the full definition converts them
    for other in (by_keyword, from_numpy):
        np.testing.assert_array_equal(fast.numpy(), other.numpy())
    # A Python subclass of Tensor (nn.Parameter) takes the fast route too, and records the graph.
    p = nn.Parameter(cr.tensor(a))
    out = f(p, cr.tensor(b), reduction)
    np.testing.assert_array_equal(out.detach().numpy(), fast.numpy())
    out.sum().backward()
    assert p.grad is not None and p.grad.shape == p.shape


def test_cross_entropy_agrees_on_both_routes():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    for reduction in REDUCTIONS:
        fast = _core.cross_entropy(cr.tensor(logits), cr.tensor(labels), reduction)
        full = _core.cross_entropy(logits, labels.astype(np.int32), reduction)  # int32 labels: full route
        np.testing.assert_array_equal(fast.numpy(), full.numpy())


def test_loss_errors_are_the_same_on_both_routes():
    a, b = _pair((4, 2))
    c = np.zeros((4, 3))
    for call in (
        lambda: _core.mse_loss(cr.tensor(a), cr.tensor(c), _core.Reduction.mean),
        lambda: _core.mse_loss(cr.tensor(a), cr.tensor(c), reduction=_core.Reduction.mean),
    ):
        with pytest.raises(ValueError, match="input has shape .* but target has shape"):
            call()
    with pytest.raises(ValueError, match="between 0 and 1"):  # checked inside the fast route
        _core.binary_cross_entropy(cr.tensor(a + 5), cr.tensor(b), _core.Reduction.mean)
    with pytest.raises(TypeError):  # not a Reduction: pybind11's argument error
        _core.mse_loss(cr.tensor(a), cr.tensor(b), "mean")
    with pytest.raises(TypeError, match="input must be a chainrule.Tensor or a NumPy array"):
        _core.mse_loss([1.0], cr.tensor(b), _core.Reduction.mean)
    with pytest.raises(TypeError):
        _core.mse_loss(cr.tensor(a))  # too few arguments


def test_backward_agrees_on_both_routes_and_raises_the_same():
    grads = []
    for kwargs in ({}, {"gradient": None}, {"retain_graph": False}):
        x = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
        y = (x * x).sum()
        y.backward(**kwargs)  # no arguments: the fast route
        grads.append(x.grad.numpy().copy())
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()
    for g in grads[1:]:
        np.testing.assert_array_equal(grads[0], g)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (cr.tensor(np.ones(3), requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor(np.ones(())).backward()
    with pytest.raises(TypeError, match="gradient must be a Tensor or None"):
        (cr.tensor(np.ones(3), requires_grad=True) * 2).backward(1.0)
    # Tensor.backward is still a method of the class: help and the bound form work.
    assert "gradient" in cr.Tensor.backward.__doc__


def test_chain_forward_agrees_on_both_routes():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    chain = model.fused_chain()
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    fast = chain.forward(cr.tensor(x))
    np.testing.assert_array_equal(fast.detach().numpy(), chain.forward(input=cr.tensor(x)).detach().numpy())
    np.testing.assert_array_equal(fast.detach().numpy(), chain.forward(x).detach().numpy())  # NumPy: full route
    for call in (lambda: chain.forward(cr.zeros(5, 4)), lambda: chain.forward(input=cr.zeros(5, 4))):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError, match="input must be a chainrule.Tensor or a NumPy array"):
        chain.forward("x")
    with pytest.raises(TypeError):
        chain.forward()


def test_group_step_calls_agree_on_both_routes():
    params = [nn.Parameter(cr.tensor(np.ones((2, 2)))), nn.Parameter(cr.tensor(np.ones(2)))]
    opt = optim.SGD(params, lr=0.5)
    (native,) = opt.group_steps()
    for p in params:
        p.grad = cr.ones(*p.shape, dtype=p.dtype)
    assert native.step_if_holds(params) is False  # stepped, nothing created
    assert native.step_if_holds(params=params) is False  # the full definition
    np.testing.assert_array_equal(params[0].detach().numpy(), np.zeros((2, 2)))
    assert native.step_if_holds(params[:1]) is None  # not its parameters: no update
    assert native.step_if_holds(tuple(params)) is None  # not a list
    np.testing.assert_array_equal(params[0].detach().numpy(), np.zeros((2, 2)))
    assert native.clear_grads_if_holds(params, False) is True
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    assert native.clear_grads_if_holds(params[::-1], True) is False  # another order: nothing cleared
    assert all(p.grad is not None for p in params)
    assert native.clear_grads_if_holds(params, set_to_none=True) is True
    assert all(p.grad is None for p in params)
    with pytest.raises(TypeError):
        native.clear_grads_if_holds(params, "yes")  # not a bool: pybind11's argument error
    with pytest.raises(TypeError):
        native.step_if_holds()
