"""chainrule.optim Adam, AdamW, RMSprop and Adagrad against torch.optim, option by option.

The same initial weights go into a torch model and a chainrule model; both train on the same data
and every step's loss, the final weights and the optimizer state must agree to rounding.
"""

import numpy as np
import pytest

from optional_dependencies import require

torch = require("torch")

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.optim as optim  # noqa: E402
from chainrule.optim import lr_scheduler  # noqa: E402

# name -> (optimizer class name, keyword arguments). Each option appears alone and combined; the
# betas/alpha variants put lerp's weight above 0.5, ATen's other branch.
OPTIONS = {
    "adam": ("Adam", dict(lr=0.01)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adam_maximize": ("Adam", dict(lr=0.01, maximize=True)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, weight_decay=0.1)),
    "adam_betas": ("Adam", dict(lr=0.01, betas=(0.3, 0.6))),
    "adam_eps": ("Adam", dict(lr=0.01, eps=1e-3)),
    "adam_decoupled": ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    "adam_everything": ("Adam", dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.05, amsgrad=True, maximize=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, amsgrad=True)),
    "adamw_maximize": ("AdamW", dict(lr=0.01, maximize=True)),
    "adamw_weight_decay": ("AdamW", dict(lr=0.01, weight_decay=0.5)),
    "adamw_betas": ("AdamW", dict(lr=0.01, betas=(0.4, 0.7))),
    "adamw_everything": ("AdamW", dict(lr=0.02, betas=(0.7, 0.95), weight_decay=0.2, amsgrad=True, maximize=True)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_alpha": ("RMSprop", dict(lr=0.01, alpha=0.3)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.005, momentum=0.9)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.005, centered=True)),
    # Full-batch gradients barely vary, so sqrt(v - g_avg^2) cancels to almost nothing at small
    # alpha and the update divides by little more than eps; eps=1e-3 keeps that division from
    # amplifying the float32 rounding of the two backward passes past rtol in 20 steps.
    "rmsprop_centered_alpha": ("RMSprop", dict(lr=0.005, alpha=0.4, eps=1e-3, centered=True)),
    "rmsprop_weight_decay": ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    "rmsprop_maximize": ("RMSprop", dict(lr=0.01, maximize=True)),
    "rmsprop_eps": ("RMSprop", dict(lr=0.01, eps=1e-2)),
    "rmsprop_everything": (
        "RMSprop",
        dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.5, centered=True, maximize=True),
    ),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_lr_decay": ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    "adagrad_weight_decay": ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    "adagrad_initial_accumulator": ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5)),
    "adagrad_eps": ("Adagrad", dict(lr=0.1, eps=1e-3)),
    "adagrad_maximize": ("Adagrad", dict(lr=0.1, maximize=True)),
    "adagrad_everything": (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6, maximize=True),
    ),
}

DTYPES = {
    "float32": (np.float32, torch.float32, cr.float32, dict(rtol=1e-5, atol=1e-6)),
    "float64": (np.float64, torch.float64, cr.float64, dict(rtol=1e-10, atol=1e-12)),
}

IN, HIDDEN, OUT, BATCH = 5, 8, 3, 16
STEPS = 20


def _models(dtype, seed=0):
    _, t_dtype, c_dtype, _ = DTYPES[dtype]
    torch.manual_seed(seed)
    t_model = torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN, dtype=t_dtype), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, OUT, dtype=t_dtype)
    )
    c_model = nn.Sequential(nn.Linear(IN, HIDDEN, dtype=c_dtype), nn.Tanh(), nn.Linear(HIDDEN, OUT, dtype=c_dtype))
    c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    return t_model, c_model


def _data(dtype, seed=1):
    np_dtype = DTYPES[dtype][0]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, IN)).astype(np_dtype), rng.standard_normal((BATCH, OUT)).astype(np_dtype)


def _optimizers(option, t_params, c_params):
    name, kwargs = OPTIONS[option]
    # foreach=False: torch's single-tensor implementation, the one chainrule follows.
    return getattr(torch.optim, name)(t_params, foreach=False, **kwargs), getattr(optim, name)(c_params, **kwargs)


def _train(model, opt, x, y, steps, scheduler=None):
    """Full-batch MSE training; returns the loss of every step."""
    is_torch = isinstance(model, torch.nn.Module)
    x, y = (torch.from_numpy(x), torch.from_numpy(y)) if is_torch else (cr.from_numpy(x), cr.from_numpy(y))
    criterion = torch.nn.MSELoss() if is_torch else nn.MSELoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return np.array(losses)


def _assert_close(actual, expected, tol, err_msg):
    # Adaptive optimizers divide each update by a running RMS of its gradient, so the one-ulp
    # gradient differences of the two backward passes become relative differences of the update
    # in entries whose gradient is near zero. The absolute tolerance is therefore scaled to the
    # tensor's magnitude; test_identical_gradients_give_the_same_updates checks the update itself.
    atol = max(tol["atol"], tol["rtol"] * float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=atol, err_msg=err_msg)


def _assert_same_weights(t_model, c_model, tol):
    t_state, c_state = t_model.state_dict(), c_model.state_dict()
    assert list(c_state) == list(t_state)
    for key in t_state:
        c_value, t_value = c_state[key].numpy(), t_state[key].numpy()
        assert c_value.dtype == t_value.dtype, key
        _assert_close(c_value, t_value, tol, key)


def _assert_same_state(t_opt, c_opt, t_params, c_params, tol):
    for i, (tp, cp) in enumerate(zip(t_params, c_params)):
        t_state, c_state = t_opt.state.get(tp, {}), c_opt.state.get(cp, {})
        assert list(c_state) == list(t_state), f"parameter {i}"
        for key, t_value in t_state.items():
            if key == "step":
                assert c_state[key] == int(t_value.item()), f"parameter {i} step"
            else:
                assert c_state[key].dtype == c_params[i].dtype
                _assert_close(c_state[key].numpy(), t_value.numpy(), tol, f"parameter {i} {key}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("option", list(OPTIONS))
def test_training_matches_torch(option, dtype):
    tol = DTYPES[dtype][3]
    t_model, c_model = _models(dtype)
    t_params, c_params = list(t_model.parameters()), list(c_model.parameters())
    t_opt, c_opt = _optimizers(option, t_params, c_params)
    x, y = _data(dtype)
    t_losses = _train(t_model, t_opt, x, y, STEPS)
    c_losses = _train(c_model, c_opt, x, y, STEPS)
    assert np.all(np.isfinite(t_losses))
    np.testing.assert_allclose(c_losses, t_losses, **tol, err_msg="loss per step")
    _assert_same_weights(t_model, c_model, tol)
    _assert_same_state(t_opt, c_opt, t_params, c_params, tol)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("option", list(OPTIONS))
def test_identical_gradients_give_the_same_updates(option, dtype):
    # The update rule alone: both optimizers get bit-identical gradients every step (of every
    # magnitude from 1e-6 to 10, some parameters skipped on some steps) and must stay together to
    # rounding for 30 steps (float32 differs from torch in the last bit where ATen's vector kernels
    # fuse a multiply-add). Sizes around the vector width check any remainder handling.
    np_dtype, _, _, _ = DTYPES[dtype]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-15)
    name, kwargs = OPTIONS[option]
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (33,), (1,), (4, 4, 3), (16,), ()]
    init = [np.asarray(rng.standard_normal(s), dtype=np_dtype) for s in shapes]
    t_params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    c_params = [nn.Parameter(cr.from_numpy(a.copy())) for a in init]
    t_opt = getattr(torch.optim, name)(t_params, foreach=False, **kwargs)
    c_opt = getattr(optim, name)(c_params, **kwargs)
    for step in range(30):
        for i, (tp, cp) in enumerate(zip(t_params, c_params)):
            if (step + i) % 7 == 3:
                tp.grad, cp.grad = None, None
                continue
            g = np.asarray(rng.standard_normal(tuple(tp.shape)) * 10.0 ** rng.uniform(-6, 1), dtype=np_dtype)
            tp.grad, cp.grad = torch.from_numpy(g.copy()), cr.from_numpy(np.array(g))
        t_opt.step()
        c_opt.step()
        for i, (tp, cp) in enumerate(zip(t_params, c_params)):
            np.testing.assert_allclose(
                cp.detach().numpy(), tp.detach().numpy(), **tol, err_msg=f"step {step} parameter {i}"
            )
    for i, (tp, cp) in enumerate(zip(t_params, c_params)):
        t_state, c_state = t_opt.state[tp], c_opt.state[cp]
        assert list(c_state) == list(t_state)
        for key, t_value in t_state.items():
            if key == "step":
                assert c_state[key] == int(t_value.item())
            else:
                np.testing.assert_allclose(c_state[key].numpy(), t_value.numpy(), **tol, err_msg=f"{i} {key}")


# One representative option per optimizer for the tests below.
PER_OPTIMIZER = ["adam_everything", "adamw_everything", "rmsprop_everything", "adagrad_everything"]


@pytest.mark.parametrize("option", PER_OPTIMIZER)
def test_param_groups_and_params_without_grad_match_torch(option):
    # Two groups with their own lr; an extra parameter outside the graph gets no grad, so it must
    # not move and its step count must not advance (no state at all, except Adagrad's initial one).
    dtype = "float64"
    tol = DTYPES[dtype][3]
    t_model, c_model = _models(dtype)
    t_extra = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
    c_extra = nn.Parameter(cr.ones(4, dtype=cr.float64))
    t_layers, c_layers = [t_model[0], t_model[2]], [c_model[0], c_model[2]]
    name, kwargs = OPTIONS[option]
    t_groups = [
        {"params": list(t_layers[0].parameters()) + [t_extra]},
        {"params": list(t_layers[1].parameters()), "lr": kwargs["lr"] / 3},
    ]
    c_groups = [
        {"params": list(c_layers[0].parameters()) + [c_extra]},
        {"params": list(c_layers[1].parameters()), "lr": kwargs["lr"] / 3},
    ]
    t_opt, c_opt = getattr(torch.optim, name)(t_groups, **kwargs), getattr(optim, name)(c_groups, **kwargs)
    x, y = _data(dtype)
    np.testing.assert_allclose(_train(c_model, c_opt, x, y, 10), _train(t_model, t_opt, x, y, 10), **tol)
    _assert_same_weights(t_model, c_model, tol)
    t_params = [p for g in t_groups for p in g["params"]]
    c_params = [p for g in c_groups for p in g["params"]]
    _assert_same_state(t_opt, c_opt, t_params, c_params, tol)
    np.testing.assert_array_equal(c_extra.detach().numpy(), np.ones(4))
    assert c_opt.state.get(c_extra, {}).get("step", 0) == 0


def test_each_step_is_one_update_in_place():
    # The parameters and state tensors are updated in place: views taken before a step see it.
    _, c_model = _models("float64")
    c_opt = optim.Adam(c_model.parameters(), lr=0.1)
    x, y = _data("float64")
    _train(c_model, c_opt, x, y, 1)
    weight = c_model[0].weight
    view, exp_avg = weight.detach().numpy(), c_opt.state[weight]["exp_avg"]
    before = view.copy()
    _train(c_model, c_opt, x, y, 1)
    assert not np.array_equal(view, before)
    assert c_opt.state[weight]["exp_avg"] is exp_avg
    assert c_opt.state[weight]["step"] == 2


def _clone_model(c_model, dtype):
    _, fresh = _models(dtype, seed=123)
    fresh.load_state_dict({k: np.array(v.numpy()) for k, v in c_model.state_dict().items()})
    return fresh


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("option", PER_OPTIMIZER + ["adam", "rmsprop_momentum"])
def test_state_dict_round_trip_continues_training_exactly(option, dtype):
    name, kwargs = OPTIONS[option]
    x, y = _data(dtype)
    _, c_model = _models(dtype)
    c_opt = getattr(optim, name)(c_model.parameters(), **kwargs)
    _train(c_model, c_opt, x, y, 7)
    saved = c_opt.state_dict()
    # A fresh model and optimizer (with other hyper-parameters: the loaded groups replace them).
    resumed_model = _clone_model(c_model, dtype)
    resumed_opt = getattr(optim, name)(resumed_model.parameters(), lr=1.0)
    resumed_opt.load_state_dict(saved)
    assert resumed_opt.param_groups[0]["lr"] == kwargs["lr"]
    expected = _train(c_model, c_opt, x, y, 8)
    np.testing.assert_array_equal(_train(resumed_model, resumed_opt, x, y, 8), expected)
    for key, value in c_model.state_dict().items():
        np.testing.assert_array_equal(resumed_model.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    params, resumed = list(c_model.parameters()), list(resumed_model.parameters())
    for p, q in zip(params, resumed):
        assert list(resumed_opt.state[q]) == list(c_opt.state[p])
        assert resumed_opt.state[q]["step"] == c_opt.state[p]["step"] == 15
        for key, value in c_opt.state[p].items():
            if key != "step":
                assert resumed_opt.state[q][key] is not value  # loaded state is a copy
                np.testing.assert_array_equal(resumed_opt.state[q][key].numpy(), value.numpy())


@pytest.mark.parametrize("option", PER_OPTIMIZER)
def test_load_torch_optimizer_state_dict(option):
    # torch's state (0-d tensor 'step', state tensors) converted to NumPy loads into chainrule and
    # training continues as torch's does.
    dtype = "float64"
    tol = DTYPES[dtype][3]
    x, y = _data(dtype)
    t_model, _ = _models(dtype)
    t_params = list(t_model.parameters())
    name, kwargs = OPTIONS[option]
    t_opt = getattr(torch.optim, name)(t_params, **kwargs)
    _train(t_model, t_opt, x, y, 5)
    t_saved = t_opt.state_dict()
    saved = {
        "param_groups": t_saved["param_groups"],
        "state": {i: {k: v.numpy() for k, v in s.items()} for i, s in t_saved["state"].items()},
    }
    _, c_model = _models(dtype)
    c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    c_opt = getattr(optim, name)(c_model.parameters())
    c_opt.load_state_dict(saved)
    np.testing.assert_allclose(_train(c_model, c_opt, x, y, 6), _train(t_model, t_opt, x, y, 6), **tol)
    _assert_same_weights(t_model, c_model, tol)
    _assert_same_state(t_opt, c_opt, t_params, list(c_model.parameters()), tol)


SCHEDULERS = {
    "step": lambda sched, opt: sched.StepLR(opt, step_size=4, gamma=0.5),
    "cosine": lambda sched, opt: sched.CosineAnnealingLR(opt, T_max=10, eta_min=1e-4),
    "lambda": lambda sched, opt: sched.LambdaLR(opt, lambda epoch: 1.0 / (1 + epoch)),
}


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("option", PER_OPTIMIZER)
def test_lr_scheduler_changes_are_honoured(option, scheduler):
    dtype = "float64"
    tol = DTYPES[dtype][3]
    t_model, c_model = _models(dtype)
    t_opt, c_opt = _optimizers(option, list(t_model.parameters()), list(c_model.parameters()))
    t_sched = SCHEDULERS[scheduler](torch.optim.lr_scheduler, t_opt)
    c_sched = SCHEDULERS[scheduler](lr_scheduler, c_opt)
    x, y = _data(dtype)
    np.testing.assert_allclose(
        _train(c_model, c_opt, x, y, 12, c_sched), _train(t_model, t_opt, x, y, 12, t_sched), **tol
    )
    assert c_opt.param_groups[0]["lr"] < OPTIONS[option][1]["lr"]
    np.testing.assert_allclose(c_sched.get_last_lr(), t_sched.get_last_lr(), rtol=1e-15)
    _assert_same_weights(t_model, c_model, tol)


@pytest.mark.parametrize("option", PER_OPTIMIZER)
def test_zero_lr_from_a_scheduler_freezes_the_weights(option):
    _, c_model = _models("float64")
    name, kwargs = OPTIONS[option]
    c_opt = getattr(optim, name)(c_model.parameters(), **kwargs)
    sched = lr_scheduler.LambdaLR(c_opt, lambda epoch: 0.0)
    before = {k: np.array(v.numpy()) for k, v in c_model.state_dict().items()}
    x, y = _data("float64")
    _train(c_model, c_opt, x, y, 3, sched)
    for key, value in c_model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)


BAD_HYPER_PARAMETERS = [
    ("Adam", dict(betas=(1.0, 0.999)), "Adam: invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Adam: invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(betas=(0.9,)), "Adam: betas must be a pair"),
    ("Adam", dict(lr=-1e-3), "Adam: invalid lr value: -0.001"),
    ("Adam", dict(eps=-1.0), "Adam: invalid eps value"),
    ("Adam", dict(weight_decay=-0.1), "Adam: invalid weight_decay value"),
    ("AdamW", dict(betas=(0.9, 1.5)), "AdamW: invalid beta parameter at index 1: 1.5"),
    ("AdamW", dict(lr=float("nan")), "AdamW: invalid lr value: nan"),
    ("AdamW", dict(weight_decay=-1), "AdamW: invalid weight_decay value"),
    ("RMSprop", dict(lr=-1), "RMSprop: invalid lr value"),
    ("RMSprop", dict(alpha=-0.5), "RMSprop: invalid alpha value"),
    ("RMSprop", dict(eps=-1e-8), "RMSprop: invalid eps value"),
    ("RMSprop", dict(momentum=-0.9), "RMSprop: invalid momentum value"),
    ("RMSprop", dict(weight_decay=-1), "RMSprop: invalid weight_decay value"),
    ("Adagrad", dict(lr=-1), "Adagrad: invalid lr value"),
    ("Adagrad", dict(lr_decay=-1), "Adagrad: invalid lr_decay value"),
    ("Adagrad", dict(weight_decay=-1), "Adagrad: invalid weight_decay value"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Adagrad: invalid initial_accumulator_value value"),
    ("Adagrad", dict(eps=-1), "Adagrad: invalid eps value"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_HYPER_PARAMETERS)
def test_bad_hyper_parameters_raise(name, kwargs, message):
    p = nn.Parameter(cr.zeros(3))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        getattr(optim, name)([p], **kwargs)
    # torch rejects the same values (a one-element betas is an IndexError there).
    with pytest.raises((ValueError, IndexError)):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(3))], **kwargs)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_non_numeric_hyper_parameter_is_a_type_error(name):
    with pytest.raises(TypeError, match=f"{name}: lr must be a number"):
        getattr(optim, name)([nn.Parameter(cr.zeros(3))], lr="0.1")


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_edited_group_is_validated_at_step(name):
    p = nn.Parameter(cr.ones(3))
    opt = getattr(optim, name)([p])
    (p * p).sum().backward()
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match=f"{name}: invalid lr value"):
        opt.step()


def test_defaults_and_signatures_match_torch():
    import inspect

    for name in ["Adam", "AdamW", "RMSprop", "Adagrad"]:
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for arg, param in theirs.items():
            assert arg in ours, f"{name}: missing argument {arg}"
            if arg not in ("foreach", "fused", "capturable", "differentiable"):
                assert ours[arg].default == param.default, f"{name}.{arg}"
            assert ours[arg].kind == param.kind, f"{name}.{arg}"
    p = nn.Parameter(cr.zeros(2))
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 1e-2
    assert optim.Adam([p]).param_groups[0]["betas"] == (0.9, 0.999)


def test_step_with_closure_returns_its_loss():
    p = nn.Parameter(cr.ones(3))
    opt = optim.Adam([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0
    assert opt.state[p]["step"] == 1
