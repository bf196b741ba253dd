"""Every op a dense network uses, run on a device and compared with the CPU, without a GPU.

The stand-in device (``_core._use_host_device_as_cuda``) is registered as CUDA: its memory is
host memory behind addresses that fault when CPU code reads them directly, and its kernel table
runs the CPU's kernels. So each device path here must give the CPU's results bit for bit, and any
op that reads device memory without its device path crashes the test instead of passing.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import _core, nn, optim
from chainrule.nn import functional as F


@pytest.fixture
def cuda():
    if _core._device_count("cuda") >= 0 and not _core._host_device_is_cuda():
        pytest.skip("a real CUDA backend is registered; the stand-in cannot replace it")
    _core._use_host_device_as_cuda(1)
    try:
        yield "cuda"
    finally:
        _core._use_host_device_as_cuda(0)


def _values(t):
    return None if t is None else t.detach().cpu().numpy()


def _run_both(make_inputs, fn, device):
    """fn on CPU tensors and on the same tensors on `device`: (cpu result, device result, cpu grads, device grads)."""
    results = []
    for where in ("cpu", device):
        inputs = [t.to(where).detach().requires_grad_(t.requires_grad) for t in make_inputs()]
        out = fn(*inputs)
        assert out.device.type == ("cpu" if where == "cpu" else "cuda")
        if out.requires_grad:
            (out * cr.ones_like(out)).sum().backward()
        results.append((out, [t.grad for t in inputs]))
    (cpu_out, cpu_grads), (dev_out, dev_grads) = results
    return cpu_out, dev_out, cpu_grads, dev_grads


def _assert_same(make_inputs, fn, device):
    cpu_out, dev_out, cpu_grads, dev_grads = _run_both(make_inputs, fn, device)
    assert dev_out.dtype == cpu_out.dtype and tuple(dev_out.shape) == tuple(cpu_out.shape)
    np.testing.assert_array_equal(_values(dev_out), _values(cpu_out))
    for g_cpu, g_dev in zip(cpu_grads, dev_grads):
        assert (g_cpu is None) == (g_dev is None)
        if g_dev is not None:
            assert g_dev.is_cuda
            np.testing.assert_array_equal(_values(g_dev), _values(g_cpu))


def _rand(*shape, dtype=cr.float64, grad=True, seed=0):
    cr.manual_seed(seed + len(shape))
    return cr.randn(*shape, dtype=dtype, requires_grad=grad)


DTYPES = [cr.float32, cr.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name,fn",
    [
        ("relu", lambda x: x.relu()),
        ("sigmoid", lambda x: x.sigmoid()),
        ("tanh", lambda x: x.tanh()),
        ("exp", lambda x: x.exp()),
        ("neg", lambda x: -x),
        ("abs", lambda x: x.abs()),
        ("square", lambda x: x * x),
        ("gelu", lambda x: F.gelu(x)),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.1)),
        ("scalar arithmetic", lambda x: (x * 2.0 + 1.0) / 3.0 - 0.5),
        ("clamp", lambda x: x.clamp(-0.5, 0.5)),
        ("sum", lambda x: x.sum()),
        ("sum dim", lambda x: x.sum(1)),
        ("sum dims keepdim", lambda x: x.sum((0, 1), keepdim=True)),
        ("mean", lambda x: x.mean()),
        ("mean dim", lambda x: x.mean(0)),
        ("softmax", lambda x: x.softmax(1)),
        ("log_softmax", lambda x: F.log_softmax(x, dim=1)),
        ("transpose", lambda x: x.t() * 1.0),
        ("reshape", lambda x: x.reshape(4, 6) * 1.0),
        ("slice rows", lambda x: x[1:3] * 1.0),
        ("expand", lambda x: x[:1].expand(3, 6) * 1.0),
        ("matmul", lambda x: x @ x.t()),
    ],
)
def test_one_tensor_ops_match_the_cpu(cuda, name, fn, dtype):
    _assert_same(lambda: [_rand(4, 6, dtype=dtype)], fn, cuda)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((5,), ())],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_broadcast_arithmetic_matches_the_cpu(cuda, op, shapes, dtype):
    fns = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / (b.abs() + 1),
        "maximum": lambda a, b: cr.maximum(a, b),
    }
    _assert_same(lambda: [_rand(*shapes[0], dtype=dtype), _rand(*shapes[1], dtype=dtype, seed=7)], fns[op], cuda)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_the_cpu(cuda, dtype):
    _assert_same(
        lambda: [_rand(5, 3, dtype=dtype), _rand(4, 3, dtype=dtype, seed=1), _rand(4, dtype=dtype, seed=2)],
        lambda x, w, b: F.linear(x, w, b),
        cuda,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "loss",
    [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits],
)
def test_elementwise_losses_match_the_cpu(cuda, loss, reduction, dtype):
    _assert_same(
        lambda: [_rand(6, 3, dtype=dtype), _rand(6, 3, dtype=dtype, grad=False, seed=4)],
        lambda p, t: loss(p, t, reduction=reduction),
        cuda,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_matches_the_cpu(cuda, dtype):
    _assert_same(
        lambda: [_rand(6, dtype=dtype).sigmoid().detach().requires_grad_(), (_rand(6, dtype=dtype, seed=3) > 0) * 1.0],
        lambda p, t: F.binary_cross_entropy(p, t.to(p.dtype)),
        cuda,
    )
    bad = cr.tensor([0.5, 1.5], device=cuda)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(bad, cr.ones(2, device=cuda))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_the_cpu(cuda, reduction, dtype):
    labels = cr.tensor([0, 2, 1, 2, 0])
    _assert_same(
        lambda: [_rand(5, 3, dtype=dtype), labels],
        lambda x, y: F.cross_entropy(x, y, reduction=reduction),
        cuda,
    )
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(cr.zeros(2, 3, device=cuda), cr.tensor([0, 3], device=cuda))


def test_comparisons_argmax_and_accuracy(cuda):
    x = _rand(6, 4, grad=False)
    y = cr.tensor([0, 1, 2, 3, 0, 1])
    expected = (x.argmax(1) == y).float().mean().item()
    xd, yd = x.to(cuda), y.to(cuda)
    assert xd.argmax(1).is_cuda and xd.argmax(1).dtype == cr.int64
    np.testing.assert_array_equal(xd.argmax(1).cpu().numpy(), x.argmax(1).numpy())
    assert (xd.argmax(1) == yd).float().mean().item() == expected
    np.testing.assert_array_equal((xd > 0).cpu().numpy(), (x > 0).numpy())


def test_scalars_join_the_device_and_other_mixes_raise(cuda):
    x = cr.ones(3, device=cuda)
    assert (x * 2).is_cuda and (2 - x).is_cuda
    assert (x + cr.tensor(1.0)).is_cuda  # a 0-d CPU tensor joins, as in PyTorch
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two"):
        x + cr.ones(3)
    with pytest.raises(RuntimeError, match="same device"):
        F.linear(cr.ones(2, 3), cr.ones(4, 3, device=cuda))
    with pytest.raises(RuntimeError, match="same device"):
        F.cross_entropy(cr.zeros(2, 3, device=cuda), cr.tensor([0, 1]))


def test_an_op_without_a_device_path_says_so(cuda):
    x = cr.ones(3, 2, device=cuda)
    with pytest.raises(NotImplementedError, match="cuda:0"):
        cr.cumsum(x, 0)
    with pytest.raises(NotImplementedError, match="int64 tensors on cuda:0"):
        cr.ones(3, dtype=cr.int64, device=cuda) * 2
    assert cr.ones(3, dtype=cr.int64, device=cuda).exp().dtype == cr.float32  # computed as float32, as on the CPU


def test_gradient_accumulates_on_the_device(cuda):
    w = cr.ones(3, device=cuda, requires_grad=True)
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert w.grad.is_cuda
    np.testing.assert_array_equal(w.grad.cpu().numpy(), [5.0, 5.0, 5.0])


# ---- whole training runs -----------------------------------------------------------------------


class _Unfused(nn.Module):
    """Module by module: every op its own device path (no fused chain)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh())


def _train(make_model, make_optimizer, criterion, device, steps=25, dtype=cr.float64):
    cr.manual_seed(11)
    model = make_model().to(dtype)
    x = cr.randn(40, 6, dtype=dtype)
    y = cr.randint(0, 3, (40,)) if isinstance(criterion, nn.CrossEntropyLoss) else cr.randn(40, 3, dtype=dtype)
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = make_optimizer(model.parameters())
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().cpu().numpy() for p in model.parameters()], model


MODELS = {
    "fused": lambda: nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 40), nn.Tanh(), nn.Linear(40, 3)),
    "fused with layer norm and softmax": lambda: nn.Sequential(
        nn.Linear(6, 40), nn.LayerNorm(40), nn.GELU(), nn.Linear(40, 3), nn.LogSoftmax(dim=1)
    ),
    "unfused": _Unfused,
}
OPTIMIZERS = {
    "sgd momentum": lambda params: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda params: optim.Adam(params, lr=0.01),
    "adamw amsgrad": lambda params: optim.AdamW(params, lr=0.01, amsgrad=True),
}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("criterion", [nn.MSELoss(), nn.CrossEntropyLoss()], ids=["mse", "cross_entropy"])
def test_training_on_the_device_agrees_with_the_cpu(cuda, model, opt, criterion):
    if model.endswith("softmax") and isinstance(criterion, nn.CrossEntropyLoss):
        criterion = nn.NLLLoss() if False else criterion  # log-probabilities into cross-entropy: still a valid loss
    cpu_losses, cpu_params, _ = _train(MODELS[model], OPTIMIZERS[opt], criterion, "cpu")
    dev_losses, dev_params, trained = _train(MODELS[model], OPTIMIZERS[opt], criterion, cuda)
    assert all(p.is_cuda for p in trained.parameters())
    if model == "unfused":  # the same kernels in the same order: the same bits
        assert dev_losses == cpu_losses
        for a, b in zip(dev_params, cpu_params):
            np.testing.assert_array_equal(a, b)
    else:  # the fused chain's CPU path uses its own GEMM epilogues and small-layer kernels
        np.testing.assert_allclose(dev_losses, cpu_losses, rtol=1e-12, atol=1e-12)
        for a, b in zip(dev_params, cpu_params):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    again, again_params, _ = _train(MODELS[model], OPTIMIZERS[opt], criterion, cuda)
    assert again == dev_losses  # run to run on one device: the same bits
    for a, b in zip(again_params, dev_params):
        np.testing.assert_array_equal(a, b)


def test_float32_training_agrees_within_float32_rounding(cuda):
    cpu_losses, cpu_params, _ = _train(MODELS["fused"], OPTIMIZERS["adam"], nn.MSELoss(), "cpu", dtype=cr.float32)
    dev_losses, dev_params, _ = _train(MODELS["fused"], OPTIMIZERS["adam"], nn.MSELoss(), cuda, dtype=cr.float32)
    np.testing.assert_allclose(dev_losses, cpu_losses, rtol=1e-5)
    for a, b in zip(dev_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_training_step_allocates_nothing_after_the_first(cuda):
    cr.manual_seed(0)
    model = MODELS["fused"]().to(cuda)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    x, y = cr.randn(32, 6, device=cuda), cr.randn(32, 3, device=cuda)

    def step():
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    for _ in range(3):
        step()
    before = _core._host_device_raw_allocations()
    held = cr.cuda.memory_allocated()
    for _ in range(10):
        step()
    assert _core._host_device_raw_allocations() == before  # every block came from the cache
    assert cr.cuda.memory_allocated() == held


def test_out_of_memory_empties_the_cache_then_raises(cuda):
    _core._use_host_device_as_cuda(1, 1 << 20)  # a 1 MiB device
    cr.cuda.empty_cache()
    a = cr.empty(100_000, device=cuda)  # 400 kB
    del a  # cached, not given back
    b = cr.empty(150_000, device=cuda)  # 600 kB: fits only once the cache is given back
    assert b.is_cuda and cr.cuda.memory_reserved() <= 1 << 20
    with pytest.raises(MemoryError, match="out of memory"):
        cr.empty(200_000, device=cuda)
    del b


def test_unsupported_chain_stages_are_refused_before_any_work(cuda):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).to(cuda)
    with pytest.raises(NotImplementedError, match="BatchNorm1d in training mode"):
        model(cr.randn(5, 4, device=cuda))
    model.eval()
    cpu_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    cpu_model.load_state_dict(model.state_dict())
    cpu_model.eval()
    x = cr.randn(5, 4)
    np.testing.assert_allclose(model(x.to(cuda)).detach().cpu().numpy(), cpu_model(x).detach().numpy(), rtol=1e-6)


def test_fit_refuses_a_model_on_a_device_with_the_reason(cuda):
    model = nn.Sequential(nn.Linear(3, 2)).to(cuda)
    X, y = np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)
    with pytest.raises(NotImplementedError, match="fit: the model's parameters are on cuda:0"):
        cr.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1)
