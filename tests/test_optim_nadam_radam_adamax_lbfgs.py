"""NAdam, RAdam, Adamax and LBFGS against PyTorch (25 training steps from identical weights, both
dtypes, per-group options, add_param_group)."""

import contextlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from optional_dependencies import require

torch = require("torch")

DTYPES = {
    "float32": (np.float32, torch.float32, cr.float32, dict(rtol=1e-5, atol=1e-6)),
    "float64": (np.float64, torch.float64, cr.float64, dict(rtol=1e-10, atol=1e-12)),
}


@contextlib.contextmanager
def _torch_default_dtype(dtype):
    # PyTorch keeps optimizer scalars (NAdam's mu_product, step counts) in the default dtype, so with
    # float32 its mu_product drifts by float32 rounding; chainrule keeps them in double, and the
    # comparison gives PyTorch double scalars too (the parameters keep their own dtype).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _models(t_dtype, c_dtype):
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(t_dtype)
    c_model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(c_dtype)
    c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    return t_model, c_model


def _groups(model, lib_params, options_per_group):
    params = list(lib_params(model))
    if options_per_group is None:
        return params
    return [dict(params=params[:2], **options_per_group[0]), dict(params=params[2:], **options_per_group[1])]


OPTIMIZERS = {
    "nadam": ("NAdam", dict(lr=0.01), None),
    "nadam_wd": ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01), None),
    "nadamw": ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=False), None),
    "radam": ("RAdam", dict(lr=0.01), None),
    "radam_wd": ("RAdam", dict(lr=0.02, weight_decay=0.05, betas=(0.8, 0.9)), None),
    "radamw": ("RAdam", dict(lr=0.02, weight_decay=0.05, decoupled_weight_decay=True), None),
    "adamax": ("Adamax", dict(lr=0.01), None),
    "adamax_wd": ("Adamax", dict(lr=0.01, weight_decay=0.1, betas=(0.5, 0.9), eps=1e-4), None),
    "nadam_groups": ("NAdam", dict(lr=0.01), [dict(lr=0.03), dict(betas=(0.8, 0.99))]),
    "radam_groups": ("RAdam", dict(lr=0.01), [dict(lr=0.03), dict(weight_decay=0.2)]),
    "adamax_groups": ("Adamax", dict(lr=0.01), [dict(lr=0.001), dict(eps=1e-3)]),
}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", list(OPTIMIZERS))
def test_optimizer_25_steps_match_torch(case, dtype):
    name, options, groups = OPTIMIZERS[case]
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    with _torch_default_dtype(torch.float64):
        t_model, c_model = _models(t_dtype, c_dtype)
        t_opt = getattr(torch.optim, name)(_groups(t_model, lambda m: m.parameters(), groups), **options)
        c_opt = getattr(optim, name)(_groups(c_model, lambda m: m.parameters(), groups), **options)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((16, 5)).astype(np_dtype)
        y = rng.integers(0, 3, 16)
        for step in range(25):
            t_loss = torch.nn.functional.cross_entropy(t_model(torch.from_numpy(x)), torch.from_numpy(y))
            c_loss = nn.functional.cross_entropy(c_model(cr.from_numpy(x)), cr.from_numpy(y))
            t_opt.zero_grad()
            c_opt.zero_grad()
            t_loss.backward()
            c_loss.backward()
            t_opt.step()
            c_opt.step()
            np.testing.assert_allclose(c_loss.item(), t_loss.item(), **tol, err_msg=f"step {step}")
        for key, value in t_model.state_dict().items():
            np.testing.assert_allclose(c_model.state_dict()[key].numpy(), value.numpy(), **tol, err_msg=key)
    state = c_opt.state_dict()["state"][0]
    assert state["step"] == 25
    assert set(state) >= set(c_opt.state_keys)


def test_add_param_group_and_state_dict_round_trip():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    for cls in (optim.NAdam, optim.RAdam, optim.Adamax):
        opt = cls(model[0].parameters(), lr=0.01)
        opt.add_param_group({"params": model[2].parameters(), "lr": 0.1})
        assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]
        assert opt.param_groups[1]["betas"] == (0.9, 0.999)
        model(cr.randn(5, 3)).sum().backward()
        opt.step()
        restored = cls(model[0].parameters(), lr=0.01)
        restored.add_param_group({"params": model[2].parameters()})
        restored.load_state_dict(opt.state_dict())
        assert restored.param_groups[1]["lr"] == 0.1
        with pytest.raises(ValueError, match="more than one parameter group"):
            opt.add_param_group({"params": model[2].parameters()})
        model.zero_grad()
    with pytest.raises(ValueError, match="beta"):
        optim.RAdam(model.parameters(), betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="momentum_decay"):
        optim.NAdam(model.parameters(), momentum_decay=-1)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search, dtype):
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    t_model, c_model = _models(t_dtype, c_dtype)
    # One L-BFGS iteration per step: 25 steps are 25 iterations (more would compare how rounding
    # in the dot products grows through the two-loop recursion, not the algorithm).
    options = dict(lr=0.5 if line_search is None else 1.0, max_iter=1, history_size=4, line_search_fn=line_search)
    t_opt = torch.optim.LBFGS(t_model.parameters(), **options)
    c_opt = optim.LBFGS(c_model.parameters(), **options)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 5)).astype(np_dtype)
    y = rng.standard_normal((20, 3)).astype(np_dtype)

    def t_closure():
        t_opt.zero_grad()
        loss = torch.nn.functional.mse_loss(t_model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        return loss

    def c_closure():
        c_opt.zero_grad()
        loss = nn.functional.mse_loss(c_model(cr.from_numpy(x)), cr.from_numpy(y))
        loss.backward()
        return loss

    if dtype == "float32":
        # float32 dot products summed in a different order than PyTorch's grow through the curvature
        # pairs (y.s, y.y) by ~1e-4 over 25 iterations; the float64 run checks the algorithm at 1e-10.
        tol = dict(rtol=2e-3, atol=1e-5)
    for step in range(25):
        t_loss = t_opt.step(t_closure)
        c_loss = c_opt.step(c_closure)
        np.testing.assert_allclose(c_loss.item(), t_loss.item(), **tol, err_msg=f"step {step}")
    t_state, c_state = t_opt.state[t_opt.param_groups[0]["params"][0]], c_opt.state[c_model[0].weight]
    assert c_state["func_evals"] == t_state["func_evals"] and c_state["n_iter"] == t_state["n_iter"] == 25
    for key, value in t_model.state_dict().items():
        np.testing.assert_allclose(c_model.state_dict()[key].numpy(), value.numpy(), **tol, err_msg=key)


def test_lbfgs_rejects_groups_and_missing_closure():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [model.weight]}, {"params": [model.bias]}])
    opt = optim.LBFGS(model.parameters())
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS(model.parameters(), line_search_fn="armijo")
