"""The elementwise kernels on every ISA path this CPU runs (AVX-512, AVX2, NEON and the scalar
reference): accuracy of exp, log, log1p, expm1, sin, cos, tanh and sigmoid in ulp against a
higher-precision NumPy reference over wide ranges (zeros, denormals, inf, NaN, overflow edges, huge
arguments of sin/cos), bitwise agreement between the SIMD paths, independence of the thread count,
and arithmetic, comparisons and broadcasting at sizes around the vector width and the chunk size."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import chainrule as cr

FUNCTIONS = ["exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid"]
# The largest error allowed, in units in the last place of the correctly rounded result.
MAX_ULP = 4.0


def _available_isas() -> list[str]:
    active = cr.config()["cpu_isa"]
    found = []
    for isa in ("avx512", "avx2", "neon", "scalar"):
        if cr._core._set_isa(isa) == isa:
            found.append(isa)
    cr._core._set_isa(active)
    return found


ISAS = _available_isas()
SIMD_ISAS = [isa for isa in ISAS if isa != "scalar"]


@contextlib.contextmanager
def isa_path(isa: str):
    active = cr.config()["cpu_isa"]
    assert cr._core._set_isa(isa) == isa
    try:
        yield
    finally:
        cr._core._set_isa(active)


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    """f(x) in extended precision (x87 long double on x86-64, quad on AArch64) where NumPy has it."""
    wide = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            # e^x / (1 + e^x) below 0 keeps the tiny results of the negative tail exact.
            e = np.exp(-np.abs(wide))
            return np.where(wide >= 0, 1 / (1 + e), e / (1 + e))
        return getattr(np, name)(wide)


def _ulp_error(got: np.ndarray, want_wide: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(over="ignore"):
        want = want_wide.astype(dtype)
    finite = np.isfinite(want)
    err = np.zeros(got.shape)
    spacing = np.spacing(np.abs(want[finite]).astype(dtype)).astype(np.longdouble)
    err[finite] = np.abs(got[finite].astype(np.longdouble) - want_wide[finite]) / spacing
    # Non-finite results must match exactly (inf with its sign, NaN as NaN).
    nonfinite = ~finite
    same = (np.isnan(got[nonfinite]) & np.isnan(want[nonfinite])) | (got[nonfinite] == want[nonfinite])
    err[nonfinite] = np.where(same, 0.0, np.inf)
    return err


def _inputs(name: str, dtype) -> np.ndarray:
    info = np.finfo(dtype)
    rng = np.random.default_rng(12)
    special = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        info.tiny,
        -info.tiny,
        info.smallest_subnormal,
        -info.smallest_subnormal,
        info.tiny / 3,
        info.max,
        -info.max,
        1.0,
        -1.0,
        0.5,
        2.0,
    ]
    # log-uniform magnitudes from denormal to huge, both signs
    lo, hi = np.log10(float(info.smallest_subnormal)), np.log10(float(info.max))
    magnitudes = 10.0 ** rng.uniform(lo, hi, 20000)
    wide = np.concatenate([magnitudes, -magnitudes])
    near = rng.uniform(-1, 1, 20000) * {"exp": 120.0, "expm1": 120.0, "sigmoid": 120.0, "tanh": 25.0}.get(name, 10.0)
    if dtype == np.float64:
        near = near * (8.0 if name in ("exp", "expm1", "sigmoid") else 1.0)
    x = np.concatenate([special, wide, near]).astype(dtype)
    if name in ("exp", "expm1", "sigmoid"):
        # the overflow and underflow edges of exp
        edges = (
            [88.72, 88.73, -87.33, -103.97, -104.0, -149 * 0.6931]
            if dtype == np.float32
            else [709.78, 709.79, -708.4, -744.44, -745.2, -746.0]
        )
        x = np.concatenate([x, np.array(edges, dtype=dtype)])
    if name in ("sin", "cos"):
        # multiples of pi/2 (the hardest reductions) up to and beyond the vector path's range
        k = np.concatenate([np.arange(1, 2000), rng.integers(1, 2**15, 2000), rng.integers(2**15, 2**40, 200)])
        x = np.concatenate(
            [x, (k * (np.pi / 2)).astype(dtype), np.nextafter((k * (np.pi / 2)).astype(dtype), dtype(0))]
        )
    if name in ("log1p",):
        x = np.concatenate([x, np.array([-1.0, -0.999999, -0.5, 1e-8, -1e-8], dtype=dtype)])
    return x


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_accuracy_in_ulp_over_wide_ranges(isa, dtype, name):
    x = _inputs(name, dtype)
    with isa_path(isa):
        got = getattr(cr.from_numpy(x.copy()), name)().numpy()
    err = _ulp_error(got, _reference(name, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, f"{name}({x[worst]!r}) = {got[worst]!r} on {isa}: {err[worst]:.2f} ulp off"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["sin", "tanh", "expm1", "log1p"])
def test_signed_zero_is_kept(isa, name):
    x = np.array([-0.0, 0.0], dtype=np.float32)
    with isa_path(isa):
        got = getattr(cr.from_numpy(x), name)().numpy()
    assert np.array_equal(np.signbit(got), [True, False]) and np.all(got == 0)


@pytest.mark.skipif(len(SIMD_ISAS) < 2, reason="this CPU runs only one SIMD path, nothing to compare it with")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS + ["sqrt", "rsqrt", "reciprocal", "relu", "abs", "neg"])
def test_simd_paths_agree_bitwise(dtype, name):
    # Every SIMD path evaluates the same formulas with the same fused multiply-adds.
    x = np.concatenate(
        [
            _inputs(name, dtype) if name in FUNCTIONS else np.random.default_rng(1).standard_normal(999),
            np.arange(-50, 50, 0.37),
        ]
    ).astype(dtype)
    results = []
    for isa in SIMD_ISAS:
        with isa_path(isa):
            results.append(getattr(cr.from_numpy(x.copy()), name)().numpy())
    # NaNs aside: which NaN an operation returns depends on the order the compiler gave its operands.
    first_nan = np.isnan(results[0])
    for isa, other in zip(SIMD_ISAS[1:], results[1:]):
        np.testing.assert_array_equal(np.isnan(other), first_nan, err_msg=f"{isa} vs {SIMD_ISAS[0]}")
        np.testing.assert_array_equal(
            other[~first_nan].view(np.uint8), results[0][~first_nan].view(np.uint8), err_msg=f"{isa} vs {SIMD_ISAS[0]}"
        )


@pytest.mark.parametrize("name", ["exp", "sin", "tanh", "sigmoid", "log", "add", "mul_scalar", "maximum", "gt"])
def test_results_do_not_depend_on_thread_count(name):
    rng = np.random.default_rng(3)
    n = 3 * (1 << 14) + 1234  # several parallel chunks and a ragged last one
    a = cr.from_numpy(rng.standard_normal(n).astype(np.float32))
    b = cr.from_numpy(rng.standard_normal(n).astype(np.float32))
    ops = {
        "add": lambda: a + b,
        "mul_scalar": lambda: 1.7 * a,
        "maximum": lambda: a.maximum(b),
        "gt": lambda: a > b,
        "log": lambda: a.abs().log(),
    }
    fn = ops.get(name, lambda: getattr(a, name)())
    threads = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        one = fn().numpy().copy()
        cr.set_num_threads(2)
        two = fn().numpy().copy()
    finally:
        cr.set_num_threads(threads)
    np.testing.assert_array_equal(one.view(np.uint8), two.view(np.uint8))


SIZES = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, (1 << 14) - 1, 1 << 14, (1 << 14) + 1, 40000]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_arithmetic_and_comparisons_at_edge_sizes(isa, dtype):
    rng = np.random.default_rng(5)
    with isa_path(isa):
        for n in SIZES:
            a_np = rng.standard_normal(n).astype(dtype)
            b_np = rng.standard_normal(n).astype(dtype)
            a_np[::5] = b_np[::5]  # ties for == and maximum
            if n > 2:
                a_np[1], b_np[2] = np.nan, np.nan
            a, b = cr.from_numpy(a_np.copy()), cr.from_numpy(b_np.copy())
            with np.errstate(all="ignore"):
                cases = [
                    (a + b, a_np + b_np),
                    (a - b, a_np - b_np),
                    (a * b, a_np * b_np),
                    (a / b, a_np / b_np),
                    (a * 2.5, a_np * dtype(2.5)),
                    (2.5 - a, dtype(2.5) - a_np),
                    (3.0 / a, dtype(3.0) / a_np),
                    (a.maximum(b), np.maximum(a_np, b_np)),
                    (a.minimum(b), np.minimum(a_np, b_np)),
                    (-a, -a_np),
                    (a.abs(), np.abs(a_np)),
                    (a.relu(), np.where(a_np > 0, a_np, 0).astype(dtype)),
                    (a.abs().sqrt(), np.sqrt(np.abs(a_np))),
                    (a.abs().rsqrt(), 1 / np.sqrt(np.abs(a_np))),
                    (a.square(), a_np * a_np),
                    (a.reciprocal(), 1 / a_np),
                ]
                for op in ("eq", "ne", "lt", "le", "gt", "ge"):
                    cases.append(
                        (
                            getattr(a, op)(b),
                            getattr(
                                np,
                                {
                                    "eq": "equal",
                                    "ne": "not_equal",
                                    "lt": "less",
                                    "le": "less_equal",
                                    "gt": "greater",
                                    "ge": "greater_equal",
                                }[op],
                            )(a_np, b_np),
                        )
                    )
                cases.append((a.clamp(-0.5, 0.5), np.clip(a_np, dtype(-0.5), dtype(0.5))))
                cases.append((a.clamp(max=0.1), np.minimum(a_np, dtype(0.1))))
                cases.append((cr.where(a > b, a, b), np.where(a_np > b_np, a_np, b_np)))
                cases.append((a > 0.25, a_np > dtype(0.25)))
                cases.append((0.25 <= a, dtype(0.25) <= a_np))
            for got, want in cases:
                np.testing.assert_array_equal(got.numpy(), want, err_msg=f"n={n} on {isa}")


@pytest.mark.parametrize("isa", ISAS)
def test_broadcast_rows_and_in_place(isa):
    rng = np.random.default_rng(6)
    x_np = rng.standard_normal((37, 19)).astype(np.float32)
    row = rng.standard_normal(19).astype(np.float32)
    col = rng.standard_normal((37, 1)).astype(np.float32)
    with isa_path(isa):
        x = cr.from_numpy(x_np.copy())
        np.testing.assert_array_equal((x + cr.from_numpy(row)).numpy(), x_np + row)
        np.testing.assert_array_equal((cr.from_numpy(col) * x).numpy(), col * x_np)
        np.testing.assert_array_equal((cr.from_numpy(col) - cr.from_numpy(row)).numpy(), col - row)
        np.testing.assert_array_equal(cr.from_numpy(col).maximum(cr.from_numpy(row)).numpy(), np.maximum(col, row))
        np.testing.assert_array_equal((x < cr.from_numpy(row)).numpy(), x_np < row)
        y = cr.from_numpy(x_np.copy())
        y += x
        y *= 0.5
        np.testing.assert_array_equal(y.numpy(), (x_np + x_np) * np.float32(0.5))
        z = cr.from_numpy(x_np.copy())
        z.exp_()
        np.testing.assert_array_equal(z.numpy(), x.exp().numpy())


# ---------------------------------------------------------------- clamp and where
@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (None, 0.25), (-0.25, None), (0.5, -0.5), (0, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_clamp_with_number_bounds_matches_pytorch(bounds, dtype):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the comparison needs it")
    x_np = np.concatenate([np.random.default_rng(7).uniform(-1, 1, 200), [-0.5, 0.5, 0.25, -0.25, 0, 1, np.nan]])
    x_np = x_np.astype(dtype)
    x = cr.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    out, tout = x.clamp(*bounds), tx.clamp(*bounds)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    weights = np.random.default_rng(8).standard_normal(x_np.shape).astype(dtype)
    (out * cr.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_clamp_second_derivative_and_functional_forms():
    x = cr.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=cr.float64, requires_grad=True)
    (g,) = cr.autograd.grad((x.clamp(-1, 1) ** 2).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [0.0, -1.0, 0.0, 1.0, 0.0])
    (gg,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(gg.numpy(), [0.0, 2.0, 2.0, 2.0, 0.0])
    np.testing.assert_array_equal(cr.clip(x, max=0.0).detach().numpy(), [-2.0, -0.5, 0.0, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="min"):
        x.clamp()


@pytest.mark.parametrize(
    "shapes", [((5, 4), (5, 4), (5, 4)), ((5, 1), (1, 4), (4,)), ((4,), (5, 4), ()), ((1,), (3, 1), (1, 2))]
)
def test_where_broadcasts_and_sums_gradients_as_pytorch(shapes):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the comparison needs it")
    rng = np.random.default_rng(9)
    c_shape, a_shape, b_shape = shapes
    cond_np = rng.random(c_shape) > 0.5
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = cr.tensor(a_np, requires_grad=True), cr.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    out, tout = cr.where(cr.tensor(cond_np), a, b), torch.where(torch.tensor(cond_np), ta, tb)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    weights = rng.standard_normal(tuple(tout.shape))
    (out * cr.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_where_with_numbers_and_mixed_dtypes():
    x = cr.tensor([-1.0, 2.0, -3.0])
    np.testing.assert_array_equal(cr.where(x > 0, x, 0.0).numpy(), [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(cr.where(x > 0, 1.0, x).numpy(), [-1.0, 1.0, -3.0])
    mixed = cr.where(x > 0, cr.tensor([1, 2, 3]), x)
    assert mixed.dtype == cr.float32 and mixed.tolist() == [-1.0, 2.0, -3.0]
    with pytest.raises(RuntimeError, match="boolean"):
        cr.where(x, x, x)
