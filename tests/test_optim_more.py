"""NAdam, RAdam, Adamax and LBFGS against PyTorch (25 training steps from identical weights, both
dtypes, per-group options, add_param_group), and the schedulers OneCycleLR,
CosineAnnealingWarmRestarts, CyclicLR, PolynomialLR, SequentialLR and ChainedScheduler step by step."""
import contextlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule.optim import lr_scheduler as sched

torch = pytest.importorskip("torch")

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


# ---- schedulers -------------------------------------------------------------------------------------

def _pair(opt_name="SGD", groups=2, **opt_kwargs):
    t_params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    c_params = [nn.Parameter(cr.zeros(1)) for _ in range(groups)]
    lrs = [0.1 * (i + 1) for i in range(groups)]
    t_opt = getattr(torch.optim, opt_name)([{"params": [p], "lr": lr} for p, lr in zip(t_params, lrs)], **opt_kwargs)
    c_opt = getattr(optim, opt_name)([{"params": [p], "lr": lr} for p, lr in zip(c_params, lrs)], **opt_kwargs)
    return t_opt, c_opt


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


SCHEDULERS = {
    "polynomial": ("SGD", {}, lambda m, o: m.PolynomialLR(o, total_iters=6, power=2.0), 10),
    "warm_restarts": ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), 25),
    "warm_restarts_mult1": ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4), 12),
    "cyclic": ("SGD", dict(momentum=0.9), lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2],
                                                                   step_size_up=3, step_size_down=5), 20),
    "cyclic_triangular2": ("SGD", dict(momentum=0.9), lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                                               mode="triangular2"), 15),
    "cyclic_exp_range_adam": ("Adam", {}, lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=4, mode="exp_range",
                                                                   gamma=0.9), 15),
    "cyclic_no_momentum": ("Adam", {}, lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=4,
                                                                cycle_momentum=False), 10),
    "one_cycle": ("SGD", dict(momentum=0.9), lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=20), 19),
    "one_cycle_linear_adam": ("Adam", {}, lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=3, steps_per_epoch=5,
                                                                     anneal_strategy="linear", pct_start=0.4), 14),
    "one_cycle_three_phase": ("SGD", dict(momentum=0.9), lambda m, o: m.OneCycleLR(o, 0.3, total_steps=15,
                                                                                    three_phase=True), 14),
    "sequential": ("SGD", {}, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=3), m.CosineAnnealingLR(o, T_max=5)], milestones=[3]), 12),
    "sequential_three": ("SGD", {}, lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=2, gamma=0.5), m.PolynomialLR(o, total_iters=4)],
        milestones=[2, 6]), 12),
    "chained": ("SGD", {}, lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]), 10),
}


@pytest.mark.parametrize("case", list(SCHEDULERS))
def test_scheduler_matches_torch(case):
    opt_name, opt_kwargs, make, steps = SCHEDULERS[case]
    t_opt, c_opt = _pair(opt_name, **opt_kwargs)
    t_sched = make(torch.optim.lr_scheduler, t_opt)
    c_sched = make(sched, c_opt)

    def compare(step):
        for t_group, c_group in zip(t_opt.param_groups, c_opt.param_groups):
            assert c_group["lr"] == pytest.approx(t_group["lr"], rel=1e-12, abs=1e-15), f"lr at step {step}"
            if _momentum(t_group) is not None:
                assert _momentum(c_group) == pytest.approx(_momentum(t_group), rel=1e-12), f"momentum at {step}"
        np.testing.assert_allclose(c_sched.get_last_lr(), t_sched.get_last_lr(), rtol=1e-12)
    compare(0)
    for step in range(1, steps + 1):
        t_opt.step()
        c_opt.step()
        t_sched.step()
        c_sched.step()
        compare(step)


def test_scheduler_errors_and_state_dict():
    _, c_opt = _pair("SGD", momentum=0.9)
    one_cycle = sched.OneCycleLR(c_opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        one_cycle.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        one_cycle.step()
    with pytest.raises(ValueError, match="total_steps"):
        sched.OneCycleLR(c_opt, max_lr=0.1)
    with pytest.raises(ValueError, match="T_0"):
        sched.CosineAnnealingWarmRestarts(c_opt, T_0=0)
    _, adagrad = _pair("Adagrad")
    with pytest.raises(ValueError, match="momentum"):
        sched.CyclicLR(adagrad, 0.01, 0.1)
    with pytest.raises(ValueError, match="milestone"):
        sched.SequentialLR(c_opt, [sched.StepLR(c_opt, 2), sched.StepLR(c_opt, 3)], milestones=[])
    _, c_opt = _pair("SGD")
    seq = sched.SequentialLR(c_opt, [sched.LinearLR(c_opt, total_iters=2), sched.ExponentialLR(c_opt, 0.5)], [2])
    for _ in range(4):
        seq.step()
    saved = seq.state_dict()
    assert len(saved["_schedulers"]) == 2 and saved["last_epoch"] == 4
