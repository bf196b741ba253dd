"""Forward and gradient parity of the tensor ops with PyTorch over shapes (0-size, broadcast)
and dtypes, plus gradcheck in float64 for every differentiable op."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck, gradgradcheck
from optional_dependencies import require

torch = require("torch")

DTYPES = {
    "float32": (cr.float32, torch.float32),
    "float64": (cr.float64, torch.float64),
    "int64": (cr.int64, torch.int64),
    "int32": (cr.int32, torch.int32),
    "bool": (cr.bool, torch.bool),
}


def make(shape, dtype_name, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    if dtype_name == "bool":
        a = rng.random(shape) > 0.5
    elif dtype_name.startswith("int"):
        a = rng.integers(1 if positive else -5, 6, size=shape).astype(dtype_name)
    else:
        a = rng.standard_normal(shape).astype(dtype_name)
        if positive:
            a = np.abs(a) + 0.5
    return cr.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(a).copy())


def check(ours, theirs, atol=1e-5):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, cr.Tensor), type(ours)
        assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], (ours.dtype, theirs.dtype)
        np.testing.assert_allclose(
            ours.detach().numpy().astype(np.float64), theirs.detach().numpy().astype(np.float64), atol=atol, rtol=1e-5
        )
    else:
        assert ours == theirs


SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((0, 4), (4,)), ((), (2, 3)), ((5,), ())]
BINARY = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow"]


@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize(
    "dtypes",
    [
        ("float32", "float32"),
        ("float64", "float32"),
        ("int64", "int64"),
        ("int32", "int64"),
        ("int64", "float32"),
        ("int32", "int32"),
    ],
)
def test_binary_operators(shapes, op, dtypes):
    a, ta = make(shapes[0], dtypes[0], 1, positive=op in ("pow", "floordiv", "mod", "truediv"))
    b, tb = make(shapes[1], dtypes[1], 2, positive=op in ("pow", "floordiv", "mod", "truediv"))
    name = f"__{op}__"
    check(getattr(a, name)(b), getattr(ta, name)(tb), atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "bool"])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
@pytest.mark.parametrize("op", ["add", "mul", "truediv", "radd", "rmul", "rsub", "sub", "rtruediv"])
def test_scalar_operands_promote_like_pytorch(dtype, scalar, op):
    a, ta = make((3, 2), dtype, positive=True)
    name = f"__{op}__"
    if op in ("sub", "rsub") and (dtype == "bool" or isinstance(scalar, bool)):
        with pytest.raises((TypeError, RuntimeError)):  # PyTorch refuses subtraction with bools
            getattr(ta, name)(scalar)
        with pytest.raises(TypeError, match="bool"):
            getattr(a, name)(scalar)
        return
    check(getattr(a, name)(scalar), getattr(ta, name)(scalar))


@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "int32"])
def test_comparisons_return_bool_tensors(shapes, op, dtype):
    a, ta = make(shapes[0], dtype, 1)
    b, tb = make(shapes[1], dtype, 1)
    name = f"__{op}__"
    out = getattr(a, name)(b)
    assert out.dtype == cr.bool
    check(out, getattr(ta, name)(tb))
    check(getattr(a, name)(0), getattr(ta, name)(0))


def test_equality_is_elementwise_and_tensors_stay_hashable():
    t = cr.tensor([1.0, 2.0, 3.0])
    assert bool((t == t.clone()).all())
    assert (t == t.clone()).sum().item() == 3
    assert len({t, t.clone()}) == 2 and {t: 1}[t] == 1


UNARY = [
    "neg",
    "abs",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "relu",
    "sign",
    "floor",
    "ceil",
    "round",
    "square",
    "reciprocal",
    "log2",
    "log10",
    "erf",
]


@pytest.mark.parametrize("shape", [(3, 4), (0,), (), (2, 0, 3)])
@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_unary_forward_and_grad(shape, op, dtype):
    positive = op in ("log", "log1p", "sqrt", "rsqrt", "log2", "log10", "reciprocal")
    a, ta = make(shape, dtype, 3, positive=positive)
    if dtype == "int64" and op in ("relu",):
        pytest.skip("no such case: relu of an integer tensor stays int64, as the neg and abs cases check")
    ours = getattr(cr, op)(a) if hasattr(cr, op) else getattr(a, op)()
    check(ours, getattr(torch, op)(ta), atol=1e-5)
    if dtype.startswith("float"):
        x = a.detach().clone().requires_grad_()
        tx = ta.detach().clone().requires_grad_()
        getattr(x, op)().sum().backward()
        getattr(tx, op)().sum().backward()
        check(x.grad, tx.grad, atol=1e-4)


@pytest.mark.parametrize("op", UNARY)
def test_unary_gradcheck_and_gradgradcheck(op):
    positive = op in ("log", "log1p", "sqrt", "rsqrt", "log2", "log10", "reciprocal")
    x, _ = make((2, 3), "float64", 4, positive=positive)
    x = x + 0.3 if op in ("relu", "abs", "sign", "floor", "ceil", "round") else x  # away from kinks
    x = x.detach().requires_grad_()
    f = lambda v: getattr(v, op)()  # noqa: E731
    assert gradcheck(f, [x])
    assert gradgradcheck(f, [x])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "maximum", "minimum", "mod"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1))])
def test_binary_gradients_match_pytorch_and_gradgradcheck(op, shapes):
    a, ta = make(shapes[0], "float64", 5, positive=True)
    b, tb = make(shapes[1], "float64", 6, positive=True)
    fn = (lambda u, v: getattr(u, op)(v)) if op in ("maximum", "minimum") else (lambda u, v: getattr(u, f"__{op}__")(v))
    x, y = a.detach().requires_grad_(), b.detach().requires_grad_()
    tx, ty = ta.detach().requires_grad_(), tb.detach().requires_grad_()
    fn(x, y).sum().backward()
    fn(tx, ty).sum().backward()
    check(x.grad, tx.grad, atol=1e-8)
    check(y.grad, ty.grad, atol=1e-8)
    x.grad = None
    y.grad = None
    assert gradcheck(fn, [x, y])
    if op != "mod":
        assert gradgradcheck(fn, [x, y])


def test_maximum_splits_the_gradient_at_ties_like_pytorch():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = cr.tensor([1.0, 5.0, 0.0], requires_grad=True)
    cr.maximum(x, y).sum().backward()
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ty = torch.tensor([1.0, 5.0, 0.0], requires_grad=True)
    torch.maximum(tx, ty).sum().backward()
    check(x.grad, tx.grad)
    check(y.grad, ty.grad)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (5,)])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, -1)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "std", "var", "norm", "logsumexp", "amax", "amin"])
def test_reductions(shape, dim, keepdim, op):
    a, ta = make(shape, "float64", 7)
    if op == "logsumexp" and dim is None:
        dim = 0
    if op in ("amax", "amin") and dim is None:
        kwargs, tkwargs = {}, {}
    elif dim is None:
        if keepdim:
            pytest.skip("no such case: the whole-tensor form (no dim) takes no keepdim")
        kwargs, tkwargs = {}, {}
    else:
        kwargs = tkwargs = {"dim": dim, "keepdim": keepdim}
    if isinstance(dim, tuple) and len(shape) == 1:
        pytest.skip("no such case: dims 0 and -1 are the same dim of a 1-D tensor")
    if op == "prod" and isinstance(dim, tuple):
        pytest.skip("no such case: PyTorch's prod reduces over one dim, not a tuple of dims")
    if op == "norm" and dim is not None:
        tfn = lambda t: torch.linalg.vector_norm(t, dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        tfn = lambda t: getattr(t, op)(**tkwargs)  # noqa: E731
    x = a.detach().requires_grad_()
    tx = ta.detach().requires_grad_()
    out, tout = getattr(x, op)(**kwargs), tfn(tx)
    check(out, tout, atol=1e-10)
    out.sum().backward()
    tout.sum().backward()
    check(x.grad, tx.grad, atol=1e-10)
    x.grad = None
    assert gradcheck(lambda v: getattr(v, op)(**kwargs), [x])
    if op not in ("amax", "amin"):
        assert gradgradcheck(lambda v: getattr(v, op)(**kwargs), [x])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices(op, dim, keepdim):
    a, ta = make((4, 5), "float64", 8)
    x, tx = a.detach().requires_grad_(), ta.detach().requires_grad_()
    res, tres = getattr(cr, op)(x, dim, keepdim=keepdim), getattr(torch, op)(tx, dim, keepdim=keepdim)
    values, indices = res
    check(values, tres.values)
    check(indices, tres.indices)
    assert res.values is values and res.indices is indices
    values.sum().backward()
    tres.values.sum().backward()
    check(x.grad, tx.grad)
    whole = getattr(x, op)()
    assert whole.ndim == 0
    check(whole, getattr(tx, op)())


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op):
    a, ta = make((4, 5), "float32", 9)
    check(getattr(cr, op)(a), getattr(torch, op)(ta))
    check(getattr(cr, op)(a, 1), getattr(torch, op)(ta, 1))
    check(getattr(a, op)(dim=0, keepdim=True), getattr(ta, op)(dim=0, keepdim=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum(dim):
    a, ta = make((3, 4), "float64", 10)
    x, tx = a.detach().requires_grad_(), ta.detach().requires_grad_()
    check(x.cumsum(dim), tx.cumsum(dim))
    (x.cumsum(dim) * a).sum().backward()
    (tx.cumsum(dim) * ta).sum().backward()
    check(x.grad, tx.grad)
    assert gradgradcheck(lambda v: v.cumsum(dim) ** 2, [x])
    check(cr.cumsum(make((4,), "int32")[0], 0), torch.cumsum(make((4,), "int32")[1], 0))


def test_any_all_logic_and_nan_checks():
    a = cr.tensor([[0.0, float("nan")], [float("inf"), 1.0]])
    ta = torch.tensor([[0.0, float("nan")], [float("inf"), 1.0]])
    for op in ("isnan", "isinf", "isfinite"):
        check(getattr(cr, op)(a), getattr(torch, op)(ta))
    m, tm = make((3, 4), "bool", 11)
    check(m.any(), tm.any())
    check(m.all(dim=1), tm.all(dim=1))
    check(m.any(dim=0, keepdim=True), tm.any(dim=0, keepdim=True))
    n, tn = make((3, 4), "bool", 12)
    for op in ("logical_and", "logical_or", "logical_xor"):
        check(getattr(cr, op)(m, n), getattr(torch, op)(tm, tn))
    check(cr.logical_not(m), torch.logical_not(tm))
    check(m & n, tm & tn)
    check(m | n, tm | tn)
    check(~m, ~tm)
    assert cr.equal(a[1:], a[1:].clone()) and not cr.equal(a, a.clone())  # NaN != NaN
    assert cr.allclose(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.0 + 1e-9]))
    assert not cr.allclose(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.1]))


def test_where_clamp_lerp():
    a, ta = make((3, 4), "float64", 13)
    b, tb = make((4,), "float64", 14)
    x, tx = a.detach().requires_grad_(), ta.detach().requires_grad_()
    y, ty = b.detach().requires_grad_(), tb.detach().requires_grad_()
    out, tout = cr.where(x > 0, x, y), torch.where(tx > 0, tx, ty)
    check(out, tout)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    check(x.grad, tx.grad)
    check(y.grad, ty.grad)
    check(cr.where(a > 0, a, 0.0), torch.where(ta > 0, ta, 0.0))
    for lo, hi in ((-0.5, 0.5), (None, 0.2), (-0.1, None)):
        x.grad = None
        tx.grad = None
        c, tc = x.clamp(lo, hi), tx.clamp(lo, hi)
        check(c, tc)
        c.sum().backward()
        tc.sum().backward()
        check(x.grad, tx.grad)
        check(cr.clip(a, lo, hi), torch.clip(ta, lo, hi))
    check(cr.lerp(a, b, 0.3), torch.lerp(ta, tb, 0.3))
    assert gradgradcheck(lambda u, v: cr.where(u > 0, u * u, v * u), [x, y])
    assert gradcheck(lambda u: u.clamp(-0.5, 0.5), [x])
    assert gradcheck(lambda u, v: cr.lerp(u, v, 0.3), [x, y])


def test_integer_division_by_zero_raises():
    with pytest.raises(ZeroDivisionError):
        cr.tensor([1, 2]) // cr.tensor([0, 1])
    with pytest.raises(ZeroDivisionError):
        cr.tensor([1, 2]) % 0


def test_dtype_conversions():
    a, ta = make((2, 3), "float32", 15)
    for name in ("float", "double", "long", "int", "bool"):
        check(getattr(a, name)(), getattr(ta, name)())
    check(a.to(cr.int32), ta.to(torch.int32))
    check((a > 0).sum(), (ta > 0).sum())
    check((a > 0).float().mean(), (ta > 0).float().mean())
    assert cr.tensor([True, False]).dtype == cr.bool
    assert cr.tensor(np.array([1, 2], dtype=np.int32)).dtype == cr.int32
    assert cr.int is cr.int32 and cr.bool is not bool
