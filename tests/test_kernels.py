"""The CPU kernels behind Linear and nn.Sequential: every GEMM ISA variant against the reference,
the fused dense chain (GEMM epilogues) against the unfused ops, determinism across thread counts,
and the CHAINRULE_ISA override."""

import os
import platform
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
import chainrule.optim as optim
from chainrule import _core

# Lowest first: a path the CPU lacks falls back to a lower one of the same family.
ISAS = ["scalar", "neon"] if platform.machine().lower() in ("aarch64", "arm64") else ["scalar", "avx2", "avx512"]
DTYPES = [np.float32, np.float64]


def _supported(isa):
    probe = np.zeros((1, 1), np.float32)
    return _core._gemm(isa, False, False, probe, probe, probe.copy(), False) == isa


# ---------------------------------------------------------------- GEMM: every ISA vs the reference

# Around every register tile (6 rows; 8/16/32/64 columns by ISA and dtype), primes, and zero.
TILE_MS = [0, 1, 5, 6, 7, 13]
TILE_NS = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 97]
TILE_KS = [0, 1, 7, 97]
# Big enough for packing, threading and more than one reduction block; (61, 140, 1030) has rows of
# op(A) = A a page apart in float32 too (so the AVX2 path packs them) and a short last row panel.
LARGE = [(131, 517, 301), (300, 70, 520), (7, 1000, 600), (50, 1100, 300), (61, 140, 1030)]


def _operands(rng, ta, tb, M, N, K, dtype, pad):
    """A, B, C as (possibly) row-padded views, so leading dimensions exceed the row length."""

    def matrix(rows, cols):
        full = rng.uniform(-1, 1, (rows, cols + pad)).astype(dtype)
        return full[:, :cols]

    A = matrix(K, M) if ta else matrix(M, K)
    B = matrix(N, K) if tb else matrix(K, N)
    C = matrix(M, N)
    return A, B, C


def _check_gemm(isa, ta, tb, M, N, K, dtype, accumulate, pad, rng):
    A, B, C0 = _operands(rng, ta, tb, M, N, K, dtype, pad)
    expected = np.array(C0)  # contiguous copy for the reference
    _core._gemm("reference", ta, tb, A, B, expected, accumulate)
    got = np.array(C0)
    _core._gemm(isa, ta, tb, A, B, got, accumulate)
    # Scale by the magnitude of the terms: it bounds the rounding of any summation order.
    opA = np.abs(A.T if ta else A).astype(np.float64)
    opB = np.abs(B.T if tb else B).astype(np.float64)
    scale = opA @ opB + (np.abs(C0) if accumulate else 0)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    tol = rel * max(1.0, K / 64) * np.maximum(scale, 1e-30)
    bad = np.abs(got.astype(np.float64) - expected) > tol
    assert not bad.any(), f"{isa} {np.dtype(dtype).name} ta={ta} tb={tb} M={M} N={N} K={K} acc={accumulate}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_matches_reference_around_the_tile(isa, dtype, ta, tb):
    if not _supported(isa):
        pytest.skip(f"this CPU lacks {isa}, so its kernels cannot run here")
    # A seed that is the same in every process (hash() of a str is not).
    rng = np.random.default_rng(zlib.crc32(f"{isa}-{ta}-{tb}".encode()))
    for M in TILE_MS:
        for N in TILE_NS:
            for K in TILE_KS:
                for accumulate in (False, True):
                    _check_gemm(isa, ta, tb, M, N, K, dtype, accumulate, pad=3, rng=rng)
    for M, N, K in LARGE:
        _check_gemm(isa, ta, tb, M, N, K, dtype, False, pad=5, rng=rng)
        _check_gemm(isa, ta, tb, M, N, K, dtype, True, pad=0, rng=rng)


@pytest.mark.parametrize("isa", ISAS)
def test_gemm_zero_size_batch_and_vector_shapes(isa):
    if not _supported(isa):
        pytest.skip(f"this CPU lacks {isa}, so its kernels cannot run here")
    rng = np.random.default_rng(0)
    # The seed net's GEMV-like shapes (direct path), a zero batch, and K = 0 writing zeros.
    for ta, tb, M, N, K in [
        (False, True, 100, 1, 5),
        (True, False, 1, 5, 100),
        (False, False, 100, 5, 1),
        (False, True, 100, 5, 10),
        (True, False, 5, 10, 100),
        (False, False, 0, 5, 3),
        (True, False, 5, 3, 0),
        (False, True, 1, 1, 1),
        (False, False, 129, 1, 127),
    ]:
        for dtype in DTYPES:
            for accumulate in (False, True):
                _check_gemm(isa, ta, tb, M, N, K, dtype, accumulate, pad=2, rng=rng)


def test_gemm_binding_restores_the_active_isa():
    before = cr.config()["cpu_isa"]
    probe = np.zeros((2, 2), np.float32)
    _core._gemm("scalar", False, False, probe, probe, probe.copy(), False)
    assert cr.config()["cpu_isa"] == before
    with pytest.raises(ValueError):
        _core._gemm("sse9", False, False, probe, probe, probe.copy(), False)
    with pytest.raises(ValueError):
        _core._gemm("", False, False, probe, np.zeros((3, 2), np.float32), probe.copy(), False)


def test_gemm_thread_threshold_is_measured_once_within_its_bounds():
    # The work from which a GEMM splits across threads comes from a one-time measurement (an
    # empty parallel region's fork/join times the micro-kernel's rate); a busy machine reads a slow
    # fork/join, so only the clamp to [0.25, 8] MFLOP and the one-time caching are certain.
    for dtype in DTYPES:
        first = _core._gemm_parallel_min_flop(np.dtype(dtype))
        assert 0.25e6 <= first <= 8e6
        assert _core._gemm_parallel_min_flop(np.dtype(dtype)) == first
    with pytest.raises(TypeError):
        _core._gemm_parallel_min_flop(np.dtype(np.int32))


# ---------------------------------------------------------------- fused dense chain vs unfused ops

ACTIVATIONS = {
    "relu": (nn.ReLU, F.relu),
    "sigmoid": (nn.Sigmoid, F.sigmoid),
    "tanh": (nn.Tanh, F.tanh),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    "leaky_relu_neg": (lambda: nn.LeakyReLU(-0.5), lambda x: F.leaky_relu(x, -0.5)),
    "gelu": (nn.GELU, F.gelu),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
}


def _chain_and_reference(act, bias, dtype, sizes, seed=0):
    module_factory, functional = ACTIVATIONS[act]
    cr.manual_seed(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods += [nn.Linear(sizes[i], sizes[i + 1], bias=bias), module_factory()]
    model = nn.Sequential(*mods).to(dtype)
    assert model._dense_chain() is not None, "the model must take the fused path"
    linears = [m for m in mods if isinstance(m, nn.Linear)]

    def unfused(x):
        for lin in linears:
            x = functional(F.linear(x, lin.weight, lin.bias))
        return x

    return model, linears, unfused


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_chain_matches_unfused_ops(act, bias, dtype):
    crdtype = getattr(cr, dtype)
    # Widths around the tiles; batch 70 spans several row tiles and a ragged one.
    model, linears, unfused = _chain_and_reference(act, bias, crdtype, [13, 67, 33, 5])
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((70, 13)).astype(dtype)
    w_out = cr.from_numpy(rng.standard_normal((70, 5)).astype(dtype))

    results = []
    for run in (model, unfused):
        x = cr.from_numpy(xs.copy()).requires_grad_()
        for p in model.parameters():
            p.grad = None
        out = run(x)
        (out * w_out).sum().backward()
        results.append(
            [out.detach().numpy().copy(), x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in model.parameters()]
        )
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    names = ["output", "input grad"] + [n for n, _ in model.named_parameters()]
    for name, fused, ref in zip(names, *results):
        np.testing.assert_allclose(fused, ref, err_msg=f"{act} bias={bias} {dtype}: {name}", **tol)


def test_fused_chain_accumulates_into_existing_grads():
    model, _, _ = _chain_and_reference("tanh", True, cr.float64, [6, 9, 4])
    x = cr.from_numpy(np.random.default_rng(2).standard_normal((11, 6)))
    model(x).sum().backward()
    once = [p.grad.numpy().copy() for p in model.parameters()]
    model(x).sum().backward()
    for g1, p in zip(once, model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g1, rtol=1e-13, atol=1e-13)


def test_fused_chain_zero_size_batch():
    model, _, _ = _chain_and_reference("relu", True, cr.float32, [4, 8, 3])
    x = cr.zeros(0, 4, requires_grad=True)
    out = model(x)
    assert tuple(out.shape) == (0, 3)
    out.sum().backward()
    for p in model.parameters():
        assert not np.any(p.grad.numpy())


@pytest.mark.parametrize("act", ["relu", "tanh", "gelu", "leaky_relu_neg", "sigmoid"])
def test_gradcheck_through_fused_sequential(act):
    model, _, _ = _chain_and_reference(act, True, cr.float64, [4, 7, 3], seed=3)
    x = cr.from_numpy(np.random.default_rng(4).standard_normal((5, 4))).requires_grad_()
    params = list(model.parameters())
    assert cr.autograd.gradcheck(lambda x, *ps: model(x), (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


# ---------------------------------------------------------------- determinism across thread counts


def _mlp_run(threads):
    """Forward, grads and three SGD steps of the mlp workload (784-512-512-10, batch 256)."""
    previous = cr.get_num_threads()
    cr.set_num_threads(threads)
    try:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.GELU(), nn.Linear(512, 10))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(5)
        x = cr.from_numpy(rng.standard_normal((256, 784)).astype(np.float32))
        y = cr.from_numpy(rng.integers(0, 10, 256))
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        snapshot = [out.detach().numpy().copy()] + [p.grad.numpy().copy() for p in model.parameters()]
        opt.step()
        for _ in range(2):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return snapshot + [p.detach().numpy().copy() for p in model.parameters()]
    finally:
        cr.set_num_threads(previous)


def test_mlp_bitwise_identical_for_1_and_2_threads():
    one, two = _mlp_run(1), _mlp_run(2)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("isa", [isa for isa in ISAS if isa != "scalar"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_gemm_bitwise_identical_for_1_and_2_threads(isa, dtype):
    """The dW products (op(A) = A^T) with more columns than rows are cut by columns across
    threads, and the team packs op(A) once for all its pieces. With K = 512 a row block holds at
    most 2 MiB / (kc x element size) rows, so 1100 rows span two or more row blocks of the packed
    copy (float32: one reduction block of 512; float64: two of 256 on a 48 KiB L1); (97, 200, 600)
    has two reduction blocks and a short last row panel."""
    if not _supported(isa):
        pytest.skip(f"this CPU lacks {isa}, so its kernels cannot run here")
    rng = np.random.default_rng(zlib.crc32(f"dw-threads-{isa}".encode()))
    previous = cr.get_num_threads()
    try:
        for M, N, K in [(1100, 1200, 512), (97, 200, 600)]:
            A = rng.uniform(-1, 1, (K, M)).astype(dtype)
            B = rng.uniform(-1, 1, (K, N)).astype(dtype)
            results = []
            for threads in (1, 2):
                cr.set_num_threads(threads)
                C = np.full((M, N), np.nan, dtype)
                _core._gemm(isa, True, False, A, B, C, False)
                results.append(C)
            assert np.array_equal(results[0].view(np.uint8), results[1].view(np.uint8)), (isa, M, N, K)
            expected = np.empty((M, N), dtype)
            _core._gemm("reference", True, False, A, B, expected, False)
            rel = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(results[1], expected, rtol=0, atol=rel * K)
    finally:
        cr.set_num_threads(previous)


# ---------------------------------------------------------------- CHAINRULE_ISA

_ISA_SCRIPT = textwrap.dedent("""
    import json, numpy as np, chainrule as cr, chainrule.nn as nn
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(37, 70), nn.ReLU(), nn.Linear(70, 3))
    x = cr.from_numpy(np.random.default_rng(0).standard_normal((50, 37)).astype(np.float32))
    model(x).sum().backward()
    print(json.dumps({"isa": cr.config()["cpu_isa"], "out": model(x).detach().numpy().tolist(),
                      "grad": model[0].weight.grad.numpy().tolist()}))
""")


def _run_with_isa(isa):
    env = {k: v for k, v in os.environ.items() if k != "CHAINRULE_ISA"}
    if isa:
        env["CHAINRULE_ISA"] = isa
    done = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_forced_isa_is_reported_and_agrees():
    default = _run_with_isa(None)
    for isa in ISAS:
        forced = _run_with_isa(isa)
        if _supported(isa):
            assert forced["isa"] == isa
        else:  # a path the CPU lacks falls back to a lower one
            assert ISAS.index(forced["isa"]) < ISAS.index(isa)
        np.testing.assert_allclose(forced["out"], default["out"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(forced["grad"], default["grad"], rtol=1e-4, atol=1e-4)
