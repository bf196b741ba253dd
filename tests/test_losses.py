"""Losses with their options against PyTorch (values and gradients in both dtypes), gradcheck in
float64, and errors: NLLLoss, CrossEntropyLoss (weight, ignore_index, label_smoothing,
probability targets), BCEWithLogitsLoss (weight, pos_weight), BCELoss(weight), SmoothL1Loss,
KLDivLoss, PoissonNLLLoss, GaussianNLLLoss."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck
from optional_dependencies import require

torch = require("torch")

DTYPES = {
    "float32": (np.float32, torch.float32, cr.float32, dict(rtol=1e-5, atol=1e-6)),
    "float64": (np.float64, torch.float64, cr.float64, dict(rtol=1e-10, atol=1e-12)),
}
N, C = 7, 4
rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((N, C)) * 2
LABELS = np.array([0, 3, 1, 1, 2, 3, 0], dtype=np.int64)
LABELS_IGNORED = np.array([0, 3, -1, 1, 2, -1, 0], dtype=np.int64)
PROBS = rng.dirichlet(np.ones(C), size=N)
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
REAL = rng.standard_normal((N, C))
TARGET = rng.standard_normal((N, C))
BINARY = rng.uniform(0, 1, (N, C))
COUNTS = rng.poisson(2.0, (N, C)).astype(np.float64)
VAR = rng.uniform(0.1, 2.0, (N, C))


def _t(a, t_dtype):
    return (
        torch.from_numpy(np.array(a)).to(t_dtype) if np.asarray(a).dtype.kind == "f" else torch.from_numpy(np.array(a))
    )


def _c(a, c_dtype):
    a = np.array(a)
    return cr.tensor(a, dtype=c_dtype) if a.dtype.kind == "f" else cr.tensor(a)


# (name, make(module_namespace, to_tensor) -> loss module, input, target, extra positional args)
CASES = [
    ("nll", lambda m, T: m.NLLLoss(), "logp", LABELS),
    ("nll_weight", lambda m, T: m.NLLLoss(weight=T(CLASS_WEIGHT)), "logp", LABELS),
    ("nll_ignore", lambda m, T: m.NLLLoss(ignore_index=-1), "logp", LABELS_IGNORED),
    (
        "nll_weight_ignore_sum",
        lambda m, T: m.NLLLoss(weight=T(CLASS_WEIGHT), ignore_index=-1, reduction="sum"),
        "logp",
        LABELS_IGNORED,
    ),
    (
        "nll_none",
        lambda m, T: m.NLLLoss(weight=T(CLASS_WEIGHT), ignore_index=-1, reduction="none"),
        "logp",
        LABELS_IGNORED,
    ),
    ("ce_weight", lambda m, T: m.CrossEntropyLoss(weight=T(CLASS_WEIGHT)), LOGITS, LABELS),
    ("ce_ignore", lambda m, T: m.CrossEntropyLoss(ignore_index=3), LOGITS, LABELS),
    ("ce_smooth", lambda m, T: m.CrossEntropyLoss(label_smoothing=0.2), LOGITS, LABELS),
    (
        "ce_everything",
        lambda m, T: m.CrossEntropyLoss(weight=T(CLASS_WEIGHT), ignore_index=-1, label_smoothing=0.1),
        LOGITS,
        LABELS_IGNORED,
    ),
    (
        "ce_everything_sum",
        lambda m, T: m.CrossEntropyLoss(weight=T(CLASS_WEIGHT), ignore_index=-1, label_smoothing=0.1, reduction="sum"),
        LOGITS,
        LABELS_IGNORED,
    ),
    (
        "ce_everything_none",
        lambda m, T: m.CrossEntropyLoss(weight=T(CLASS_WEIGHT), ignore_index=-1, label_smoothing=0.1, reduction="none"),
        LOGITS,
        LABELS_IGNORED,
    ),
    ("ce_probs", lambda m, T: m.CrossEntropyLoss(), LOGITS, PROBS),
    (
        "ce_probs_weight_smooth",
        lambda m, T: m.CrossEntropyLoss(weight=T(CLASS_WEIGHT), label_smoothing=0.3),
        LOGITS,
        PROBS,
    ),
    ("ce_probs_sum", lambda m, T: m.CrossEntropyLoss(reduction="sum", label_smoothing=0.1), LOGITS, PROBS),
    ("bcel_pos_weight", lambda m, T: m.BCEWithLogitsLoss(pos_weight=T(np.array([1.0, 2.0, 0.5, 3.0]))), REAL, BINARY),
    (
        "bcel_weight",
        lambda m, T: m.BCEWithLogitsLoss(weight=T(np.linspace(0.5, 1.5, C)), reduction="sum"),
        REAL,
        BINARY,
    ),
    (
        "bcel_both_none",
        lambda m, T: m.BCEWithLogitsLoss(
            weight=T(np.linspace(0.5, 1.5, C)), pos_weight=T(np.array([1.0, 2.0, 0.5, 3.0])), reduction="none"
        ),
        REAL * 10,
        BINARY,
    ),
    ("bce_weight", lambda m, T: m.BCELoss(weight=T(np.linspace(0.5, 1.5, C))), "sigmoid", BINARY),
    ("smooth_l1", lambda m, T: m.SmoothL1Loss(), REAL, TARGET),
    ("smooth_l1_beta", lambda m, T: m.SmoothL1Loss(beta=0.4, reduction="sum"), REAL, TARGET),
    ("smooth_l1_beta0", lambda m, T: m.SmoothL1Loss(beta=0.0), REAL, TARGET),
    ("kl", lambda m, T: m.KLDivLoss(reduction="batchmean"), "logp", PROBS),
    ("kl_mean", lambda m, T: m.KLDivLoss(), "logp", np.where(PROBS > 0.2, PROBS, 0.0)),
    ("kl_log_target", lambda m, T: m.KLDivLoss(reduction="sum", log_target=True), "logp", np.log(PROBS)),
    ("poisson", lambda m, T: m.PoissonNLLLoss(), REAL, COUNTS),
    ("poisson_full", lambda m, T: m.PoissonNLLLoss(full=True, reduction="sum"), REAL, COUNTS),
    ("poisson_rate", lambda m, T: m.PoissonNLLLoss(log_input=False), "rate", COUNTS),
    ("gaussian", lambda m, T: m.GaussianNLLLoss(), REAL, TARGET, VAR),
    ("gaussian_full_sum", lambda m, T: m.GaussianNLLLoss(full=True, reduction="sum"), REAL, TARGET, VAR[:, :1]),
    ("gaussian_clamped", lambda m, T: m.GaussianNLLLoss(eps=0.5, reduction="none"), REAL, TARGET, VAR),
]


def _input(kind):
    if isinstance(kind, str):
        return {
            "logp": LOGITS - np.log(np.exp(LOGITS).sum(1, keepdims=True)),
            "sigmoid": 1 / (1 + np.exp(-REAL)),
            "rate": np.exp(REAL),
        }[kind]
    return kind


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(case, dtype):
    name, make, inp, target, *extra = case
    np_dtype, t_dtype, c_dtype, tol = DTYPES[dtype]
    x = _input(inp).astype(np_dtype)
    tx = torch.from_numpy(x).requires_grad_(True)
    cx = cr.tensor(x, dtype=c_dtype, requires_grad=True)
    t_loss = make(torch.nn, lambda a: _t(a, t_dtype))(tx, _t(target, t_dtype), *[_t(e, t_dtype) for e in extra])
    c_loss = make(nn, lambda a: _c(a, c_dtype))(cx, _c(target, c_dtype), *[_c(e, c_dtype) for e in extra])
    np.testing.assert_allclose(c_loss.detach().numpy(), t_loss.detach().numpy(), **tol)
    w = np.random.default_rng(1).standard_normal(tuple(t_loss.shape)).astype(np_dtype)
    (t_loss * torch.from_numpy(w)).sum().backward()
    (c_loss * cr.from_numpy(np.ascontiguousarray(w))).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_gradcheck(case):
    name, make, inp, target, *extra = case
    loss = make(nn, lambda a: _c(a, cr.float64))
    x = cr.tensor(_input(inp), dtype=cr.float64, requires_grad=True)
    t = _c(target, cr.float64)
    e = [_c(a, cr.float64) for a in extra]
    assert gradcheck(lambda x: loss(x, t, *e), [x])


def test_functional_forms_match_modules():
    x, y = cr.tensor(LOGITS), cr.tensor(LABELS)
    np.testing.assert_allclose(
        F.cross_entropy(x, y, weight=cr.tensor(CLASS_WEIGHT), label_smoothing=0.1).item(),
        nn.CrossEntropyLoss(weight=cr.tensor(CLASS_WEIGHT), label_smoothing=0.1)(x, y).item(),
    )
    logp = F.log_softmax(x, 1)
    np.testing.assert_allclose(F.nll_loss(logp, y).item(), F.cross_entropy(x, y).item(), rtol=1e-12)
    assert F.smooth_l1_loss(x, x * 0, beta=0.5).shape == ()
    assert F.kl_div(logp, cr.tensor(PROBS), reduction="batchmean").shape == ()
    assert F.poisson_nll_loss(x, cr.tensor(COUNTS)).shape == ()
    assert F.gaussian_nll_loss(x, x, cr.ones(N, C, dtype=cr.float64)).item() == 0.0
    assert F.binary_cross_entropy_with_logits(x, cr.tensor(BINARY), pos_weight=cr.ones(C, dtype=cr.float64)).shape == ()
    # 1-D input with a 0-d target, as in PyTorch.
    np.testing.assert_allclose(
        F.nll_loss(logp[0], cr.tensor(LABELS[0])).item(), -logp.numpy()[0, LABELS[0]], rtol=1e-12
    )


def test_loss_errors_name_the_argument():
    x = cr.tensor(LOGITS)
    with pytest.raises(IndexError, match="target 4 is out of bounds"):
        nn.CrossEntropyLoss(weight=cr.ones(C, dtype=cr.float64))(x, cr.tensor([4, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(IndexError, match="ignore_index=-1"):
        nn.NLLLoss(ignore_index=-1)(x, cr.tensor([-2, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(IndexError, match="target 9"):
        nn.NLLLoss()(x, cr.tensor([9, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(IndexError, match="target 9"):
        nn.CrossEntropyLoss()(x, cr.tensor([9, 0, 0, 0, 0, 0, 0]))
    # The default ignore_index (-100) drops a sample, as in PyTorch.
    labels = np.array([-100, 0, 1, 2, 3, 0, 1])
    np.testing.assert_allclose(
        nn.CrossEntropyLoss()(x, cr.tensor(labels)).item(),
        torch.nn.CrossEntropyLoss()(torch.tensor(LOGITS), torch.tensor(labels)).item(),
        rtol=1e-12,
    )
    # ignore_index accepts a target equal to it (even out of the class range).
    assert np.isfinite(nn.NLLLoss(ignore_index=10)(x, cr.tensor([10, 0, 1, 0, 0, 0, 0])).item())
    with pytest.raises(ValueError, match="beta"):
        nn.SmoothL1Loss(beta=-1.0)
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        nn.CrossEntropyLoss(weight=cr.ones(3, dtype=cr.float64))(x, cr.tensor(LABELS))
    with pytest.raises(ValueError, match="var has negative"):
        nn.GaussianNLLLoss()(x, x, -cr.ones(N, C, dtype=cr.float64))
    with pytest.raises(ValueError, match="reduction"):
        nn.NLLLoss(reduction="avg")


def test_all_ignored_mean_is_nan_as_in_torch():
    x = cr.tensor(LOGITS)
    value = nn.CrossEntropyLoss(ignore_index=1)(x, cr.tensor([1] * N)).item()
    expected = torch.nn.CrossEntropyLoss(ignore_index=1)(torch.tensor(LOGITS), torch.tensor([1] * N)).item()
    assert np.isnan(value) and np.isnan(expected)


def test_fit_with_weighted_loss_runs_in_python_and_matches():
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    history = cr.fit(model, nn.CrossEntropyLoss(label_smoothing=0.1), opt, X, y, epochs=2, batch_size=8, progress=False)
    assert not history.native
    assert np.all(np.isfinite(history.history["loss"]))
