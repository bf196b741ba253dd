"""Layers and activations beyond Linear: Flatten, Unflatten, Dropout, BatchNorm1d, LayerNorm,
Embedding, PReLU and the activations, against PyTorch (forward, gradients, training steps),
by gradcheck in float64, and their errors."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
import chainrule.optim as optim
from chainrule.autograd import gradcheck
from optional_dependencies import require

torch = require("torch")

DTYPES = {
    "float32": (np.float32, torch.float32, cr.float32, dict(rtol=1e-5, atol=1e-6)),
    "float64": (np.float64, torch.float64, cr.float64, dict(rtol=1e-10, atol=1e-12)),
}

ACTIVATIONS = {
    "SiLU": lambda m: m.SiLU(),
    "ELU": lambda m: m.ELU(alpha=0.7),
    "SELU": lambda m: m.SELU(),
    # alpha exactly representable in float32: PyTorch's CELU backward rounds 1/alpha through float32.
    "CELU": lambda m: m.CELU(alpha=1.25),
    "Softplus": lambda m: m.Softplus(beta=2.0, threshold=3.0),
    "Mish": lambda m: m.Mish(),
    "Hardtanh": lambda m: m.Hardtanh(-0.8, 1.2),
    "ReLU6": lambda m: m.ReLU6(),
    "Hardswish": lambda m: m.Hardswish(),
    "LogSigmoid": lambda m: m.LogSigmoid(),
    "Softsign": lambda m: m.Softsign(),
    "PReLU": lambda m: m.PReLU(),
    "Softmax0": lambda m: m.Softmax(dim=0),
    "LogSoftmax-1": lambda m: m.LogSoftmax(dim=-1),
}


def _to_torch(a):
    return torch.from_numpy(np.array(a))


def _compare_module(make, x_np, dtype, extra_check=None):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    t_mod = make(torch.nn)
    c_mod = make(nn)
    t_mod = t_mod.to(t_dtype)
    c_mod = c_mod.to(c_dtype)
    if list(t_mod.state_dict()):
        c_mod.load_state_dict({k: v.detach().numpy() for k, v in t_mod.state_dict().items()})
    x = x_np.astype(np_dtype)
    tx = _to_torch(x).requires_grad_(True)
    cx = cr.tensor(x, dtype=c_dtype, requires_grad=True)
    t_out, c_out = t_mod(tx), c_mod(cx)
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), **tol)
    weights = np.random.default_rng(3).standard_normal(t_out.shape).astype(np_dtype)
    (t_out * _to_torch(weights)).sum().backward()
    (c_out * cr.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
    for (name, tp), (cname, cp) in zip(t_mod.named_parameters(), c_mod.named_parameters()):
        assert name == cname
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), **tol, err_msg=name)
    return t_mod, c_mod


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_torch(name, dtype):
    rng = np.random.default_rng(0)
    # Values spread across every branch (beyond Softplus' threshold, Hardtanh/ReLU6/Hardswish clamps).
    x = rng.uniform(-8, 8, size=(7, 5))
    _compare_module(ACTIVATIONS[name], x, dtype)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradcheck(name):
    module = ACTIVATIONS[name](nn).double()
    # Away from the kinks, where finite differences are defined.
    rng = np.random.default_rng(1)
    values = rng.uniform(-7, 7, size=(4, 3))
    values[np.abs(values) < 0.05] = 0.3
    for kink in (-3.0, 3.0, -0.8, 1.2, 6.0, 1.5):
        values[np.abs(values - kink) < 0.05] += 0.2
    x = cr.tensor(values, dtype=cr.float64, requires_grad=True)
    inputs = [x] + [p for p in module.parameters()]
    assert gradcheck(lambda x, *p: module(x), inputs)


def test_activation_reprs_match_torch():
    for make in list(ACTIVATIONS.values()) + [
        lambda m: m.Flatten(),
        lambda m: m.Unflatten(1, (2, 3)),
        lambda m: m.Dropout(0.2),
        lambda m: m.BatchNorm1d(3),
        lambda m: m.BatchNorm1d(3, momentum=None, affine=False, track_running_stats=False),
        lambda m: m.LayerNorm(4),
        lambda m: m.LayerNorm((2, 3), bias=False),
        lambda m: m.LayerNorm(4, elementwise_affine=False),
        lambda m: m.Embedding(5, 3, padding_idx=1),
        lambda m: m.PReLU(4),
        lambda m: m.ReLU6(),
        lambda m: m.Hardtanh(),
        lambda m: m.ELU(),
    ]:
        assert repr(make(nn)) == repr(make(torch.nn))


def test_flatten_unflatten():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for args in [(), (0,), (1, 2), (2, -1), (0, -2)]:
        t = torch.nn.Flatten(*args)(torch.from_numpy(x))
        c = nn.Flatten(*args)(cr.from_numpy(x))
        assert tuple(c.shape) == tuple(t.shape)
        np.testing.assert_array_equal(c.numpy(), t.numpy())
    c = nn.Unflatten(1, (3, -1))(cr.from_numpy(x.reshape(2, 60)))
    assert tuple(c.shape) == (2, 3, 20)
    with pytest.raises(ValueError, match="unflatten"):
        nn.Unflatten(1, (7, 3))(cr.from_numpy(x.reshape(2, 60)))
    assert nn.Flatten()(cr.zeros(3, 4)).shape == (3, 4)


# ---- Dropout ----------------------------------------------------------------------------------------


def test_dropout_eval_and_p0_are_identity():
    x = cr.randn(50, 20)
    d = nn.Dropout(0.3).eval()
    assert not d.training
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.4, training=False).numpy(), x.numpy())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    cr.manual_seed(0)
    x = cr.ones(400, 500, dtype=cr.float64)
    out = nn.Dropout(p)(x).numpy()
    kept = out != 0
    n = out.size
    # Kept fraction within 5 standard deviations of Bernoulli(1 - p).
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out[kept], 1.0 / (1.0 - p), rtol=1e-12)


def test_dropout_gradient_uses_the_same_mask_and_seed_reproduces():
    cr.manual_seed(5)
    x = cr.randn(30, 10, dtype=cr.float64, requires_grad=True)
    out = F.dropout(x, 0.5, training=True)
    out.sum().backward()
    mask = out.detach().numpy() / x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-12)
    cr.manual_seed(7)
    a = nn.Dropout(0.5)(cr.ones(10, 10)).numpy()
    cr.manual_seed(7)
    b = nn.Dropout(0.5)(cr.ones(10, 10)).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.all(nn.Dropout(1.0)(cr.ones(4, 4)).numpy() == 0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5"])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match="p="):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="p="):
        F.dropout(cr.ones(2), p)


# ---- BatchNorm1d ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", [(16, 5), (6, 5, 4)])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(momentum=None),
        dict(momentum=0.3, eps=1e-3),
        dict(affine=False),
        dict(track_running_stats=False),
        dict(bias=False),
    ],
)
def test_batchnorm_train_and_eval_match_torch(dtype, shape, options):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    rng = np.random.default_rng(2)
    t_bn = torch.nn.BatchNorm1d(5, **options).to(t_dtype)
    c_bn = nn.BatchNorm1d(5, **options).to(c_dtype)
    if t_bn.weight is not None:
        with torch.no_grad():
            t_bn.weight.uniform_(0.5, 1.5)
            if t_bn.bias is not None:
                t_bn.bias.uniform_(-0.5, 0.5)
    c_bn.load_state_dict({k: v.numpy() for k, v in t_bn.state_dict().items()})
    for _ in range(4):
        x = (rng.standard_normal(shape) * 3 + 1).astype(np_dtype)
        _compare_batch(t_bn, c_bn, x, tol)
        for key, value in t_bn.state_dict().items():
            np.testing.assert_allclose(c_bn.state_dict()[key].numpy(), value.numpy(), **tol, err_msg=key)
    t_bn.eval()
    c_bn.eval()
    _compare_batch(t_bn, c_bn, rng.standard_normal(shape).astype(np_dtype), tol)


def _compare_batch(t_mod, c_mod, x, tol):
    tx = torch.from_numpy(x).requires_grad_(True)
    cx = cr.tensor(x, requires_grad=True, dtype=cr.float64 if x.dtype == np.float64 else cr.float32)
    t_out, c_out = t_mod(tx), c_mod(cx)
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), **tol)
    w = np.random.default_rng(9).standard_normal(x.shape).astype(x.dtype)
    (t_out * torch.from_numpy(w)).sum().backward()
    (c_out * cr.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
    for (name, tp), (_, cp) in zip(t_mod.named_parameters(), c_mod.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), **tol, err_msg=name)
        tp.grad = None
        cp.grad = None


def test_batchnorm_state_dict_keys_and_errors():
    bn = nn.BatchNorm1d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.state_dict()["num_batches_tracked"].dtype == cr.int64
    assert list(nn.BatchNorm1d(4, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(4, track_running_stats=False).state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(cr.randn(1, 4))
    bn.eval()
    assert bn(cr.randn(1, 4)).shape == (1, 4)  # eval mode uses the running statistics
    with pytest.raises(ValueError, match="num_features"):
        bn(cr.randn(8, 3))
    with pytest.raises(ValueError, match="2D or 3D"):
        bn(cr.randn(8))


def test_batchnorm_gradcheck_train_and_eval():
    bn = nn.BatchNorm1d(3).double()
    with cr.no_grad():
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -1, 1)
    x = cr.randn(6, 3, dtype=cr.float64, requires_grad=True)
    # Training mode changes the running stats on each call; the gradient does not depend on them.
    assert gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])
    bn.eval()
    assert gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])
    x3 = cr.randn(4, 3, 5, dtype=cr.float64, requires_grad=True)
    bn.train()
    assert gradcheck(lambda x: bn(x), [x3])


def test_batchnorm_running_stats_through_safetensors(tmp_path):
    t_model = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 2)
    )
    for _ in range(3):
        t_model(torch.randn(10, 4))
    t_model.eval()
    from safetensors.torch import save_file

    path = str(tmp_path / "bn.safetensors")
    save_file({k: v.contiguous() for k, v in t_model.state_dict().items()}, path)
    c_model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    c_model.load_state_dict(cr.load(path))
    c_model.eval()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        c_model(cr.from_numpy(x)).detach().numpy(), t_model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    # And back: chainrule's file holds PyTorch's keys and loads into PyTorch.
    path2 = str(tmp_path / "bn2.safetensors")
    cr.save(c_model.state_dict(), path2)
    from safetensors.torch import load_file

    loaded = load_file(path2)
    assert list(loaded) == list(t_model.state_dict()) or set(loaded) == set(t_model.state_dict())
    t_model.load_state_dict(loaded)


# ---- LayerNorm --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape,normalized", [((6, 5), 5), ((3, 4, 5), (4, 5)), ((2, 3, 4), 4)])
@pytest.mark.parametrize("options", [dict(), dict(elementwise_affine=False), dict(bias=False), dict(eps=1e-2)])
def test_layernorm_matches_torch(dtype, shape, normalized, options):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 2 + 0.5

    def make(m):
        mod = m.LayerNorm(normalized, **options)
        if getattr(mod, "weight", None) is not None and m is torch.nn:
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5)
                if mod.bias is not None:
                    mod.bias.uniform_(-1, 1)
        return mod

    _compare_module(make, x, dtype)


def test_layernorm_gradcheck_and_errors():
    ln = nn.LayerNorm(4).double()
    with cr.no_grad():
        nn.init.uniform_(ln.weight, 0.5, 1.5)
        nn.init.uniform_(ln.bias, -1, 1)
    x = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: ln(x), [x, ln.weight, ln.bias])
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(cr.randn(3, 5, dtype=cr.float64))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm((2, 0))


# ---- Embedding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(dtype, padding_idx):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    t_emb = torch.nn.Embedding(6, 3, padding_idx=padding_idx).to(t_dtype)
    c_emb = nn.Embedding(6, 3, padding_idx=padding_idx).to(c_dtype)
    if padding_idx is not None:
        assert np.all(c_emb.weight.detach().numpy()[padding_idx] == 0)
    c_emb.load_state_dict({k: v.numpy() for k, v in t_emb.state_dict().items()})
    idx = np.array([[0, 2, 5], [2, 2, 1]], dtype=np.int64)
    t_out, c_out = t_emb(torch.from_numpy(idx)), c_emb(cr.from_numpy(idx))
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), **tol)
    w = np.random.default_rng(0).standard_normal(t_out.shape).astype(np_dtype)
    (t_out * torch.from_numpy(w)).sum().backward()
    (c_out * cr.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(c_emb.weight.grad.numpy(), t_emb.weight.grad.numpy(), **tol)
    with pytest.raises(IndexError, match="out of range"):
        c_emb(cr.tensor([6]))
    with pytest.raises(ValueError, match="max_norm"):
        nn.Embedding(3, 2, max_norm=1.0)


# ---- PReLU and parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_prelu_per_channel(dtype):
    x = np.random.default_rng(0).standard_normal((4, 3, 2))

    def make(m):
        mod = m.PReLU(3, init=0.1)
        if m is torch.nn:
            with torch.no_grad():
                mod.weight.copy_(torch.tensor([0.1, -0.3, 0.7]))
        return mod

    _compare_module(make, x, dtype)
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(4)(cr.randn(2, 3))


# ---- training a network of the new layers against PyTorch --------------------------------------------


def _mlp(m, dtype):
    # No bias before BatchNorm: its true gradient is 0, and Adam would amplify the rounding noise.
    return m.Sequential(
        m.Linear(6, 16, bias=False, dtype=dtype),
        m.BatchNorm1d(16, dtype=dtype),
        m.SiLU(),
        m.Dropout(0.0),
        m.Linear(16, 16, dtype=dtype),
        m.LayerNorm(16, dtype=dtype),
        m.Mish(),
        m.Linear(16, 8, dtype=dtype),
        m.ELU(),
        m.Linear(8, 3, dtype=dtype),
    )


@pytest.mark.slow
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_25_training_steps_match_torch(dtype):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    torch.manual_seed(0)
    t_model = _mlp(torch.nn, t_dtype)
    c_model = _mlp(nn, c_dtype)
    c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-2)
    c_opt = optim.Adam(c_model.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 6)).astype(np_dtype)
    y = rng.integers(0, 3, size=32)
    t_loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    c_loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    for _ in range(25):
        t_loss = t_loss_fn(t_model(torch.from_numpy(x)), torch.from_numpy(y))
        c_loss = c_loss_fn(c_model(cr.from_numpy(x)), cr.from_numpy(y))
        t_opt.zero_grad()
        c_opt.zero_grad()
        t_loss.backward()
        c_loss.backward()
        t_opt.step()
        c_opt.step()
        np.testing.assert_allclose(c_loss.item(), t_loss.item(), **tol)
    for key, value in t_model.state_dict().items():
        np.testing.assert_allclose(
            c_model.state_dict()[key].numpy(), value.numpy(), rtol=tol["rtol"] * 20, atol=tol["atol"] * 20, err_msg=key
        )
    t_model.eval()
    c_model.eval()
    np.testing.assert_allclose(
        c_model(cr.from_numpy(x)).detach().numpy(),
        t_model(torch.from_numpy(x)).detach().numpy(),
        rtol=tol["rtol"] * 20,
        atol=tol["atol"] * 20,
    )
