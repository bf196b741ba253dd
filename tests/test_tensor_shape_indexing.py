"""Shape ops, joining/splitting, indexing (read and write) and in-place ops, against PyTorch."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck, gradgradcheck
from optional_dependencies import require

torch = require("torch")


def pair(shape, seed=0, dtype=np.float64):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return cr.from_numpy(a.copy()), torch.from_numpy(a.copy())


def check(ours, theirs, atol=1e-6):
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    np.testing.assert_allclose(
        ours.detach().numpy().astype(np.float64), theirs.detach().numpy().astype(np.float64), atol=atol
    )


def grads_match(fn, shape, seed=1):
    a, ta = pair(shape, seed)
    x, tx = a.detach().requires_grad_(), ta.detach().requires_grad_()
    out, tout = fn(x, cr), fn(tx, torch)
    check(out, tout)
    w = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
    (out * cr.from_numpy(w.copy())).sum().backward()
    (tout * torch.from_numpy(w.copy())).sum().backward()
    check(x.grad, tx.grad)
    x.grad = None
    assert gradcheck(lambda v: fn(v, cr), [x])
    assert gradgradcheck(lambda v: fn(v, cr) * fn(v, cr), [x])


SHAPE_OPS = {
    "view": ((2, 3, 4), lambda t, m: t.view(4, -1)),
    "reshape": ((2, 3, 4), lambda t, m: t.reshape(-1)),
    "flatten": ((2, 3, 4), lambda t, m: t.flatten(1)),
    "flatten_all": ((2, 3, 4), lambda t, m: m.flatten(t)),
    "unflatten": ((2, 12), lambda t, m: t.unflatten(1, (3, 4))),
    "squeeze": ((2, 1, 3, 1), lambda t, m: t.squeeze()),
    "squeeze_dim": ((2, 1, 3, 1), lambda t, m: t.squeeze(1)),
    "unsqueeze": ((2, 3), lambda t, m: t.unsqueeze(-1)),
    "permute": ((2, 3, 4), lambda t, m: t.permute(2, 0, 1)),
    "transpose": ((2, 3, 4), lambda t, m: t.transpose(0, 2)),
    "transpose2d": ((3, 4), lambda t, m: m.transpose(t, 0, 1)),
    "t": ((3, 4), lambda t, m: t.t()),
    "T": ((3, 4), lambda t, m: t.T),
    "expand": ((3, 1), lambda t, m: t.expand(3, 4)),
    "expand_new_dim": ((3,), lambda t, m: t.expand(2, 3)),
    "expand_as": ((1, 4), lambda t, m: t.expand_as(m.zeros(3, 4, dtype=m.float64))),
    "repeat": ((2, 3), lambda t, m: t.repeat(2, 1, 3)),
    "cat": ((2, 3), lambda t, m: m.cat([t, t * 2, t[:1]], dim=0)),
    "cat_dim1": ((2, 3), lambda t, m: m.cat([t, t * 2], dim=1)),
    "stack": ((2, 3), lambda t, m: m.stack([t, t * 3], dim=1)),
    "split": ((5, 3), lambda t, m: t.split(2)[2] + t.split([1, 4])[0]),
    "split_dim1": ((2, 5), lambda t, m: t.split(2, dim=1)[1]),
    "chunk": ((6, 2), lambda t, m: t.chunk(3)[1] * t.chunk(3, dim=0)[2]),
    "index_cols": ((3, 4), lambda t, m: t[:, 0]),
    "index_mixed": ((3, 4, 5), lambda t, m: t[1:, None, ..., ::2]),
    "index_neg_step_free": ((4, 3), lambda t, m: t[-1, 1:]),
    "index_tensor": ((5, 3), lambda t, m: t[m.tensor([0, 2, 2])]),
    "index_tensor_axis1": ((3, 4), lambda t, m: t[:, m.tensor([3, 0])]),
    "index_bool": ((4, 3), lambda t, m: t[m.tensor([True, False, True, True])]),
    "index_bool_full": ((4, 3), lambda t, m: t[t > 0]),
    "index_true": ((2, 3), lambda t, m: t[True]),
    "index_select": ((4, 3), lambda t, m: m.index_select(t, 1, m.tensor([2, 0]))),
    "gather": ((3, 4), lambda t, m: m.gather(t, 1, m.tensor([[0, 0], [1, 3], [2, 1]]))),
    "flip": ((3, 4), lambda t, m: t.flip([0, 1])),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_matches_pytorch_with_gradients(name):
    shape, fn = SHAPE_OPS[name]
    grads_match(fn, shape)


def test_size_dim_numel_len_iteration():
    t = cr.zeros(2, 3, 4)
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert isinstance(t.size(), cr.Size) and repr(t.size()) == "chainrule.Size([2, 3, 4])"
    assert t.dim() == t.ndim == 3 and t.numel() == 24 and len(t) == 2
    rows = list(cr.arange(6).reshape(3, 2))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    assert cr.zeros(0, 3).size() == (0, 3)


def test_zero_size_shapes():
    e, te = pair((0, 3))
    check(cr.cat([e, pair((2, 3))[0]]), torch.cat([te, pair((2, 3))[1]]))
    check(e.sum(0), te.sum(0))
    check(e.permute(1, 0), te.permute(1, 0))
    check(e[:, 1], te[:, 1])


def test_one_hot():
    labels = cr.tensor([0, 2, 1])
    ours = cr.nn.functional.one_hot(labels, 4) if hasattr(cr.nn.functional, "one_hot") else None
    from chainrule._tensor_ops import one_hot

    expected = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 4)
    check(one_hot(labels, 4), expected)
    check(one_hot(labels), torch.nn.functional.one_hot(torch.tensor([0, 2, 1])))
    if ours is not None:
        check(ours, expected)


def test_setitem_writes_into_the_tensor():
    a, ta = pair((3, 4))
    for index, value in [((slice(None), 0), 5.0), ((1,), 2.0), ((slice(0, 2), slice(1, 3)), -1.0)]:
        a[index] = value
        ta[index] = value
    a[a > 1] = 0.5
    ta[ta > 1] = 0.5
    a[cr.tensor([0, 2])] = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64)
    ta[torch.tensor([0, 2])] = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    check(a, ta)
    w = cr.zeros(2, 3)
    ptr = w._data_ptr()
    w[:, 1] = 7.0
    assert w._data_ptr() == ptr and w[:, 1].tolist() == [7.0, 7.0]


def test_setitem_is_differentiable():
    def f(v, m):
        y = v * 1.0
        y[:, 1] = v[:, 0] * 3
        return y

    grads_match(f, (3, 4))


def test_bad_indices_raise_index_errors():
    t = cr.zeros(3, 4)
    with pytest.raises(IndexError):
        t[cr.tensor([0.0, 1.0])]  # float index tensor: PyTorch refuses it, never truncates
    with pytest.raises(IndexError):
        t[[0.5, 1.0]]
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(IndexError):
        t[:, 4]
    with pytest.raises(IndexError):
        t[cr.tensor([0, 5])]
    with pytest.raises(IndexError):
        t[cr.tensor([True, False])]  # wrong mask length
    with pytest.raises(ValueError, match="invalid for input"):
        t.view(5, 3)
    with pytest.raises(ValueError, match="broadcast"):
        t + cr.zeros(3)


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "__iadd__", "__isub__", "__imul__", "__itruediv__"])
def test_inplace_ops_keep_the_object(op):
    a, ta = pair((3, 4))
    b, tb = pair((4,), 3)
    ptr, obj = a._data_ptr(), a
    result = getattr(a, op)(b)
    getattr(ta, op)(tb)
    assert result is obj and a._data_ptr() == ptr
    check(a, ta)


def test_manual_sgd_update_changes_the_weights():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    before = w
    with cr.no_grad():
        w -= 0.1 * w.grad
    assert w is before
    assert w.tolist() == pytest.approx([0.8, 1.6])
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1)


def test_inplace_on_graph_tensor_is_recorded():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y, ty = x * 2, tx * 2
    y *= x
    ty *= tx
    y.add_(x, alpha=3)
    ty.add_(tx, alpha=3)
    y.sum().backward()
    ty.sum().backward()
    check(x.grad, tx.grad)


def test_other_inplace_ops():
    a, ta = pair((3, 4))
    for name, args in [("clamp_", (-0.5, 0.5)), ("mul_", (2,)), ("fill_", (3.0,)), ("zero_", ())]:
        getattr(a, name)(*args)
        getattr(ta, name)(*args)
        check(a, ta)
    a.copy_(cr.ones(4, dtype=cr.float64))
    ta.copy_(torch.ones(4, dtype=torch.float64))
    check(a, ta)
    n = cr.zeros(1000).normal_(1.0, 2.0)
    assert abs(n.mean().item() - 1.0) < 0.3
    u = cr.zeros(1000).uniform_(2, 3)
    assert u.min().item() >= 2 and u.max().item() <= 3
    i = cr.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 0.5


def test_data_and_grad_assignment():
    w = cr.ones(2, requires_grad=True)
    d = w.data
    assert not d.requires_grad and d._data_ptr() == w._data_ptr()
    w.data = cr.zeros(2)
    assert w.tolist() == [0.0, 0.0] and w.requires_grad
    w.grad = cr.ones(2)
    assert w.grad.tolist() == [1.0, 1.0]
    w.grad = None
    assert w.grad is None
