"""Property-based tests (hypothesis) over the public API: for generated inputs, each property states
what must hold - a value equal to NumPy's, or one of the documented exception types. Nothing may
crash the process. `pytest --fuzz` runs many more examples (see conftest.py)."""

import os
import warnings

import numpy as np
import pytest

from optional_dependencies import require

hypothesis = require("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402

# What the API may raise for bad input; anything else (or a crash) fails the property.
BAD_INPUT = (ValueError, TypeError, IndexError, RuntimeError, MemoryError)

NUMERIC_DTYPES = [
    np.float32,
    np.float64,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.bool_,
    np.complex64,
]
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
finite = dict(allow_nan=False, allow_infinity=False)


def float_arrays(shape, dtype=np.float64, lo=-100, hi=100):
    return hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=np.dtype(dtype).itemsize * 8, **finite))


@st.composite
def odd_layout_arrays(draw):
    """Arrays of any dtype, with negative/step strides, read-only flags, odd byte offsets, 0-size."""
    dtype = np.dtype(draw(st.sampled_from(NUMERIC_DTYPES)))
    shape = draw(small_shapes)
    base = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["plain", "strided", "reversed", "misaligned", "fortran"]))
    if layout == "strided" and base.ndim:
        base = np.repeat(base, 2, axis=0)[::2]
    elif layout == "reversed" and base.ndim:
        base = base[::-1]
    elif layout == "misaligned":
        raw = np.zeros(base.nbytes + 1, np.uint8)
        view = raw[1:].view(dtype).reshape(base.shape)
        view[...] = base
        base = view
    elif layout == "fortran":
        base = np.asfortranarray(base)
    if draw(st.booleans()):
        base.flags.writeable = False
    return base


# ---- tensor creation --------------------------------------------------------------------------


@pytest.mark.slow
@given(odd_layout_arrays())
def test_from_numpy_shares_exactly_or_refuses(a):
    """from_numpy gives a tensor over the same memory with the same values, or a TypeError (dtype)
    / ValueError (layout: not C-contiguous, misaligned, byte order); a read-only array's tensor
    refuses writes and the array keeps its values."""
    before = a.copy()
    try:
        with pytest.warns(UserWarning) if not a.flags.writeable else _nothing():
            t = cr.from_numpy(a)
    except (TypeError, ValueError):
        return
    assert (
        a.dtype in (np.float32, np.float64, np.int64, np.int32, np.bool_) and a.flags.c_contiguous and a.flags.aligned
    )
    np.testing.assert_array_equal(t.numpy(), a)
    assert t.shape == a.shape
    if not a.flags.writeable:
        with pytest.raises(ValueError, match="read-only"):
            t.fill_(1)
        np.testing.assert_array_equal(a, before)
    elif a.size:
        t.fill_(1)
        assert (a == 1).all()  # shared memory


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@given(odd_layout_arrays())
def test_tensor_copies_any_layout_or_refuses_the_dtype(a):
    """cr.tensor(array) equals the array (converted to chainrule's dtype) whatever the layout, or
    raises TypeError for dtypes chainrule cannot represent."""
    try:
        t = cr.tensor(a)
    except TypeError:
        assert a.dtype.kind == "c" or a.dtype == np.uint64 or a.dtype.kind not in "fiub"
        return
    assert t.shape == a.shape
    np.testing.assert_array_equal(t.numpy().astype(np.float64), a.astype(np.float64))


# ---- arithmetic, indexing, reductions against NumPy -------------------------------------------


@given(st.data(), st.sampled_from(["+", "-", "*", "/"]))
def test_float_arithmetic_matches_numpy(data, op):
    """Broadcast float64 arithmetic equals NumPy's, including inf and nan; mismatched shapes raise."""
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(width=64)))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(width=64)))
    f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x / y}[op]
    with np.errstate(all="ignore"):
        expected = f(a, b)
    got = f(cr.tensor(a), cr.tensor(b)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)


@given(st.data(), st.sampled_from(["+", "-", "*"]))
def test_int64_arithmetic_wraps_like_numpy(data, op):
    """int64 + - * equal NumPy's exactly, wrapping around on overflow."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    a = data.draw(hnp.arrays(np.int64, shape))
    b = data.draw(hnp.arrays(np.int64, shape))
    f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
    with np.errstate(all="ignore"):
        expected = f(a, b)
    np.testing.assert_array_equal(f(cr.tensor(a), cr.tensor(b)).numpy(), expected)


@given(float_arrays(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)), st.data())
def test_first_axis_indexing_matches_numpy(a, data):
    """t[i] and t[a:b] equal NumPy's; an index out of range is an IndexError."""
    t = cr.tensor(a)
    n = a.shape[0]
    i = data.draw(st.integers(-n - 3, n + 3))
    if -n <= i < n:
        np.testing.assert_array_equal(t[i].numpy(), a[i])
    else:
        with pytest.raises(IndexError):
            t[i]
    lo, hi = data.draw(st.integers(-n - 2, n + 2)), data.draw(st.integers(-n - 2, n + 2))
    np.testing.assert_array_equal(t[lo:hi].numpy(), a[lo:hi])
    rows = data.draw(st.lists(st.integers(-n, n - 1), max_size=5)) if n else []
    np.testing.assert_array_equal(t[np.array(rows, np.int64)].numpy(), a[np.array(rows, np.int64)])


@given(float_arrays(small_shapes), st.data(), st.booleans())
def test_reductions_match_numpy(a, data, keepdim):
    """sum and mean over all or one dimension equal NumPy's (mean of nothing is nan); a dimension
    out of range is an IndexError."""
    t = cr.tensor(a)
    np.testing.assert_allclose(t.sum().numpy(), a.sum(), rtol=1e-10, atol=1e-9)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(
            t.mean().numpy(), a.mean() if a.size else np.nan, rtol=1e-10, atol=1e-9, equal_nan=True
        )
    nd = max(a.ndim, 1)
    dim = data.draw(st.integers(-nd - 2, nd + 1))
    if not -nd <= dim < nd:
        with pytest.raises(IndexError):
            t.sum(dim=dim)
        return
    expected = a.sum(axis=dim, keepdims=keepdim) if a.ndim else a
    np.testing.assert_allclose(t.sum(dim=dim, keepdim=keepdim).numpy(), expected, rtol=1e-10, atol=1e-9)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice"
        expected = a.mean(axis=dim, keepdims=keepdim) if a.ndim else a
    np.testing.assert_allclose(
        t.mean(dim=dim, keepdim=keepdim).numpy(), expected, rtol=1e-10, atol=1e-9, equal_nan=True
    )


# ---- Linear and the losses against NumPy references -------------------------------------------


@given(st.data(), st.integers(0, 5), st.integers(0, 5), st.booleans(), st.booleans())
def test_linear_matches_numpy(data, c, oc, bias, fused):
    """Linear (alone, or fused in a Sequential) gives x W^T + b and the gradients of its sum, for any
    sizes including 0; an input whose last dimension is not in_features (or a 0-d input) raises."""
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    x = data.draw(float_arrays(lead + (c,), lo=-3, hi=3))
    layer = nn.Linear(c, oc, bias=bias, dtype=cr.float64)
    model = nn.Sequential(layer) if fused else layer
    W = layer.weight.detach().numpy().copy()
    b = layer.bias.detach().numpy().copy() if bias else np.zeros(oc)
    xt = cr.tensor(x, requires_grad=True)
    out = model(xt)
    np.testing.assert_allclose(out.detach().numpy(), x @ W.T + b, rtol=1e-10, atol=1e-10)
    out.sum().backward()
    ones = np.ones(lead + (oc,))
    np.testing.assert_allclose(xt.grad.numpy(), ones @ W, rtol=1e-10, atol=1e-10)
    rows = int(np.prod(lead))
    np.testing.assert_allclose(
        layer.weight.grad.numpy(), ones.reshape(rows, oc).T @ x.reshape(rows, c), rtol=1e-10, atol=1e-10
    )
    wrong = data.draw(st.sampled_from([(), (2, c + 1), (c + 2,)]))
    with pytest.raises(BAD_INPUT):
        model(cr.zeros(*wrong, dtype=cr.float64))


def _softplus(x):
    return np.logaddexp(0, x)


LOSSES = {
    "mse": (nn.MSELoss, lambda x, t: (x - t) ** 2),
    "l1": (nn.L1Loss, lambda x, t: np.abs(x - t)),
    "huber": (nn.HuberLoss, lambda x, t: np.where(np.abs(x - t) < 1, 0.5 * (x - t) ** 2, np.abs(x - t) - 0.5)),
    "bce": (nn.BCELoss, lambda x, t: -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))),
    "bce_logits": (nn.BCEWithLogitsLoss, lambda x, t: (1 - t) * x + _softplus(-x)),
    "smooth_l1": (nn.SmoothL1Loss, lambda x, t: np.where(np.abs(x - t) < 1, 0.5 * (x - t) ** 2, np.abs(x - t) - 0.5)),
    # x: log-probabilities, t: probabilities; a zero target contributes 0 (0 * log 0 = 0).
    "kl_div": (nn.KLDivLoss, lambda x, t: np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0.0)),
    # log_input=True (the default): exp(x) - t * x.
    "poisson_nll": (nn.PoissonNLLLoss, lambda x, t: np.exp(x) - t * x),
}


@given(st.sampled_from(sorted(LOSSES)), st.sampled_from(["none", "mean", "sum"]), small_shapes, st.data())
def test_elementwise_losses_match_numpy(name, reduction, shape, data):
    """Each elementwise loss equals its NumPy formula for every reduction and shape (0-d and 0-size
    included: 'none' keeps the shape, a mean over nothing is nan); a target of another shape raises."""
    cls, formula = LOSSES[name]
    lo, hi = (0.001, 0.999) if name == "bce" else (-20, 20)
    x = data.draw(float_arrays(shape, lo=lo, hi=hi))
    t = data.draw(float_arrays(shape, lo=0, hi=1))
    with np.errstate(all="ignore"):
        elems = formula(x, t)
        expected = {"none": elems, "sum": elems.sum(), "mean": elems.mean() if elems.size else np.nan}[reduction]
    with warnings.catch_warnings():
        # KLDivLoss warns that 'mean' is not the KL divergence (PyTorch's advice: 'batchmean').
        warnings.filterwarnings("ignore", message=".*batchmean.*")
        got = cls(reduction=reduction)(cr.tensor(x), cr.tensor(t))
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7, atol=1e-9, equal_nan=True)
    with pytest.raises(BAD_INPUT):
        cls(reduction=reduction)(cr.tensor(x), cr.zeros(*(shape + (2,)), dtype=cr.float64))


@given(st.integers(0, 5), st.integers(1, 5), st.sampled_from(["none", "mean", "sum"]), st.data())
def test_cross_entropy_matches_numpy(n, c, reduction, data):
    """cross_entropy of logits and class labels equals -log_softmax[label]; a label out of range is
    an IndexError (or ValueError)."""
    logits = data.draw(float_arrays((n, c), lo=-30, hi=30))
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    elems = -log_probs[np.arange(n), labels]
    with np.errstate(all="ignore"):
        expected = {"none": elems, "sum": elems.sum(), "mean": elems.mean() if n else np.nan}[reduction]
    got = nn.CrossEntropyLoss(reduction=reduction)(cr.tensor(logits), cr.tensor(labels))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    if n:
        bad = labels.copy()
        bad[0] = data.draw(st.sampled_from([-1, c, c + 100, -(2**63)]))
        with pytest.raises((IndexError, ValueError)):
            nn.CrossEntropyLoss()(cr.tensor(logits), cr.tensor(bad))


@given(st.integers(0, 5), st.integers(1, 5), st.sampled_from(["none", "mean", "sum"]), st.data())
def test_nll_loss_matches_numpy(n, c, reduction, data):
    """nll_loss of log-probabilities and labels is -input[i, label_i]; ignore_index rows drop out of
    the sum and of the mean's count; a label out of range raises."""
    log_probs = data.draw(float_arrays((n, c), lo=-30, hi=0))
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    ignore = data.draw(st.sampled_from([-100, 0]))
    kept = labels != ignore
    elems = np.where(kept, -log_probs[np.arange(n), labels], 0.0)
    with np.errstate(all="ignore"):
        expected = {"none": elems, "sum": elems.sum(), "mean": elems.sum() / kept.sum() if kept.sum() else np.nan}[
            reduction
        ]
    got = nn.NLLLoss(reduction=reduction, ignore_index=ignore)(cr.tensor(log_probs), cr.tensor(labels))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    if n:
        bad = labels.copy()
        bad[0] = data.draw(st.sampled_from([-1, c, c + 100]))
        assume(bad[0] != ignore)
        with pytest.raises((IndexError, ValueError)):
            nn.NLLLoss()(cr.tensor(log_probs), cr.tensor(bad))


@given(st.integers(0, 5), st.integers(1, 4), st.sampled_from(["none", "mean", "sum"]), st.data())
def test_gaussian_nll_loss_matches_numpy(n, d, reduction, data):
    """GaussianNLLLoss is 0.5 * (log(max(var, eps)) + (x - t)^2 / max(var, eps)) per element; a
    negative variance raises ValueError."""
    x = data.draw(float_arrays((n, d), lo=-10, hi=10))
    t = data.draw(float_arrays((n, d), lo=-10, hi=10))
    var = data.draw(float_arrays((n, d), lo=0, hi=10))
    v = np.maximum(var, 1e-6)
    elems = 0.5 * (np.log(v) + (x - t) ** 2 / v)
    with np.errstate(all="ignore"):
        expected = {"none": elems, "sum": elems.sum(), "mean": elems.mean() if elems.size else np.nan}[reduction]
    got = nn.GaussianNLLLoss(reduction=reduction)(cr.tensor(x), cr.tensor(t), cr.tensor(var))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    if n:
        with pytest.raises(ValueError):
            nn.GaussianNLLLoss()(cr.tensor(x), cr.tensor(t), cr.tensor(var - 20.0))


# ---- optimizers and fit with hostile arguments ------------------------------------------------

hostile_floats = st.one_of(
    st.floats(), st.sampled_from([0.0, -0.0, -1.0, 1e308, -1e-308, float("nan"), float("inf"), 2.0]), st.integers(-3, 3)
)
hostile_values = st.one_of(
    hostile_floats,
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.tuples(hostile_floats, hostile_floats),
    st.tuples(hostile_floats),
)


@given(
    st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "LBFGS"]),
    st.dictionaries(
        st.sampled_from(
            [
                "lr",
                "momentum",
                "dampening",
                "weight_decay",
                "nesterov",
                "betas",
                "eps",
                "alpha",
                "centered",
                "lr_decay",
                "initial_accumulator_value",
                "amsgrad",
                "maximize",
                "momentum_decay",
                "decoupled_weight_decay",
                "max_iter",
                "history_size",
                "tolerance_grad",
                "line_search_fn",
            ]
        ),
        hostile_values,
        max_size=4,
    ),
)
def test_optimizer_construction_with_hostile_hyper_parameters(name, kwargs):
    """A constructor either refuses (ValueError/TypeError) or builds an optimizer whose step runs;
    a step never crashes, and it writes each parameter in place (its shape and identity stay)."""
    p = cr.randn(3, 2, requires_grad=True)
    try:
        opt = getattr(optim, name)([p], **kwargs)
    except (ValueError, TypeError):
        return
    p.grad = cr.ones(3, 2)

    def closure():  # LBFGS needs one; the others ignore it
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    for _ in range(2):
        try:
            opt.step(closure) if name == "LBFGS" else opt.step()
        except BAD_INPUT:
            pass
    assert p.shape == (3, 2)


@given(
    st.one_of(st.integers(-2, 3), st.sampled_from([True, 1.5, None, "2"])),
    st.one_of(st.integers(-2, 12), st.sampled_from([2**63 - 1, 2**63, 10**20, 0, False, 2.0, None])),
    st.sampled_from([(10, 3), (10, 0), (0, 3)]),
    st.sampled_from([(10, 2), (9, 2), (10, 3), (10,)]),
    st.sampled_from([None, True, False]),
)
def test_fit_with_hostile_arguments(epochs, batch_size, x_shape, y_shape, native):
    """fit returns a History with one loss per epoch, or raises ValueError/TypeError/IndexError."""
    model = nn.Sequential(nn.Linear(x_shape[1], 2))
    opt = optim.SGD(model.parameters(), lr=0.01)
    X = np.ones(x_shape, np.float32)
    y = np.ones(y_shape[:1] and (x_shape[0],) + y_shape[1:] if y_shape[0] == 10 else y_shape, np.float32)
    try:
        history = cr.fit(
            model, nn.MSELoss(), opt, X, y, epochs=epochs, batch_size=batch_size, native=native, progress=False
        )
    except (ValueError, TypeError, IndexError):
        return
    assert len(history.history.get("loss", [])) == epochs


# ---- load on corrupted files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters())
    model(cr.randn(2, 3)).sum().backward()
    opt.step()
    cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    return path.read_bytes()


@given(st.data())
def test_load_of_corrupted_files_raises_value_error_naming_the_file(tmp_path_factory, checkpoint_bytes, data):
    """A damaged checkpoint (bytes flipped, cut, inserted, or a forged header) loads as something or
    raises ValueError naming the file - never another exception, never a crash."""
    raw = bytearray(checkpoint_bytes)
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "header"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "insert":
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    else:
        header = data.draw(
            st.recursive(
                st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=4)),
                lambda kids: st.one_of(
                    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=4), kids, max_size=3)
                ),
                max_leaves=8,
            )
        )
        import json

        encoded = json.dumps(
            {
                "t": {"dtype": "F32", "shape": header, "data_offsets": header},
                "__metadata__": {"chainrule.structure": json.dumps(header)},
            }
        ).encode()
        raw = bytearray(len(encoded).to_bytes(8, "little") + encoded + bytes(16))
    path = tmp_path_factory.mktemp("bad") / "damaged.safetensors"
    path.write_bytes(bytes(raw))
    try:
        cr.load(path)
    except ValueError as error:
        assert str(path) in str(error)
    finally:
        os.unlink(path)
