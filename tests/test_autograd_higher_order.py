"""autograd.grad, create_graph (higher-order derivatives), custom Functions, retain_grad and the
grad-mode switches, against PyTorch; a physics-informed net trained with second derivatives."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import Function, gradcheck, gradgradcheck
from optional_dependencies import require

torch = require("torch")


def t64(a):
    return cr.from_numpy(np.array(a, dtype=np.float64))  # a copy: the tests update tensors in place


def test_grad_returns_gradients_without_touching_dot_grad():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x * x * w).sum()
    (gx,) = cr.autograd.grad(y, x)
    assert gx.tolist() == pytest.approx([1.0, -4.0, 12.0])
    assert x.grad is None and w.grad is None


def test_second_and_third_derivatives_of_a_scalar_function():
    x = cr.tensor([0.3, -1.2, 2.0], dtype=cr.float64, requires_grad=True)
    tx = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    outs = []
    for v, lib in ((x, cr), (tx, torch)):
        y = (lib.sin(v) * v**3 + lib.exp(-v * v)).sum()
        (d1,) = lib.autograd.grad(y, v, create_graph=True)
        (d2,) = lib.autograd.grad(d1.sum(), v, create_graph=True)
        (d3,) = lib.autograd.grad(d2.sum(), v)
        outs.append([d.detach().numpy() for d in (d1, d2, d3)])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_backward_with_create_graph_then_backward_of_grad():
    x = cr.tensor([1.5, -0.5], dtype=cr.float64, requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == pytest.approx([6 * 1.5, 6 * -0.5])


def test_grad_outputs_allow_unused_and_non_leaf_inputs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    z = cr.tensor([3.0], requires_grad=True)
    h = x * 2
    y = h * h
    gh, gz = cr.autograd.grad(y, [h, z], grad_outputs=cr.tensor([1.0, 0.5]), allow_unused=True)
    assert gh.tolist() == pytest.approx([4.0, 4.0]) and gz is None
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.autograd.grad((x * 2).sum(), [x, z])
    (gz,) = cr.autograd.grad((x * 2).sum(), [z], allow_unused=True, materialize_grads=True)
    assert gz.tolist() == [0.0]


def test_retain_graph_and_second_backward_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx.exp() * tx).sum()
    ty.backward(retain_graph=True)
    ty.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_with_gradient_argument_and_retain_grad():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * x
    h.retain_grad()
    y = h * 3
    y.backward(gradient=cr.ones(2, 2))
    assert h.grad.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert x.grad.tolist() == [[6.0, 12.0], [18.0, 24.0]]
    assert not h.is_leaf and x.is_leaf and h.grad_fn is not None and x.grad_fn is None


class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x**3 * scale

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2 * ctx.scale, None


def test_custom_function_forward_backward_and_needs_input_grad():
    x = cr.tensor([1.0, -2.0], dtype=cr.float64, requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn is not None and "Cube" in y.grad_fn.name()
    y.sum().backward()
    assert x.grad.tolist() == pytest.approx([6.0, 24.0])
    assert gradcheck(lambda v: Cube.apply(v, 2.0), [x.detach().requires_grad_()])
    # backward is made of chainrule ops: it can be differentiated again
    assert gradgradcheck(lambda v: Cube.apply(v, 2.0), [x.detach().requires_grad_()])

    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen["needs"] = ctx.needs_input_grad
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, None

    Probe.apply(cr.ones(2, requires_grad=True), cr.ones(2))
    assert seen["needs"] == (True, False)


def test_custom_function_matches_pytorch_in_a_training_step():
    class MyReLU(Function):
        @staticmethod
        def forward(ctx, inp):
            ctx.save_for_backward(inp)
            return inp.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (inp,) = ctx.saved_tensors
            grad = grad_output.clone()
            grad[inp < 0] = 0
            return grad

    class TorchReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inp):
            ctx.save_for_backward(inp)
            return inp.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (inp,) = ctx.saved_tensors
            grad = grad_output.clone()
            grad[inp < 0] = 0
            return grad

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((16, 3))
    w1 = rng.standard_normal((3, 5))
    ours = [t64(xs), t64(w1).requires_grad_()]
    theirs = [torch.tensor(xs), torch.tensor(w1, requires_grad=True)]
    for (x, w), fn in ((ours, MyReLU.apply), (theirs, TorchReLU.apply)):
        loss = fn(x @ w).pow(2).sum()
        loss.backward()
    np.testing.assert_allclose(ours[1].grad.numpy(), theirs[1].grad.numpy(), rtol=1e-10)


def test_backward_inside_a_backward_and_after_a_failed_one():
    """The engine keeps its working lists per thread between passes. A backward run from inside
    another one (here from a custom Function's backward, while the outer pass still holds pending
    nodes) must get lists of its own, and a pass that raised must leave them empty for the next."""
    inner_grads = []

    class Doubles(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            inner = x.detach().requires_grad_()
            with cr.enable_grad():  # backward runs without recording, as PyTorch's does
                ((inner * inner * inner).sum() + (inner * 0).sum()).backward()  # a pass of its own
            inner_grads.append(inner.grad.numpy().copy())
            return g * 2

    class Fails(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("backward failed on purpose")

    values = np.array([1.0, -2.0, 0.5])
    for _ in range(2):  # the second pass reuses the lists the first one left
        x = cr.tensor(values, requires_grad=True)
        y = (Doubles.apply(x * 3) * x).sum() + (x * x).sum()
        y.backward()
        # d/dx [(2 * 3x) * x + x^2] = 12x + 2x
        np.testing.assert_allclose(x.grad.numpy(), 14 * values)
        np.testing.assert_allclose(inner_grads.pop(), 3 * (3 * values) ** 2)
    x = cr.tensor(values, requires_grad=True)
    with pytest.raises(ValueError, match="on purpose"):
        (Fails.apply(x * 2) * x).sum().backward()
    x = cr.tensor(values, requires_grad=True)
    (x * x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * values)


def test_grad_mode_switches():
    x = cr.ones(2, requires_grad=True)
    with cr.no_grad():
        assert (x * 2).grad_fn is None
        with cr.enable_grad():
            assert (x * 2).grad_fn is not None
    with cr.inference_mode():
        assert (x * 2).grad_fn is None
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.inference_mode()
    def f(v):
        return v * 2

    assert f(x).grad_fn is None


def test_fused_sequential_gives_double_backward_and_input_gradients():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    model = model.double() if hasattr(model, "double") else model
    with torch.no_grad():
        for p, tp in zip(model.parameters(), tmodel.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy().astype(np.float64)))
    xs = np.random.default_rng(1).standard_normal((5, 2))
    results = []
    for m, x in ((model, t64(xs).requires_grad_()), (tmodel, torch.tensor(xs, requires_grad=True))):
        lib = cr if m is model else torch
        u = m(x) if m is tmodel else m(x.to(next(iter(model.parameters())).dtype))
        (du,) = lib.autograd.grad(u.sum(), x, create_graph=True)
        (d2,) = lib.autograd.grad(du[:, 0].sum(), x, create_graph=True)
        params = list(m.parameters())
        gp = lib.autograd.grad((d2**2).sum(), params, allow_unused=True, materialize_grads=True)
        results.append([du.detach().numpy(), d2.detach().numpy()] + [g.numpy() for g in gp])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_physics_informed_net_matches_pytorch_step_for_step():
    """Fits u'' = -pi^2 sin(pi x) on [0, 1] with u(0) = u(1) = 0: the loss uses the network's
    second derivative with respect to its input."""
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((16, 1)) * 0.5, np.zeros(16), rng.standard_normal((1, 16)) * 0.5, np.zeros(1)]
    xs = np.linspace(0, 1, 12).reshape(-1, 1)
    histories = []
    for lib in (cr, torch):
        ps = [(lib.tensor(p) if lib is torch else t64(p)).requires_grad_() for p in params]
        x = (lib.tensor(xs) if lib is torch else t64(xs)).requires_grad_()
        boundary = lib.tensor([[0.0], [1.0]], dtype=lib.float64)
        losses = []
        for _ in range(5):

            def net(v, lib=lib, ps=ps):
                h = lib.tanh(v @ ps[0].T + ps[1])
                return h @ ps[2].T + ps[3]

            u = net(x)
            (du,) = lib.autograd.grad(u.sum(), x, create_graph=True)
            (d2u,) = lib.autograd.grad(du.sum(), x, create_graph=True)
            residual = d2u + np.pi**2 * lib.sin(np.pi * x)
            loss = (residual**2).mean() + (net(boundary) ** 2).mean()
            for p in ps:
                p.grad = None
            loss.backward()
            with lib.no_grad():
                for p in ps:
                    p -= 0.01 * p.grad
            losses.append(loss.item())
        histories.append(losses)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-9)
    assert histories[0][-1] < histories[0][0]
