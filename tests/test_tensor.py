"""Tensor creation, dtypes, properties and every op's forward pass against NumPy."""

import math

import numpy as np
import pytest

import chainrule as cr
from optional_dependencies import require

FLOATS = [cr.float32, cr.float64]
NP = {cr.float32: np.float32, cr.float64: np.float64, cr.int64: np.int64}
TOL = {cr.float32: dict(rtol=1e-5, atol=1e-6), cr.float64: dict(rtol=1e-12, atol=1e-12)}


def rnd(*shape, dtype=cr.float32, seed=0, low=-2.0, high=2.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape).astype(NP[dtype])


def close(t, expected, dtype=None):
    dtype = dtype or t.dtype
    assert t.dtype == dtype
    np.testing.assert_allclose(t.numpy(), expected, **TOL.get(dtype, dict(rtol=0, atol=0)))


# ---- creation ------------------------------------------------------------------------------------


def test_tensor_default_dtypes_follow_pytorch():
    assert cr.tensor([1.0, 2.0]).dtype == cr.float32
    assert cr.tensor([1, 2]).dtype == cr.int64
    assert cr.tensor(3.5).dtype == cr.float32
    assert cr.tensor(3).dtype == cr.int64
    assert cr.tensor([True, False]).dtype == cr.bool
    assert cr.tensor(np.zeros(2, np.float64)).dtype == cr.float64
    assert cr.tensor(np.zeros(2, np.float32)).dtype == cr.float32
    assert cr.tensor(np.zeros(2, np.int32)).dtype == cr.int32
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == cr.float64
    assert cr.tensor([1.7, -2.2], dtype=cr.int64).tolist() == [1, -2]


def test_tensor_copies_its_data():
    a = np.arange(4, dtype=np.float32)
    t = cr.tensor(a)
    a[0] = 100
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    u = cr.tensor(t)
    t.numpy()[1] = 7
    assert u.tolist()[1] == 1.0


def test_tensor_properties():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert t.shape == (2, 3)
    assert t.ndim == 2 and t.dim() == 2
    assert t.numel() == 6
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert len(t) == 2
    assert t.dtype == cr.float32
    assert t.device == cr.device("cpu") and t.device == "cpu"
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    u = t * 2
    assert not u.is_leaf and u.requires_grad and u.grad_fn is not None


def test_factories_shapes_and_values():
    assert cr.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert cr.zeros((2, 3)).shape == (2, 3)
    assert cr.zeros([2, 3]).shape == (2, 3)
    assert cr.zeros(()).shape == ()
    assert cr.ones(3, dtype=cr.int64).tolist() == [1, 1, 1]
    assert cr.empty(4, 5).shape == (4, 5)
    assert cr.full((2, 2), 7.5).tolist() == [[7.5, 7.5], [7.5, 7.5]]
    assert cr.full((3,), 2, dtype=cr.int64).tolist() == [2, 2, 2]
    assert cr.zeros(0, 3).shape == (0, 3)
    assert cr.zeros(np.int64(3)).shape == (3,)  # NumPy integers are sizes too, as in PyTorch
    assert cr.zeros(2, np.int64(3)).shape == (2, 3)
    z = cr.zeros(2, 3, dtype=cr.float64, requires_grad=True)
    assert z.dtype == cr.float64 and z.requires_grad


def test_like_factories():
    t = cr.tensor([[1.0, 2.0]], dtype=cr.float64)
    assert cr.zeros_like(t).dtype == cr.float64 and cr.zeros_like(t).shape == (1, 2)
    assert cr.ones_like(t).tolist() == [[1.0, 1.0]]
    assert cr.zeros_like(t, dtype=cr.float32).dtype == cr.float32
    assert cr.ones_like(t, dtype=cr.int64).dtype == cr.int64
    assert cr.full_like(t, 3.0).tolist() == [[3.0, 3.0]]
    assert cr.empty_like(t).shape == (1, 2)
    assert cr.randn_like(t).dtype == cr.float64


def test_random_factories_and_manual_seed():
    cr.manual_seed(123)
    a, b, c = cr.randn(100), cr.rand(50, dtype=cr.float64), cr.randint(0, 10, (30,))
    cr.manual_seed(123)
    a2, b2, c2 = cr.randn(100), cr.rand(50, dtype=cr.float64), cr.randint(0, 10, (30,))
    assert a.tolist() == a2.tolist() and b.tolist() == b2.tolist() and c.tolist() == c2.tolist()
    assert cr.randn(100).tolist() != a.tolist()  # the stream moves on
    assert b.numpy().min() >= 0 and b.numpy().max() < 1
    assert c.dtype == cr.int64 and c.numpy().min() >= 0 and c.numpy().max() < 10
    assert cr.randint(5, (4,)).numpy().max() < 5
    assert set(cr.randint(-3, -1, (200,)).tolist()) == {-3, -2}
    cr.manual_seed(0)
    big = cr.randn(20000, dtype=cr.float64).numpy()
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


def test_random_is_independent_of_thread_count():
    old = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        cr.manual_seed(7)
        a = cr.randn(200000).numpy().copy()
        cr.set_num_threads(max(2, old))
        cr.manual_seed(7)
        b = cr.randn(200000).numpy()
        np.testing.assert_array_equal(a, b)
    finally:
        cr.set_num_threads(old)


def test_set_num_threads():
    old = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
        x = cr.from_numpy(rnd(300, 300))
        one = (x @ x).sum(dim=0).numpy().copy()
        cr.set_num_threads(3)
        assert cr.get_num_threads() == 3
        np.testing.assert_array_equal((x @ x).sum(dim=0).numpy(), one)
    finally:
        cr.set_num_threads(old)
    assert cr.config()["num_threads"] == old


def test_arange():
    assert cr.arange(5).tolist() == [0, 1, 2, 3, 4] and cr.arange(5).dtype == cr.int64
    assert cr.arange(2, 8, 3).tolist() == [2, 5]
    f = cr.arange(0, 1, 0.25)
    assert f.dtype == cr.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert cr.arange(3, dtype=cr.float64).dtype == cr.float64


def test_dtype_objects():
    assert cr.float is cr.float32 and cr.double is cr.float64 and cr.long is cr.int64
    assert repr(cr.float32) == "chainrule.float32"
    assert cr.float64.is_floating_point and not cr.int64.is_floating_point
    assert cr.float32.itemsize == 4 and cr.int64.itemsize == 8


# ---- conversion ----------------------------------------------------------------------------------


def test_item_tolist_float_int_bool():
    assert cr.tensor(2.5).item() == 2.5
    assert isinstance(cr.tensor(3).item(), int)
    assert cr.tensor([[4.0]]).item() == 4.0
    assert cr.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert cr.tensor(1.5).tolist() == 1.5
    assert float(cr.tensor([2.0])) == 2.0 and int(cr.tensor(7)) == 7
    assert bool(cr.tensor(1.0)) and not bool(cr.tensor(0))
    with pytest.raises(RuntimeError):
        bool(cr.tensor([1.0, 2.0]))
    assert cr.tensor([1.0, 2.0], requires_grad=True).item.__name__  # item works on grad tensors
    assert (cr.tensor([3.0], requires_grad=True) * 2).item() == 6.0


def test_to_float_double_detach():
    t = cr.tensor([1.5, -2.5])
    d = t.double()
    assert d.dtype == cr.float64 and d.tolist() == [1.5, -2.5]
    assert d.float().dtype == cr.float32
    assert t.to(cr.int64).tolist() == [1, -2]
    assert t.to(dtype=cr.float64).dtype == cr.float64
    assert t.to("cpu") is t
    assert t.to(cr.float32) is t
    assert t.long().dtype == cr.int64
    g = cr.tensor([1.0, 2.0], requires_grad=True)
    det = g.detach()
    assert not det.requires_grad and det.grad_fn is None and det._is_view_of(g)


def test_repr():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=chainrule.float64" in repr(cr.tensor([1.0], dtype=cr.float64))
    assert "dtype" not in repr(cr.tensor([1, 2]))
    assert "requires_grad=True" in repr(cr.tensor([1.0], requires_grad=True))
    assert "grad_fn=<" in repr(cr.tensor([1.0], requires_grad=True) * 2)
    assert str(cr.tensor(3)) == "tensor(3)"


def test_numpy_array_protocol():
    t = cr.tensor([[1.0, 2.0]], requires_grad=True)
    a = np.asarray(t)
    assert a.shape == (1, 2) and a.dtype == np.float32
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_iteration():
    rows = list(cr.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


# ---- elementwise arithmetic vs NumPy -------------------------------------------------------------

OPS = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),  # row-vector bias
    ((3, 4), (1, 4)),
    ((3, 1), (1, 4)),  # both broadcast
    ((3, 4), (3, 1)),
    ((2, 3, 4), (3, 1)),
    ((4,), (2, 3, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((1,), (5,)),
    ((0, 3), (3,)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sa,sb", BROADCAST_SHAPES)
@pytest.mark.parametrize("op", list(OPS))
def test_binary_ops_broadcast_vs_numpy(op, sa, sb, dtype):
    a, b = rnd(*sa, dtype=dtype, seed=1), rnd(*sb, dtype=dtype, seed=2, low=0.5, high=2.0)
    f, ref = OPS[op]
    out = f(cr.from_numpy(a), cr.from_numpy(b))
    assert out.shape == np.broadcast_shapes(sa, sb)
    close(out, ref(a, b), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_vs_numpy(dtype):
    a, b = rnd(3, 4, dtype=dtype, low=0.5, high=2.0), rnd(4, dtype=dtype, seed=3)
    close(cr.from_numpy(a) ** cr.from_numpy(b), a**b, dtype)
    close(cr.from_numpy(a) ** 2, a**2, dtype)
    close(cr.from_numpy(a) ** 0.5, a**0.5, dtype)
    close(2.0 ** cr.from_numpy(b), 2.0**b, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_scalars_on_both_sides(dtype):
    a = rnd(2, 3, dtype=dtype, low=0.5)
    t = cr.from_numpy(a)
    for s in (2, 2.5, -1, np.float64(1.5)):
        close(t + s, a + NP[dtype](s), dtype)
        close(s + t, NP[dtype](s) + a, dtype)
        close(t - s, a - NP[dtype](s), dtype)
        close(s - t, NP[dtype](s) - a, dtype)
        close(t * s, a * NP[dtype](s), dtype)
        close(s * t, NP[dtype](s) * a, dtype)
        close(t / s, a / NP[dtype](s), dtype)
        close(s / t, NP[dtype](s) / a, dtype)
    close(-t, -a, dtype)
    assert (+t) is t


def test_mixed_float_promotion():
    a = cr.tensor([1.0, 2.0])
    b = cr.tensor([3.0, 4.0], dtype=cr.float64)
    assert (a + b).dtype == cr.float64 and (b * a).dtype == cr.float64
    assert (a + 1.5).dtype == cr.float32  # a Python float does not widen a float32 tensor
    assert (b + 1.5).dtype == cr.float64


def test_int64_arithmetic_like_pytorch():
    a = cr.tensor([1, 2, 3])
    b = cr.tensor([4, 5, 6])
    assert (a + b).dtype == cr.int64 and (a + b).tolist() == [5, 7, 9]
    assert (a - b).tolist() == [-3, -3, -3]
    assert (a * b).tolist() == [4, 10, 18]
    assert (a * 2).dtype == cr.int64 and (2 * a).tolist() == [2, 4, 6]
    assert (a**2).tolist() == [1, 4, 9] and (a**2).dtype == cr.int64
    assert (2**a).tolist() == [2, 4, 8]
    assert (-a).tolist() == [-1, -2, -3] and (-a).dtype == cr.int64
    # true division of integers gives float32, as torch.div does
    q = a / b
    assert q.dtype == cr.float32
    np.testing.assert_allclose(q.numpy(), [0.25, 0.4, 0.5], rtol=1e-6)
    assert (a / 2).dtype == cr.float32
    # int with float: float wins
    assert (a * 1.5).dtype == cr.float32 and (a * 1.5).tolist() == [1.5, 3.0, 4.5]
    assert (a + cr.tensor([0.5, 0.5, 0.5])).dtype == cr.float32
    assert (a + cr.tensor([0.5, 0.5, 0.5], dtype=cr.float64)).dtype == cr.float64
    assert (a + np.int64(1)).dtype == cr.int64  # a NumPy integer scalar is an integer
    assert (a + np.array([0.5, 0.5, 0.5])).tolist() == [1.5, 2.5, 3.5]  # never truncated
    assert a.sum().dtype == cr.int64 and a.sum().item() == 6


def test_int64_pow_large_exponent_wraps_quickly():
    # exponentiation by squaring; 1 ** huge is 1 without looping huge times
    assert (cr.tensor([1, -1, 0]) ** (10**15 + 1)).tolist() == [1, -1, 0]
    torch = require("torch")
    x = torch.tensor([3, 7, -5]) ** 40
    assert (cr.tensor([3, 7, -5]) ** 40).tolist() == x.tolist()


def test_ndarray_operands():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([10.0, 20.0])
    close(t + b, np.array([[11, 22], [13, 24]], np.float32))
    close(b + t, np.array([[11, 22], [13, 24]], np.float32))
    out = np.array([1.0, 1.0], np.float32) * t  # ndarray (op) Tensor defers to the tensor
    assert isinstance(out, cr.Tensor)


# ---- unary ---------------------------------------------------------------------------------------


def _gelu(x):
    from math import erf

    return np.array([0.5 * v * (1 + erf(v / math.sqrt(2))) for v in x.reshape(-1)]).reshape(x.shape)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


UNARY = {
    "exp": (lambda t: t.exp(), np.exp),
    "log": (lambda t: t.log(), np.log),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0)),
    "sigmoid": (lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "abs": (lambda t: t.abs(), np.abs),
    "sqrt": (lambda t: t.sqrt(), np.sqrt),
    "neg": (lambda t: t.neg(), np.negative),
    "f.exp": (cr.exp, np.exp),
    "f.relu": (cr.relu, lambda x: np.maximum(x, 0)),
    "f.sigmoid": (cr.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "f.tanh": (cr.tanh, np.tanh),
    "leaky_relu": (lambda t: cr.nn.functional.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "gelu": (cr.nn.functional.gelu, _gelu),
    "gelu_tanh": (lambda t: cr.nn.functional.gelu(t, approximate="tanh"), _gelu_tanh),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_vs_numpy(name, dtype):
    positive = name in ("log", "sqrt")
    x = rnd(3, 5, dtype=dtype, seed=4, low=0.1 if positive else -3, high=3)
    f, ref = UNARY[name]
    out = f(cr.from_numpy(x))
    assert out.shape == x.shape
    close(out, ref(x.astype(np.float64)).astype(NP[dtype]), dtype)


def test_sigmoid_and_tanh_saturate_without_nan():
    x = cr.tensor([-1000.0, 1000.0])
    assert cr.sigmoid(x).tolist() == [0.0, 1.0]
    assert cr.tanh(x).tolist() == [-1.0, 1.0]


def test_unary_on_large_tensors_uses_threads_correctly():
    x = rnd(300, 400)
    close(cr.from_numpy(x).exp(), np.exp(x))
    close(cr.from_numpy(x) * 3.0 + 1.0, x * np.float32(3.0) + np.float32(1.0))


# ---- matmul --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((1, 1), (1, 1)),
        ((65, 33), (33, 70)),
        ((3, 0), (0, 2)),
    ],
)
def test_matmul_vs_numpy(sa, sb, dtype):
    a, b = rnd(*sa, dtype=dtype, seed=5), rnd(*sb, dtype=dtype, seed=6)
    for out in (cr.from_numpy(a) @ cr.from_numpy(b), cr.matmul(cr.from_numpy(a), cr.from_numpy(b))):
        assert out.shape == np.matmul(a, b).shape
        np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4 if dtype == cr.float32 else 1e-12, atol=1e-5)


def test_linear_forward():
    x, w, b = rnd(2, 3, 4), rnd(5, 4, seed=1), rnd(5, seed=2)
    out = cr.nn.functional.linear(cr.from_numpy(x), cr.from_numpy(w), cr.from_numpy(b))
    assert out.shape == (2, 3, 5)
    np.testing.assert_allclose(out.numpy(), x @ w.T + b, rtol=1e-5, atol=1e-5)
    out = cr.nn.functional.linear(cr.from_numpy(x[0, 0].copy()), cr.from_numpy(w))
    np.testing.assert_allclose(out.numpy(), x[0, 0] @ w.T, rtol=1e-5, atol=1e-5)


# ---- shape ops -----------------------------------------------------------------------------------


def test_reshape_view_and_minus_one():
    a = np.arange(24, dtype=np.float32)
    t = cr.from_numpy(a)
    r = t.reshape(2, 3, 4)
    assert r.shape == (2, 3, 4) and r._is_view_of(t)
    assert t.reshape((4, -1)).shape == (4, 6)
    assert t.view(-1, 2).shape == (12, 2)
    assert t.reshape(24).shape == (24,)
    assert cr.tensor([5.0]).reshape(()).shape == ()
    assert r.flatten().shape == (24,)
    r.numpy()[0, 0, 0] = 99  # a view: writes show through
    assert a[0] == 99
    np.testing.assert_array_equal(r.numpy(), a.reshape(2, 3, 4))


def test_transpose():
    a = rnd(3, 5)
    t = cr.from_numpy(a)
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(t.t().numpy(), a.T)
    v = cr.tensor([1.0, 2.0])
    assert v.T.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(cr.from_numpy(rnd(70, 40)).T.numpy(), rnd(70, 40).T)


def test_slicing_first_dimension_is_a_view():
    a = np.arange(12, dtype=np.float64).reshape(4, 3)
    t = cr.from_numpy(a)
    s = t[1:3]
    assert s.shape == (2, 3) and s._is_view_of(t)
    np.testing.assert_array_equal(s.numpy(), a[1:3])
    s.numpy()[0, 0] = -1
    assert a[1, 0] == -1
    a[2, 2] = 42
    assert s.tolist()[1][2] == 42
    assert t[-1].tolist() == a[-1].tolist()
    assert t[1, 2].item() == a[1, 2]
    assert t[:].shape == (4, 3) and t[3:].shape == (1, 3) and t[5:].shape == (0, 3)
    assert t[-2:].tolist() == a[-2:].tolist()
    assert t[:-1].shape == (3, 3)
    assert t[2:1].shape == (0, 3)
    row = t[2]
    assert row.shape == (3,) and row._is_view_of(t)


def test_index_with_int64_arrays():
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    t = cr.from_numpy(a)
    idx = np.array([3, 0, 3, -1])
    np.testing.assert_array_equal(t[idx].numpy(), a[idx])
    np.testing.assert_array_equal(t[cr.tensor([2, 1])].numpy(), a[[2, 1]])
    np.testing.assert_array_equal(t[[1, 1]].numpy(), a[[1, 1]])
    g = t[np.array([0])]
    assert not g._is_view_of(t)  # a gather is a copy
    assert t[np.array([], dtype=np.int64)].shape == (0, 3)


# ---- reductions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2), (1, -1), (0, 1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_dims(dim, keepdim, dtype):
    a = rnd(3, 4, 5, dtype=dtype)
    t = cr.from_numpy(a)
    if dim is None:
        s, m = t.sum(), t.mean()
        es, em = a.sum(), a.mean()
        if keepdim:
            return
    else:
        s, m = t.sum(dim=dim, keepdim=keepdim), t.mean(dim=dim, keepdim=keepdim)
        es, em = a.sum(axis=dim, keepdims=keepdim), a.mean(axis=dim, keepdims=keepdim)
    assert s.shape == np.shape(es) and m.shape == np.shape(em)
    np.testing.assert_allclose(s.numpy(), es, rtol=1e-5 if dtype == cr.float32 else 1e-12)
    np.testing.assert_allclose(m.numpy(), em, rtol=1e-5 if dtype == cr.float32 else 1e-12)
    np.testing.assert_allclose(cr.sum(t, dim=dim).numpy(), a.sum(axis=dim), rtol=1e-5)
    np.testing.assert_allclose(cr.mean(t, dim=dim).numpy(), a.mean(axis=dim), rtol=1e-5)


def test_sum_of_large_float32_is_accurate():
    a = np.full(1_000_003, 0.1, dtype=np.float32)
    assert abs(cr.from_numpy(a).sum().item() - a.astype(np.float64).sum()) < 1.0


def test_sum_int_and_empty():
    t = cr.tensor([[1, 2], [3, 4]])
    assert t.sum(dim=0).tolist() == [4, 6] and t.sum(dim=0).dtype == cr.int64
    assert cr.zeros(0, 3).sum().item() == 0.0
    assert cr.zeros(0, 3).sum(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert math.isnan(cr.zeros(0).mean().item())  # as in PyTorch
    assert cr.tensor(2.0).sum(dim=0).item() == 2.0  # a 0-d tensor has one (virtual) dim


@pytest.mark.parametrize("dtype", FLOATS + [cr.int64])
def test_argmax(dtype):
    a = np.array([[1, 5, 5], [7, 0, 2]], dtype=NP[dtype])
    t = cr.from_numpy(a)
    assert t.argmax().item() == 3 and t.argmax().dtype == cr.int64
    assert t.argmax(dim=1).tolist() == [1, 0]  # first maximum on ties
    assert t.argmax(dim=0).tolist() == [1, 0, 0]
    assert t.argmax(dim=-1, keepdim=True).shape == (2, 1)
    assert cr.argmax(t, dim=0).tolist() == [1, 0, 0]
    b = rnd(4, 5, 6)
    np.testing.assert_array_equal(cr.from_numpy(b).argmax(dim=1).numpy(), b.argmax(axis=1))


# ---- softmax ------------------------------------------------------------------------------------


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_log_softmax(dim, dtype):
    a = rnd(3, 4, 5, dtype=dtype) * 5
    t = cr.from_numpy(a)
    ref = _np_softmax(a.astype(np.float64), dim)
    close(cr.softmax(t, dim=dim), ref.astype(NP[dtype]), dtype)
    close(t.softmax(dim), ref.astype(NP[dtype]), dtype)
    close(cr.log_softmax(t, dim=dim), np.log(ref).astype(NP[dtype]), dtype)
    close(cr.nn.functional.log_softmax(t, dim), np.log(ref).astype(NP[dtype]), dtype)


def test_softmax_is_stable_for_large_logits():
    t = cr.tensor([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(cr.softmax(t, dim=1).numpy(), [[0.5, 0.5, 0.0]])
    lp = cr.log_softmax(t, dim=1).numpy()
    assert np.isfinite(lp[0, :2]).all()


# ---- torch comparison ---------------------------------------------------------------------------


def test_forward_matches_torch():
    torch = require("torch")
    a, b = rnd(4, 6, dtype=cr.float64), rnd(6, dtype=cr.float64, seed=9)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ca, cb = cr.from_numpy(a), cr.from_numpy(b)
    np.testing.assert_allclose(((ca * cb + 1) / (ca.abs() + 1)).numpy(), ((ta * tb + 1) / (ta.abs() + 1)).numpy())
    np.testing.assert_allclose(cr.log_softmax(ca, 0).numpy(), torch.log_softmax(ta, 0).numpy())
    np.testing.assert_allclose(cr.nn.functional.gelu(ca).numpy(), torch.nn.functional.gelu(ta).numpy())
    np.testing.assert_allclose(
        cr.nn.functional.gelu(ca, approximate="tanh").numpy(), torch.nn.functional.gelu(ta, approximate="tanh").numpy()
    )
    np.testing.assert_allclose(ca.mean(dim=1, keepdim=True).numpy(), ta.mean(dim=1, keepdim=True).numpy())
    i = torch.tensor([3, -2, 7])
    assert (cr.tensor([3, -2, 7]) / cr.tensor([2, 2, 2])).tolist() == pytest.approx((i / 2).tolist())
    assert str((i / 2).dtype) == "torch.float32"


def test_zero_dim_operands_promote_like_pytorch():
    f32, f64 = cr.ones(2), cr.ones(2, dtype=cr.float64)
    i = cr.tensor([1, 2])
    s64, s32, si = cr.tensor(2.0, dtype=cr.float64), cr.tensor(2.0), cr.tensor(3)
    assert (f32 * s64).dtype == cr.float32 and (s64 * f32).dtype == cr.float32
    assert (i + s64).dtype == cr.float64
    assert (i + s32).dtype == cr.float32
    assert (f64 * s32).dtype == cr.float64
    assert (f32 + si).dtype == cr.float32 and (i + si).dtype == cr.int64
    assert (s32 + s64).dtype == cr.float64  # both 0-d: ordinary promotion
    assert (f32 + f64).dtype == cr.float64
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor(3.0, dtype=cr.float64, requires_grad=True)
    (x * w).sum().backward()
    assert w.grad.dtype == cr.float64 and w.grad.item() == 3.0 and x.grad.tolist() == [3.0, 3.0]
    torch = require("torch")
    assert str((torch.ones(2) * torch.tensor(2.0, dtype=torch.float64)).dtype) == "torch.float32"
    assert str((torch.tensor([1, 2]) + torch.tensor(2.0, dtype=torch.float64)).dtype) == "torch.float64"
