"""The CUDA backend: chainrule.cuda's API everywhere, and every CUDA kernel against its CPU twin
where a GPU is present (the kernel tests skip elsewhere).

The kernel tests run chainrule._cuda's test entry points (NumPy in, NumPy out) and compare them
with the CPU kernels reached through chainrule's own ops and autograd, in float32 and float64.
"""
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

# ---- the API, on any machine ---------------------------------------------------------------------


def test_import_chainrule_does_not_import_the_backend():
    code = "import sys, chainrule; print('chainrule._cuda' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_api_never_raises():
    assert isinstance(cr.cuda.is_built(), bool)
    assert isinstance(cr.cuda.is_available(), bool)
    n = cr.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert cr.cuda.is_available() == (n > 0)
    if not cr.cuda.is_built():
        assert n == 0 and not cr.cuda.is_available()
    cr.cuda.synchronize()  # a no-op without a GPU
    cr.cuda.manual_seed(123)
    cr.cuda.manual_seed_all(7)
    assert cr.cuda.initial_seed() == 7
    with pytest.raises(TypeError, match="seed"):
        cr.cuda.manual_seed(1.5)


def test_config_reports_the_build():
    # _core's flag says whether CMake built the backend; the module may still fail to load (no
    # libcublasLt here), but it can never load where it was not built.
    if cr.cuda.is_built():
        assert cr.config()["cuda_built"]


def test_tensors_cannot_move_to_cuda_yet():
    with pytest.raises(ValueError, match="CUDA backend .* cannot yet hold tensors"):
        cr.zeros(2).to("cuda")
    with pytest.raises(ValueError, match="cannot yet hold tensors"):
        cr.nn.Linear(2, 3).to("cuda")


def test_backend_module_surface():
    if not cr.cuda.is_built():
        pytest.skip("chainrule was built without the CUDA backend")
    from chainrule import _cuda
    for name in ("device_count", "synchronize", "runtime_version", "unary_forward", "unary_backward",
                 "bias_activation_forward", "activation_backward_inplace", "bias_grad", "dense_forward",
                 "linear_backward", "loss_forward", "loss_backward", "cross_entropy_forward",
                 "cross_entropy_backward", "sum_all", "sgd_update", "adam_update"):
        assert callable(getattr(_cuda, name)), name
    assert _cuda.runtime_version() >= 12000


# ---- kernels against the CPU, on a GPU -------------------------------------------------------------

gpu = pytest.mark.skipif(not cr.cuda.is_available(), reason="no CUDA device (or the backend is not built)")
DTYPES = [np.float32, np.float64]
# Sizes below, at and above a block of 256 threads, and one that makes the grid-stride loop wrap.
SIZES = [1, 7, 256, 257, 1000, 300_001]


def _cuda():
    from chainrule import _cuda
    return _cuda


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _t(a, requires_grad=False):
    return cr.tensor(np.ascontiguousarray(a), requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


UNARY = {  # name -> (CPU op on a Tensor, input sampler, param)
    "neg": (lambda x, p: -x, "any", 0.0),
    "exp": (lambda x, p: cr.exp(x), "any", 0.0),
    "log": (lambda x, p: cr.log(x), "positive", 0.0),
    "relu": (lambda x, p: cr.relu(x), "any", 0.0),
    "sigmoid": (lambda x, p: cr.sigmoid(x), "any", 0.0),
    "tanh": (lambda x, p: cr.tanh(x), "any", 0.0),
    "abs": (lambda x, p: cr.abs(x), "any", 0.0),
    "sqrt": (lambda x, p: cr.sqrt(x), "positive", 0.0),
    "leaky_relu": (lambda x, p: F.leaky_relu(x, p), "any", 0.05),
    "gelu": (lambda x, p: F.gelu(x), "any", 0.0),
    "gelu_tanh": (lambda x, p: F.gelu(x, approximate="tanh"), "any", 0.0),
}


def _sample(rng, n, kind, dtype):
    x = rng.standard_normal(n) * 3
    if kind == "positive":
        x = np.abs(x) + 0.1
    x[: min(n, 2)] = 0.0 if kind == "any" else x[: min(n, 2)]  # the kink of relu/abs/leaky_relu
    return x.astype(dtype)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("n", SIZES)
def test_unary_forward_backward(name, n, dtype):
    op, kind, param = UNARY[name]
    rng = np.random.default_rng(n)
    x = _sample(rng, n, kind, dtype)
    dout = rng.standard_normal(n).astype(dtype)
    xt = _t(x, requires_grad=True)
    yt = op(xt, param)
    yt.backward(_t(dout))
    y = _cuda().unary_forward(x, name, param)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, _np(yt), **_tol(dtype))
    dx = _cuda().unary_backward(dout, x, _np(yt), name, param)
    np.testing.assert_allclose(dx, _np(xt.grad), **_tol(dtype))


ACTIVATIONS = {  # name -> CPU op on a Tensor
    "identity": lambda z: z, "relu": cr.relu, "sigmoid": cr.sigmoid, "tanh": cr.tanh,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.05), "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 257), (1000, 33)])
def test_bias_activation_forward_and_backward(act, shape, dtype):
    rng = np.random.default_rng(1)
    B, OC = shape
    a = rng.standard_normal(shape).astype(dtype)
    bias = rng.standard_normal(OC).astype(dtype)
    zt = _t(a + bias, requires_grad=True)
    yt = ACTIVATIONS[act](zt)
    out, z = _cuda().bias_activation_forward(a, bias, act, 0.05, keep_z=True)
    np.testing.assert_allclose(z, a + bias, **_tol(dtype))
    np.testing.assert_allclose(out, _np(yt), **_tol(dtype))
    out2, none = _cuda().bias_activation_forward(a, None, act, 0.05, keep_z=False)
    assert none is None
    np.testing.assert_allclose(out2, _np(ACTIVATIONS[act](_t(a))), **_tol(dtype))

    dout = rng.standard_normal(shape).astype(dtype)
    yt.backward(_t(dout))
    dz = _cuda().activation_backward_inplace(dout, _np(yt), _np(zt), act, 0.05)
    np.testing.assert_allclose(dz, _np(zt.grad), **_tol(dtype))
    if act in ("identity", "relu", "sigmoid", "tanh", "leaky_relu"):  # derivable from the output alone
        dz = _cuda().activation_backward_inplace(dout, _np(yt), None, act, 0.05)
        np.testing.assert_allclose(dz, _np(zt.grad), **_tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (1000, 257), (4097, 2)])
def test_bias_grad_is_the_cpu_column_sum(shape, dtype):
    rng = np.random.default_rng(2)
    dout = rng.standard_normal(shape).astype(dtype)
    cpu = _np(_t(dout).sum(dim=0))
    # Both sum each column row after row in T: equal bit for bit.
    np.testing.assert_array_equal(_cuda().bias_grad(dout), cpu)
    init = rng.standard_normal(shape[1]).astype(dtype)
    np.testing.assert_allclose(_cuda().bias_grad(dout, init), init + cpu, **_tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("lt_epilogue", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 13, 5), (128, 64, 256), (300, 0, 4)])  # (B, C, OC)
def test_dense_forward(act, shape, dtype, lt_epilogue):
    rng = np.random.default_rng(3)
    B, C, OC = shape
    x = rng.standard_normal((B, C)).astype(dtype)
    w = (rng.standard_normal((OC, C)) / np.sqrt(max(C, 1))).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    z_cpu = F.linear(_t(x), _t(w), _t(b))
    a_cpu = _np(ACTIVATIONS[act](z_cpu))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else _tol(dtype)  # GEMM summation order
    for keep_z in (False, True):
        a, z = _cuda().dense_forward(x, w, b, act, 0.05, keep_z=keep_z, lt_epilogue=lt_epilogue)
        np.testing.assert_allclose(a, a_cpu, **tol)
        if keep_z:
            np.testing.assert_allclose(z, _np(z_cpu), **tol)
    a, _ = _cuda().dense_forward(x, w, None, act, 0.05, lt_epilogue=lt_epilogue)
    np.testing.assert_allclose(a, _np(ACTIVATIONS[act](F.linear(_t(x), _t(w)))), **tol)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lt_epilogue", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 13, 5), (128, 64, 256), (0, 3, 4)])  # (B, C, OC)
def test_linear_backward(shape, dtype, lt_epilogue):
    rng = np.random.default_rng(4)
    B, C, OC = shape
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((B, C), (OC, C), (OC,)))
    dout = rng.standard_normal((B, OC)).astype(dtype)
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    F.linear(xt, wt, bt).backward(_t(dout))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else _tol(dtype)
    dx, dw, db = _cuda().linear_backward(dout, x, w, with_bias=True, lt_epilogue=lt_epilogue)
    np.testing.assert_allclose(dx, _np(xt.grad) if B else np.zeros((0, C)), **tol)
    np.testing.assert_allclose(dw, _np(wt.grad) if B else np.zeros((OC, C)), **tol)
    np.testing.assert_allclose(db, _np(bt.grad) if B else np.zeros(OC), **tol)


LOSSES = {  # name -> (CPU functional with reduction='none', param, pred sampler)
    "mse": (lambda p, t, d: F.mse_loss(p, t, reduction="none"), 0.0, "any"),
    "l1": (lambda p, t, d: F.l1_loss(p, t, reduction="none"), 0.0, "any"),
    "huber": (lambda p, t, d: F.huber_loss(p, t, reduction="none", delta=d), 0.7, "any"),
    "bce": (lambda p, t, d: F.binary_cross_entropy(p, t, reduction="none"), 0.0, "prob"),
    "bce_with_logits": (lambda p, t, d: F.binary_cross_entropy_with_logits(p, t, reduction="none"), 0.0, "any"),
}


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("n", [1, 7, 1000, 300_001])
def test_losses(name, n, dtype):
    op, param, kind = LOSSES[name]
    rng = np.random.default_rng(5)
    pred = rng.standard_normal(n) * 2
    target = rng.random(n) if name.startswith("bce") else rng.standard_normal(n)
    if kind == "prob":
        pred = rng.uniform(0.01, 0.99, n)
        pred[:1] = 0.0  # the clamped log
    pred, target = pred.astype(dtype), target.astype(dtype)
    pt, tt = _t(pred, True), _t(target, name != "bce")
    lt = op(pt, tt, param)
    np.testing.assert_allclose(_cuda().loss_forward(pred, target, name, param), _np(lt), **_tol(dtype))
    dout = rng.standard_normal(n).astype(dtype)
    lt.backward(_t(dout))
    dpred, dtarget = _cuda().loss_backward(dout, False, pred, target, name, param)
    np.testing.assert_allclose(dpred, _np(pt.grad), **_tol(dtype))
    if name != "bce":
        np.testing.assert_allclose(dtarget, _np(tt.grad), **_tol(dtype))
    # A scalar dout (a reduced loss) broadcasts to every element.
    g = np.array([0.25], dtype)
    dpred_s, _ = _cuda().loss_backward(g, True, pred, target, name, param)
    dpred_v, _ = _cuda().loss_backward(np.full(n, 0.25, dtype), False, pred, target, name, param)
    np.testing.assert_array_equal(dpred_s, dpred_v)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (1000, 10), (3, 5000)])
def test_cross_entropy(shape, dtype):
    rng = np.random.default_rng(6)
    N, C = shape
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    target = rng.integers(0, C, N).astype(np.int64)
    lt_in = _t(logits, True)
    losses_cpu = F.cross_entropy(lt_in, cr.tensor(target), reduction="none")
    losses, log_probs = _cuda().cross_entropy_forward(logits, target)
    np.testing.assert_allclose(losses, _np(losses_cpu), **_tol(dtype))
    np.testing.assert_allclose(log_probs, _np(F.log_softmax(_t(logits), dim=1)), **_tol(dtype))
    dout = rng.standard_normal(N).astype(dtype)
    losses_cpu.backward(_t(dout))
    dlogits = _cuda().cross_entropy_backward(dout, False, log_probs, target)
    np.testing.assert_allclose(dlogits, _np(lt_in.grad), **_tol(dtype))
    mean_grad = _cuda().cross_entropy_backward(np.array([1.0 / N], dtype), True, log_probs, target)
    lt_mean = _t(logits, True)
    F.cross_entropy(lt_mean, cr.tensor(target)).backward()
    np.testing.assert_allclose(mean_grad, _np(lt_mean.grad), **_tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 255, 256, 1025, 1 << 20, 3_000_017])
def test_sum_all_is_accurate_and_deterministic(n, dtype):
    x = np.random.default_rng(7).standard_normal(n).astype(dtype)
    s = _cuda().sum_all(x)
    assert s == _cuda().sum_all(x)  # the launch shape depends on n only
    np.testing.assert_allclose(s, x.astype(np.float64).sum(), rtol=1e-6 if dtype == np.float32 else 1e-12,
                               atol=1e-6 * np.sqrt(max(n, 1)))


def _cpu_step(opt_cls, param, grad, steps, **kw):
    p = cr.nn.Parameter(_t(param))
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        p.grad = _t(grad)
        opt.step()
    return _np(p)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=0.1),
                                dict(momentum=0.5, dampening=0.3, maximize=True)])
def test_sgd_update(kw, dtype):
    rng = np.random.default_rng(8)
    param, grad = (rng.standard_normal(1001).astype(dtype) for _ in range(2))
    args = dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False) | kw
    p, buf = param, None
    for step in range(3):
        p, buf = _cuda().sgd_update(p, grad, buf, 0.1, first_step=step == 0, **args)
    np.testing.assert_allclose(p, _cpu_step(cr.optim.SGD, param, grad, 3, lr=0.1, **kw), **_tol(dtype))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(amsgrad=True, maximize=True)])
def test_adam_update(kw, decoupled, dtype):
    rng = np.random.default_rng(9)
    param, grad = (rng.standard_normal(1001).astype(dtype) for _ in range(2))
    args = dict(weight_decay=0.0, amsgrad=False, maximize=False) | kw
    p, m, v = param, np.zeros_like(param), np.zeros_like(param)
    vmax = np.zeros_like(param) if args["amsgrad"] else None
    for step in range(1, 4):
        p, m, v, vmax = _cuda().adam_update(p, grad, m, v, vmax, 1e-2, 0.9, 0.999, 1e-8, step=step,
                                            decoupled_weight_decay=decoupled, **args)
    opt_cls = cr.optim.AdamW if decoupled else cr.optim.Adam
    cpu_kw = dict(kw)
    if decoupled and "weight_decay" not in cpu_kw:
        cpu_kw["weight_decay"] = 0.0  # AdamW's default is 0.01
    np.testing.assert_allclose(p, _cpu_step(opt_cls, param, grad, 3, lr=1e-2, **cpu_kw), **_tol(dtype))
