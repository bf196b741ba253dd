"""chainrule.nn: Module API, Sequential, Linear, activations, losses, functional and init."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
import chainrule.optim as optim
from optional_dependencies import require


def _torch():
    return require("torch")


def _seed_model(mod):
    return mod.Sequential(mod.Linear(10, 5), mod.ReLU(), mod.Linear(5, 1))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(cr.ones(3))
        self.encoder = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
        self.head = nn.Linear(3, 2, bias=False)
        self.not_a_param = cr.zeros(2)  # a plain tensor is not registered
        self.note = "hello"

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


# ---- registration and traversal ----------------------------------------------------------------


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "encoder.0.weight", "encoder.0.bias", "head.weight"]
    assert [p is q for p, q in zip(net.parameters(), (p for _, p in net.named_parameters()))] == [True] * 4
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_children()] == ["encoder", "head"]
    assert list(net.children()) == [net.encoder, net.head]
    assert [n for n, _ in net.named_modules()] == ["", "encoder", "encoder.0", "encoder.1", "head"]
    assert len(list(net.modules())) == 5 and next(iter(net.modules())) is net
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.head.bias is None
    assert net.note == "hello"
    assert "not_a_param" not in dict(net.named_parameters())


def test_call_runs_forward():
    net = Net()
    x = cr.randn(5, 4)
    out = net(x)
    assert tuple(out.shape) == (5, 2)
    np.testing.assert_allclose(out.detach().numpy(), net.forward(x).detach().numpy())


def test_module_without_forward_raises():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(cr.zeros(1))


def test_setattr_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_reassigning_and_deleting_registered_names():
    net = Net()
    with pytest.raises(TypeError, match="scale"):
        net.scale = cr.zeros(3)  # a plain tensor cannot replace a parameter
    with pytest.raises(TypeError, match="head"):
        net.head = 3
    net.scale = None
    assert net.scale is None and "scale" not in dict(net.named_parameters())
    new_head = nn.Linear(3, 2)
    net.head = new_head
    assert net.head is new_head
    del net.head
    assert "head" not in dict(net.named_children())
    with pytest.raises(AttributeError, match="head"):
        _ = net.head


def test_plain_attribute_then_parameter_registers_it():
    # PyTorch removes the plain attribute when a Parameter or Module takes the name.
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = None
            self.w = nn.Parameter(cr.ones(2))
            self.sub = None
            self.sub = nn.Linear(2, 2)

    m = M()
    assert isinstance(m.w, nn.Parameter)
    assert isinstance(m.sub, nn.Linear)
    assert list(m.state_dict()) == ["w", "sub.weight", "sub.bias"]


def test_buffers_are_registered_and_reassignable():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", cr.zeros(3))
            self.fc = nn.Linear(2, 3)

    m = M()
    assert [n for n, _ in m.named_buffers()] == ["running"]
    m.running = cr.ones(3)  # assignment updates the registered buffer
    np.testing.assert_array_equal(m.state_dict()["running"].numpy(), np.ones(3))
    assert len(list(m.buffers())) == 1
    with pytest.raises(TypeError, match="running"):
        m.running = "x"


def test_register_parameter_and_add_module_validate():
    m = nn.Module()
    with pytest.raises(TypeError, match="w"):
        m.register_parameter("w", cr.zeros(2))
    with pytest.raises(KeyError):
        m.register_parameter("a.b", nn.Parameter(cr.zeros(2)))
    with pytest.raises(TypeError):
        m.add_module("x", 3)
    with pytest.raises(KeyError):
        m.add_module("a.b", nn.Identity())
    m.register_parameter("w", None)
    assert m.w is None and list(m.parameters()) == []


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.encoder[0].training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad():
    net = Net()
    net(cr.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, dtype=np.float32))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_parameter():
    p = nn.Parameter(cr.zeros(2, 3))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf and tuple(p.shape) == (2, 3)
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    q = nn.Parameter(np.ones(3))
    assert q.dtype == cr.float64
    # It shares memory with its data, as torch.nn.Parameter does.
    t = cr.zeros(3)
    r = nn.Parameter(t)
    r.detach().numpy()[0] = 5.0
    assert t.numpy()[0] == 5.0


# ---- Sequential --------------------------------------------------------------------------------


def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2] and seq[-3] is layers[0]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is layers[1]
    assert list(sub.state_dict()) == ["2.weight", "2.bias"]  # slices keep the names, as in torch
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(IndexError):
        seq[-4]
    with pytest.raises(TypeError):
        seq["0"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    x = cr.randn(4, 2)
    expected = F.sigmoid(layers[2](layers[1](layers[0](x))))
    np.testing.assert_allclose(seq(x).detach().numpy(), expected.detach().numpy(), rtol=1e-6)


def test_sequential_ordered_dict_and_bad_arguments():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert isinstance(seq.act, nn.Tanh)
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.Linear(2, 2), "relu")


# ---- state_dict / load_state_dict --------------------------------------------------------------


def _architectures(mod):
    return {
        "seed": lambda: _seed_model(mod),
        "nested": lambda: mod.Sequential(
            mod.Sequential(mod.Linear(3, 4), mod.GELU()),
            mod.Identity(),
            mod.Sequential(mod.Linear(4, 4, bias=False), mod.Tanh(), mod.Linear(4, 2)),
            mod.LogSoftmax(dim=1),
        ),
        "deep": lambda: mod.Sequential(*[m for _ in range(4) for m in (mod.Linear(5, 5), mod.Sigmoid())]),
    }


@pytest.mark.parametrize("arch", ["seed", "nested", "deep"])
def test_state_dict_keys_match_torch(arch):
    torch = _torch()
    t_model = _architectures(torch.nn)[arch]()
    c_model = _architectures(nn)[arch]()
    t_sd, c_sd = t_model.state_dict(), c_model.state_dict()
    assert list(c_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(c_sd[k].shape) == tuple(t_sd[k].shape)
        assert not c_sd[k].requires_grad
    assert [n for n, _ in c_model.named_parameters()] == [n for n, _ in t_model.named_parameters()]
    assert [n for n, _ in c_model.named_modules()] == [n for n, _ in t_model.named_modules()]


def test_state_dict_keys_match_torch_custom_modules_buffers_and_tied_weights():
    torch = _torch()

    def make(mod, lib):
        class M(mod.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("running", lib.zeros(3))
                self.fc = mod.Linear(2, 3)
                self.scale = mod.Parameter(lib.ones(3))
                shared = mod.Linear(3, 3)
                self.tied = mod.Sequential(shared, mod.ReLU(), shared)

        return M()

    t_m, c_m = make(torch.nn, torch), make(nn, cr)
    assert list(c_m.state_dict()) == list(t_m.state_dict())
    assert [n for n, _ in c_m.named_parameters()] == [n for n, _ in t_m.named_parameters()]
    assert len(list(c_m.parameters())) == len(list(t_m.parameters()))
    # A state_dict with the tied keys loads back strictly.
    c_m.load_state_dict({k: v.numpy() for k, v in t_m.state_dict().items()})
    np.testing.assert_array_equal(c_m.tied[0].weight.detach().numpy(), t_m.tied[0].weight.detach().numpy())


def test_state_dict_prefix_keep_vars_and_detach():
    model = _seed_model(nn)
    sd = model.state_dict(prefix="model.")
    assert list(sd) == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]
    kv = model.state_dict(keep_vars=True)
    assert kv["0.weight"] is model[0].weight
    plain = model.state_dict()
    assert not plain["0.weight"].requires_grad
    # The detached values share memory with the parameters, as torch's state_dict does.
    model[0].weight.detach().numpy()[0, 0] = 42.0
    assert plain["0.weight"].numpy()[0, 0] == 42.0


@pytest.mark.parametrize("kind", ["numpy", "chainrule", "torch"])
def test_load_state_dict_value_kinds(kind):
    torch = _torch() if kind == "torch" else None
    rng = np.random.default_rng(0)
    source = {
        "0.weight": rng.standard_normal((5, 10)),
        "0.bias": rng.standard_normal(5),
        "2.weight": rng.standard_normal((1, 5)),
        "2.bias": rng.standard_normal(1),
    }
    convert = {"numpy": lambda a: a, "chainrule": cr.tensor, "torch": lambda a: torch.tensor(a)}[kind]
    model = _seed_model(nn)
    params_before = list(model.parameters())
    result = model.load_state_dict({k: convert(v) for k, v in source.items()})
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    assert all(a is b for a, b in zip(model.parameters(), params_before))
    for k, v in model.state_dict().items():
        assert v.dtype == cr.float32  # float64 values are cast to the parameter's dtype
        np.testing.assert_allclose(v.numpy(), source[k].astype(np.float32))
    # The values were copied, not aliased.
    source["0.bias"][:] = 0
    assert np.any(model[0].bias.detach().numpy() != 0)


def test_load_state_dict_keeps_optimizer_working():
    model = nn.Linear(2, 1, dtype=cr.float64)
    opt = optim.SGD(model.parameters(), lr=1.0)
    model.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])})
    model(cr.tensor(np.array([[1.0, 1.0]]))).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), [[0.0, 1.0]])
    np.testing.assert_allclose(model.bias.detach().numpy(), [-0.5])


def test_load_state_dict_strict_errors_name_the_keys():
    model = _seed_model(nn)
    good = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    missing = dict(good)
    del missing["2.bias"]
    with pytest.raises(KeyError, match=r"missing.*2\.bias"):
        model.load_state_dict(missing)
    extra = dict(good, **{"3.weight": np.zeros((1, 1))})
    with pytest.raises(KeyError, match=r"unexpected.*3\.weight"):
        model.load_state_dict(extra)
    with pytest.raises(KeyError, match=r"2\.bias"):
        model.load_state_dict({**missing, "3.weight": np.zeros((1, 1))})


def test_load_state_dict_non_strict_reports_keys():
    model = _seed_model(nn)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    new_w = np.full((5, 10), 0.25, dtype=np.float32)
    result = model.load_state_dict({"0.weight": new_w, "extra": np.zeros(2)}, strict=False)
    missing, unexpected = result
    assert missing == ["0.bias", "2.weight", "2.bias"]
    assert unexpected == ["extra"]
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), new_w)
    np.testing.assert_array_equal(model[2].weight.detach().numpy(), before["2.weight"])
    assert "All keys matched" in repr(model.load_state_dict(before))


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_changes_nothing(strict):
    model = _seed_model(nn)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    bad = {k: np.zeros_like(v) for k, v in before.items()}
    bad["2.weight"] = np.zeros((5, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"2\.weight.*\(5, 1\).*\(1, 5\)"):
        model.load_state_dict(bad, strict=strict)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=f"{k} was modified by a failed load")


def test_load_state_dict_bad_values():
    model = _seed_model(nn)
    with pytest.raises(TypeError, match="dict"):
        model.load_state_dict([("0.weight", np.zeros((5, 10)))])
    good = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match=r"0\.bias"):
        model.load_state_dict({**good, "0.bias": [0.0] * 5})
    with pytest.raises(TypeError, match=r"0\.bias"):
        model.load_state_dict({**good, "0.bias": np.array(["a"] * 5)})


def test_state_dict_round_trip_between_models():
    a, b = _seed_model(nn), _seed_model(nn)
    b.load_state_dict(a.state_dict())
    x = cr.randn(7, 10)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_torch_loads_chainrule_state_dict():
    torch = _torch()
    c_model, t_model = _seed_model(nn), _seed_model(torch.nn)
    t_model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in c_model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_allclose(
        c_model(cr.from_numpy(x)).detach().numpy(), t_model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


# ---- to(dtype) ---------------------------------------------------------------------------------


def test_to_dtype_keeps_parameter_identity():
    model = _seed_model(nn)
    params = list(model.parameters())
    values = [p.detach().numpy().astype(np.float64) for p in params]
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(cr.randn(3, 10)).sum().backward()
    assert model.to(cr.float64) is model
    for p, q, v in zip(model.parameters(), params, values):
        assert p is q
        assert p.dtype == cr.float64 and p.requires_grad and p.is_leaf
        assert p.grad is None or p.grad.dtype == cr.float64
        np.testing.assert_array_equal(p.detach().numpy(), v)
    # The optimizer built before the conversion still updates the same parameters.
    opt.zero_grad()
    x = cr.tensor(np.ones((3, 10)))
    model(x).sum().backward()
    before = model[2].bias.detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(model[2].bias.detach().numpy(), before - 0.1 * 3)
    assert model(x).dtype == cr.float64
    model.float()
    assert all(p.dtype == cr.float32 for p in model.parameters())
    model.double()
    assert all(p.dtype == cr.float64 for p in model.parameters())
    assert model.to("cpu") is model and model.to(dtype=cr.float32) is model
    assert model[0].weight.dtype == cr.float32


def _numpy_forward(model, x):
    w1, b1, w2, b2 = [p.detach().numpy().astype(np.float64) for p in model.parameters()]
    return np.tanh(x @ w1.T + b1) @ w2.T + b2


def test_forward_sees_every_change_to_the_parameters():
    cr.manual_seed(0)  # the same weights whatever ran before (the comparisons are to 1e-13 relative)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(model(x.astype(np.float32)).detach().numpy(), _numpy_forward(model, x), atol=1e-6)
    model.to(cr.float64)
    np.testing.assert_allclose(model(x).detach().numpy(), _numpy_forward(model, x), rtol=1e-13)
    model[0].weight = nn.Parameter(cr.tensor(np.ones((4, 3))))
    np.testing.assert_allclose(model(x).detach().numpy(), _numpy_forward(model, x), rtol=1e-13)
    model.load_state_dict({k: v.numpy() * 0.5 for k, v in model.state_dict().items()})
    np.testing.assert_allclose(model(x).detach().numpy(), _numpy_forward(model, x), rtol=1e-13)
    model[2].bias.detach().numpy()[:] = 7.0
    np.testing.assert_allclose(model(x).detach().numpy(), _numpy_forward(model, x), rtol=1e-13)
    model[2].bias = None
    w1, b1, w2 = [p.detach().numpy() for p in model.parameters()]
    np.testing.assert_allclose(model(x).detach().numpy(), np.tanh(x @ w1.T + b1) @ w2.T, rtol=1e-13)


def test_to_bad_arguments():
    model = _seed_model(nn)
    with pytest.raises(TypeError, match="dtype"):
        model.to(cr.int64)
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="cannot place a tensor on 'cuda'"):
            model.to("cuda")


def test_linear_dtype_argument():
    layer = nn.Linear(3, 2, dtype=cr.float64)
    assert layer.weight.dtype == cr.float64 and layer.bias.dtype == cr.float64
    assert layer(np.ones((4, 3))).dtype == cr.float64
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(3, 2, dtype=cr.int64)
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 2)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, 2.5)


# ---- repr --------------------------------------------------------------------------------------


def _repr_models(mod):
    return [
        _seed_model(mod),
        mod.Sequential(
            mod.Linear(3, 4, bias=False),
            mod.Sigmoid(),
            mod.Tanh(),
            mod.LeakyReLU(),
            mod.LeakyReLU(0.2),
            mod.GELU(),
            mod.GELU(approximate="tanh"),
            mod.Identity(),
            mod.Softmax(dim=1),
            mod.LogSoftmax(dim=-1),
            mod.ReLU(inplace=True),
        ),
        mod.Sequential(mod.Sequential(mod.Linear(2, 3), mod.ReLU()), mod.Sequential(), mod.Linear(3, 1)),
        mod.Sequential(OrderedDict([("fc", mod.Linear(2, 2)), ("act", mod.Softmax())])),
        mod.Sequential(
            mod.MSELoss(),
            mod.L1Loss(reduction="sum"),
            mod.CrossEntropyLoss(),
            mod.BCELoss(),
            mod.BCEWithLogitsLoss(),
            mod.HuberLoss(delta=0.5),
        ),
    ]


@pytest.mark.parametrize("index", range(5))
def test_repr_equals_torch(index):
    torch = _torch()
    assert repr(_repr_models(nn)[index]) == repr(_repr_models(torch.nn)[index])


def test_custom_module_repr():
    torch = _torch()

    def make(mod):
        class Net(mod.Module):
            def __init__(self):
                super().__init__()
                self.body = mod.Sequential(mod.Linear(4, 3), mod.Tanh())
                self.head = mod.Linear(3, 2)

        return Net()

    assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("extra", ["k=3", "a=1\nb=2", ""])
@pytest.mark.parametrize("with_child", [True, False])
def test_extra_repr_layout_equals_torch(extra, with_child):
    torch = _torch()

    def make(mod):
        class Custom(mod.Module):
            def __init__(self):
                super().__init__()
                if with_child:
                    self.fc = mod.Linear(2, 2)
                    self.empty = None

            def extra_repr(self):
                return extra

        return mod.Sequential(Custom(), mod.ReLU())

    assert repr(make(nn)) == repr(make(torch.nn))


# ---- init --------------------------------------------------------------------------------------

N = 200_000


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


def test_uniform_normal_constant():
    t = cr.empty(N)
    assert nn.init.uniform_(t, -2.0, 3.0) is t
    mean, std, lo, hi = _stats(t)
    assert -2.0 <= lo and hi <= 3.0 and abs(mean - 0.5) < 0.03 and abs(std - 5 / math.sqrt(12)) < 0.02
    nn.init.uniform_(t)
    mean, std, lo, hi = _stats(t)
    assert 0 <= lo and hi <= 1 and abs(mean - 0.5) < 0.01
    assert nn.init.normal_(t, 1.5, 0.5) is t
    mean, std, _, _ = _stats(t)
    assert abs(mean - 1.5) < 0.01 and abs(std - 0.5) < 0.01
    nn.init.normal_(t)
    mean, std, _, _ = _stats(t)
    assert abs(mean) < 0.02 and abs(std - 1) < 0.02
    w = cr.empty(3, 4, dtype=cr.float64)
    np.testing.assert_array_equal(nn.init.constant_(w, 0.3).numpy(), np.full((3, 4), 0.3))
    np.testing.assert_array_equal(nn.init.zeros_(w).numpy(), np.zeros((3, 4)))
    np.testing.assert_array_equal(nn.init.ones_(w).numpy(), np.ones((3, 4)))


def test_init_on_parameters_is_not_recorded():
    layer = nn.Linear(4, 3)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    assert layer.weight.is_leaf and layer.weight.grad_fn is None and layer.weight.requires_grad
    layer(cr.randn(2, 4)).sum().backward()
    assert layer.weight.grad is not None


@pytest.mark.parametrize("shape", [(400, 500), (300, 20, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    t = cr.empty(*shape)

    gain = 1.7
    nn.init.xavier_uniform_(t, gain=gain)
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    mean, std, lo, hi = _stats(t)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound and abs(std - bound / math.sqrt(3)) < 0.02 * bound

    nn.init.xavier_normal_(t, gain=gain)
    mean, std, _, _ = _stats(t)
    expected = gain * math.sqrt(2 / (fan_in + fan_out))
    assert abs(std - expected) < 0.02 * expected and abs(mean) < 0.02 * expected

    nn.init.kaiming_uniform_(t, a=0, mode="fan_in", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    mean, std, lo, hi = _stats(t)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound

    nn.init.kaiming_uniform_(t, a=math.sqrt(5))  # torch.nn.Linear's default: bound 1/sqrt(fan_in)
    bound = 1 / math.sqrt(fan_in)
    mean, std, lo, hi = _stats(t)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound

    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    expected = math.sqrt(2 / fan_out)
    mean, std, _, _ = _stats(t)
    assert abs(std - expected) < 0.02 * expected

    nn.init.kaiming_normal_(t, a=0.2, nonlinearity="leaky_relu")
    expected = math.sqrt(2 / (1 + 0.04)) / math.sqrt(fan_in)
    mean, std, _, _ = _stats(t)
    assert abs(std - expected) < 0.02 * expected


@pytest.mark.parametrize(
    "args",
    [
        ("linear",),
        ("conv1d",),
        ("conv2d",),
        ("conv3d",),
        ("conv_transpose1d",),
        ("conv_transpose2d",),
        ("conv_transpose3d",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("leaky_relu", 1),
        ("selu",),
    ],
)
def test_calculate_gain_equals_torch(args):
    torch = _torch()
    assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)


def test_init_bad_input():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        nn.init.calculate_gain("leaky_relu", "0.2")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="mode"):
        nn.init.kaiming_uniform_(cr.empty(3, 3), mode="fan_avg")
    with pytest.raises(TypeError, match="Tensor"):
        nn.init.uniform_(np.zeros(3))
    with pytest.raises(ValueError):
        nn.init.uniform_(cr.empty(3), 1.0, 0.0)


@pytest.mark.parametrize("in_features,out_features", [(10, 5), (400, 300), (1, 1000)])
def test_linear_default_init_bounds(in_features, out_features):
    cr.manual_seed(0)
    layer = nn.Linear(in_features, out_features)
    bound = 1 / math.sqrt(in_features)
    w = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy()
    assert w.shape == (out_features, in_features) and b.shape == (out_features,)
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    if w.size >= 10000:
        assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
        assert np.abs(w).max() > 0.99 * bound
    assert len(np.unique(w)) > 0.9 * w.size  # actually random


def test_linear_init_differs_between_layers_and_follows_manual_seed():
    cr.manual_seed(123)
    a = nn.Linear(8, 8).weight.detach().numpy().copy()
    b = nn.Linear(8, 8).weight.detach().numpy().copy()
    cr.manual_seed(123)
    c = nn.Linear(8, 8).weight.detach().numpy().copy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# ---- activations and losses vs torch -----------------------------------------------------------

ACTIVATIONS = [
    ("ReLU", (), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.3,), {}),
    ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("Identity", (), {}),
    ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {"dim": 0}),
    ("Softmax", (), {"dim": -1}),
    ("LogSoftmax", (), {"dim": 1}),
    ("LogSoftmax", (), {"dim": 0}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS, ids=[f"{a[0]}{a[1]}{a[2]}" for a in ACTIVATIONS])
def test_activation_forward_and_backward_vs_torch(name, args, kwargs, dtype):
    torch = _torch()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    x[0, :3] = [0.0, -0.0, 40.0]
    upstream = rng.standard_normal((6, 5)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    cx = cr.tensor(x, requires_grad=True)
    t_out = getattr(torch.nn, name)(*args, **kwargs)(tx)
    c_out = getattr(nn, name)(*args, **kwargs)(cx)
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    assert c_out.dtype == (cr.float32 if dtype == "float32" else cr.float64)
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), **tol)
    (t_out * torch.tensor(upstream)).sum().backward()
    (c_out * cr.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)


def test_activation_functional_and_numpy_inputs():
    torch = _torch()
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(x, 0))
    pairs = [
        (F.relu, torch.nn.functional.relu, ()),
        (F.sigmoid, torch.sigmoid, ()),
        (F.tanh, torch.tanh, ()),
        (F.leaky_relu, torch.nn.functional.leaky_relu, (0.05,)),
        (F.gelu, torch.nn.functional.gelu, ()),
        (F.softmax, torch.softmax, (1,)),
        (F.log_softmax, torch.log_softmax, (0,)),
    ]
    for c_fn, t_fn, args in pairs:
        np.testing.assert_allclose(
            c_fn(cr.tensor(x), *args).numpy(), t_fn(torch.tensor(x), *args).numpy(), rtol=1e-12, atol=1e-15
        )
    np.testing.assert_allclose(
        F.gelu(cr.tensor(x), approximate="tanh").numpy(),
        torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy(),
        rtol=1e-12,
    )
    xt = cr.tensor(x)
    assert F.identity(xt) is xt
    w, b = np.ones((2, 4)), np.arange(2.0)
    np.testing.assert_allclose(F.linear(cr.tensor(x), cr.tensor(w), cr.tensor(b)).numpy(), x @ w.T + b)
    np.testing.assert_allclose(F.linear(cr.tensor(x), cr.tensor(w), None).numpy(), x @ w.T)


def test_softmax_implicit_dim_matches_torch():
    torch = _torch()
    for shape in [(5,), (3, 4)]:
        x = np.random.default_rng(1).standard_normal(shape)
        with pytest.warns(UserWarning):
            expected = torch.nn.Softmax()(torch.tensor(x)).numpy()
        np.testing.assert_allclose(nn.Softmax()(cr.tensor(x)).numpy(), expected, rtol=1e-12)


def test_activation_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")
    with pytest.raises(TypeError, match="negative_slope"):
        nn.LeakyReLU("0.1")
    with pytest.raises(TypeError, match="input"):
        nn.ReLU()([1.0, 2.0])


def _loss_data(loss, dtype, rng, shape=(8, 4)):
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    if loss == "CrossEntropyLoss":
        return x, rng.integers(0, shape[1], size=shape[0]).astype(np.int64)
    if loss == "BCELoss":
        return 1 / (1 + np.exp(-x)), rng.uniform(0, 1, size=shape).astype(dtype)
    if loss == "BCEWithLogitsLoss":
        return x, rng.uniform(0, 1, size=shape).astype(dtype)
    return x, rng.standard_normal(shape).astype(dtype)


LOSSES = [
    ("MSELoss", {}),
    ("L1Loss", {}),
    ("HuberLoss", {}),
    ("HuberLoss", {"delta": 0.4}),
    ("CrossEntropyLoss", {}),
    ("BCELoss", {}),
    ("BCEWithLogitsLoss", {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,kwargs", LOSSES, ids=[f"{n}{k}" for n, k in LOSSES])
def test_loss_forward_and_backward_vs_torch(name, kwargs, reduction, dtype):
    torch = _torch()
    rng = np.random.default_rng(0)
    x, y = _loss_data(name, np.dtype(dtype).type, rng)
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    t_out = getattr(torch.nn, name)(reduction=reduction, **kwargs)(tx, torch.tensor(y))
    c_out = getattr(nn, name)(reduction=reduction, **kwargs)(cx, cr.tensor(y))
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    assert tuple(c_out.shape) == tuple(t_out.shape)
    assert c_out.dtype == (cr.float32 if dtype == "float32" else cr.float64)
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), **tol)
    upstream = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    (t_out * torch.tensor(upstream)).sum().backward()
    (c_out * cr.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)


def test_losses_accept_numpy_and_cast_float_targets():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((4, 3))  # float64 target, float32 input
    out = nn.MSELoss()(x, y)
    assert out.dtype == cr.float32
    np.testing.assert_allclose(
        out.item(), torch.nn.MSELoss()(torch.tensor(x), torch.tensor(y, dtype=torch.float32)).item(), rtol=1e-6
    )
    labels = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(
        nn.CrossEntropyLoss()(x, labels).item(),
        torch.nn.CrossEntropyLoss()(torch.tensor(x), torch.tensor(labels)).item(),
        rtol=1e-6,
    )


def test_cross_entropy_is_stable_for_huge_logits():
    torch = _torch()
    x = np.array([[1000.0, -1000.0, 0.0], [-5000.0, 5000.0, 4990.0]], dtype=np.float32)
    y = np.array([1, 2])
    cx = cr.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    c_loss = nn.CrossEntropyLoss()(cx, cr.tensor(y))
    t_loss = torch.nn.CrossEntropyLoss()(tx, torch.tensor(y))
    assert np.isfinite(c_loss.item())
    np.testing.assert_allclose(c_loss.item(), t_loss.item(), rtol=1e-6)
    c_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), atol=1e-7)


def test_bce_clamps_like_torch_at_zero_and_one():
    torch = _torch()
    p = np.array([0.0, 1.0, 0.5, 1e-30], dtype=np.float64)
    y = np.array([1.0, 0.0, 1.0, 1.0])
    c = nn.BCELoss(reduction="none")(cr.tensor(p), cr.tensor(y))
    t = torch.nn.BCELoss(reduction="none")(torch.tensor(p), torch.tensor(y))
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-12)


def test_bce_with_logits_is_stable():
    torch = _torch()
    x = np.array([500.0, -500.0, 30.0, -30.0])
    y = np.array([0.0, 1.0, 0.3, 0.7])
    c = nn.BCEWithLogitsLoss(reduction="none")(cr.tensor(x), cr.tensor(y))
    t = torch.nn.BCEWithLogitsLoss(reduction="none")(torch.tensor(x), torch.tensor(y))
    assert np.all(np.isfinite(c.numpy()))
    np.testing.assert_allclose(c.numpy(), t.numpy(), rtol=1e-12)


def test_loss_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)
    with pytest.raises(TypeError, match="target"):
        nn.MSELoss()(cr.zeros(3), [0.0, 0.0, 0.0])
    with pytest.raises(Exception, match="target"):
        nn.CrossEntropyLoss()(cr.zeros(3, 4), cr.tensor(np.array([0, 5, 1])))


def test_loss_subclass_overriding_forward_is_called():
    calls = []

    class Recording(nn.MSELoss):
        def forward(self, input, target):
            calls.append(1)
            return super().forward(input, target) * 2

    x, y = cr.tensor(np.array([1.0, 2.0])), cr.tensor(np.array([0.0, 0.0]))
    assert Recording()(x, y).item() == pytest.approx(5.0)
    assert calls == [1]
    assert nn.MSELoss()(x, y).item() == pytest.approx(2.5)


@pytest.mark.parametrize("loss_cls", [nn.MSELoss, nn.L1Loss])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_given_numpy_arrays_honour_the_reduction(loss_cls, reduction):
    # NumPy inputs take the module's forward() instead of the fused C++ call for two Tensors.
    inputs, targets = np.arange(6.0).reshape(2, 3), np.zeros((2, 3))
    from_arrays = loss_cls(reduction=reduction)(inputs, targets)
    from_tensors = loss_cls(reduction=reduction)(cr.tensor(inputs), cr.tensor(targets))
    assert from_arrays.shape == from_tensors.shape
    np.testing.assert_array_equal(from_arrays.numpy(), from_tensors.numpy())
