"""nn.Module's API and the containers, against PyTorch's behaviour: registration, traversal,
train/eval, apply, buffers (persistent or not), hooks, dtype conversion and load_state_dict."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from optional_dependencies import require


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1)])
        self.extra = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Dropout(0.5)})
        self.scales = nn.ParameterList([nn.Parameter(cr.ones(2)), cr.zeros(3)])
        self.table = nn.ParameterDict({"x": nn.Parameter(cr.ones(1))})
        self.register_buffer("counter", cr.zeros(1))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        h = self.body(x)
        return [head(h) for head in self.heads]


def test_traversal_and_state_dict_keys():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["body", "heads", "extra", "scales", "table"]
    names = [n for n, _ in net.named_modules()]
    assert names[:4] == ["", "body", "body.0", "body.1"]
    assert "extra.b" in names and "heads.1" in names
    assert [n for n, _ in net.named_buffers()] == ["counter", "scratch"]
    assert [n for n, _ in net.named_buffers(recurse=False)] == ["counter", "scratch"]
    keys = list(net.state_dict())
    assert keys == [
        "counter",
        "body.0.weight",
        "body.0.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "heads.1.bias",
        "extra.a.weight",
        "extra.a.bias",
        "scales.0",
        "scales.1",
        "table.x",
    ]
    assert "scratch" not in keys  # non-persistent
    assert len(list(net.parameters())) == 11
    assert isinstance(net.scales[1], nn.Parameter)


def test_containers_behave_like_lists_and_dicts():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh(), nn.Sigmoid()])
    ml.insert(1, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Linear", "Identity", "ReLU", "Tanh", "Sigmoid"]
    assert type(ml[-1]).__name__ == "Sigmoid" and len(ml[1:3]) == 2
    del ml[0]
    assert [k for k, _ in ml.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        ml[10]
    md = nn.ModuleDict([("x", nn.ReLU())])
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md and len(md) == 2
    assert type(md.pop("x")).__name__ == "ReLU" and list(md) == ["y"]
    pl = nn.ParameterList([cr.ones(2)])
    pl.append(cr.zeros(3, 4))
    assert repr(pl) == (
        "ParameterList(\n  (0): Parameter containing: [chainrule.float32 of size 2]\n"
        "  (1): Parameter containing: [chainrule.float32 of size 3x4]\n)"
    )
    pd = nn.ParameterDict({"a": cr.ones(1)})
    pd["b"] = cr.zeros(2)
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["b"], nn.Parameter)
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seq.insert(1, nn.Identity())
    seq.append(nn.Linear(2, 1))
    assert [type(m).__name__ for m in seq] == ["Linear", "Identity", "ReLU", "Linear"]
    del seq[1]
    assert [k for k, _ in seq.named_children()] == ["0", "1", "2"]
    with pytest.raises(NotImplementedError):
        ml(cr.ones(1))


def test_train_eval_apply_requires_grad_zero_grad():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert net.extra["b"].training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Net" and visited.count("Linear") == 4

    def init_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
            nn.init.zeros_(m.bias)

    net.apply(init_linear)
    assert np.all(net.heads[0].weight.detach().numpy() == 0.5)
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_(True)
    out = net(cr.randn(5, 3))
    (out[0].sum() + out[1].sum()).backward()
    assert net.body[0].weight.grad is not None
    net.zero_grad()
    assert net.body[0].weight.grad is None


def test_register_errors():
    m = nn.Module()
    m.register_buffer("b", cr.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("b", nn.Parameter(cr.zeros(1)))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None"):
        m.register_buffer("c", np.zeros(1))
    m.register_parameter("p", None)
    assert list(m.state_dict()) == ["b"]


def test_to_dtype_keeps_parameter_identity_and_buffers():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p.dtype == cr.float64 for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert net.counter.dtype == cr.float64
    bn = nn.BatchNorm1d(3).double()
    assert bn.running_mean.dtype == cr.float64 and bn.num_batches_tracked.dtype == cr.int64
    net.float()
    assert all(p.dtype == cr.float32 for p in net.parameters())


def test_load_state_dict_non_strict_returns_named_tuple():
    a, b = Net(), Net()
    state = dict(a.state_dict())
    del state["heads.1.bias"]
    state["nope"] = cr.zeros(1)
    result = b.load_state_dict(state, strict=False)
    assert result.missing_keys == ["heads.1.bias"] and result.unexpected_keys == ["nope"]
    missing, unexpected = result
    assert missing == ["heads.1.bias"] and result._fields == ("missing_keys", "unexpected_keys")
    np.testing.assert_array_equal(b.heads[0].weight.detach().numpy(), a.heads[0].weight.detach().numpy())
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict(state)


def test_forward_hooks_and_pre_hooks():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = cr.randn(5, 3)
    plain = model(x).detach().numpy()
    seen = []
    h1 = model[0].register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    h2 = model[2].register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = model(x)
    assert seen == [(5, 4)]
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(model[2].bias.detach().numpy(), (5, 2)))
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(model(x).detach().numpy(), plain, rtol=1e-6)
    assert seen == [(5, 4)]
    # A forward hook's return value replaces the output; one on the Sequential itself sees the whole call.
    with model.register_forward_hook(lambda m, args, out: out * 2):
        np.testing.assert_allclose(model(x).detach().numpy(), 2 * plain, rtol=1e-6)
    np.testing.assert_allclose(model(x).detach().numpy(), plain, rtol=1e-6)
    kwargs_seen = []
    model.register_forward_pre_hook(lambda m, args, kwargs: kwargs_seen.append(kwargs), with_kwargs=True)
    model(x)
    assert kwargs_seen == [{}]


@pytest.mark.parametrize("loss_cls", [nn.MSELoss, nn.L1Loss, nn.CrossEntropyLoss, nn.HuberLoss])
def test_hooks_on_loss_modules_see_every_call(loss_cls):
    # As in PyTorch, a loss is a Module: its hooks run, on the fast two-tensor path too.
    loss_fn = loss_cls()
    x = cr.randn(4, 3)
    target = cr.tensor([0, 2, 1, 0]) if loss_cls is nn.CrossEntropyLoss else cr.randn(4, 3)
    plain = loss_fn(x, target).item()
    seen = []
    with loss_fn.register_forward_hook(lambda m, args, out: seen.append(out.item())):
        handle = loss_fn.register_forward_pre_hook(lambda m, args: (args[0] * 2, args[1]))
        doubled = loss_fn(x, target).item()
        handle.remove()
    assert seen == [doubled]
    assert doubled != plain
    assert loss_fn(x, target).item() == plain and seen == [doubled]  # removed hooks run no more


def test_full_backward_hook_sees_and_replaces_gradients():
    torch = require("torch")
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    model.double().load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    grads, t_grads = [], []
    model[2].register_full_backward_hook(lambda m, gi, go: grads.append((gi[0].numpy().copy(), go[0].numpy().copy())))
    t_model[2].register_full_backward_hook(
        lambda m, gi, go: t_grads.append((gi[0].numpy().copy(), go[0].numpy().copy()))
    )
    model(cr.tensor(x, requires_grad=True)).sum().backward()
    t_model(torch.tensor(x, requires_grad=True)).sum().backward()
    assert len(grads) == 1
    np.testing.assert_allclose(grads[0][0], t_grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[0][1], t_grads[0][1], rtol=1e-12)
    # Returning a new grad_input replaces the gradient flowing to earlier layers.
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    model.zero_grad()
    model(cr.tensor(x)).sum().backward()
    assert np.all(model[0].weight.grad.numpy() == 0)
    assert np.any(model[2].weight.grad.numpy() != 0)
