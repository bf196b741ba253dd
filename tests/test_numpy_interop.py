"""Zero-copy exchange with NumPy in both directions, and the lifetimes that keep it safe."""

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

DTYPES = [(np.float32, cr.float32), (np.float64, cr.float64), (np.int64, cr.int64)]


@pytest.mark.parametrize("np_dtype,dtype", DTYPES)
def test_from_numpy_shares_memory_both_ways(np_dtype, dtype):
    a = np.arange(12, dtype=np_dtype).reshape(3, 4)
    t = cr.from_numpy(a)
    assert t.dtype == dtype and t.shape == (3, 4)
    b = t.numpy()
    assert np.shares_memory(a, b) and b.dtype == np_dtype
    a[0, 0] = 100
    assert t.tolist()[0][0] == 100 and b[0, 0] == 100
    b[2, 3] = -5
    assert a[2, 3] == -5 and t[2, 3].item() == -5
    t.zero_()
    assert (a == 0).all()


def test_numpy_of_fresh_tensor_is_a_view():
    t = cr.ones(2, 3)
    a = t.numpy()
    a[1, 1] = 7
    assert t.tolist()[1][1] == 7
    assert np.shares_memory(a, t.numpy())
    assert a.flags.c_contiguous and a.flags.writeable


def test_scalar_and_empty_arrays():
    t = cr.from_numpy(np.array(3.5))
    assert t.shape == () and t.item() == 3.5
    assert t.numpy().shape == ()
    e = cr.from_numpy(np.zeros((0, 4), np.float32))
    assert e.shape == (0, 4) and e.numpy().shape == (0, 4)
    assert cr.zeros(0, 3).numpy().shape == (0, 3)


def test_array_outlives_tensor():
    a = np.arange(1000, dtype=np.float64)
    t = cr.from_numpy(a)
    t2 = t.reshape(10, 100)
    del t, t2
    gc.collect()
    a[:] = 1.0  # still ours
    assert a.sum() == 1000.0


def test_tensor_outlives_array():
    a = np.arange(1000, dtype=np.float32)
    ref = weakref.ref(a) if hasattr(a, "__weakref__") else None
    t = cr.from_numpy(a)
    del a
    gc.collect()
    # the tensor keeps the array's memory alive
    assert t.sum().item() == sum(range(1000))
    t.numpy()[:] = 2.0
    assert t.sum().item() == 2000.0
    if ref is not None:
        assert ref() is not None
    del t
    gc.collect()
    if ref is not None:
        assert ref() is None  # ...and lets it go when the tensor dies


def test_numpy_view_outlives_tensor():
    t = cr.full((256, 256), 3.0)
    a = t.numpy()
    v = t[10:20].numpy()
    del t
    gc.collect()
    _ = [cr.randn(256, 256) for _ in range(4)]  # would reuse freed memory
    assert (a == 3.0).all() and (v == 3.0).all()
    a[:] = 4.0
    assert (v == 4.0).all()


def test_round_trip_chain_lifetimes():
    a = np.ones(50, dtype=np.float32)
    t = cr.from_numpy(a)
    b = t.numpy()
    t2 = cr.from_numpy(b)
    del a, t, b
    gc.collect()
    assert t2.sum().item() == 50.0
    c = t2.numpy()
    del t2
    gc.collect()
    assert c.sum() == 50.0


def test_parameter_and_grad_numpy_views():
    p = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    w = p.detach().numpy()
    with pytest.raises(RuntimeError, match="detach"):
        p.numpy()
    w[0, 0] = 10.0
    assert p.tolist()[0][0] == 10.0  # detach().numpy() is a view of the parameter
    (p * p).sum().backward()
    g = p.grad.numpy()
    np.testing.assert_allclose(g, 2 * p.detach().numpy())
    (p * 1).sum().backward()  # accumulates in place: the old view sees it
    np.testing.assert_allclose(g, 2 * p.detach().numpy() + 1)
    assert np.shares_memory(g, p.grad.numpy())
    g[:] = 0
    assert p.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    del p
    gc.collect()
    assert w[0, 0] == 10.0 and (g == 0).all()


def test_detach_is_a_view():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    d = p.detach()
    assert np.shares_memory(d.numpy(), p.detach().numpy())


def test_non_contiguous_is_refused_with_advice():
    a = np.zeros((4, 4), np.float32)
    for bad in (a[:, ::2], a.T, a[::2]):
        with pytest.raises(ValueError, match="np.ascontiguousarray"):
            cr.from_numpy(bad)
    t = cr.from_numpy(np.ascontiguousarray(a.T))
    assert t.shape == (4, 4)


def test_from_numpy_type_errors():
    with pytest.raises(TypeError, match="int16"):
        cr.from_numpy(np.zeros(3, np.int16))
    with pytest.raises(TypeError, match="ndarray"):
        cr.from_numpy([1.0, 2.0])
    with pytest.raises(ValueError, match="byte order"):
        cr.from_numpy(np.zeros(3, dtype=">f4"))


def test_as_tensor_shares_when_possible():
    a = np.arange(6, dtype=np.float32)
    t = cr.as_tensor(a)
    assert np.shares_memory(t.numpy(), a)
    t64 = cr.as_tensor(a, dtype=cr.float64)
    assert t64.dtype == cr.float64 and not np.shares_memory(t64.numpy(), a)
    i32 = cr.as_tensor(np.arange(3, dtype=np.int32))
    assert i32.dtype == cr.int32  # as torch.as_tensor keeps int32
    assert cr.as_tensor(t) is t
    assert cr.as_tensor([1.0, 2.0]).dtype == cr.float32
    nc = np.zeros((3, 3))[:, 1]
    assert cr.as_tensor(nc).shape == (3,)


def test_functions_accept_numpy_arrays_zero_copy():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    w = cr.randn(2, 3)
    out = F.linear(x, w)
    np.testing.assert_allclose(out.numpy(), x @ w.numpy().T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.relu(x).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(cr.exp(x).numpy(), np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(cr.softmax(x, dim=1).numpy().sum(axis=1), np.ones(4), rtol=1e-6)


def test_losses_accept_numpy_arrays():
    pred = cr.tensor([[0.2, 0.8], [0.6, 0.4]], requires_grad=True)
    target = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    loss = F.mse_loss(pred, target)
    np.testing.assert_allclose(loss.item(), np.mean((pred.detach().numpy() - target) ** 2), rtol=1e-6)
    loss.backward()
    assert pred.grad is not None
    # other dtypes are converted once (float64 target -> input's dtype, int labels, int32 class ids)
    assert F.mse_loss(pred, target.astype(np.float64)).dtype == cr.float32
    assert F.binary_cross_entropy(pred, target.astype(np.int64)).item() > 0
    logits = cr.randn(3, 4)
    for labels in (np.array([0, 3, 1]), np.array([0, 3, 1], np.int32)):
        a = F.cross_entropy(logits, labels).item()
        b = F.cross_entropy(logits, cr.tensor([0, 3, 1])).item()
        assert a == b
    nc = np.asfortranarray(np.ones((2, 2), np.float32))
    assert F.mse_loss(pred, nc).item() >= 0


def test_loss_reads_contiguous_input_in_place():
    # The input array is the tensor: its gradient path writes nothing into it, and a later
    # in-place change to the array is seen by a fresh call.
    x = np.array([1.0, 2.0], np.float32)
    first = F.mse_loss(x, np.zeros(2, np.float32)).item()
    x[:] = 0
    assert F.mse_loss(x, np.zeros(2, np.float32)).item() == 0.0 and first == 2.5


def test_tensor_ops_with_ndarray_operands():
    t = cr.tensor([1.0, 2.0])
    a = np.array([3.0, 4.0], np.float32)
    assert (t + a).tolist() == [4.0, 6.0]
    assert (a + t).tolist() == [4.0, 6.0]
    assert isinstance(a * t, cr.Tensor)
    assert (t @ a).item() == 11.0


def test_array_protocol_copies_nothing_for_plain_tensors():
    t = cr.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert np.shares_memory(a, t.numpy())


def test_writes_through_slices_and_reshapes():
    a = np.zeros((4, 3), np.float64)
    t = cr.from_numpy(a)
    t[2].fill_(5.0)
    t.reshape(12)[0:1].fill_(1.0)
    assert a[2].tolist() == [5.0] * 3 and a[0, 0] == 1.0


def test_many_round_trips_do_not_leak_or_crash():
    for _ in range(200):
        a = np.ones(1000, np.float32)
        t = cr.from_numpy(a)
        b = t.numpy()
        del a
        t2 = cr.from_numpy(b)
        del t, b
        assert t2.sum().item() == 1000.0
    gc.collect()
