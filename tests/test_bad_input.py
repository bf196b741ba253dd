"""Bad input everywhere gives a Python exception that names the argument, never a crash."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

# ---- factories -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [cr.zeros, cr.ones, cr.empty, cr.randn, cr.rand])
def test_factories_refuse_bad_sizes(factory):
    with pytest.raises(ValueError, match=r"size.*negative.*\(2, -3\)"):
        factory(2, -3)
    with pytest.raises(TypeError, match="size"):
        factory(2.5)
    with pytest.raises(TypeError, match="size"):
        factory((2, "a"))
    with pytest.raises(TypeError, match="size"):
        factory(None)


@pytest.mark.parametrize("factory", [cr.zeros, cr.ones, cr.empty, cr.randn, cr.rand])
def test_absurd_sizes_are_memory_errors(factory):
    with pytest.raises(MemoryError, match=r"size.*\(1000000000000, 1000000000000\)"):
        factory(10**12, 10**12)
    with pytest.raises(MemoryError, match="size"):
        factory(10**30)
    with pytest.raises(MemoryError, match="size"):
        factory(2**40, 2**40, 2**40)


def test_absurd_sizes_in_other_factories():
    with pytest.raises(MemoryError, match="size"):
        cr.full((10**12, 10**12), 1.0)
    with pytest.raises(MemoryError, match="size"):
        cr.randint(0, 5, (10**12, 10**12))
    with pytest.raises(MemoryError):
        cr.zeros(10**10, 10**10, dtype=cr.float64)
    assert cr.zeros(0, 10**12).shape == (0, 10**12)  # empty is fine however long the other dims


def test_factory_dtype_errors():
    with pytest.raises(TypeError, match="dtype"):
        cr.zeros(2, dtype="float32")
    with pytest.raises(TypeError, match="dtype"):
        cr.tensor([1.0], dtype=np.float32)
    with pytest.raises(TypeError, match="randn.*floating"):
        cr.randn(2, dtype=cr.int64)
    with pytest.raises(TypeError, match="rand.*floating"):
        cr.rand(2, dtype=cr.int64)
    with pytest.raises(RuntimeError, match="requires_grad"):
        cr.zeros(2, dtype=cr.int64, requires_grad=True)


def test_requires_grad_on_int64():
    with pytest.raises(RuntimeError, match="requires_grad.*floating"):
        cr.tensor([1, 2], requires_grad=True)
    t = cr.tensor([1, 2])
    with pytest.raises(RuntimeError, match="requires_grad"):
        t.requires_grad = True
    with pytest.raises(RuntimeError, match="requires_grad"):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match="requires_grad"):
        cr.arange(3, requires_grad=True)


def test_tensor_from_bad_data():
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor("abc")
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor(None)
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor([1, None])
    with pytest.raises(ValueError):
        cr.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="data"):
        cr.Tensor(None)
    with pytest.raises(TypeError, match="tensor"):
        cr.as_tensor(object())


def test_randint_arange_seed_threads():
    with pytest.raises(ValueError, match="randint.*high"):
        cr.randint(5, 2, (3,))
    with pytest.raises(ValueError, match="randint.*high"):
        cr.randint(3, 3, (3,))
    with pytest.raises(TypeError, match="randint: size"):
        cr.randint(0, 5, 3)
    with pytest.raises(ValueError, match="size.*negative"):
        cr.randint(0, 5, (-3,))
    with pytest.raises(ValueError, match="arange.*step"):
        cr.arange(0, 5, 0)
    with pytest.raises(TypeError):
        cr.manual_seed("a")
    with pytest.raises(ValueError, match="num_threads"):
        cr.set_num_threads(0)
    with pytest.raises(ValueError, match="num_threads"):
        cr.set_num_threads(-4)
    with pytest.raises(TypeError):
        cr.set_num_threads("a")
    assert cr.get_num_threads() >= 1


def test_from_numpy_bad_arrays():
    with pytest.raises(ValueError, match="ascontiguousarray"):
        cr.from_numpy(np.zeros((3, 4))[:, 1])
    with pytest.raises(TypeError, match="from_numpy.*int16"):
        cr.from_numpy(np.zeros(3, np.int16))  # int32 and bool are tensor dtypes; int16 is not
    with pytest.raises(TypeError, match="from_numpy.*object"):
        cr.from_numpy(np.array([object()]))
    with pytest.raises(TypeError, match="from_numpy"):
        cr.from_numpy([1.0])
    with pytest.warns(UserWarning, match="not writable"):
        ro = np.zeros(3, np.float32)
        ro.flags.writeable = False
        cr.from_numpy(ro)


# ---- tensor methods ------------------------------------------------------------------------------


def test_item_and_bool_of_many_elements():
    with pytest.raises(ValueError, match="item.*6 elements"):
        cr.zeros(2, 3).item()
    with pytest.raises(ValueError, match="item.*0 elements"):
        cr.zeros(0).item()
    with pytest.raises(ValueError, match="item"):
        float(cr.zeros(2))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.zeros(2))


def test_numpy_of_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match="detach"):
        cr.zeros(2, requires_grad=True).numpy()


def test_zero_d_tensors():
    s = cr.tensor(1.0)
    with pytest.raises(TypeError, match="len"):
        len(s)
    with pytest.raises(TypeError, match="iteration"):
        iter(s).__next__()
    with pytest.raises(IndexError, match="0-d"):
        s[0]
    with pytest.raises(IndexError, match="0-d"):
        s[0:1]


def test_indexing_errors():
    t = cr.zeros(3, 2)
    with pytest.raises(IndexError, match="index 5 is out of bounds.*size 3"):
        t[5]
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        t[-4]
    with pytest.raises(IndexError, match="out of bounds"):
        t[10**20]
    with pytest.raises(IndexError, match="index 3 is out of bounds.*size 2"):
        t[0, 3]
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        t[np.array([0, 7])]
    with pytest.raises(IndexError, match="out of bounds"):
        t[np.array([2**62])]
    with pytest.raises(IndexError, match="out of bounds"):
        t[cr.tensor([-9])]
    with pytest.raises(IndexError, match="long, int or bool"):
        t[cr.tensor([0.0])]  # a float index tensor is refused, as in PyTorch (never truncated)
    assert t[np.array([[0]])].shape == (1, 1) + tuple(t.shape[1:])  # index arrays of any rank
    with pytest.raises(IndexError, match="unsupported index type float"):
        t[1.5]
    with pytest.raises(IndexError, match="unsupported index type str"):
        t["a"]
    assert t[0, 0:1].shape == (1,) and t[::2].shape == (2, 2)  # slices on any axis, any positive step
    with pytest.raises(ValueError, match="step"):
        t[::-1]
    with pytest.raises(IndexError, match=r"mask.*\(2,\).*\(3, 2\)"):
        t[np.array([True, False])]


def test_boolean_masks_select_rows():
    t = cr.tensor([[1.0], [2.0], [3.0]])
    assert t[np.array([True, False, True])].tolist() == [[1.0], [3.0]]
    assert t[[False, False, False]].shape == (0, 1)


def test_reshape_errors_name_shapes():
    t = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"reshape.*\(4, 2\).*\(2, 3\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match=r"\(4, -1\).*size 6"):
        t.reshape(4, -1)
    with pytest.raises(ValueError, match="more than one -1"):
        t.view(-1, -1)
    with pytest.raises(ValueError, match="negative"):
        t.reshape(-2, -3)
    with pytest.raises(TypeError, match="reshape: shape"):
        t.reshape("a")
    # products that overflow int64 must not wrap around to a valid element count
    with pytest.raises(ValueError, match="reshape"):
        cr.zeros(0).reshape(2**32, 2**32)
    with pytest.raises(ValueError, match="reshape"):
        cr.zeros(6).reshape(2**32 + 1, 2**32 - 1, -1)
    with pytest.raises(ValueError, match=r"t: .*\(2, 3, 4\)"):
        cr.zeros(2, 3, 4).t()
    with pytest.raises(ValueError, match=r"transpose.*\(2, 3, 4\)"):
        cr.zeros(2, 3, 4).T  # noqa: B018 - the property access itself must raise


@pytest.mark.parametrize("method", ["sum", "mean", "argmax"])
def test_reduction_dim_errors(method):
    t = cr.zeros(2, 3)
    with pytest.raises(IndexError, match=rf"{method}: dim.*\[-2, 1\].*got 2"):
        getattr(t, method)(dim=2)
    with pytest.raises(IndexError, match="got -3"):
        getattr(t, method)(dim=-3)
    with pytest.raises(TypeError, match="dim"):
        getattr(t, method)(dim="a" if method != "argmax" else 1.5)


def test_reduction_dim_list_errors():
    t = cr.zeros(2, 3)
    with pytest.raises(ValueError, match="more than once"):
        t.sum(dim=(0, 0))
    with pytest.raises(ValueError, match="more than once"):
        t.mean(dim=(1, -1))
    with pytest.raises(ValueError, match="empty"):
        t.sum(dim=[])
    with pytest.raises(TypeError, match="dim"):
        t.sum(dim=(0, "a"))
    with pytest.raises(TypeError, match="mean.*int64"):
        cr.tensor([1, 2]).mean()
    with pytest.raises(ValueError, match="argmax.*non-empty"):
        cr.zeros(0).argmax()


def test_softmax_errors():
    with pytest.raises(IndexError, match="softmax: dim"):
        cr.softmax(cr.zeros(2, 3), dim=2)
    with pytest.raises(IndexError, match="log_softmax: dim"):
        cr.log_softmax(cr.zeros(2, 3), dim=-3)
    with pytest.raises(TypeError, match="softmax.*int64"):
        cr.softmax(cr.ones(2, dtype=cr.int64), 0)
    with pytest.raises(TypeError):
        cr.softmax(cr.zeros(2))  # dim is required


def test_to_and_device_errors():
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="to: cannot place a tensor on 'cuda'"):
            cr.zeros(2).to("cuda")
    with pytest.raises(ValueError, match="device"):
        cr.device("tpu")
    with pytest.raises(TypeError, match="device"):
        cr.device(3)
    with pytest.raises(TypeError, match="dtype"):
        cr.zeros(2).to(dtype="float64")


def test_in_place_on_leaf_requiring_grad():
    p = cr.zeros(2, requires_grad=True)
    for op in (
        lambda: p.zero_(),
        lambda: p.fill_(1.0),
        lambda: p.copy_(cr.ones(2)),
        lambda: p.uniform_(),
        lambda: p.normal_(),
    ):
        with pytest.raises(RuntimeError, match="in-place"):
            op()
    with cr.no_grad():
        p.fill_(2.0)
    assert p.tolist() == [2.0, 2.0]


def test_in_place_argument_errors():
    t = cr.zeros(2)
    with pytest.raises(ValueError, match=r"copy_: src has shape \(3,\) but the tensor has shape \(2,\)"):
        t.copy_(cr.ones(3))
    with pytest.raises(ValueError, match="normal_: std"):
        t.normal_(0, -1)


def test_grad_assignment_errors():
    p = cr.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"grad.*\(3,\).*\(2,\)"):
        p.grad = cr.zeros(3)
    with pytest.raises(ValueError, match="int64"):
        p.grad = cr.zeros(2, dtype=cr.int64)
    with pytest.raises(TypeError, match="data"):
        p.data = None


# ---- arithmetic ----------------------------------------------------------------------------------


def test_broadcast_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        cr.zeros(2, 3) + cr.zeros(2, 4)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        cr.zeros(3) * cr.zeros(4)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        cr.zeros(2, 3) / cr.zeros(3, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2,\)"):
        cr.zeros(2, 3) - np.zeros(2)


def test_bad_operand_types():
    t = cr.zeros(2)
    for bad in ("a", None, [1.0, 2.0], {}, object()):
        with pytest.raises(TypeError, match="other"):
            t + bad
        with pytest.raises(TypeError):
            bad * t


def test_int_pow_negative_exponent():
    with pytest.raises(ValueError, match="negative integer powers"):
        cr.tensor([2, 3]) ** -1
    with pytest.raises(ValueError, match="negative integer powers"):
        cr.tensor([2, 3]) ** cr.tensor([1, -2])
    assert (cr.tensor([2, 3]) ** -1.0).tolist() == pytest.approx([0.5, 1 / 3])


@pytest.mark.parametrize("fn", [F.leaky_relu, F.gelu])
def test_int64_into_float_only_ops(fn):
    with pytest.raises(TypeError, match="input must be a floating point tensor, got int64"):
        fn(cr.tensor([1, 2]))


@pytest.mark.parametrize(
    "fn, dtype",
    [
        (cr.exp, cr.float32),
        (cr.log, cr.float32),
        (cr.sigmoid, cr.float32),
        (cr.tanh, cr.float32),
        (cr.sqrt, cr.float32),
        (cr.relu, cr.int64),
        (cr.abs, cr.int64),
        (lambda t: t.exp(), cr.float32),
        (lambda t: t.neg(), cr.int64),
    ],
)
def test_int64_into_elementwise_ops_promotes_like_pytorch(fn, dtype):
    # PyTorch computes floating functions of integers in float32 and keeps int64 for abs/neg/relu.
    assert fn(cr.tensor([1, 2])).dtype == dtype


def test_unary_non_tensor_input():
    with pytest.raises(TypeError, match="input must be a chainrule.Tensor"):
        cr.relu([1.0])
    with pytest.raises(TypeError, match="input"):
        cr.exp(None)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(cr.zeros(2), approximate="fast")
    with pytest.raises(TypeError):
        F.leaky_relu(cr.zeros(2), "a")


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\)"):
        cr.zeros(2, 3) @ cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) and \(4, 2\)"):
        cr.zeros(2, 3, 4) @ cr.zeros(4, 2)
    with pytest.raises(ValueError, match=r"\(3,\) and \(\)"):
        cr.zeros(3) @ cr.tensor(2.0)
    with pytest.raises(ValueError, match="matmul"):
        cr.zeros(3) @ 2.0
    with pytest.raises(TypeError, match="float32.*float64"):
        cr.zeros(2, 2) @ cr.zeros(2, 2, dtype=cr.float64)
    with pytest.raises(TypeError, match="int64"):
        cr.ones(2, 2, dtype=cr.int64) @ cr.ones(2, 2, dtype=cr.int64)
    with pytest.raises(TypeError, match="other"):
        cr.zeros(2).matmul(None)
    with pytest.raises(TypeError, match="other"):
        cr.matmul(cr.zeros(2), "x")


def test_linear_errors():
    x = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"input has shape \(2, 3\) but weight has shape \(4, 5\)"):
        F.linear(x, cr.zeros(4, 5))
    with pytest.raises(ValueError, match=r"weight must be 2-D.*\(3,\)"):
        F.linear(x, cr.zeros(3))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\).*\(4, 3\)"):
        F.linear(x, cr.zeros(4, 3), cr.zeros(3))
    with pytest.raises(ValueError, match=r"input has shape \(\)"):
        F.linear(cr.tensor(1.0), cr.zeros(4, 3))
    with pytest.raises(TypeError, match="input is float32 but weight is int64"):
        F.linear(x, cr.ones(4, 3, dtype=cr.int64))
    with pytest.raises(TypeError, match="bias is float64 but weight is float32"):
        F.linear(x, cr.zeros(4, 3), cr.zeros(4, dtype=cr.float64))
    with pytest.raises(TypeError, match="weight"):
        F.linear(x, None)
    with pytest.raises(TypeError, match="bias"):
        F.linear(x, cr.zeros(4, 3), "b")


# ---- losses --------------------------------------------------------------------------------------

ELEMENTWISE_LOSSES = ["mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("loss", ELEMENTWISE_LOSSES)
def test_loss_shape_mismatch_names_both_shapes(loss):
    with pytest.raises(ValueError, match=rf"{loss}: input has shape \(2, 3\) but target has shape \(3, 2\)"):
        getattr(F, loss)(cr.rand(2, 3), cr.rand(3, 2))
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 1\)"):
        getattr(F, loss)(cr.rand(4), cr.rand(4, 1))


@pytest.mark.parametrize("loss", ELEMENTWISE_LOSSES + ["cross_entropy"])
def test_loss_bad_reduction_and_types(loss):
    f = getattr(F, loss)
    target = cr.tensor([0, 1]) if loss == "cross_entropy" else cr.rand(2, 2)
    with pytest.raises(ValueError, match="reduction.*'avg'"):
        f(cr.rand(2, 2), target, reduction="avg")
    with pytest.raises(TypeError, match=f"{loss}: input must be a floating point tensor, got int64"):
        f(cr.ones(2, 2, dtype=cr.int64), target)
    with pytest.raises(TypeError, match="target must be"):
        f(cr.rand(2, 2), None)
    with pytest.raises(TypeError, match="input must be"):
        f([[0.5]], target)


def test_huber_delta_and_bce_range():
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(cr.zeros(2), cr.zeros(2), delta=0.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(cr.zeros(2), cr.zeros(2), delta=-1.0)
    with pytest.raises(ValueError, match="binary_cross_entropy.*between 0 and 1.*element 1"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), cr.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([float("nan")]), cr.tensor([1.0]))
    with pytest.raises(RuntimeError, match="target"):
        F.binary_cross_entropy(cr.rand(2), cr.rand(2, requires_grad=True))
    # the edges are fine (log is clamped at -100 as in PyTorch)
    assert F.binary_cross_entropy(cr.tensor([0.0, 1.0]), cr.tensor([1.0, 0.0])).item() == pytest.approx(100.0)


def test_cross_entropy_errors():
    logits = cr.randn(2, 3)
    with pytest.raises(IndexError, match="cross_entropy: target 3 at index 1 is out of bounds for 3 classes"):
        F.cross_entropy(logits, cr.tensor([0, 3]))
    with pytest.raises(IndexError, match="target -1"):
        F.cross_entropy(logits, cr.tensor([-1, 0]))
    with pytest.raises(IndexError, match="target 7"):
        F.cross_entropy(logits, np.array([7, 0]))
    with pytest.raises(IndexError, match="target 3"):
        F.cross_entropy(cr.randn(3), cr.tensor(3))
    with pytest.raises(ValueError, match=r"target has shape \(3,\) but input has shape \(2, 3\)"):
        F.cross_entropy(logits, cr.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target has shape \(2, 1\)"):
        F.cross_entropy(logits, cr.tensor([[0], [1]]))
    with pytest.raises(ValueError, match=r"probability target has shape \(2,\) but input has shape \(2, 3\)"):
        F.cross_entropy(logits, cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"input must be \(N, C\).*\(2, 3, 4\)"):
        F.cross_entropy(cr.randn(2, 3, 4), cr.tensor([0, 1]))
    # the label buffer is validated before anything is computed
    labels = cr.tensor([0, 1])
    loss = F.cross_entropy(cr.randn(2, 3, requires_grad=True), labels)
    labels.numpy()[1] = 99  # overwriting labels after the forward must not corrupt backward
    loss.backward()


# ---- autograd ------------------------------------------------------------------------------------


def test_backward_twice():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_of_non_scalar():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()


def test_backward_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.zeros(2).sum().backward()
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_gradient_errors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(cr.ones(3))
    with pytest.raises(TypeError):
        (x * 2).backward(np.ones(2))
    with pytest.raises(RuntimeError, match="inputs"):
        (x * 2).sum().backward(inputs=[])


def test_requires_grad_false_on_non_leaf():
    y = cr.zeros(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_gradcheck_errors():
    from chainrule.autograd import gradcheck

    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t, (cr.zeros(2, dtype=cr.float64),))
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t, (cr.zeros(2, requires_grad=True),))
    nonleaf = cr.zeros(2, dtype=cr.float64, requires_grad=True) * 2
    with pytest.raises(ValueError, match="leaf"):
        gradcheck(lambda t: t, (nonleaf,))


def test_errors_leave_state_usable():
    # after a failed op nothing is half-recorded: the same tensors keep working
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError):
        x + cr.zeros(3)
    with pytest.raises(IndexError):
        F.cross_entropy(x.reshape(1, 2), cr.tensor([5]))
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    assert cr.is_grad_enabled()


def test_none_where_a_tensor_is_required_is_a_type_error():
    with pytest.raises(TypeError, match=r"params\[0\]"):
        cr._core.SgdStep(
            [None], [[None]], [0], lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
        )
    with pytest.raises(TypeError, match="other"):
        cr.zeros(2)._is_view_of(None)


def test_optimizer_steps_and_fit_loop_refuse_missing_tensors():
    from chainrule import _core, nn

    for call in (
        lambda: _core.SgdStep(
            [None], [[None]], [0], lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False
        ).step(),
        lambda: _core.AdamStep(
            [None],
            [[None]] * 3,
            [0],
            lr=0.1,
            beta1=0.9,
            beta2=0.99,
            eps=1e-8,
            weight_decay=0,
            amsgrad=False,
            maximize=False,
            decoupled_weight_decay=False,
        ),
        lambda: _core.RmspropStep(
            [None],
            [[None]] * 3,
            [0],
            lr=0.1,
            alpha=0.9,
            eps=1e-8,
            weight_decay=0,
            momentum=0,
            centered=False,
            maximize=False,
        ),
        lambda: _core.AdagradStep(
            [None],
            [[None]],
            [0],
            lr=0.1,
            lr_decay=0,
            weight_decay=0,
            initial_accumulator_value=0,
            eps=1e-10,
            maximize=False,
        ),
    ):
        with pytest.raises(TypeError, match=r"params\[0\]"):
            call()
    chain = nn.Sequential(nn.Linear(2, 2))._dense_chain()
    with pytest.raises(TypeError, match="X must be a Tensor"):
        _core.fit_batches(chain, None, None, None, 1, 0, 1, _core.LossKind.mse, _core.Reduction.mean, 0.0, [], False)
    with pytest.raises(TypeError, match="steps"):
        _core.fit_batches(
            chain,
            cr.zeros(1, 2),
            cr.zeros(1, 2),
            None,
            1,
            0,
            1,
            _core.LossKind.mse,
            _core.Reduction.mean,
            0.0,
            [None],
            False,
        )
    # A row order must be a permutation's entries, each in [0, N): out-of-range ones (negative,
    # N, the int64 extremes) are refused before any batch runs.
    X, y = cr.zeros(4, 2), cr.zeros(4, 2)
    for bad in (-1, 4, -(2**63), 2**63 - 1):
        order = cr.tensor([0, 1, bad, 3], dtype=cr.int64)
        with pytest.raises(IndexError, match="order entry out of range"):
            _core.fit_batches(chain, X, y, order, 2, 0, 2, _core.LossKind.mse, _core.Reduction.mean, 0.0, [], False)
    for bad in (-1, 2**64):  # a seed of the order fit_batches draws itself
        with pytest.raises(ValueError, match=r"order, given as a seed, must be an int in \[0, 2\*\*64\)"):
            _core.fit_batches(chain, X, y, bad, 2, 0, 2, _core.LossKind.mse, _core.Reduction.mean, 0.0, [], False)
    order = cr.tensor([3, 1, 2, 0], dtype=cr.int64)
    losses, sizes, _ = _core.fit_batches(
        chain, X, y, order, 2, 0, 2, _core.LossKind.mse, _core.Reduction.mean, 0.0, [], False
    )
    assert sizes == [2, 2] and len(losses) == 2 and losses[0] == losses[1]  # all rows alike
