"""chainrule.optim: Optimizer base and SGD, step by step against torch.optim.SGD."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.optim as optim
from optional_dependencies import require


def _params(seed=0, dtype=np.float64, shapes=((3, 4), (4,), (2, 3))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _cr_params(arrays):
    return [nn.Parameter(cr.tensor(a)) for a in arrays]


def _set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else cr.tensor(g)


def _grads(step, arrays, seed=100):
    rng = np.random.default_rng(seed + step)
    return [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]


def _numpy_sgd(
    params, grads, buffers, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
):
    """torch.optim.SGD's documented algorithm, in NumPy."""
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None:
            continue
        g = -g if maximize else g.copy()
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            if buffers[i] is None:
                buffers[i] = g.copy()
            else:
                buffers[i] = momentum * buffers[i] + (1 - dampening) * g
            g = g + momentum * buffers[i] if nesterov else buffers[i]
        p -= lr * g


OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.5),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, maximize=True),
    dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.01, maximize=True),
    dict(lr=0.05, momentum=0.5, weight_decay=0.01, nesterov=True, maximize=True),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_matches_numpy_rule(options, dtype):
    arrays = _params(dtype=dtype)
    params = _cr_params(arrays)
    opt = optim.SGD(params, **options)
    expected = [a.copy() for a in arrays]
    buffers = [None] * len(arrays)
    for step in range(5):
        grads = _grads(step, arrays)
        _set_grads(params, grads)
        opt.step()
        _numpy_sgd(expected, grads, buffers, **options)
        for p, e in zip(params, expected):
            assert p.dtype == (cr.float32 if dtype == np.float32 else cr.float64)
            np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_matches_torch_step_by_step(options, dtype):
    torch = require("torch")
    arrays = _params(dtype=np.dtype(dtype).type)
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.SGD(params, **options)
    t_opt = torch.optim.SGD(t_params, **options)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-14, atol=1e-15)
    for step in range(6):
        grads = _grads(step, arrays)
        _set_grads(params, grads)
        for tp, g in zip(t_params, grads):
            tp.grad = torch.tensor(g)
        opt.step()
        t_opt.step()
        for p, tp in zip(params, t_params):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), **tol, err_msg=f"step {step}")
        if options.get("momentum"):
            for p, tp in zip(params, t_params):
                np.testing.assert_allclose(
                    opt.state[p]["momentum_buffer"].numpy(), t_opt.state[tp]["momentum_buffer"].numpy(), **tol
                )


def test_one_sgd_call_updates_params_in_place():
    params = _cr_params(_params())
    ids = [id(p) for p in params]
    views = [p.detach().numpy() for p in params]
    before = [v.copy() for v in views]
    opt = optim.SGD(params, lr=1.0)
    _set_grads(params, [np.ones_like(b) for b in before])
    opt.step()
    assert [id(p) for p in params] == ids
    for v, b in zip(views, before):
        np.testing.assert_allclose(v, b - 1.0)  # the same memory was updated


def test_params_with_grad_none_are_skipped():
    torch = require("torch")
    arrays = _params()
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=0.9)
    for step in range(4):
        grads = _grads(step, arrays)
        grads[1] = None if step < 2 else grads[1]  # the bias gets no gradient for two steps
        _set_grads(params, grads)
        for tp, g in zip(t_params, grads):
            tp.grad = None if g is None else torch.tensor(g)
        opt.step()
        t_opt.step()
        if step < 2:
            np.testing.assert_array_equal(params[1].detach().numpy(), arrays[1])
            assert "momentum_buffer" not in opt.state.get(params[1], {})
        for p, tp in zip(params, t_params):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-14)


def test_step_without_any_grad_is_a_no_op():
    arrays = _params()
    params = _cr_params(arrays)
    opt = optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    for p, a in zip(params, arrays):
        np.testing.assert_array_equal(p.detach().numpy(), a)
    assert not opt.state_dict()["state"]


def test_step_with_closure_returns_its_loss():
    w = nn.Parameter(cr.tensor([1.0, 2.0], dtype=cr.float64))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.detach().numpy(), [0.5, 1.0])


# ---- zero_grad ---------------------------------------------------------------------------------


def test_zero_grad_set_to_none_and_zero():
    params = _cr_params(_params())
    opt = optim.SGD(params, lr=0.1)
    _set_grads(params, _grads(0, _params()))
    opt.zero_grad(set_to_none=False)
    for p in params:
        assert p.grad is not None
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.zero_grad()  # with no gradients: nothing to do
    assert all(p.grad is None for p in params)


def test_built_steps_follow_edits_of_the_parameter_list():
    """After a first step the optimizer keeps a C++ step per group that holds the group's
    parameters; step() and zero_grad() act through it only while the group's list holds exactly
    those. A list edited in place (an entry replaced, one appended, the order changed) must reach
    the new parameters, as in PyTorch, and never the ones the list held before."""
    arrays = _params()
    params = _cr_params(arrays)
    spare = nn.Parameter(cr.tensor(np.ones((2, 3))))
    opt = optim.SGD(params, lr=0.5)
    _set_grads(params, _grads(0, arrays))
    opt.step()
    opt.zero_grad(set_to_none=False)  # through the built step: zeroed in place
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)

    group = opt.param_groups[0]["params"]
    group[2] = spare  # replaced in place: the built step no longer holds the list
    for p in (*params, spare):
        p.grad = cr.ones(*p.shape, dtype=p.dtype)
    opt.zero_grad()  # before any step rebuilt it
    assert spare.grad is None and params[2].grad is not None
    assert params[0].grad is None and params[1].grad is None
    before_old = params[2].detach().numpy().copy()
    before_spare = spare.detach().numpy().copy()
    for p in (*params, spare):
        p.grad = cr.ones(*p.shape, dtype=p.dtype)
    opt.step()
    np.testing.assert_array_equal(params[2].detach().numpy(), before_old)  # no longer in the optimizer
    np.testing.assert_array_equal(spare.detach().numpy(), before_spare - 0.5)
    opt.zero_grad()
    assert spare.grad is None and params[2].grad is not None  # zero_grad follows the list too

    group.append(params[2])  # appended
    group.reverse()  # and reordered
    for p in (*params, spare):
        p.grad = cr.ones(*p.shape, dtype=p.dtype)
    values = [p.detach().numpy().copy() for p in (*params, spare)]
    opt.step()
    for p, value in zip((*params, spare), values):
        np.testing.assert_array_equal(p.detach().numpy(), value - 0.5)
    opt.zero_grad()
    assert all(p.grad is None for p in (*params, spare))


def test_zero_grad_then_backward_does_not_accumulate():
    model = nn.Linear(3, 1, dtype=cr.float64)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.ones((2, 3)))
    model(x).sum().backward()
    first = model.weight.grad.numpy().copy()
    opt.zero_grad()
    model(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), first)
    opt.zero_grad(set_to_none=False)
    model(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), first)


# ---- param groups ------------------------------------------------------------------------------


def test_param_groups_layout_and_defaults():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert len(group["params"]) == 4 and all(a is b for a, b in zip(group["params"], model.parameters()))
    assert {k: group[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")} == dict(
        lr=0.1, momentum=0.5, dampening=0, weight_decay=0, nesterov=False, maximize=False
    )
    assert optim.SGD(model.parameters()).param_groups[0]["lr"] == pytest.approx(1e-3)  # PyTorch's default


def test_per_group_options_match_torch():
    torch = require("torch")
    arrays = _params()
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.5, "momentum": 0.9}, {"params": [ps[2]], "weight_decay": 0.1}]

    opt = optim.SGD(groups(params), lr=0.1)
    t_opt = torch.optim.SGD(groups(t_params), lr=0.1)
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0
    for step in range(4):
        grads = _grads(step, arrays)
        _set_grads(params, grads)
        for tp, g in zip(t_params, grads):
            tp.grad = torch.tensor(g)
        opt.step()
        t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-13)


def test_add_param_group():
    torch = require("torch")
    arrays = _params()
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.SGD(params[:1], lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t_params[:1], lr=0.1, momentum=0.9)
    for step in range(5):
        if step == 2:
            opt.add_param_group({"params": params[1:], "lr": 0.01, "nesterov": True})
            t_opt.add_param_group({"params": t_params[1:], "lr": 0.01, "nesterov": True})
            assert len(opt.param_groups) == 2
            assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
        grads = _grads(step, arrays)
        _set_grads(params, grads)
        for tp, g in zip(t_params, grads):
            tp.grad = torch.tensor(g)
        opt.step()
        t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-13)


def test_add_param_group_accepts_a_single_tensor_and_rejects_duplicates():
    params = _cr_params(_params())
    opt = optim.SGD(params[:1], lr=0.1)
    opt.add_param_group({"params": params[1]})
    assert opt.param_groups[1]["params"][0] is params[1]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [params[0]]})
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [params[2], params[2]]})
    with pytest.raises(TypeError, match="dict"):
        opt.add_param_group([params[2]])
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [params[2]], "lr": -1.0})
    assert len(opt.param_groups) == 2  # the failed calls added nothing


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name,value", [("lr", -0.1), ("momentum", -0.5), ("weight_decay", -1e-4), ("dampening", -0.1)])
def test_negative_hyper_parameters_are_rejected(name, value):
    params = _cr_params(_params())
    kwargs = {"lr": 0.1, name: value}
    with pytest.raises(ValueError, match=name):
        optim.SGD(params, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [dict(lr=0.1, nesterov=True), dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)]
)
def test_nesterov_needs_momentum_and_no_dampening(kwargs):
    with pytest.raises(ValueError, match="[Nn]esterov"):
        optim.SGD(_cr_params(_params()), **kwargs)


def test_non_numeric_or_nan_lr_is_rejected():
    with pytest.raises(TypeError, match="lr"):
        optim.SGD(_cr_params(_params()), lr="0.1")
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(_cr_params(_params()), lr=float("nan"))


def test_numpy_scalar_hyper_parameters_are_accepted():
    params = _cr_params(_params(dtype=np.float32, shapes=((3,),)))
    opt = optim.SGD(params, lr=np.float32(0.5), momentum=np.float64(0.9), weight_decay=np.int64(0))
    params[0].grad = cr.tensor(np.ones(3, dtype=np.float32))
    before = params[0].detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(params[0].detach().numpy(), before - 0.5)


def test_bad_params_arguments():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(nn.Parameter(cr.zeros(3)), lr=0.1)
    with pytest.raises(TypeError, match="Tensor"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        w = nn.Parameter(cr.zeros(3))
        optim.SGD([w * 2], lr=0.1)


def test_edited_group_is_validated_at_step():
    params = _cr_params(_params())
    opt = optim.SGD(params, lr=0.1)
    opt.param_groups[0]["lr"] = -1.0
    _set_grads(params, _grads(0, _params()))
    with pytest.raises(ValueError, match="lr"):
        opt.step()


def test_base_optimizer_step_is_abstract():
    opt = optim.Optimizer(_cr_params(_params()), {"lr": 0.1})
    with pytest.raises(NotImplementedError):
        opt.step()


# ---- state_dict --------------------------------------------------------------------------------


def _train(model, opt, x, y, steps, losses=None):
    criterion = nn.MSELoss()
    for _ in range(steps):
        loss = criterion(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if losses is not None:
            losses.append(loss.item())


def _model_and_data():
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6, dtype=cr.float64), nn.Tanh(), nn.Linear(6, 2, dtype=cr.float64))
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((10, 4)))
    y = cr.tensor(rng.standard_normal((10, 2)))
    return model, x, y


@pytest.mark.parametrize(
    "options",
    [
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.05, momentum=0.5, dampening=0.2, weight_decay=0.01),
    ],
)
def test_state_dict_round_trip_continues_training_exactly(options):
    # Uninterrupted: 10 steps.
    model, x, y = _model_and_data()
    initial = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), **options)
    uninterrupted = []
    _train(model, opt, x, y, 10, uninterrupted)

    # Interrupted: 4 steps, save both state_dicts (as NumPy copies), rebuild everything, 6 more steps.
    model2, _, _ = _model_and_data()
    model2.load_state_dict(initial)
    opt2 = optim.SGD(model2.parameters(), **options)
    resumed = []
    _train(model2, opt2, x, y, 4, resumed)
    model_state = {k: v.numpy().copy() for k, v in model2.state_dict().items()}
    opt_state = opt2.state_dict()
    opt_state = {
        "state": {
            i: {k: (v.numpy().copy() if isinstance(v, cr.Tensor) else v) for k, v in s.items()}
            for i, s in opt_state["state"].items()
        },
        "param_groups": opt_state["param_groups"],
    }
    del model2, opt2

    model3 = nn.Sequential(nn.Linear(4, 6, dtype=cr.float64), nn.Tanh(), nn.Linear(6, 2, dtype=cr.float64))
    model3.load_state_dict(model_state)
    opt3 = optim.SGD(model3.parameters(), lr=123.0)  # hyper-parameters come back from the state_dict
    opt3.load_state_dict(opt_state)
    assert opt3.param_groups[0]["lr"] == options["lr"]
    assert opt3.param_groups[0]["momentum"] == options["momentum"]
    _train(model3, opt3, x, y, 6, resumed)

    np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-13)
    for (k, a), (_, b) in zip(model.state_dict().items(), model3.state_dict().items()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-13, err_msg=k)


def test_state_dict_layout_matches_torch():
    torch = require("torch")
    arrays = _params()
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}]  # noqa: E731
    opt = optim.SGD(groups(params), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(groups(t_params), lr=0.1, momentum=0.9)
    grads = _grads(0, arrays)
    _set_grads(params, grads)
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    opt.step()
    t_opt.step()
    sd, t_sd = opt.state_dict(), t_opt.state_dict()
    assert sorted(sd) == sorted(t_sd)
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in t_sd["param_groups"]]
    for g, tg in zip(sd["param_groups"], t_sd["param_groups"]):
        for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"):
            assert g[k] == tg[k], k
    assert sorted(sd["state"]) == sorted(t_sd["state"])
    for i in sd["state"]:
        np.testing.assert_allclose(
            sd["state"][i]["momentum_buffer"].numpy(), t_sd["state"][i]["momentum_buffer"].numpy(), rtol=1e-14
        )


def test_load_state_dict_copies_buffers():
    params = _cr_params(_params())
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    _set_grads(params, _grads(0, _params()))
    opt.step()
    saved = opt.state_dict()
    opt2 = optim.SGD(_cr_params(_params()), lr=0.1, momentum=0.9)
    opt2.load_state_dict(saved)
    before = saved["state"][0]["momentum_buffer"].numpy().copy()
    p2 = opt2.param_groups[0]["params"]
    _set_grads(p2, _grads(1, _params()))
    opt2.step()
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"].numpy(), before)


def test_load_state_dict_bad_input():
    params = _cr_params(_params())
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    _set_grads(params, _grads(0, _params()))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="param_groups"):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="groups"):
        opt.load_state_dict({"state": {}, "param_groups": saved["param_groups"] * 2})
    two = optim.SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match="parameters"):
        two.load_state_dict(saved)
    bad = {"state": {0: {"momentum_buffer": np.zeros((5, 5))}}, "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    bad = {"state": {7: {"momentum_buffer": np.zeros((3, 4))}}, "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match="7"):
        opt.load_state_dict(bad)
    # The failed loads left the optimizer's state as it was.
    np.testing.assert_array_equal(
        opt.state[params[0]]["momentum_buffer"].numpy(), saved["state"][0]["momentum_buffer"].numpy()
    )


def test_load_torch_optimizer_state_dict():
    # torch's optimizer state_dict (torch tensors as buffers) loads into chainrule's SGD.
    torch = require("torch")
    arrays = _params()
    params = _cr_params(arrays)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=0.9)
    for step in range(2):
        for tp, g in zip(t_params, _grads(step, arrays)):
            tp.grad = torch.tensor(g)
        t_opt.step()
    for p, tp in zip(params, t_params):
        p.detach().numpy()[...] = tp.detach().numpy()
    opt = optim.SGD(params, lr=0.1)
    opt.load_state_dict(t_opt.state_dict())
    assert opt.param_groups[0]["momentum"] == 0.9
    grads = _grads(2, arrays)
    _set_grads(params, grads)
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    opt.step()
    t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-14)
