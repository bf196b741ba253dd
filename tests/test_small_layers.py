"""The tiny-layer kernels (Linear layers of at most 32 features, csrc/cpu/small_dense.cpp) that the
fused chain and native fit use: every ISA path against a float64 NumPy reference at widths around
each vector size and the 32-feature limit, gradients added into existing ones, gradcheck, thread
counts, and PyTorch parity on the seed network."""

import platform
import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule import _core

ISAS = ["scalar", "neon"] if platform.machine().lower() in ("aarch64", "arm64") else ["scalar", "avx2", "avx512"]

# Around every vector width (2 and 4 doubles on NEON, 4 to 16 lanes on x86), the most vectors a
# row may span, and the 32-feature limit (33 takes the GEMM).
WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33]
# Batches around the kernels' row blocks (8, 4 or 2 rows by the vectors a row spans, then pairs,
# then single rows), and no rows at all.
BATCHES = [0, 1, 2, 3, 5, 8, 11, 17]

ACTIVATIONS = {
    "relu": (nn.ReLU, lambda z: np.maximum(z, 0), lambda z, a: (a > 0).astype(np.float64)),
    "identity": (nn.Identity, lambda z: z, lambda z, a: np.ones_like(z)),
    "tanh": (nn.Tanh, np.tanh, lambda z, a: 1 - a * a),
    "leaky_relu": (
        lambda: nn.LeakyReLU(0.1),
        lambda z: np.where(z > 0, z, 0.1 * z),
        lambda z, a: np.where(z > 0, 1, 0.1),
    ),
}


@pytest.fixture
def isa(request):
    previous = cr.config()["cpu_isa"]
    ran = _core._set_isa(request.param)
    if ran != request.param:
        _core._set_isa(previous)
        pytest.skip(f"this CPU has no {request.param} path")
    yield ran
    _core._set_isa(previous)


def _reference(layers, x, w_out, act):
    """Output and the gradients of sum(out * w_out) wrt x and every weight and bias, in float64."""
    forward, derivative = ACTIVATIONS[act][1], ACTIVATIONS[act][2]
    inputs, pre, outs = [], [], []
    h = x
    for i, (w, b) in enumerate(layers):
        inputs.append(h)
        z = h @ w.T + b
        h = forward(z) if i < len(layers) - 1 else z
        pre.append(z)
        outs.append(h)
    delta = w_out
    grads = []
    for i in reversed(range(len(layers))):
        w, _ = layers[i]
        grads.append((delta.T @ inputs[i], delta.sum(0)))
        delta = delta @ w
        if i > 0:
            delta = delta * derivative(pre[i - 1], outs[i - 1])
    return h, delta, grads[::-1]


def _check_network(sizes, batch, act, dtype, rng):
    module, _, _ = ACTIVATIONS[act]
    mods = [nn.Linear(sizes[0], sizes[1]), module(), nn.Linear(sizes[1], sizes[2])]
    model = nn.Sequential(*mods).to(getattr(cr, np.dtype(dtype).name))
    assert model.fused_chain() is not None
    linears = [mods[0], mods[2]]
    layers = [
        (m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64)) for m in linears
    ]
    xs = rng.standard_normal((batch, sizes[0])).astype(dtype)
    ws = rng.standard_normal((batch, sizes[2])).astype(dtype)
    out_ref, dx_ref, grads_ref = _reference(layers, xs.astype(np.float64), ws.astype(np.float64), act)

    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    where = f"{act} {np.dtype(dtype).name} sizes={sizes} batch={batch}"
    x = cr.from_numpy(xs).requires_grad_()
    for p in model.parameters():
        p.grad = None
    out = model(x)
    np.testing.assert_allclose(out.detach().numpy(), out_ref, err_msg=where, **tol)
    (out * cr.from_numpy(ws)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), dx_ref, err_msg=where + " input grad", **tol)
    for m, (dw, db) in zip(linears, grads_ref):
        np.testing.assert_allclose(m.weight.grad.numpy(), dw, err_msg=where + " weight grad", **tol)
        np.testing.assert_allclose(m.bias.grad.numpy(), db, err_msg=where + " bias grad", **tol)
    # A second backward adds into the gradients the first one created.
    (model(x) * cr.from_numpy(ws)).sum().backward()
    for m, (dw, db) in zip(linears, grads_ref):
        np.testing.assert_allclose(m.weight.grad.numpy(), 2 * dw, err_msg=where + " added weight grad", **tol)
        np.testing.assert_allclose(m.bias.grad.numpy(), 2 * db, err_msg=where + " added bias grad", **tol)


@pytest.mark.parametrize("isa", ISAS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_small_layers_match_reference_around_every_width(isa, dtype, act):
    rng = np.random.default_rng(zlib.crc32(repr((isa, dtype, act)).encode()))
    cr.manual_seed(0)
    for width in WIDTHS:
        # The width as the input, the hidden and the output features in turn.
        for sizes in ((width, 5, 3), (10, width, 1), (3, 7, width)):
            _check_network(sizes, 7, act, dtype, rng)
    for batch in BATCHES:
        _check_network((10, 5, 1), batch, act, dtype, rng)
        _check_network((17, 9, 32), batch, act, dtype, rng)


@pytest.mark.parametrize("isa", ISAS, indirect=True)
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_gradcheck_through_small_layers(isa, act):
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(9, 17), ACTIVATIONS[act][0](), nn.Linear(17, 1)).to(cr.float64)
    x = cr.from_numpy(np.random.default_rng(4).standard_normal((6, 9))).requires_grad_()
    params = list(model.parameters())
    assert cr.autograd.gradcheck(lambda x, *ps: model(x), (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def _seed_training(threads, native):
    """Weights after two epochs of the seed network (10-5-1, batch 100, MSE, SGD)."""
    previous = cr.get_num_threads()
    cr.set_num_threads(threads)
    try:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(6)
        X = rng.standard_normal((1000, 10)).astype(np.float32)
        y = rng.standard_normal((1000, 1)).astype(np.float32)
        history = cr.fit(
            model, nn.MSELoss(), opt, X, y, epochs=2, batch_size=100, seed=0, progress=False, native=native
        )
        assert history.native == native
        return [p.detach().numpy().copy() for p in model.parameters()]
    finally:
        cr.set_num_threads(previous)


def test_seed_training_bitwise_identical_across_threads_and_loops():
    runs = [_seed_training(1, True), _seed_training(2, True), _seed_training(1, False), _seed_training(2, False)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_network_steps_match_pytorch(dtype):
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch installed")
    rtol = 1e-5 if dtype == "float32" else 1e-10
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1)).to(getattr(cr, dtype))
    reference = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1)).to(
        getattr(torch, dtype)
    )
    with torch.no_grad():
        for p, q in zip(model.parameters(), reference.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))
    opt = optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    rng = np.random.default_rng(7)
    for _ in range(5):
        xs = rng.standard_normal((100, 10)).astype(dtype)
        ys = rng.standard_normal((100, 1)).astype(dtype)
        loss = nn.MSELoss()(model(cr.from_numpy(xs)), cr.from_numpy(ys))
        opt.zero_grad()
        loss.backward()
        ref_loss = torch.nn.MSELoss()(reference(torch.from_numpy(xs)), torch.from_numpy(ys))
        ref_opt.zero_grad()
        ref_loss.backward()
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=rtol, atol=rtol)
        for p, q in zip(model.parameters(), reference.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=rtol)
        opt.step()
        ref_opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("isa", ISAS, indirect=True)
@pytest.mark.parametrize("outputs", [1, 3])
def test_a_row_of_infinities_stays_in_its_row(isa, outputs):
    # Row tails are loaded whole on some paths; a neighbour's inf must not reach another row.
    cr.manual_seed(5)
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, outputs))
    xs = np.random.default_rng(8).standard_normal((9, 5)).astype(np.float32)
    xs[4] = np.inf
    x = cr.from_numpy(xs).requires_grad_()
    out = model(x)
    out.sum().backward()
    finite = np.delete(np.arange(9), 4)
    assert np.isfinite(out.detach().numpy()[finite]).all()
    assert np.isfinite(x.grad.numpy()[finite]).all()


@pytest.mark.parametrize("isa", ISAS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_layer_forward_is_bitwise_the_unfused_linear(isa, dtype):
    # Each output sums in the GEMM's order, so the fused chain and module-by-module Linear agree.
    import chainrule.nn.functional as F

    rng = np.random.default_rng(9)
    cr.manual_seed(9)
    for width in WIDTHS:
        for sizes in ((width, 5, 1), (10, width, 3), (1, 7, width)):
            model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
            model = model.to(getattr(cr, np.dtype(dtype).name))
            # 11 rows: one 8-lane group and a tail; 37: two 16-lane groups and a tail (the one-output
            # layer puts a row in each lane).
            for batch in (11, 37):
                x = cr.from_numpy(rng.standard_normal((batch, sizes[0])).astype(dtype))
                h = F.relu(F.linear(x, model[0].weight, model[0].bias))
                unfused = F.linear(h, model[2].weight, model[2].bias).detach().numpy()
                fused = model(x).detach().numpy()
                assert np.array_equal(fused.view(np.uint8), unfused.view(np.uint8)), f"sizes={sizes} batch={batch}"
