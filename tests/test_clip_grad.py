"""chainrule.nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""

import math

import numpy as np
import pytest

from optional_dependencies import require

torch = require("torch")

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_  # noqa: E402

DTYPES = {
    "float32": (np.float32, dict(rtol=1e-5, atol=1e-7)),
    "float64": (np.float64, dict(rtol=1e-10, atol=1e-14)),
}
SHAPES = [(4, 5), (7,), (), (3, 2, 2)]


def _pair(dtype, scale=1.0, seed=0, shapes=SHAPES, no_grad=()):
    """The same parameters and gradients in torch and chainrule; indices in no_grad get none."""
    np_dtype = DTYPES[dtype][0]
    rng = np.random.default_rng(seed)
    t_params, c_params = [], []
    for i, shape in enumerate(shapes):
        value = np.asarray(rng.standard_normal(shape), dtype=np_dtype)
        t, c = torch.nn.Parameter(torch.from_numpy(value.copy())), nn.Parameter(cr.from_numpy(value.copy()))
        if i not in no_grad:
            grad = np.asarray(rng.standard_normal(shape) * scale, dtype=np_dtype)
            t.grad, c.grad = torch.from_numpy(grad.copy()), cr.from_numpy(grad.copy())
        t_params.append(t)
        c_params.append(c)
    return t_params, c_params


def _assert_same_grads(t_params, c_params, tol):
    for i, (t, c) in enumerate(zip(t_params, c_params)):
        if t.grad is None:
            assert c.grad is None, i
            continue
        assert c.grad.numpy().dtype == t.grad.numpy().dtype
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), **tol, err_msg=f"grad {i}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("norm_type", [2, 2.0, 1, 3.5, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.0, 0.5, 3.0, 1e3])  # clips everything, some, hardly, never
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    tol = DTYPES[dtype][1]
    t_params, c_params = _pair(dtype, no_grad=(1,))
    t_norm = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    c_norm = clip_grad_norm_(c_params, max_norm, norm_type=norm_type)
    assert isinstance(c_norm, cr.Tensor) and c_norm.ndim == 0
    assert c_norm.numpy().dtype == t_norm.numpy().dtype
    np.testing.assert_allclose(c_norm.item(), t_norm.item(), **tol)
    _assert_same_grads(t_params, c_params, tol)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_clip_grad_norm_of_a_single_tensor(dtype):
    tol = DTYPES[dtype][1]
    (t,), (c,) = _pair(dtype, scale=10.0, shapes=[(6, 3)])
    t_norm = torch.nn.utils.clip_grad_norm_(t, 1.0)
    c_norm = clip_grad_norm_(c, 1.0)
    np.testing.assert_allclose(c_norm.item(), t_norm.item(), **tol)
    _assert_same_grads([t], [c], tol)
    assert np.linalg.norm(c.grad.numpy()) <= 1.0 + 1e-6


def test_clip_grad_norm_without_grads_returns_zero():
    params = [nn.Parameter(cr.zeros(3))]
    norm = clip_grad_norm_(params, 1.0)
    assert norm.item() == torch.nn.utils.clip_grad_norm_([torch.nn.Parameter(torch.zeros(3))], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_clip_grad_norm_nonfinite(bad):
    t_params, c_params = _pair("float64")
    for t, c in zip(t_params, c_params):
        t.grad.view(-1)[0] = bad
        c.grad.numpy().reshape(-1)[0] = bad
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(c_params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(t_params, 1.0, error_if_nonfinite=True)
    # Without the error, torch scales by the non-finite coefficient anyway; so must we.
    t_norm = torch.nn.utils.clip_grad_norm_(t_params, 1.0)
    c_norm = clip_grad_norm_(c_params, 1.0)
    assert math.isnan(c_norm.item()) == math.isnan(t_norm.item())
    for t, c in zip(t_params, c_params):
        np.testing.assert_array_equal(np.isnan(c.grad.numpy()), np.isnan(t.grad.numpy()))


def test_clip_grad_norm_rejects_bad_arguments():
    _, c_params = _pair("float64")
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(c_params, -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(c_params, 1.0, norm_type=-2)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 100.0])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    t_params, c_params = _pair(dtype, no_grad=(2,))
    assert torch.nn.utils.clip_grad_value_(t_params, clip_value) is None
    assert clip_grad_value_(c_params, clip_value) is None
    _assert_same_grads(t_params, c_params, dict(rtol=0, atol=0))  # clamping is exact


def test_clip_grad_value_of_a_single_tensor_and_bad_value():
    (t,), (c,) = _pair("float32", shapes=[(5,)])
    torch.nn.utils.clip_grad_value_(t, 0.2)
    clip_grad_value_(c, 0.2)
    np.testing.assert_array_equal(c.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(c, -1.0)


def test_clipping_inside_training_matches_torch():
    # Clip between backward and step, the usual place, for a few SGD steps.
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    c_model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    c_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), (10 * rng.standard_normal((8, 2))).astype(np.float32)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.1)
    c_opt = cr.optim.SGD(c_model.parameters(), lr=0.1)
    for _ in range(5):
        for model, opt, xs, ys, crit in (
            (t_model, t_opt, torch.from_numpy(x), torch.from_numpy(y), torch.nn.MSELoss()),
            (c_model, c_opt, cr.from_numpy(x), cr.from_numpy(y), nn.MSELoss()),
        ):
            opt.zero_grad()
            crit(model(xs), ys).backward()
            (torch.nn.utils.clip_grad_norm_ if model is t_model else clip_grad_norm_)(model.parameters(), 0.5)
            opt.step()
    for key, value in t_model.state_dict().items():
        np.testing.assert_allclose(c_model.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
