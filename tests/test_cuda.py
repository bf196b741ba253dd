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
from chainrule import nn, optim
from training_runs import train

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
    # _core's flag says whether CMake built the backend; is_built() reads it without loading CUDA.
    assert cr.cuda.is_built() == cr.config()["cuda_built"]


def test_driver_probe_never_raises():
    n = cr.cuda._driver_device_count()
    assert isinstance(n, int) and n >= 0


@pytest.fixture
def broken_backend(monkeypatch):
    """chainrule.cuda as on a machine where chainrule._cuda was built but fails to import."""
    monkeypatch.setattr(cr.cuda, "_module", None)
    monkeypatch.setattr(
        cr.cuda,
        "_import_error",
        ImportError("libcublasLt.so.13: cannot open shared object file: No such file or directory"),
    )
    monkeypatch.setattr(cr.cuda, "_built_into_core", lambda: True)
    # A module that failed to import registered no backend (even if an earlier test imported it here).
    monkeypatch.setattr(cr.cuda, "_registered_device_count", lambda: -1)
    return monkeypatch


def test_a_broken_backend_raises_where_the_driver_sees_a_gpu(broken_backend):
    broken_backend.setattr(cr.cuda, "_driver_device_count", lambda: 1)
    for call in (cr.cuda.is_available, cr.cuda.device_count, cr.cuda.synchronize, cr.cuda.epilogue_paths):
        with pytest.raises(RuntimeError, match="cannot be imported: libcublasLt.so.13") as info:
            call()
        assert isinstance(info.value.__cause__, ImportError)
    assert cr.cuda.is_built()


def test_a_broken_backend_is_unavailable_without_a_driver(broken_backend):
    broken_backend.setattr(cr.cuda, "_driver_device_count", lambda: 0)
    assert cr.cuda.is_available() is False
    assert cr.cuda.device_count() == 0
    assert cr.cuda.epilogue_paths() == []
    cr.cuda.synchronize()


def test_an_unbuilt_backend_is_unavailable_even_with_a_gpu(monkeypatch):
    monkeypatch.setattr(cr.cuda, "_module", None)
    monkeypatch.setattr(cr.cuda, "_import_error", ModuleNotFoundError("No module named 'chainrule._cuda'"))
    monkeypatch.setattr(cr.cuda, "_built_into_core", lambda: False)
    monkeypatch.setattr(cr.cuda, "_registered_device_count", lambda: -1)
    monkeypatch.setattr(cr.cuda, "_driver_device_count", lambda: 2)
    assert cr.cuda.is_available() is False and cr.cuda.device_count() == 0


def test_without_a_gpu_tensors_and_modules_cannot_move_to_cuda():
    if cr.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    reason = "(this chainrule was built without its CUDA backend|no CUDA GPU is available)"
    with pytest.raises(RuntimeError, match=f"to: cannot place a tensor on 'cuda': {reason}"):
        cr.zeros(2).to("cuda")
    layer = cr.nn.Linear(2, 3)
    with pytest.raises(RuntimeError, match="cannot place a tensor on 'cuda'"):
        layer.to("cuda")
    assert layer.weight.device == "cpu"


def test_backend_module_surface():
    if not cr.cuda.is_built():
        pytest.skip(
            "chainrule was built without the CUDA backend (rebuild with CHAINRULE_CUDA=ON; README, CUDA backend)"
        )
    from chainrule import _cuda

    for name in (
        "device_count",
        "synchronize",
        "runtime_version",
        "unary_forward",
        "unary_backward",
        "bias_activation_forward",
        "activation_backward_inplace",
        "bias_grad",
        "dense_forward",
        "linear_backward",
        "loss_forward",
        "loss_backward",
        "cross_entropy_forward",
        "cross_entropy_backward",
        "sum_all",
        "sgd_update",
        "adam_update",
        "epilogue_paths",
        "reset_epilogue_paths",
        "time_dense_layer",
    ):
        assert callable(getattr(_cuda, name)), name
    assert _cuda.runtime_version() >= 12000
    assert isinstance(cr.cuda.epilogue_paths(), list)


# ---- argument checks, on the host before any CUDA call (so on any machine with the backend) -------

built = pytest.mark.skipif(
    not cr.cuda.is_built(),
    reason="chainrule was built without the CUDA backend (rebuild with CHAINRULE_CUDA=ON; README, CUDA backend)",
)


class Kind:
    """A kind named as PyTorch names it, resolved to chainrule._cuda's enum (Unary, Activation or
    Loss: kinds cross the binding as enum values, never as strings) when a test runs; "core"
    names a value of chainrule._core.Activation instead."""

    def __init__(self, enum, name):
        self.enum, self.name = enum, name

    def value(self):
        if self.enum == "core":
            return cr._core.Activation.__members__[self.name]
        return _kind(self.enum, self.name)

    def __repr__(self):
        return f"{self.enum}.{self.name}"


def OP(name):
    return Kind("Unary", name)


def ACT(name):
    return Kind("Activation", name)


def LOSS(name):
    return Kind("Loss", name)


f32 = np.zeros((3, 4), np.float32)
f64 = np.zeros((3, 4), np.float64)
v4, v5 = np.zeros(4, np.float32), np.zeros(5, np.float32)
labels = np.array([0, 1, 3], np.int64)
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)

BAD_ARGUMENTS = [  # (entry point, args, kwargs, exception, message pattern)
    ("unary_forward", (np.zeros(3, np.int64), OP("relu")), {}, TypeError, "x must be a float32 or float64"),
    (
        "unary_backward",
        (np.zeros((3, 5), np.float32), f32, f32, OP("relu")),
        {},
        ValueError,
        r"dout must have the shape of x, \(3, 4\)",
    ),
    ("unary_backward", (f32, f32, np.zeros(12, np.float32), OP("exp")), {}, ValueError, "y must have the shape of x"),
    ("unary_backward", (f64, f32, f32, OP("exp")), {}, TypeError, "dout has dtype float64 but x has float32"),
    (
        "bias_activation_forward",
        (f32, v5, ACT("relu")),
        {},
        ValueError,
        r"bias must have shape \(OC,\) with OC = 4 \(from a\), got \(5,\)",
    ),
    ("bias_activation_forward", (v4, None, ACT("relu")), {}, ValueError, r"a must have shape \(B, OC\)"),
    (
        "bias_activation_forward",
        (f32, None, Kind("core", "silu")),
        {},
        ValueError,
        r"act must be one of the kinds the CUDA kernels implement \(identity, relu",
    ),
    ("activation_backward_inplace", (f32, f32, None, ACT("gelu")), {}, ValueError, "z .* is required for act 'gelu'"),
    ("activation_backward_inplace", (f32, f32, None, ACT("gelu_tanh")), {}, ValueError, "z .* is required"),
    ("activation_backward_inplace", (f32, f32, None, ACT("leaky_relu"), -0.5), {}, ValueError, "slope <= 0"),
    (
        "activation_backward_inplace",
        (f32, np.zeros((4, 3), np.float32), None, ACT("relu")),
        {},
        ValueError,
        "a must have the shape of dz",
    ),
    (
        "activation_backward_inplace",
        (f32, f32, np.zeros((3, 5), np.float32), ACT("gelu")),
        {},
        ValueError,
        "z must have the shape of dz",
    ),
    ("bias_grad", (f32, v5), {}, ValueError, r"dbias must have shape \(OC,\) with OC = 4"),
    ("bias_grad", (f32, np.zeros(4)), {}, TypeError, "dbias has dtype float64 but dout has float32"),
    (
        "dense_forward",
        (f32, np.zeros((2, 5), np.float32), None),
        {},
        ValueError,
        r"weight must have shape \(OC, C\) with C = 4 \(from inp\)",
    ),
    (
        "dense_forward",
        (f32, np.zeros((2, 4), np.float32), v4),
        {},
        ValueError,
        r"bias must have shape \(OC,\) with OC = 2 \(from weight\)",
    ),
    ("dense_forward", (f32, np.zeros((2, 4), np.float32), None), dict(offset=-1), ValueError, "offset must be >= 0"),
    (
        "linear_backward",
        (np.zeros((3, 3), np.float32), f32, np.zeros((2, 4), np.float32)),
        {},
        ValueError,
        r"dout must have shape \(B, OC\) with OC = 2",
    ),
    (
        "linear_backward",
        (np.zeros((2, 2), np.float32), f32, np.zeros((2, 4), np.float32)),
        {},
        ValueError,
        r"with B = 3",
    ),
    ("loss_forward", (v4, v5, LOSS("mse")), {}, ValueError, "target must have the shape of pred"),
    ("loss_forward", (v4, v4, LOSS("huber"), 0.0), {}, ValueError, "delta .* must be > 0"),
    (
        "loss_backward",
        (np.zeros(2, np.float32), True, v4, v4, LOSS("mse")),
        {},
        ValueError,
        r"dout must have shape \(1,\)",
    ),
    ("loss_backward", (v5, False, v4, v4, LOSS("mse")), {}, ValueError, "dout must have the shape of pred"),
    (
        "cross_entropy_forward",
        (f32, np.array([0, 1, 4], np.int64)),
        {},
        ValueError,
        r"target\[2\] = 4 is not a class index in \[0, 4\)",
    ),
    ("cross_entropy_forward", (f32, np.array([0, -1, 2], np.int64)), {}, ValueError, r"target\[1\] = -1"),
    (
        "cross_entropy_forward",
        (f32, np.array([0, 1], np.int64)),
        {},
        ValueError,
        r"target must have shape \(N,\) with N = 3",
    ),
    ("cross_entropy_forward", (f32, labels.astype(np.float32)), {}, TypeError, "target must be an int64 array"),
    (
        "cross_entropy_backward",
        (np.zeros(2, np.float32), False, f32, labels),
        {},
        ValueError,
        r"dout must have shape \(N,\) with N = 3",
    ),
    (
        "cross_entropy_backward",
        (np.zeros(3, np.float32), False, f32, np.array([0, 9, 1], np.int64)),
        {},
        ValueError,
        "target.1. = 9",
    ),
    ("sum_all", (np.zeros(3, bool),), {}, TypeError, "x must be a float32 or float64"),
    ("sgd_update", (v4, v5, None, 0.1), {}, ValueError, "grad must have the shape of param"),
    ("sgd_update", (v4, v4, v5, 0.1), dict(momentum=0.9), ValueError, "momentum_buffer must have the shape of param"),
    ("sgd_update", (v4, v4, None, -0.1), {}, ValueError, "lr must be >= 0"),
    ("sgd_update", (v4, v4, None, 0.1), dict(momentum=-1.0), ValueError, "momentum must be >= 0"),
    ("sgd_update", (v4, v4, None, 0.1), dict(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    ("sgd_update", (v4, v4, None, 0.1), dict(nesterov=True), ValueError, "nesterov needs a momentum"),
    (
        "sgd_update",
        (v4, v4, None, 0.1),
        dict(momentum=0.9, first_step=False),
        ValueError,
        "momentum_buffer is required",
    ),
    ("adam_update", (v4, v4, v4, v5, None), ADAM, ValueError, "exp_avg_sq must have the shape of param"),
    ("adam_update", (v4, v4, v5, v4, None), ADAM, ValueError, "exp_avg must have the shape of param"),
    ("adam_update", (v4, v4, v4, v4, v5), ADAM | dict(amsgrad=True), ValueError, "max_exp_avg_sq must have the shape"),
    ("adam_update", (v4, v4, v4, v4, None), ADAM | dict(amsgrad=True), ValueError, "amsgrad needs max_exp_avg_sq"),
    ("adam_update", (v4, v4, v4, v4, None), ADAM | dict(step=0), ValueError, "step must be >= 1"),
    ("adam_update", (v4, v4, v4, v4, None), ADAM | dict(beta2=1.0), ValueError, r"beta2 must be in \[0, 1\)"),
    ("adam_update", (v4, v4, v4, v4, None), ADAM | dict(eps=-1.0), ValueError, "eps must be >= 0"),
    ("adam_update", (v4, v4.astype(np.float64), v4, v4, None), ADAM, TypeError, "grad has dtype float64"),
    (
        "time_dense_layer",
        (f32, np.zeros((2, 4), np.float32), v4, np.zeros((3, 2), np.float32)),
        {},
        ValueError,
        "bias must have shape",
    ),
]


@built
@pytest.mark.parametrize(
    "entry, args, kwargs, error, match", BAD_ARGUMENTS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_ARGUMENTS)]
)
def test_bad_arguments_raise_before_any_cuda_call(entry, args, kwargs, error, match):
    # Without a driver, any CUDA call would raise RuntimeError first: a ValueError/TypeError here
    # shows the check ran before anything was copied or launched. With a GPU it shows the kernel
    # never saw the bad sizes (which would write out of bounds and poison the context).
    args = tuple(a.value() if isinstance(a, Kind) else a for a in args)
    with pytest.raises(error, match=match) as info:
        getattr(_cuda(), entry)(*args, **kwargs)
    assert str(info.value).startswith(entry + ": ")


@built
def test_kinds_cross_the_binding_as_enums():
    # Each enum names exactly the kinds the kernels implement; a string is no kind.
    cuda = _cuda()
    assert sorted(cuda.Activation.__members__) == sorted(
        ["identity", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "gelu_tanh"]
    )
    assert "gelu_tanh" in cuda.Unary.__members__ and "bce_with_logits" in cuda.Loss.__members__
    with pytest.raises(TypeError):
        cuda.unary_forward(f32, "relu")
    with pytest.raises(TypeError):
        cuda.loss_forward(v4, v4, "mse")
    # chainrule._core's Activation is the same C++ type, so its values convert: relu reaches the
    # argument checks (which then refuse the bias) instead of raising a TypeError.
    with pytest.raises(ValueError, match="bias must have shape"):
        cuda.bias_activation_forward(f32, v5, cr._core.Activation.relu)


@built
def test_epilogue_paths_start_empty_after_a_reset():
    cr.cuda.reset_epilogue_paths()
    assert cr.cuda.epilogue_paths() == []


# ---- kernels against the CPU, on a GPU -------------------------------------------------------------

gpu = pytest.mark.skipif(
    not cr.cuda.is_available(),
    reason="no CUDA GPU here (or chainrule was built without the CUDA backend): the GPU tests need one",
)
DTYPES = [np.float32, np.float64]
# Sizes below, at and above a block of 256 threads, and one that makes the grid-stride loop wrap.
SIZES = [1, 7, 256, 257, 1000, 300_001]


def _cuda():
    from chainrule import _cuda

    return _cuda


def _kind(enum, name):
    """chainrule._cuda's value of enum `enum` named `name`, e.g. _kind("Activation", "relu")."""
    return getattr(_cuda(), enum).__members__[name]


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _gelu_tanh_grad_reference(x, dout, dtype):
    """(reference, tolerance) for gelu_tanh's input gradient at x.

    In float32 the derivative is ill-conditioned where tanh nears -1 or 1: 1 - t*t loses most of
    its digits there, so one ulp of difference between CUDA's tanhf and glibc's moves the result by
    about |x| sqrt(2/pi) (1 + 3 * 0.044715 x^2) ulp(1) * |dout| (up to ~17 ulp(1) * |dout| before
    tanhf rounds to exactly +-1). The reference is then the float64 derivative, and the tolerance
    allows that many ulps of tanh, for this derivative only.
    """
    xt = _t(x.astype(np.float64), requires_grad=True)
    F.gelu(xt, approximate="tanh").backward(_t(dout.astype(np.float64)))
    if dtype != np.float32:
        return _np(xt.grad), _tol(dtype)
    return _np(xt.grad), dict(rtol=2e-5, atol=1e-5 * max(1.0, float(np.abs(dout).max(initial=0.0))))


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
    y = _cuda().unary_forward(x, _kind("Unary", name), param)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, _np(yt), **_tol(dtype))
    dx = _cuda().unary_backward(dout, x, _np(yt), _kind("Unary", name), param)
    if name == "gelu_tanh":
        reference, tol = _gelu_tanh_grad_reference(x, dout, dtype)
        np.testing.assert_allclose(dx, reference, **tol)
    else:
        np.testing.assert_allclose(dx, _np(xt.grad), **_tol(dtype))


ACTIVATIONS = {  # name -> CPU op on a Tensor
    "identity": lambda z: z,
    "relu": cr.relu,
    "sigmoid": cr.sigmoid,
    "tanh": cr.tanh,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.05),
    "gelu": F.gelu,
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
    out, z = _cuda().bias_activation_forward(a, bias, _kind("Activation", act), 0.05, keep_z=True)
    np.testing.assert_allclose(z, a + bias, **_tol(dtype))
    np.testing.assert_allclose(out, _np(yt), **_tol(dtype))
    out2, none = _cuda().bias_activation_forward(a, None, _kind("Activation", act), 0.05, keep_z=False)
    assert none is None
    np.testing.assert_allclose(out2, _np(ACTIVATIONS[act](_t(a))), **_tol(dtype))

    dout = rng.standard_normal(shape).astype(dtype)
    yt.backward(_t(dout))
    dz = _cuda().activation_backward_inplace(dout, _np(yt), _np(zt), _kind("Activation", act), 0.05)
    if act == "gelu_tanh":
        reference, tol = _gelu_tanh_grad_reference(_np(zt), dout, dtype)
        np.testing.assert_allclose(dz, reference, **tol)
    else:
        np.testing.assert_allclose(dz, _np(zt.grad), **_tol(dtype))
    if act in ("identity", "relu", "sigmoid", "tanh", "leaky_relu"):  # derivable from the output alone
        dz = _cuda().activation_backward_inplace(dout, _np(yt), None, _kind("Activation", act), 0.05)
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
    # Accumulating adds row after row onto init (not init + the column sum): the same order in
    # NumPy's elementwise adds gives the same bits.
    init = rng.standard_normal(shape[1]).astype(dtype)
    expected = init.copy()
    for row in dout:
        expected += row
    np.testing.assert_array_equal(_cuda().bias_grad(dout, init), expected)


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
        a, z = _cuda().dense_forward(x, w, b, _kind("Activation", act), 0.05, keep_z=keep_z, lt_epilogue=lt_epilogue)
        np.testing.assert_allclose(a, a_cpu, **tol)
        if keep_z:
            np.testing.assert_allclose(z, _np(z_cpu), **tol)
    a, _ = _cuda().dense_forward(x, w, None, _kind("Activation", act), 0.05, lt_epilogue=lt_epilogue)
    np.testing.assert_allclose(a, _np(ACTIVATIONS[act](F.linear(_t(x), _t(w)))), **tol)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [1, 3, 16])
def test_dense_layer_on_pointers_less_aligned_than_256_bytes(offset, dtype):
    # Every device array starts `offset` elements into its allocation (4 to 128 bytes aligned), as a
    # slice of a parameter arena would: cuBLASLt must be told the real alignment or it refuses.
    rng = np.random.default_rng(10)
    B, C, OC = 33, 20, 12
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((B, C), (OC, C), (OC,)))
    dout = rng.standard_normal((B, OC)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else _tol(dtype)
    for act in ("identity", "relu", "gelu_tanh", "sigmoid"):
        aligned, _ = _cuda().dense_forward(x, w, b, _kind("Activation", act), lt_epilogue=False)
        shifted, _ = _cuda().dense_forward(x, w, b, _kind("Activation", act), offset=offset)
        np.testing.assert_allclose(shifted, aligned, **tol)
    reference = _cuda().linear_backward(dout, x, w, lt_epilogue=False)
    for got, want in zip(_cuda().linear_backward(dout, x, w, offset=offset), reference):
        np.testing.assert_allclose(got, want, **tol)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_epilogue_paths_record_every_cublaslt_epilogue(dtype):
    rng = np.random.default_rng(11)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((16, 8), (4, 8), (4,)))
    name = np.dtype(dtype).name
    cr.cuda.reset_epilogue_paths()
    _cuda().dense_forward(
        x, w, b, _kind("Activation", "relu"), lt_epilogue=False
    )  # the reference path asks cuBLASLt for nothing
    assert cr.cuda.epilogue_paths() == []
    _cuda().dense_forward(x, w, b, _kind("Activation", "relu"))
    _cuda().dense_forward(x, w, b, _kind("Activation", "relu"))
    _cuda().dense_forward(x, w, None, _kind("Activation", "gelu_tanh"))
    _cuda().dense_forward(x, w, b, _kind("Activation", "identity"))
    _cuda().linear_backward(rng.standard_normal((16, 4)).astype(dtype), x, w)
    seen = {(p["site"], p["epilogue"], p["dtype"]): p for p in cr.cuda.epilogue_paths()}
    assert set(seen) == {
        ("dense_forward", "relu_bias", name),
        ("dense_forward", "gelu", name),
        ("linear_forward", "bias", name),
        ("linear_backward", "bgradb", name),
    }
    assert (
        seen[("dense_forward", "relu_bias", name)]["fused"] + seen[("dense_forward", "relu_bias", name)]["fallback"]
        == 2
    )
    for p in seen.values():
        if p["fallback"]:
            assert p["last_refusal"].startswith(("CUBLAS_STATUS_", "no algorithm")), p
        else:
            assert p["last_refusal"] is None


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
    np.testing.assert_allclose(_cuda().loss_forward(pred, target, _kind("Loss", name), param), _np(lt), **_tol(dtype))
    dout = rng.standard_normal(n).astype(dtype)
    lt.backward(_t(dout))
    dpred, dtarget = _cuda().loss_backward(dout, False, pred, target, _kind("Loss", name), param)
    np.testing.assert_allclose(dpred, _np(pt.grad), **_tol(dtype))
    if name != "bce":
        np.testing.assert_allclose(dtarget, _np(tt.grad), **_tol(dtype))
    # A scalar dout (a reduced loss) broadcasts to every element.
    g = np.array([0.25], dtype)
    dpred_s, _ = _cuda().loss_backward(g, True, pred, target, _kind("Loss", name), param)
    dpred_v, _ = _cuda().loss_backward(np.full(n, 0.25, dtype), False, pred, target, _kind("Loss", name), param)
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
    np.testing.assert_allclose(
        s, x.astype(np.float64).sum(), rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6 * np.sqrt(max(n, 1))
    )


def _cpu_step(opt_cls, param, grad, steps, **kw):
    p = cr.nn.Parameter(_t(param))
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        p.grad = _t(grad)
        opt.step()
    return _np(p)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(momentum=0.9),
        dict(momentum=0.9, nesterov=True, weight_decay=0.1),
        dict(momentum=0.5, dampening=0.3, maximize=True),
    ],
)
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
        p, m, v, vmax = _cuda().adam_update(
            p, grad, m, v, vmax, 1e-2, 0.9, 0.999, 1e-8, step=step, decoupled_weight_decay=decoupled, **args
        )
    opt_cls = cr.optim.AdamW if decoupled else cr.optim.Adam
    cpu_kw = dict(kw)
    if decoupled and "weight_decay" not in cpu_kw:
        cpu_kw["weight_decay"] = 0.0  # AdamW's default is 0.01
    np.testing.assert_allclose(p, _cpu_step(opt_cls, param, grad, 3, lr=1e-2, **cpu_kw), **_tol(dtype))


# ---- registration, on any machine with the backend ------------------------------------------------


@built
def test_importing_the_backend_registers_it_without_needing_a_gpu():
    # A fresh process: importing chainrule._cuda registers CUDA with _core (0 devices where there
    # is no GPU), and availability still follows the devices the backend sees.
    code = (
        "import chainrule as cr, chainrule._cuda as m\n"
        "from chainrule import _core\n"
        "print(m._backend_registered, _core._device_count('cuda') == m.device_count(),"
        " cr.cuda.is_available() == (m.device_count() > 0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


# ---- tensors on the GPU through the PyTorch-shaped API, against the CPU -----------------------------

device_tests = pytest.mark.skipif(
    not cr.cuda.is_available(),
    reason="no CUDA GPU here (or chainrule was built without the CUDA backend): device tensors need one",
)
CR_DTYPES = [cr.float32, cr.float64]


def _device_tol(dtype):
    """The agreement asked of the GPU with the CPU: 1e-5 in float32, 1e-12 in float64."""
    return dict(rtol=1e-5, atol=1e-6) if dtype == cr.float32 else dict(rtol=1e-12, atol=1e-13)


def _values(t):
    return None if t is None else t.detach().cpu().numpy()


def _randn(*shape, dtype=cr.float64, seed=0, grad=True):
    cr.manual_seed(seed + 13 * len(shape))
    return cr.randn(*shape, dtype=dtype, requires_grad=grad)


def _compare_devices(make_inputs, fn, dtype, exact=False):
    """fn on CPU tensors and on copies moved with .to("cuda"): outputs and input gradients agree."""
    runs = []
    for where in ("cpu", "cuda"):
        inputs = [t.to(where).detach().requires_grad_(t.requires_grad) for t in make_inputs()]
        out = fn(*inputs)
        assert out.device.type == where
        if out.requires_grad:
            (out * cr.ones_like(out)).sum().backward()
        runs.append((out, [t.grad for t in inputs]))
    (cpu_out, cpu_grads), (dev_out, dev_grads) = runs
    assert dev_out.dtype == cpu_out.dtype and tuple(dev_out.shape) == tuple(cpu_out.shape)
    check = (
        np.testing.assert_array_equal if exact else lambda a, b: np.testing.assert_allclose(a, b, **_device_tol(dtype))
    )
    check(_values(dev_out), _values(cpu_out))
    for g_cpu, g_dev in zip(cpu_grads, dev_grads):
        assert (g_cpu is None) == (g_dev is None)
        if g_dev is not None:
            assert g_dev.is_cuda
            check(_values(g_dev), _values(g_cpu))


ONE_TENSOR_OPS = {
    "neg": lambda x: -x,
    "exp": lambda x: x.exp(),
    "log": lambda x: (x.abs() + 0.1).log(),
    "relu": lambda x: x.relu(),
    "sigmoid": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "abs": lambda x: x.abs(),
    "sqrt": lambda x: (x.abs() + 0.1).sqrt(),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "sin": lambda x: cr.sin(x),
    "cos": lambda x: cr.cos(x),
    "tan": lambda x: cr.tan(x * 0.3),
    "log1p": lambda x: cr.log1p(x.abs()),
    "expm1": lambda x: cr.expm1(x),
    "rsqrt": lambda x: cr.rsqrt(x.abs() + 0.1),
    "sign": lambda x: cr.sign(x) * x,
    "floor": lambda x: cr.floor(x * 3) + x,
    "ceil": lambda x: cr.ceil(x * 3) + x,
    "round": lambda x: cr.round(x * 3) + x,
    "square": lambda x: cr.square(x),
    "reciprocal": lambda x: cr.reciprocal(x.abs() + 0.5),
    "log2": lambda x: cr.log2(x.abs() + 0.1),
    "log10": lambda x: cr.log10(x.abs() + 0.1),
    "erf": lambda x: cr.erf(x),
    "clamp": lambda x: x.clamp(-0.5, 0.5),
    "clamp min": lambda x: x.clamp(min=0.1),
    "sum": lambda x: x.sum(),
    "sum dim 0": lambda x: x.sum(0),
    "sum dim 1": lambda x: x.sum(1),
    "sum inner dim": lambda x: x.reshape(2, 3, 10).sum(1),
    "mean": lambda x: x.mean(),
    "softmax": lambda x: x.softmax(1),
    "softmax dim 0": lambda x: x.softmax(0),
    "log_softmax": lambda x: F.log_softmax(x, dim=1),
    "log_softmax inner": lambda x: F.log_softmax(x.reshape(2, 3, 10), dim=1),
    "transpose": lambda x: x.t() * 1.0,
    "expand": lambda x: x[:1].expand(6, 10) * 1.0,
    "matmul": lambda x: x @ x.t(),
}


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
@pytest.mark.parametrize("name", sorted(ONE_TENSOR_OPS))
def test_one_tensor_ops_on_cuda_match_the_cpu(name, dtype):
    _compare_devices(lambda: [_randn(6, 10, dtype=dtype)], ONE_TENSOR_OPS[name], dtype)


BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b.abs() + 1),
    "pow": lambda a, b: (a.abs() + 0.5) ** b,
    "floor_divide": lambda a, b: cr.floor_divide(a, b.abs() + 0.5) + a * b,
    "remainder": lambda a, b: cr.remainder(a, b.abs() + 0.5),
    "maximum": lambda a, b: cr.maximum(a, b),
    "minimum": lambda a, b: cr.minimum(a, b),
}
BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((5,), ()),
    ((2, 1, 3, 1, 2), (3, 4, 1)),
    ((1, 2, 1, 2, 1, 2, 1, 2), (2, 1, 2, 1, 2, 1, 2, 1)),  # eight dimensions: the most a kernel takes
]


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES)
@pytest.mark.parametrize("op", sorted(BINARY_OPS))
def test_broadcast_binary_ops_on_cuda_match_the_cpu(op, shapes, dtype):
    _compare_devices(
        lambda: [_randn(*shapes[0], dtype=dtype), _randn(*shapes[1], dtype=dtype, seed=7)], BINARY_OPS[op], dtype
    )


@device_tests
def test_more_than_eight_broadcast_dimensions_raise_on_cuda():
    a = cr.ones(*([1] * 9), 2, device="cuda")
    b = cr.ones(2, 1, device="cuda")
    with pytest.raises(RuntimeError, match="at most 8 dimensions"):
        a + b


@device_tests
@pytest.mark.parametrize("dtype", [cr.float32, cr.float64, cr.int64, cr.int32, cr.bool])
def test_comparisons_fill_and_casts_on_cuda(dtype):
    x = cr.tensor([[0.0, -1.5, 2.5, float("nan")], [3.0, 0.0, -7.9, 1e30]])
    xd = x.to("cuda")
    for to in [cr.float32, cr.float64, cr.int64, cr.int32, cr.bool]:  # every cast, both ways
        cast = xd.to(to)
        assert cast.is_cuda and cast.dtype == to
        np.testing.assert_array_equal(cast.cpu().numpy(), x.to(to).numpy())
        back = cast.to(dtype)
        np.testing.assert_array_equal(back.cpu().numpy(), x.to(to).to(dtype).numpy())
    a, b = x.to(dtype), x.flip(1).to(dtype)
    ad, bd = a.to("cuda"), b.to("cuda")
    for cmp in (cr.eq, cr.ne, cr.logical_and, cr.logical_xor):
        np.testing.assert_array_equal(cmp(ad, bd).cpu().numpy(), cmp(a, b).numpy())
    np.testing.assert_array_equal((ad > bd).cpu().numpy(), (a > b).numpy())
    full = cr.full((3, 5), 2.0, dtype=dtype, device="cuda")
    np.testing.assert_array_equal(full.cpu().numpy(), cr.full((3, 5), 2.0, dtype=dtype).numpy())
    np.testing.assert_array_equal(
        cr.zeros(4, dtype=dtype, device="cuda").cpu().numpy(), cr.zeros(4, dtype=dtype).numpy()
    )


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
def test_argmax_on_cuda(dtype):
    x = _randn(7, 5, dtype=dtype, grad=False)
    x[2, 1] = float("nan")
    for dim in (0, 1):
        got = x.to("cuda").argmax(dim)
        assert got.is_cuda and got.dtype == cr.int64
        np.testing.assert_array_equal(got.cpu().numpy(), x.argmax(dim).numpy())


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
def test_linear_matmul_and_losses_on_cuda(dtype):
    _compare_devices(
        lambda: [_randn(5, 3, dtype=dtype), _randn(4, 3, dtype=dtype, seed=1), _randn(4, dtype=dtype, seed=2)],
        lambda x, w, b: F.linear(x, w, b),
        dtype,
    )
    _compare_devices(lambda: [_randn(5, 3, dtype=dtype), _randn(3, 7, dtype=dtype, seed=1)], lambda a, b: a @ b, dtype)
    for loss in (F.mse_loss, F.l1_loss, F.huber_loss):
        _compare_devices(lambda: [_randn(6, 4, dtype=dtype), _randn(6, 4, dtype=dtype, seed=3)], loss, dtype)
    _compare_devices(
        lambda: [_randn(6, 4, dtype=dtype), (_randn(6, 4, dtype=dtype, seed=3, grad=False) > 0).to(dtype)],
        F.binary_cross_entropy_with_logits,
        dtype,
    )
    labels = cr.tensor([0, 2, 1, 2, 0])
    for reduction in ("mean", "sum", "none"):
        _compare_devices(
            lambda: [_randn(5, 3, dtype=dtype), labels],
            lambda x, y, reduction=reduction: F.cross_entropy(x, y, reduction=reduction),
            dtype,
        )


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
@pytest.mark.parametrize("layer", ["batch_norm eval", "layer_norm", "dropout"])
def test_normalisation_and_dropout_stages_on_cuda(layer, dtype):
    # Behind a Linear layer, as the fused chain runs them on a device. BatchNorm1d in eval mode
    # normalises with its running statistics (here the initial ones: its train-mode statistics have
    # no device path yet).
    def make():
        cr.manual_seed(5)
        stage = {"batch_norm eval": nn.BatchNorm1d(10), "layer_norm": nn.LayerNorm(10), "dropout": nn.Dropout(0.3)}
        model = nn.Sequential(nn.Linear(8, 10), stage[layer]).to(dtype)
        if layer == "batch_norm eval":
            model.eval()
        return model

    cpu_model, dev_model = make(), make().to("cuda")

    def run(where):
        x = _randn(6, 8, dtype=dtype, grad=False).to(where)
        cr.manual_seed(21)  # the same dropout mask on both devices
        out = (cpu_model if where == "cpu" else dev_model)(x)
        (out * out).sum().backward()
        return out, cpu_model[0].weight.grad if where == "cpu" else dev_model[0].weight.grad

    (out_c, gx_c), (out_d, gx_d) = run("cpu"), run("cuda")
    tol = _device_tol(dtype)
    np.testing.assert_allclose(_values(out_d), _values(out_c), **tol)
    np.testing.assert_allclose(_values(gx_d), _values(gx_c), **tol)
    for p_c, p_d in zip(cpu_model.parameters(), dev_model.parameters()):
        assert p_d.is_cuda
        np.testing.assert_allclose(_values(p_d.grad), _values(p_c.grad), **tol)
    for b_c, b_d in zip(cpu_model.buffers(), dev_model.buffers()):
        np.testing.assert_allclose(_values(b_d), _values(b_c), **tol)


ACTIVATION_LAYERS = {
    "relu": lambda: nn.ReLU(),
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": lambda: nn.SiLU(),
    "elu": lambda: nn.ELU(0.7),
    "selu": lambda: nn.SELU(),
    "celu": lambda: nn.CELU(1.3),
    "softplus": lambda: nn.Softplus(2.0, 5.0),
    "mish": lambda: nn.Mish(),
    "hardtanh": lambda: nn.Hardtanh(-0.5, 0.7),
    "hardswish": lambda: nn.Hardswish(),
    "logsigmoid": lambda: nn.LogSigmoid(),
    "softsign": lambda: nn.Softsign(),
}


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
@pytest.mark.parametrize("act", sorted(ACTIVATION_LAYERS))
def test_fused_chain_activations_on_cuda(act, dtype):
    # A Sequential of Linear + activation layers runs as the fused chain: dense_forward, then
    # activation_backward_inplace, bias_grad and linear_backward on the way back.
    def make():
        cr.manual_seed(3)
        return nn.Sequential(nn.Linear(7, 33), ACTIVATION_LAYERS[act](), nn.Linear(33, 4)).to(dtype)

    cpu_model, dev_model = make(), make().to("cuda")
    x = _randn(19, 7, dtype=dtype, grad=False)
    out_c, out_d = cpu_model(x), dev_model(x.to("cuda"))
    out_c.sum().backward()
    out_d.sum().backward()
    tol = _device_tol(dtype)
    np.testing.assert_allclose(_values(out_d), _values(out_c), **tol)
    for p_c, p_d in zip(cpu_model.parameters(), dev_model.parameters()):
        np.testing.assert_allclose(_values(p_d.grad), _values(p_c.grad), **tol)


class _TwoLayer(nn.Module):
    """Linear / ReLU / Linear module by module (no fused chain): every op its own device path."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


CUDA_MODELS = {
    "fused": lambda: nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3)),
    "unfused": _TwoLayer,
}
CUDA_OPTIMIZERS = {
    "sgd momentum": lambda params: optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "adam": lambda params: optim.Adam(params, lr=0.01),
    "adamw amsgrad": lambda params: optim.AdamW(params, lr=0.01, amsgrad=True),
}


def _train_on(device, make_model, make_optimizer, criterion, dtype, steps=25):
    losses, params, model = train(make_model, make_optimizer, criterion, device, dtype=dtype, rows=64, steps=steps)
    assert all(p.device.type == device for p in model.parameters())
    return np.array(losses), params


@device_tests
@pytest.mark.parametrize("dtype", CR_DTYPES)
@pytest.mark.parametrize("model", sorted(CUDA_MODELS))
@pytest.mark.parametrize("opt", sorted(CUDA_OPTIMIZERS))
@pytest.mark.parametrize("criterion", [nn.MSELoss(), nn.CrossEntropyLoss()], ids=["mse", "cross_entropy"])
def test_training_on_cuda_agrees_with_the_cpu_and_repeats_bit_for_bit(model, opt, criterion, dtype):
    args = (CUDA_MODELS[model], CUDA_OPTIMIZERS[opt], criterion, dtype)
    cpu_losses, cpu_params = _train_on("cpu", *args)
    dev_losses, dev_params = _train_on("cuda", *args)
    tol = _device_tol(dtype)
    np.testing.assert_allclose(dev_losses, cpu_losses, **tol)
    for a, b in zip(dev_params, cpu_params):
        np.testing.assert_allclose(a, b, **tol)
    again_losses, again_params = _train_on("cuda", *args)
    np.testing.assert_array_equal(again_losses, dev_losses)  # no atomics: the same bits every run
    for a, b in zip(again_params, dev_params):
        np.testing.assert_array_equal(a, b)


@device_tests
def test_cuda_memory_returns_to_its_start_when_tensors_are_dropped():
    import gc

    gc.collect()  # tensors earlier tests left for the collector
    start = cr.cuda.memory_allocated()
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3)).to("cuda")
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    x, y = cr.randn(64, 6, device="cuda"), cr.randn(64, 3, device="cuda")
    for _ in range(3):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    assert cr.cuda.memory_allocated() > start
    assert cr.cuda.max_memory_allocated() >= cr.cuda.memory_allocated()
    del model, optimizer, x, y
    gc.collect()
    assert cr.cuda.memory_allocated() == start
    cr.cuda.empty_cache()
    assert cr.cuda.memory_allocated() == start


@device_tests
def test_device_tensors_report_their_device_and_refuse_numpy():
    t = cr.tensor([1.0, 2.0], device="cuda")
    assert t.is_cuda and t.device.type == "cuda" and str(t.device) == "cuda:0"
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        t.numpy()
    np.testing.assert_array_equal(t.cpu().numpy(), [1.0, 2.0])
    assert t.sum().item() == 3.0


# ---- the backend's host-side argument packing, on any machine with the backend ----------------------


@built
def test_broadcasts_pack_into_a_fixed_size_kernel_argument():
    from chainrule import _cuda

    packed = _cuda._pack_broadcast([2, 3, 4], [0, 4, 1], [12, 0, 1])
    assert packed == {"ndim": 3, "numel": 24, "shape": [2, 3, 4], "a_stride": [0, 4, 1], "b_stride": [12, 0, 1]}
    assert _cuda._pack_broadcast([], [], [])["numel"] == 1  # a 0-d output is one element
    assert _cuda._pack_broadcast([5, 0], [0, 1], [])["b_stride"] == [0, 0]  # one operand (broadcast_to)
    eight = [2] * 8
    assert _cuda._pack_broadcast(eight, [0] * 8, [1] * 8)["numel"] == 256
    with pytest.raises(RuntimeError, match="at most 8 dimensions here, got 9"):
        _cuda._pack_broadcast([1] * 9, [0] * 9, [0] * 9)
    with pytest.raises(ValueError, match="strides do not match"):
        _cuda._pack_broadcast([2, 3], [1], [3, 1])


@built
def test_multi_tensor_groups_launch_in_chunks_of_pointers():
    from chainrule import _cuda

    per_launch = _cuda._group_chunk_tensors
    assert _cuda._chunk_group([]) == []
    assert _cuda._chunk_group([5, 300, 0]) == [(0, 3, 300)]  # a small network's group: one launch
    sizes = list(range(1, 2 * per_launch + 4))
    chunks = _cuda._chunk_group(sizes)
    assert [(first, count) for first, count, _ in chunks] == [
        (0, per_launch),
        (per_launch, per_launch),
        (2 * per_launch, 3),
    ]
    assert [max_n for _, _, max_n in chunks] == [per_launch, 2 * per_launch, 2 * per_launch + 3]
