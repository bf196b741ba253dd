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
from training_runs import train


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
    cpu_losses, cpu_params, _ = train(MODELS[model], OPTIMIZERS[opt], criterion, "cpu")
    dev_losses, dev_params, trained = train(MODELS[model], OPTIMIZERS[opt], criterion, cuda)
    assert all(p.is_cuda for p in trained.parameters())
    if model == "unfused":  # the same kernels in the same order: the same bits
        assert dev_losses == cpu_losses
        for a, b in zip(dev_params, cpu_params):
            np.testing.assert_array_equal(a, b)
    else:  # the fused chain's CPU path uses its own GEMM epilogues and small-layer kernels
        np.testing.assert_allclose(dev_losses, cpu_losses, rtol=1e-12, atol=1e-12)
        for a, b in zip(dev_params, cpu_params):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    again, again_params, _ = train(MODELS[model], OPTIMIZERS[opt], criterion, cuda)
    assert again == dev_losses  # run to run on one device: the same bits
    for a, b in zip(again_params, dev_params):
        np.testing.assert_array_equal(a, b)


def test_float32_training_agrees_within_float32_rounding(cuda):
    cpu_losses, cpu_params, _ = train(MODELS["fused"], OPTIMIZERS["adam"], nn.MSELoss(), "cpu", dtype=cr.float32)
    dev_losses, dev_params, _ = train(MODELS["fused"], OPTIMIZERS["adam"], nn.MSELoss(), cuda, dtype=cr.float32)
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


def test_batch_norm_trains_in_the_chain_on_the_device(cuda):
    # Training mode: batch statistics, and the running statistics and batch counter updated on the
    # device by the CPU's arithmetic.
    def make():
        cr.manual_seed(3)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))

    cpu_model, model = make(), make().to(cuda)
    for step in range(3):
        x = _rand(6, 4, grad=False, seed=step, dtype=cr.float32)
        cpu_out, dev_out = cpu_model(x), model(x.to(cuda))
        np.testing.assert_allclose(dev_out.detach().cpu().numpy(), cpu_out.detach().numpy(), rtol=1e-5, atol=1e-6)
        cpu_out.sum().backward()
        dev_out.sum().backward()
    cpu_bn, dev_bn = cpu_model[1], model[1]
    assert dev_bn.running_mean.is_cuda and dev_bn.num_batches_tracked.is_cuda
    assert dev_bn.num_batches_tracked.item() == cpu_bn.num_batches_tracked.item() == 3
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(_values(getattr(dev_bn, name)), _values(getattr(cpu_bn, name)), rtol=1e-6)
    for p_cpu, p_dev in zip(cpu_model.parameters(), model.parameters()):
        np.testing.assert_allclose(_values(p_dev.grad), _values(p_cpu.grad), rtol=1e-4, atol=1e-5)


def test_unsupported_chain_stages_are_refused_before_any_work(cuda):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, momentum=None), nn.ReLU(), nn.Linear(8, 2)).to(cuda)
    with pytest.raises(NotImplementedError, match=r"BatchNorm1d\(momentum=None\) in training mode"):
        model(cr.randn(5, 4, device=cuda))
    assert model[1].num_batches_tracked.item() == 0  # refused before any work
    model.eval()
    cpu_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    cpu_model.load_state_dict(model.state_dict())
    cpu_model.eval()
    x = cr.randn(5, 4)
    np.testing.assert_allclose(model(x.to(cuda)).detach().cpu().numpy(), cpu_model(x).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_matches_the_cpu(cuda, dtype):
    _assert_same(
        lambda: [_rand(3, 4, dtype=dtype), _rand(4, dtype=dtype, seed=5)],
        lambda a, b: cr.where(a > 0, a * 2.0, b),
        cuda,
    )
    x = cr.tensor([-1.0, 2.0], device=cuda)
    np.testing.assert_array_equal(cr.where(x > 0, x, 0.0).cpu().numpy(), [0.0, 2.0])  # a number joins the device
    with pytest.raises(RuntimeError, match="same device"):
        cr.where(x > 0, x, cr.zeros(2))


def test_a_fused_chain_given_data_from_another_device_raises_pytorchs_error(cuda):
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(RuntimeError, match="same device, but found at least two devices, cuda:0 and cpu"):
        model(cr.randn(4, 3, device=cuda))
    model.to(cuda)
    with pytest.raises(RuntimeError, match="same device, but found at least two devices, cpu and cuda:0"):
        model(cr.randn(4, 3))
    model[2].bias.data = cr.zeros(2)  # one parameter left behind
    with pytest.raises(RuntimeError, match="same device"):
        model(cr.randn(4, 3, device=cuda))


def test_indexing_beyond_rows_says_it_has_no_device_path(cuda):
    x = cr.arange(12.0).reshape(4, 3).to(cuda)
    np.testing.assert_array_equal(x[1].cpu().numpy(), [3.0, 4.0, 5.0])  # rows have a device path
    for index in ([0, 2], cr.tensor([0, 2]), cr.tensor([0, 2], device=cuda), x > 3, (slice(None), 1)):
        with pytest.raises(NotImplementedError, match="index: .* on cuda:0"):
            x[index]
    with pytest.raises(NotImplementedError, match="index_put_: .* on cuda:0"):
        x[0] = 1.0
    cpu = cr.zeros(3)
    with pytest.raises(NotImplementedError, match="index_put_: .* on cuda:0"):
        cpu[0] = cr.ones((), device=cuda)
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        x.numpy()


def test_the_native_loop_refuses_mixed_devices_and_losses_without_a_device_path(cuda):
    from chainrule._kinds import reduction_kind

    model = nn.Sequential(nn.Linear(3, 2)).to(cuda)
    steps = optim.SGD(model.parameters(), lr=0.1).group_steps()
    X, y = cr.zeros(4, 3, device=cuda), cr.zeros(4, 2, device=cuda)
    args = (None, 2, 0, 2, _core.LossKind.mse, reduction_kind("mean"), 0.0, steps, False)
    with pytest.raises(RuntimeError, match="same device"):  # host data for a device model
        _core.fit_batches(model.fused_chain(), X.cpu(), y.cpu(), *args)
    with pytest.raises(RuntimeError, match="same device"):
        _core.fit_batches(model.fused_chain(), X, y.cpu(), *args)
    labels = cr.zeros(4, dtype=cr.int64, device=cuda)
    nll = (None, 2, 0, 2, _core.LossKind.nll, reduction_kind("mean"), 0.0, steps, False)
    with pytest.raises(NotImplementedError, match="NLLLoss has no implementation on cuda:0"):
        _core.fit_batches(model.fused_chain(), X, labels, *nll)
    with pytest.raises(IndexError, match="target 2 at index 0 is out of bounds"):  # labels checked on the host
        cross_entropy = (None, 2, 0, 2, _core.LossKind.cross_entropy, reduction_kind("mean"), 0.0, steps, False)
        _core.fit_batches(model.fused_chain(), X, cr.full((4,), 2, dtype=cr.int64, device=cuda), *cross_entropy)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_native_fit_on_the_device_agrees_with_the_cpu(cuda, loss, shuffle, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 6)).astype(np.float32 if dtype == cr.float32 else np.float64)
    y = rng.integers(0, 3, 70) if loss == "cross_entropy" else rng.standard_normal((70, 3)).astype(X.dtype)
    metrics = ["accuracy"] if loss == "cross_entropy" else None
    runs = []
    for where in ("cpu", cuda):
        cr.manual_seed(5)
        model = MODELS["fused"]().to(dtype).to(where)
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        criterion = nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.MSELoss()
        history = cr.fit(
            model,
            criterion,
            optimizer,
            X,
            y,
            epochs=3,
            batch_size=16,
            shuffle=shuffle,
            seed=1,
            metrics=metrics,
            progress=False,
        )
        assert history.native
        assert all(p.device.type == ("cpu" if where == "cpu" else "cuda") for p in model.parameters())
        runs.append((history.history, [p.detach().cpu().numpy() for p in model.parameters()]))
    (cpu_logs, cpu_params), (dev_logs, dev_params) = runs
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == cr.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dev_logs["loss"], cpu_logs["loss"], **tol)
    if metrics:
        assert dev_logs["accuracy"] == cpu_logs["accuracy"]
    for a, b in zip(dev_params, cpu_params):
        np.testing.assert_allclose(a, b, **tol)


def test_fit_says_what_keeps_a_device_model_out_of_the_native_loop(cuda):
    X, y = np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model = nn.Sequential(nn.Linear(3, 2)).to(cuda)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    for kwargs, why in (
        (dict(native=False), "native=False"),
        (dict(validation_data=(X, y)), "validation_data"),
        (dict(monitor=True), "monitor=True"),
    ):
        with pytest.raises(NotImplementedError, match=f"fit: the model is on cuda:0.*here: {why}"):
            cr.fit(model, nn.MSELoss(), optimizer, X, y, epochs=1, progress=False, **kwargs)
    with pytest.raises(NotImplementedError, match="the model is a _Unfused"):
        unfused = _Unfused().to(cuda)
        cr.fit(
            unfused,
            nn.MSELoss(),
            optim.SGD(unfused.parameters(), lr=0.1),
            np.zeros((8, 6), np.float32),
            np.zeros((8, 3), np.float32),
            epochs=1,
            progress=False,
        )


def test_native_fit_on_the_device_allocates_nothing_after_its_first_epoch(cuda):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    model = MODELS["fused"]().to(cuda)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def run(epochs):
        cr.fit(
            model,
            nn.CrossEntropyLoss(),
            optimizer,
            X,
            y,
            epochs=epochs,
            batch_size=16,
            metrics=["accuracy"],
            progress=False,
        )

    run(1)
    before = _core._host_device_raw_allocations()
    run(3)
    assert _core._host_device_raw_allocations() == before  # data, batches and losses all from the cache


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_input_gradient_of_a_model_on_the_device(cuda, model):
    # The fused chain's backward writes dL/d(input) into a buffer on the input's device.
    def run(where):
        cr.manual_seed(2)
        net = MODELS[model]().to(cr.float64).to(where)
        x = _rand(5, 6).to(where).detach().requires_grad_()
        net(x).sum().backward()
        return x.grad

    cpu_grad, dev_grad = run("cpu"), run(cuda)
    assert dev_grad.is_cuda
    np.testing.assert_allclose(_values(dev_grad), _values(cpu_grad), rtol=1e-12, atol=1e-13)


def test_row_indexing_backward_on_the_device(cuda):
    _assert_same(lambda: [_rand(4, 3)], lambda x: x[2] * 2.0, cuda)


def test_unfused_dropout_draws_its_mask_on_the_host_and_matches_the_cpu(cuda):
    def run(where):
        cr.manual_seed(9)
        x = cr.ones(4, 5, dtype=cr.float64, device=where, requires_grad=True)
        F.dropout(x, 0.4, training=True).sum().backward()
        return x.grad

    cpu_grad, dev_grad = run("cpu"), run(cuda)
    assert dev_grad.is_cuda
    np.testing.assert_array_equal(_values(dev_grad), _values(cpu_grad))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("softplus", lambda x: F.softplus(x)),
        ("hardtanh", lambda x: F.hardtanh(x)),
        ("batch_norm", lambda x: nn.BatchNorm1d(3).to(x.device)(x)),
        ("class-index targets", lambda x: F.nll_loss(x, cr.tensor([0, 1, 2, 0], device=x.device))),
    ],
)
def test_functions_written_with_numpy_say_they_have_no_device_path(cuda, name, fn):
    with pytest.raises(NotImplementedError, match=f"{name}: no implementation for tensors on cuda:0"):
        fn(cr.randn(4, 3, device=cuda))


def test_a_chain_built_on_the_cpu_follows_its_buffers_to_the_device(cuda):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    model(cr.randn(8, 4))  # builds the fused chain over the CPU's running statistics
    model.eval().to(cuda)
    x = cr.randn(5, 4)
    expected = model.cpu()(x).detach().numpy()
    model.to(cuda)
    np.testing.assert_allclose(model(x.to(cuda)).detach().cpu().numpy(), expected, rtol=1e-6)
