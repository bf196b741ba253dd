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
