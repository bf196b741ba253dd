"""Autograd: finite-difference gradcheck of every op and loss, and the engine's semantics."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import GradcheckError, gradcheck
from optional_dependencies import require


def leaf(*shape, seed=0, low=-2.0, high=2.0, requires_grad=True):
    rng = np.random.default_rng(seed)
    return cr.tensor(rng.uniform(low, high, size=shape), dtype=cr.float64, requires_grad=requires_grad)


def away_from_zero(*shape, seed=0):
    """Values in +-[0.3, 2]: kinks (relu, abs, l1) stay farther than eps away."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return cr.tensor(v, dtype=cr.float64, requires_grad=True)


# ---- elementwise binary -------------------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}

SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 4), (1, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((4,), (2, 3, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
]


@pytest.mark.parametrize("sa,sb", SHAPES)
@pytest.mark.parametrize("op", list(BINARY))
def test_gradcheck_binary_broadcast(op, sa, sb):
    a = leaf(*sa, seed=1, low=0.5, high=2.0)
    b = leaf(*sb, seed=2, low=0.5, high=2.0)
    assert gradcheck(BINARY[op], (a, b))


@pytest.mark.parametrize("op", list(BINARY))
def test_gradcheck_binary_one_side_requires_grad(op):
    a = leaf(3, 4, seed=1, low=0.5)
    b = leaf(4, seed=2, low=0.5, requires_grad=False)
    assert gradcheck(BINARY[op], (a, b))
    assert gradcheck(lambda x: BINARY[op](b, x), (a,))


@pytest.mark.parametrize("scalar", [2, 0.5, -1.5])
def test_gradcheck_scalar_and_reflected(scalar):
    x = leaf(2, 3, low=0.5)
    for f in (
        lambda t: t + scalar,
        lambda t: scalar + t,
        lambda t: t - scalar,
        lambda t: scalar - t,
        lambda t: t * scalar,
        lambda t: scalar * t,
        lambda t: t / scalar,
        lambda t: scalar / t,
        lambda t: t**scalar,
        lambda t: abs(scalar) ** t,
        lambda t: -t,
    ):
        assert gradcheck(f, (x,))


def test_gradcheck_same_tensor_twice_in_one_op():
    x = leaf(3, 2)
    assert gradcheck(lambda t: t * t, (x,))
    assert gradcheck(lambda t: t + t, (x,))
    assert gradcheck(lambda t: t / (t * t + 1), (x,))
    y = leaf(3, 3, low=0.5)
    assert gradcheck(lambda t: t**t, (y,))
    assert gradcheck(lambda t: t @ t, (y,))


# ---- unary ---------------------------------------------------------------------------------------

UNARY = {
    "neg": lambda t: -t,
    "exp": lambda t: t.exp(),
    "log": lambda t: t.log(),
    "relu": lambda t: t.relu(),
    "sigmoid": lambda t: t.sigmoid(),
    "tanh": lambda t: t.tanh(),
    "abs": lambda t: t.abs(),
    "sqrt": lambda t: t.sqrt(),
    "f.relu": F.relu,
    "f.sigmoid": F.sigmoid,
    "f.tanh": F.tanh,
    "cr.exp": cr.exp,
    "cr.log": cr.log,
    "cr.abs": cr.abs,
    "cr.sqrt": cr.sqrt,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "leaky_relu_default": F.leaky_relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_gradcheck_unary(name):
    positive = name in ("log", "sqrt", "cr.log", "cr.sqrt")
    x = leaf(3, 4, seed=3, low=0.2, high=3.0) if positive else away_from_zero(3, 4, seed=3)
    assert gradcheck(UNARY[name], (x,))


def test_unary_gradients_at_kinks_match_pytorch():
    x = cr.tensor([0.0, -1.0, 2.0], requires_grad=True)
    (x.relu() + x.abs() + F.leaky_relu(x, 0.1)).sum().backward()
    # d relu(0) = 0, d abs(0) = 0, d leaky_relu(0) = slope (PyTorch's choices)
    np.testing.assert_allclose(x.grad.numpy(), [0.1, -1 + 0.1 + 0, 3.0])


# ---- linear algebra -------------------------------------------------------------------------------


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((1, 1), (1, 3))])
def test_gradcheck_matmul(sa, sb):
    a, b = leaf(*sa, seed=4), leaf(*sb, seed=5)
    assert gradcheck(lambda x, y: x @ y, (a, b))
    assert gradcheck(cr.matmul, (a, b))


@pytest.mark.parametrize("input_shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gradcheck_linear(input_shape, with_bias):
    x, w = leaf(*input_shape, seed=6), leaf(4, 3, seed=7)
    if with_bias:
        b = leaf(4, seed=8)
        assert gradcheck(F.linear, (x, w, b))
    else:
        assert gradcheck(lambda i, wt: F.linear(i, wt), (x, w))


def test_gradcheck_linear_only_some_inputs_require_grad():
    x, w, b = leaf(5, 3, requires_grad=False), leaf(4, 3, seed=1), leaf(4, seed=2, requires_grad=False)
    assert gradcheck(lambda wt: F.linear(x, wt, b), (w,))
    x2 = leaf(5, 3)
    assert gradcheck(lambda i: F.linear(i, w.detach(), b), (x2,))


# ---- shape ops ------------------------------------------------------------------------------------


def test_gradcheck_reshape_view_transpose():
    x = leaf(2, 6)
    assert gradcheck(lambda t: t.reshape(3, 4) * leaf(3, 4, seed=9, requires_grad=False), (x,))
    assert gradcheck(lambda t: t.view(-1), (x,))
    assert gradcheck(lambda t: t.T, (x,))
    assert gradcheck(lambda t: t.t() @ t, (x,))
    assert gradcheck(lambda t: t.flatten(), (x,))
    v = leaf(5)
    assert gradcheck(lambda t: t.T * 2, (v,))


def test_gradcheck_slicing_and_index_rows():
    x = leaf(5, 3)
    assert gradcheck(lambda t: t[1:4], (x,))
    assert gradcheck(lambda t: t[2], (x,))
    assert gradcheck(lambda t: t[-1] * t[0], (x,))
    assert gradcheck(lambda t: t[1, 2], (x,))
    assert gradcheck(lambda t: t[3:] + t[:2], (x,))
    idx = np.array([4, 0, 4, 2, -1])  # repeats accumulate
    assert gradcheck(lambda t: t[idx], (x,))
    assert gradcheck(lambda t: t[cr.tensor([1, 1, 3])], (x,))


def test_gradcheck_cast():
    x = leaf(3, 2)
    # float64 -> float32 -> float64 is not differentiable at float64 precision, but the chain is
    # exact for the gradient (identity); check the backward directly instead of by differences.
    y = x.float()
    assert y.dtype == cr.float32 and y.grad_fn is not None
    (y * cr.tensor([[1.0, 2.0]] * 3)).sum().backward()
    assert x.grad.dtype == cr.float64
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 2.0]] * 3)
    x.grad = None
    assert gradcheck(lambda t: t.double() * 3, (x,))
    assert gradcheck(lambda t: t.to(cr.float64), (x,))
    assert x.long().grad_fn is None and not x.long().requires_grad


def test_gradcheck_clone():
    x = leaf(3)
    assert gradcheck(lambda t: t.clone() * t, (x,))


# ---- reductions and softmax ----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2), (0, 1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_gradcheck_sum_mean(op, dim, keepdim):
    x = leaf(2, 3, 4)
    assert gradcheck(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), (x,))
    assert gradcheck(lambda t: getattr(cr, op)(t * t, dim=dim), (x,))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("log", [False, True])
def test_gradcheck_softmax(dim, log):
    x = leaf(2, 3, 4, seed=11)
    f = cr.log_softmax if log else cr.softmax
    assert gradcheck(lambda t: f(t, dim=dim), (x,))
    assert gradcheck(lambda t: (F.log_softmax if log else F.softmax)(t, dim), (x,))
    assert gradcheck(lambda t: t.log_softmax(dim) if log else t.softmax(dim), (x,))


def test_gradcheck_softmax_1d_and_2d():
    assert gradcheck(lambda t: cr.softmax(t, dim=0), (leaf(5),))
    assert gradcheck(lambda t: cr.log_softmax(t, dim=1), (leaf(3, 5),))


# ---- losses --------------------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "huber_loss"])
def test_gradcheck_regression_losses(loss, reduction):
    pred = leaf(4, 3, seed=1)
    # a target far enough from pred (per element) that l1/huber kinks are not crossed
    offsets = away_from_zero(4, 3, seed=2).detach().numpy()
    target = cr.tensor(pred.detach().numpy() + offsets, dtype=cr.float64, requires_grad=True)
    f = getattr(F, loss)
    assert gradcheck(lambda p, t: f(p, t, reduction=reduction), (pred, target))
    assert gradcheck(lambda p: f(p, target.detach(), reduction=reduction), (pred,))


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_gradcheck_huber_delta(delta):
    pred = away_from_zero(10, seed=3)
    target = cr.zeros(10, dtype=cr.float64)
    assert gradcheck(lambda p: F.huber_loss(p, target, delta=delta), (pred,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_binary_cross_entropy(reduction):
    p = leaf(4, 3, seed=4, low=0.05, high=0.95)
    target = cr.from_numpy(np.random.default_rng(5).uniform(0, 1, (4, 3)))
    assert gradcheck(lambda x: F.binary_cross_entropy(x, target, reduction=reduction), (p,))
    labels = cr.from_numpy(np.random.default_rng(6).integers(0, 2, (4, 3)).astype(np.float64))
    assert gradcheck(lambda x: F.binary_cross_entropy(x, labels, reduction=reduction), (p,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_bce_with_logits(reduction):
    x = leaf(4, 3, seed=7, low=-4, high=4)
    t = leaf(4, 3, seed=8, low=0, high=1)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), (x, t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_cross_entropy_class_indices(reduction):
    x = leaf(5, 4, seed=9)
    target = cr.tensor([0, 3, 1, 1, 2])
    assert gradcheck(lambda a: F.cross_entropy(a, target, reduction=reduction), (x,))
    single = leaf(4, seed=10)
    assert gradcheck(lambda a: F.cross_entropy(a, cr.tensor(2), reduction=reduction), (single,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_cross_entropy_probabilities(reduction):
    x = leaf(5, 4, seed=11)
    probs = cr.softmax(leaf(5, 4, seed=12, requires_grad=False), dim=1)
    assert gradcheck(lambda a: F.cross_entropy(a, probs, reduction=reduction), (x,))
    t = cr.tensor(probs.numpy(), dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, reduction=reduction), (x, t))


def test_losses_match_torch_forward_and_backward():
    torch = require("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5))
    labels = rng.integers(0, 5, 6)
    for reduction in REDUCTIONS:
        cx = cr.tensor(logits, requires_grad=True)
        tx = torch.tensor(logits, requires_grad=True)
        cl = F.cross_entropy(cx, cr.from_numpy(labels), reduction=reduction)
        tl = torch.nn.functional.cross_entropy(tx, torch.from_numpy(labels), reduction=reduction)
        np.testing.assert_allclose(cl.detach().numpy(), tl.detach().numpy(), rtol=1e-12)
        cl.sum().backward()
        tl.sum().backward()
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    p = rng.uniform(0.01, 0.99, (4, 3))
    y = rng.uniform(0, 1, (4, 3))
    pairs = [
        ("binary_cross_entropy", p),
        ("binary_cross_entropy_with_logits", logits[:4, :3]),
        ("mse_loss", logits[:4, :3]),
        ("l1_loss", logits[:4, :3]),
        ("huber_loss", logits[:4, :3]),
    ]
    for name, inp in pairs:
        cx = cr.tensor(inp, requires_grad=True)
        tx = torch.tensor(inp, requires_grad=True)
        cl = getattr(F, name)(cx, cr.from_numpy(y))
        tl = getattr(torch.nn.functional, name)(tx, torch.from_numpy(y))
        np.testing.assert_allclose(cl.item(), tl.item(), rtol=1e-12)
        cl.backward()
        tl.backward()
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_mlp_backward_matches_torch():
    torch = require("torch")
    rng = np.random.default_rng(1)
    x, w1, b1, w2, b2 = (rng.standard_normal(s) for s in [(8, 5), (7, 5), (7,), (3, 7), (3,)])
    y = rng.integers(0, 3, 8)
    cp = [cr.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    tp = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    cl = F.cross_entropy(F.linear(F.gelu(F.linear(cr.from_numpy(x), cp[0], cp[1])), cp[2], cp[3]), cr.from_numpy(y))
    tf = torch.nn.functional
    tl = tf.cross_entropy(
        tf.linear(tf.gelu(tf.linear(torch.from_numpy(x), tp[0], tp[1])), tp[2], tp[3]), torch.from_numpy(y)
    )
    cl.backward()
    tl.backward()
    np.testing.assert_allclose(cl.item(), tl.item(), rtol=1e-12)
    for c, t in zip(cp, tp):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---- gradcheck itself ------------------------------------------------------------------------------


def test_gradcheck_reports_wrong_gradients():
    x = leaf(4, seed=13)
    with pytest.raises(GradcheckError, match="differ"):
        gradcheck(lambda t: t * t.detach(), (x,))  # analytic says x, the truth is 2x
    assert gradcheck(lambda t: t * t.detach(), (x,), raise_exception=False) is False
    assert gradcheck(lambda t: t.detach() * 2, (x,), raise_exception=False) is False


def test_gradcheck_validates_inputs():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, (cr.tensor([1.0], requires_grad=True),))
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, (cr.tensor([1.0], dtype=cr.float64),))


# ---- engine semantics -----------------------------------------------------------------------------


def test_gradients_accumulate_until_zeroed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    g = x.grad
    (x * x).sum().backward()
    assert x.grad.tolist() == [8.0, 10.0]
    assert x.grad is g or x.grad.tolist() == g.tolist()  # accumulated in place
    x.grad.zero_()
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_graph_freed_after_backward_unless_retained():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_new_graph_after_backward_works():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]


def test_no_grad_records_nothing():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        y = (x * 2).exp().sum()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(RuntimeError):
        y.backward()

    @cr.no_grad()
    def f(t):
        return t * 2

    assert f(x).grad_fn is None and cr.is_grad_enabled()
    with cr.no_grad():
        with cr.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad


def test_set_grad_enabled():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.set_grad_enabled(False):
        assert (x * 2).grad_fn is None
    assert (x * 2).grad_fn is not None
    cr.set_grad_enabled(False)
    try:
        assert not cr.is_grad_enabled() and (x * 2).grad_fn is None
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()
    with cr.set_grad_enabled(True):
        assert (x * 2).grad_fn is not None
    with pytest.raises(TypeError, match="mode"):
        cr.set_grad_enabled("no")


def test_set_grad_enabled_as_decorator_does_not_leak():
    x = cr.tensor([1.0], requires_grad=True)

    @cr.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert cr.is_grad_enabled()  # decorating switched nothing
    assert f(x).grad_fn is None
    assert cr.is_grad_enabled()


def test_grad_mode_is_restored_after_exceptions():
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            _ = 1 / 0
    assert cr.is_grad_enabled()


def test_diamond_graph():
    x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda t: (lambda h: h.exp() * h.sigmoid() + h)(t * 3), (x,))
    h = x * 3
    y = (h.exp() + h.tanh() * h).sum()
    y.backward()
    hv = 3 * x.detach().numpy()
    expected = 3 * (np.exp(hv) + (1 - np.tanh(hv) ** 2) * hv + np.tanh(hv))
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_deep_chain_and_shared_intermediates():
    x = cr.tensor([0.3], dtype=cr.float64, requires_grad=True)
    y = x
    for _ in range(200):
        y = y * 1.01 + y * 0.0  # every step uses y twice
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.01**200])


def test_backward_on_a_leaf():
    x = cr.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    v = cr.tensor([1.0, 2.0], requires_grad=True)
    v.backward(cr.tensor([3.0, 4.0]))
    assert v.grad.tolist() == [3.0, 4.0]


def test_gradient_argument():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=cr.tensor([1.0, 0.5, 0.0]))
    assert x.grad.tolist() == [2.0, 2.0, 0.0]
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(cr.ones(2))
    z = (x * 2).sum()
    z.backward(cr.tensor(2.0))
    assert x.grad.tolist() == [6.0, 6.0, 4.0]
    # None is the default; anything but a Tensor or None is refused by name, as PyTorch does.
    (x * 1).sum().backward(None)
    assert x.grad.tolist() == [7.0, 7.0, 5.0]
    for not_a_tensor in (1.0, np.ones(3, np.float32), [1.0, 1.0, 1.0]):
        with pytest.raises(TypeError, match="gradient must be a Tensor or None"):
            (x * 1).backward(not_a_tensor)
    assert x.grad.tolist() == [7.0, 7.0, 5.0]


def test_gradient_argument_is_not_modified():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    g = cr.tensor([1.0, 1.0])
    (x + 0).backward(g)
    (x * 1).backward(g)
    assert g.tolist() == [1.0, 1.0]


def test_grad_fn_names_and_is_leaf():
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    w = cr.tensor([[1.0, 2.0]], requires_grad=True)
    cases = {
        "BinaryBackward": x * 2,
        "UnaryBackward": x.exp(),
        "SumBackward": x.sum(),
        "ReshapeBackward": x.reshape(2),
        "TransposeBackward": x.T,
        "SliceBackward": x[0:1],
        "IndexBackward": x[np.array([0])],
        "MmBackward": x @ w.T,
        "LinearBackward": F.linear(x, w),
        "SoftmaxBackward": cr.softmax(x, 1),
        "LogSoftmaxBackward": cr.log_softmax(x, 1),
        "CastBackward": x.double(),
        "LossBackward": F.mse_loss(x, w),
        "CrossEntropyBackward": F.cross_entropy(x, cr.tensor([1])),
    }
    for name, t in cases.items():
        assert t.grad_fn.name() == name and not t.is_leaf
        assert repr(t.grad_fn) == f"<{name}>"
    assert x.is_leaf and x.grad_fn is None
    assert cr.tensor([1.0]).is_leaf
    assert x.detach().is_leaf
    with cr.no_grad():
        assert (x * 2).is_leaf


def test_requires_grad_flags():
    x = cr.tensor([1.0])
    assert not x.requires_grad and not (x * 2).requires_grad
    x.requires_grad_()
    assert x.requires_grad and (x * 2).requires_grad
    assert not (x.detach() * 2).requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.requires_grad = False
    assert not x.requires_grad


def test_only_leaves_get_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    assert h.grad is None and x.grad.tolist() == [2.0, 2.0]


def test_inputs_without_grad_get_none():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None and x.grad.tolist() == [3.0, 4.0]


def test_grad_is_fresh_memory():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    g = cr.tensor([5.0, 5.0])
    x.backward(g)
    assert not x.grad._is_view_of(g)
    x.backward(g)
    assert g.tolist() == [5.0, 5.0] and x.grad.tolist() == [10.0, 10.0]


def test_autograd_grad_helper():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (gx,) = cr.autograd.grad((x * x).sum(), x)
    assert gx.tolist() == [2.0, 4.0] and x.grad is None


def test_float32_backward_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == cr.float32
    x64 = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    (x64.float() * 2).sum().backward()
    assert x64.grad.dtype == cr.float64 and x64.grad.tolist() == [2.0, 2.0]


def test_large_tensors_take_the_threaded_paths_correctly():
    # sizes above the kernels' parallel thresholds, checked against closed forms
    rng = np.random.default_rng(3)
    a_np, b_np = rng.standard_normal((300, 400)), rng.standard_normal(400)
    a, b = cr.tensor(a_np, requires_grad=True), cr.tensor(b_np, requires_grad=True)
    w = rng.standard_normal((300, 400))
    ((a * b + a.exp()) * cr.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), w * (b_np + np.exp(a_np)), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), (w * a_np).sum(axis=0), rtol=1e-9, atol=1e-9)
    x = cr.tensor(a_np, requires_grad=True)
    y = cr.from_numpy(rng.integers(0, 400, 300))
    F.cross_entropy(x, y, reduction="sum").backward()
    sm = np.exp(a_np - a_np.max(axis=1, keepdims=True))
    sm /= sm.sum(axis=1, keepdims=True)
    sm[np.arange(300), y.numpy()] -= 1
    np.testing.assert_allclose(x.grad.numpy(), sm, rtol=1e-9, atol=1e-12)
    z = cr.tensor(a_np, requires_grad=True)
    (cr.softmax(z, dim=0) * cr.from_numpy(w)).sum().backward()
    s0 = np.exp(a_np - a_np.max(axis=0))
    s0 /= s0.sum(axis=0)
    np.testing.assert_allclose(z.grad.numpy(), s0 * (w - (w * s0).sum(axis=0)), rtol=1e-8, atol=1e-12)


def test_broadcast_gradients_match_torch():
    torch = require("torch")
    rng = np.random.default_rng(4)
    for sa, sb in SHAPES:
        a_np, b_np = rng.uniform(0.5, 2, sa), rng.uniform(0.5, 2, sb)
        for op in BINARY:
            ca, cb = cr.tensor(a_np, requires_grad=True), cr.tensor(b_np, requires_grad=True)
            ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
            BINARY[op](ca, cb).sum().backward()
            BINARY[op](ta, tb).sum().backward()
            np.testing.assert_allclose(ca.grad.numpy(), ta.grad.numpy(), rtol=1e-12, err_msg=f"{op} {sa} {sb}")
            np.testing.assert_allclose(cb.grad.numpy(), tb.grad.numpy(), rtol=1e-12, err_msg=f"{op} {sa} {sb}")


def test_no_grad_and_enable_grad_as_bare_decorators():
    x = cr.tensor([1.0], requires_grad=True)

    @cr.no_grad
    def f(t):
        return t * 2

    @cr.enable_grad
    def g(t):
        return t * 2

    assert f(x).grad_fn is None and f.__name__ == "f"
    with cr.no_grad():
        assert g(x).grad_fn is not None
    assert cr.is_grad_enabled()
