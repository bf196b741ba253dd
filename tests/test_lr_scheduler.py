"""LR schedulers: step-by-step parity with torch.optim.lr_scheduler, state_dict, bad arguments; the
cyclic, warm-restart and composed schedulers also on real optimizers of both libraries (lr and momentum)."""

import math
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule.optim import lr_scheduler
from optional_dependencies import require

STEPS = 50


class FakeOptimizer:
    """The whole interface a scheduler may rely on: param_groups with an 'lr' each."""

    def __init__(self, lrs):
        self.param_groups = [{"params": [], "lr": lr} for lr in lrs]


def _torch_optimizer(torch, lrs):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _run_both(name, lrs, args=(), kwargs=None, metrics=None):
    """Build the same scheduler on both sides; return the two get_last_lr() traces."""
    torch = require("torch")
    kwargs = kwargs or {}
    ours_opt = FakeOptimizer(lrs)
    torch_opt = _torch_optimizer(torch, lrs)
    ours = getattr(lr_scheduler, name)(ours_opt, *args, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, *args, **kwargs)
    ours_trace = [ours.get_last_lr()]
    theirs_trace = [theirs.get_last_lr()]
    for step in range(STEPS):
        torch_opt.step()  # keeps torch from warning about the call order
        if metrics is None:
            ours.step()
            theirs.step()
        else:
            ours.step(metrics[step])
            theirs.step(metrics[step])
        ours_trace.append(ours.get_last_lr())
        theirs_trace.append(theirs.get_last_lr())
        assert ours.last_epoch == theirs.last_epoch
        assert [g["lr"] for g in ours_opt.param_groups] == ours_trace[-1]
    return ours_trace, theirs_trace


def _assert_same_trace(ours, theirs):
    # Same float operations in the same order as torch, so the values are identical, not close.
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x == y, (step, a, b)


LRS = [[0.1], [0.5, 0.01, 3e-4]]

CASES = [
    ("StepLR", (), {"step_size": 1}),
    ("StepLR", (), {"step_size": 7}),
    ("StepLR", (), {"step_size": 10, "gamma": 0.5}),
    ("StepLR", (3,), {"gamma": 1.5}),
    ("MultiStepLR", (), {"milestones": [5, 12, 30]}),
    ("MultiStepLR", (), {"milestones": [30, 5, 5, 0], "gamma": 0.3}),
    ("MultiStepLR", (), {"milestones": [100]}),
    ("ExponentialLR", (), {"gamma": 0.9}),
    ("ExponentialLR", (0.999,), {}),
    ("CosineAnnealingLR", (), {"T_max": 10}),
    ("CosineAnnealingLR", (), {"T_max": 1}),
    ("CosineAnnealingLR", (), {"T_max": 7, "eta_min": 1e-3}),
    ("CosineAnnealingLR", (), {"T_max": 50, "eta_min": 1e-5}),
    ("LinearLR", (), {}),
    ("LinearLR", (), {"start_factor": 0.1, "total_iters": 20}),
    ("LinearLR", (), {"start_factor": 1.0, "end_factor": 0.05, "total_iters": 30}),
    ("LinearLR", (), {"start_factor": 0.25, "end_factor": 0.25, "total_iters": 3}),
    ("LambdaLR", (), {"lr_lambda": lambda epoch: 0.95**epoch}),
    ("LambdaLR", (), {"lr_lambda": lambda epoch: min(1.0, (epoch + 1) / 10)}),
]


@pytest.mark.parametrize("lrs", LRS, ids=["1group", "3groups"])
@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, args, kwargs, lrs):
    _assert_same_trace(*_run_both(name, lrs, args, kwargs))


def test_lambda_lr_one_callable_per_group_matches_torch():
    lambdas = [lambda e: 0.9**e, lambda e: 1.0 / (1 + e), lambda e: 1.0 if e < 10 else 0.1]
    _assert_same_trace(*_run_both("LambdaLR", [0.5, 0.01, 3e-4], (), {"lr_lambda": lambdas}))


# Metric sequences that exercise improvement, plateaus, cooldown and the min_lr floor.
_FALLING_THEN_FLAT = [1.0 / (1 + i) for i in range(10)] + [0.1] * 40
_NOISY = [math.sin(i * 0.7) + 0.02 * i for i in range(STEPS)]
_RISING_THEN_FLAT = [float(i) for i in range(15)] + [14.0] * 35

PLATEAU_CASES = [
    ({}, _FALLING_THEN_FLAT),
    ({"patience": 0}, _NOISY),
    ({"patience": 2, "factor": 0.5, "cooldown": 3}, _FALLING_THEN_FLAT),
    ({"patience": 1, "factor": 0.5, "min_lr": 0.02}, _NOISY),
    ({"patience": 1, "factor": 0.5, "min_lr": [0.0, 0.005, 1e-4]}, _NOISY),
    ({"mode": "max", "patience": 3}, _RISING_THEN_FLAT),
    ({"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.5}, _NOISY),
    ({"threshold_mode": "abs", "threshold": 0.01, "patience": 1}, _FALLING_THEN_FLAT),
    ({"patience": 0, "factor": 0.9, "eps": 1e-3}, [1.0] * STEPS),
]


@pytest.mark.parametrize("kwargs,metrics", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(kwargs, metrics):
    lrs = [0.5, 0.01, 3e-4] if isinstance(kwargs.get("min_lr"), list) else [0.5, 0.01]
    ours, theirs = _run_both("ReduceLROnPlateau", lrs, (), kwargs, metrics=metrics)
    _assert_same_trace(ours, theirs)
    assert ours[-1] != ours[0] or kwargs.get("eps") == 1e-3  # the case actually reduced the lr


def test_reduce_lr_on_plateau_accepts_0d_array_metric():
    import numpy

    optimizer = FakeOptimizer([1.0])
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
    scheduler.step(numpy.float32(1.0))
    scheduler.step(numpy.array(2.0))
    assert scheduler.get_last_lr() == [pytest.approx(0.1)]


def test_constructor_sets_initial_lr_and_performs_initial_step():
    optimizer = FakeOptimizer([0.3, 0.6])
    scheduler = lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=4)
    assert scheduler.last_epoch == 0
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.3, 0.6]
    assert scheduler.base_lrs == [0.3, 0.6]
    assert scheduler.get_last_lr() == [0.15, 0.3]


def test_get_last_lr_returns_a_copy():
    optimizer = FakeOptimizer([0.1])
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    scheduler.get_last_lr().append(123.0)
    assert scheduler.get_last_lr() == [0.1]


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[3, 9, 9]),
        lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.9),
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.01),
        lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=8),
        lambda opt: lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e)),
        lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5),
    ],
    ids=["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "LambdaLR", "ReduceLROnPlateau"],
)
def test_state_dict_resume_continues_the_same_schedule(make):
    """Checkpoint at step 7, restore into a fresh scheduler, and continue identically."""

    def advance(scheduler, step):
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(1.0)  # a flat metric: reduces every other step after the first
        else:
            scheduler.step()

    reference_opt = FakeOptimizer([0.4, 0.02])
    reference = make(reference_opt)
    resumed_opt = FakeOptimizer([0.4, 0.02])
    resumed = make(resumed_opt)
    for step in range(7):
        advance(reference, step)
        advance(resumed, step)
    saved_state = resumed.state_dict()
    saved_groups = [dict(g) for g in resumed_opt.param_groups]
    assert "optimizer" not in saved_state

    restored_opt = FakeOptimizer([0.4, 0.02])
    restored = make(restored_opt)
    restored_opt.param_groups = saved_groups  # what optimizer.load_state_dict would do
    restored.load_state_dict(saved_state)
    for step in range(7, 30):
        advance(reference, step)
        advance(restored, step)
        assert restored.get_last_lr() == reference.get_last_lr()
        assert restored.last_epoch == reference.last_epoch


def test_lambda_lr_state_dict_saves_callable_objects_not_functions():
    class Warmup:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    optimizer = FakeOptimizer([0.1, 0.2])
    scheduler = lr_scheduler.LambdaLR(optimizer, [Warmup(5), lambda e: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"steps": 5}, None]

    other = lr_scheduler.LambdaLR(FakeOptimizer([0.1, 0.2]), [Warmup(100), lambda e: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].steps == 5
    assert "lr_lambdas" in state  # the caller's dict is left whole


def test_resume_with_last_epoch_matches_torch():
    torch = require("torch")
    ours_opt = FakeOptimizer([0.1])
    torch_opt = _torch_optimizer(torch, [0.1])
    for group in ours_opt.param_groups + torch_opt.param_groups:
        group["initial_lr"] = 0.2
    ours = lr_scheduler.StepLR(ours_opt, step_size=3, last_epoch=4)
    theirs = torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3, last_epoch=4)
    for _ in range(10):
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert ours.last_epoch == theirs.last_epoch
        torch_opt.step()
        ours.step()
        theirs.step()


def test_resume_without_initial_lr_raises():
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        lr_scheduler.ExponentialLR(FakeOptimizer([0.1]), gamma=0.9, last_epoch=3)


# --------------------------------------------------------------------------------------------
# Bad arguments: the message names the scheduler and the argument.
# --------------------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("StepLR", {"step_size": 0}, ValueError, "StepLR: step_size must be a positive int, got 0"),
    ("StepLR", {"step_size": 2.5}, ValueError, "StepLR: step_size"),
    ("StepLR", {"step_size": True}, ValueError, "StepLR: step_size"),
    ("StepLR", {"step_size": 3, "gamma": 0.0}, ValueError, "StepLR: gamma"),
    ("StepLR", {"step_size": 3, "gamma": "0.1"}, ValueError, "StepLR: gamma"),
    ("StepLR", {"step_size": 3, "last_epoch": -2}, ValueError, "StepLR: last_epoch"),
    ("MultiStepLR", {"milestones": 5}, TypeError, "MultiStepLR: milestones"),
    ("MultiStepLR", {"milestones": [3, -1]}, ValueError, "MultiStepLR: each of milestones"),
    ("MultiStepLR", {"milestones": [3], "gamma": -1}, ValueError, "MultiStepLR: gamma"),
    ("ExponentialLR", {"gamma": float("nan")}, ValueError, "ExponentialLR: gamma"),
    ("CosineAnnealingLR", {"T_max": 0}, ValueError, "CosineAnnealingLR: T_max"),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": -1}, ValueError, "CosineAnnealingLR: eta_min"),
    ("LinearLR", {"start_factor": 0}, ValueError, "LinearLR: start_factor"),
    ("LinearLR", {"start_factor": 1.5}, ValueError, "LinearLR: start_factor"),
    ("LinearLR", {"end_factor": 1.1}, ValueError, "LinearLR: end_factor"),
    ("LinearLR", {"total_iters": 0}, ValueError, "LinearLR: total_iters"),
    ("LambdaLR", {"lr_lambda": 0.5}, TypeError, "LambdaLR: lr_lambda must be a callable"),
    (
        "LambdaLR",
        {"lr_lambda": [lambda e: 1.0] * 2},
        ValueError,
        "LambdaLR: lr_lambda has 2 callables but the optimizer has 1 param groups",
    ),
    ("ReduceLROnPlateau", {"mode": "minimum"}, ValueError, "ReduceLROnPlateau: mode"),
    ("ReduceLROnPlateau", {"factor": 1.0}, ValueError, "ReduceLROnPlateau: factor"),
    ("ReduceLROnPlateau", {"patience": -1}, ValueError, "ReduceLROnPlateau: patience"),
    ("ReduceLROnPlateau", {"threshold": -0.1}, ValueError, "ReduceLROnPlateau: threshold"),
    ("ReduceLROnPlateau", {"threshold_mode": "relative"}, ValueError, "ReduceLROnPlateau: threshold_mode"),
    ("ReduceLROnPlateau", {"cooldown": 1.5}, ValueError, "ReduceLROnPlateau: cooldown"),
    ("ReduceLROnPlateau", {"min_lr": [0.1, 0.2]}, ValueError, "ReduceLROnPlateau: min_lr has 2"),
    ("ReduceLROnPlateau", {"min_lr": -1e-3}, ValueError, "ReduceLROnPlateau: min_lr"),
    ("ReduceLROnPlateau", {"eps": -1}, ValueError, "ReduceLROnPlateau: eps"),
]


@pytest.mark.parametrize("name,kwargs,error,message", BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, error, message):
    optimizer = FakeOptimizer([0.1])
    with pytest.raises(error, match="^" + re.escape(message)):
        getattr(lr_scheduler, name)(optimizer, **kwargs)
    # Arguments are checked before the optimizer is touched.
    assert "initial_lr" not in optimizer.param_groups[0]


NO_ARGS_NEEDED = {
    "StepLR": {"step_size": 1},
    "MultiStepLR": {"milestones": [1]},
    "ExponentialLR": {"gamma": 0.5},
    "CosineAnnealingLR": {"T_max": 3},
    "LinearLR": {},
    "LambdaLR": {"lr_lambda": lambda e: 1.0},
    "ReduceLROnPlateau": {},
}


@pytest.mark.parametrize("name", sorted(NO_ARGS_NEEDED))
def test_optimizer_without_param_groups_is_a_type_error(name):
    with pytest.raises(TypeError, match=f"^{name}: optimizer must have a 'param_groups'"):
        getattr(lr_scheduler, name)(object(), **NO_ARGS_NEEDED[name])


@pytest.mark.parametrize("name", sorted(NO_ARGS_NEEDED))
def test_param_group_without_lr_is_a_value_error(name):
    optimizer = FakeOptimizer([0.1])
    del optimizer.param_groups[0]["lr"]
    with pytest.raises(ValueError, match=rf"^{name}: optimizer.param_groups\[0\] has no 'lr'"):
        getattr(lr_scheduler, name)(optimizer, **NO_ARGS_NEEDED[name])


def test_base_class_requires_get_lr():
    with pytest.raises(NotImplementedError, match="must implement get_lr"):
        lr_scheduler.LRScheduler(FakeOptimizer([0.1]))


# ---- schedulers on real optimizers, lr and momentum together ------------------------------------------


def _pair(opt_name="SGD", groups=2, **opt_kwargs):
    """The same optimizer over `groups` one-element groups, in PyTorch and in chainrule."""
    torch = require("torch")
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
    "cyclic": (
        "SGD",
        dict(momentum=0.9),
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5),
        20,
    ),
    "cyclic_triangular2": (
        "SGD",
        dict(momentum=0.9),
        lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2"),
        15,
    ),
    "cyclic_exp_range_adam": (
        "Adam",
        {},
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=4, mode="exp_range", gamma=0.9),
        15,
    ),
    "cyclic_no_momentum": (
        "Adam",
        {},
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=4, cycle_momentum=False),
        10,
    ),
    "one_cycle": ("SGD", dict(momentum=0.9), lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=20), 19),
    "one_cycle_linear_adam": (
        "Adam",
        {},
        lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=3, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.4),
        14,
    ),
    "one_cycle_three_phase": (
        "SGD",
        dict(momentum=0.9),
        lambda m, o: m.OneCycleLR(o, 0.3, total_steps=15, three_phase=True),
        14,
    ),
    "sequential": (
        "SGD",
        {},
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=3), m.CosineAnnealingLR(o, T_max=5)], milestones=[3]
        ),
        12,
    ),
    "sequential_three": (
        "SGD",
        {},
        lambda m, o: m.SequentialLR(
            o,
            [m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=2, gamma=0.5), m.PolynomialLR(o, total_iters=4)],
            milestones=[2, 6],
        ),
        12,
    ),
    "chained": (
        "SGD",
        {},
        lambda m, o: m.ChainedScheduler(
            [m.LinearLR(o, start_factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]
        ),
        10,
    ),
}


@pytest.mark.parametrize("case", list(SCHEDULERS))
def test_scheduler_matches_torch(case):
    opt_name, opt_kwargs, make, steps = SCHEDULERS[case]
    t_opt, c_opt = _pair(opt_name, **opt_kwargs)
    torch = require("torch")
    t_sched = make(torch.optim.lr_scheduler, t_opt)
    c_sched = make(lr_scheduler, c_opt)

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
    one_cycle = lr_scheduler.OneCycleLR(c_opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        one_cycle.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        one_cycle.step()
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(c_opt, max_lr=0.1)
    with pytest.raises(ValueError, match="T_0"):
        lr_scheduler.CosineAnnealingWarmRestarts(c_opt, T_0=0)
    _, adagrad = _pair("Adagrad")
    with pytest.raises(ValueError, match="momentum"):
        lr_scheduler.CyclicLR(adagrad, 0.01, 0.1)
    with pytest.raises(ValueError, match="milestone"):
        lr_scheduler.SequentialLR(c_opt, [lr_scheduler.StepLR(c_opt, 2), lr_scheduler.StepLR(c_opt, 3)], milestones=[])
    _, c_opt = _pair("SGD")
    phases = [lr_scheduler.LinearLR(c_opt, total_iters=2), lr_scheduler.ExponentialLR(c_opt, 0.5)]
    seq = lr_scheduler.SequentialLR(c_opt, phases, [2])
    for _ in range(4):
        seq.step()
    saved = seq.state_dict()
    assert len(saved["_schedulers"]) == 2 and saved["last_epoch"] == 4
