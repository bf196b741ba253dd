"""In-place writes: the version counter autograd checks saved tensors against, and read-only memory.

Every in-place write (fill_, zero_, copy_, optimizer steps, `.data =`, gradient accumulation) goes
through one gate in the core: it refuses memory NumPy marks read-only and moves the version on, so a
backward that needs the old values raises PyTorch's "modified by an inplace operation" error.
"""

import mmap

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

MODIFIED = "modified by an inplace operation"


def _read_only_array(n=6):
    a = np.arange(n, dtype=np.float32)
    a.flags.writeable = False
    return a


def _from_numpy(a):
    with pytest.warns(UserWarning, match="not writable"):
        return cr.from_numpy(a)


# ---- the version counter -------------------------------------------------------------------------


def test_version_moves_with_every_inplace_write_and_is_shared_by_views():
    t = cr.zeros(4, 3)
    view = t[1:3]
    v0 = t._version
    t.fill_(1.0)
    assert t._version == v0 + 1 and view._version == t._version
    view.zero_()
    assert t._version == v0 + 2
    t.copy_(cr.ones(4, 3))
    t.uniform_()
    t.normal_()
    assert t._version == v0 + 5
    assert t.reshape(12)._version == t._version and t.detach()._version == t._version


def test_backward_raises_when_a_saved_input_was_written():
    x = cr.randn(3, 4, requires_grad=True)
    w = cr.randn(3, 4)
    y = (x * w).sum()
    w.fill_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_backward_raises_when_a_saved_output_was_written():
    x = cr.randn(5, requires_grad=True)
    y = x.exp()
    z = y.sum()
    y.detach().zero_()  # the same memory the exp node saved
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.backward()


def test_backward_raises_after_an_optimizer_step_changed_a_saved_weight():
    lin = nn.Linear(4, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    lin(cr.randn(3, 4)).sum().backward()
    loss = lin(cr.randn(3, 4)).sum()
    opt.step()  # writes the weight the new graph saved
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_writes_after_backward_are_fine():
    x = cr.randn(3, requires_grad=True)
    w = cr.randn(3)
    (x * w).sum().backward()
    w.fill_(0.0)
    np.testing.assert_allclose(x.grad.numpy(), w.numpy() * 0 + x.grad.numpy())


@pytest.mark.parametrize("change", ["step", "fill", "data", "input", "output"])
def test_fused_chain_backward_detects_changed_parameters(change):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = cr.randn(3, 4)
    out = model(x)
    if change == "step":
        model(cr.randn(3, 4)).sum().backward()
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9).step()
    elif change == "fill":
        with cr.no_grad():
            model[2].bias.fill_(1.0)
    elif change == "data":
        model[2].weight.data = cr.randn(2, 100000)  # would be read out of bounds
    elif change == "input":
        x.fill_(0.0)
    else:
        out.detach().zero_()
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.sum().backward()


def test_fused_chain_backward_unchanged_still_matches_unfused():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    x = cr.randn(5, 4)
    model(x).sum().backward()
    fused = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    h = cr.nn.functional.linear(x, model[0].weight, model[0].bias).tanh()
    cr.nn.functional.linear(h, model[2].weight, model[2].bias).sum().backward()
    for a, p in zip(fused, model.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_data_assignment_moves_the_old_memory_on():
    w = cr.randn(3, 3, requires_grad=True)
    x = cr.randn(2, 3)
    y = cr.nn.functional.linear(x, w).sum()
    w.data = cr.randn(3, 3)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


@pytest.mark.parametrize(
    "op",
    [
        lambda x, w: (x * w).sum(),
        lambda x, w: (x - w).exp().sum(),
        lambda x, w: cr.nn.functional.mse_loss(x, w),
        lambda x, w: (x @ w).sum(),
    ],
    ids=["mul", "sub-exp", "mse_loss", "matmul"],
)
def test_data_assignment_of_any_saved_input_raises_at_backward(op):
    # Inputs are saved as themselves (outputs as aliases): re-pointing one with `.data =`, even at
    # a block of the same shape, must still be caught.
    w = cr.randn(3, 3, requires_grad=True)
    x = cr.randn(3, 3, requires_grad=True)
    y = op(x, w)
    w.data = cr.randn(3, 3)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


# ---- read-only memory --------------------------------------------------------------------------


def _read_only_sources(tmp_path):
    a = _read_only_array()
    path = tmp_path / "ro.bin"
    np.arange(6, dtype=np.float32).tofile(path)
    memmap = np.memmap(path, dtype=np.float32, mode="r", shape=(6,))
    payload = np.arange(6, dtype=np.float32).tobytes()
    over_bytes = np.frombuffer(payload, dtype=np.float32)
    return {"flag": a, "memmap": memmap, "bytes": over_bytes}, payload


@pytest.mark.parametrize("source", ["flag", "memmap", "bytes"])
@pytest.mark.parametrize(
    "write",
    [
        "fill_",
        "zero_",
        "copy_",
        "uniform_",
        "normal_",
        "add_grad",
        "sgd",
        "adam",
        "rmsprop",
        "adagrad",
        "view",
        "numpy",
    ],
)
def test_read_only_tensors_refuse_every_inplace_write(tmp_path, source, write):
    sources, payload = _read_only_sources(tmp_path)
    array = sources[source]
    before = np.array(array)
    t = _from_numpy(array)
    with pytest.raises(ValueError, match="read-only"):
        if write == "fill_":
            t.fill_(1.0)
        elif write == "zero_":
            t.zero_()
        elif write == "copy_":
            t.copy_(cr.ones(6))
        elif write == "uniform_":
            t.uniform_()
        elif write == "normal_":
            t.normal_()
        elif write == "view":
            t[2:4].fill_(3.0)
        elif write == "numpy":
            t.numpy()[0] = 5.0  # NumPy itself refuses: the array view is read-only too
        elif write == "add_grad":
            p = cr.zeros(6, requires_grad=True)
            p.grad = t  # accumulating into a read-only .grad
            (p * 2).sum().backward()
        else:
            p = t.detach()
            p.requires_grad = True
            p.grad = cr.ones(6)
            opt = {
                "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                "adam": lambda ps: optim.Adam(ps),
                "rmsprop": lambda ps: optim.RMSprop(ps),
                "adagrad": lambda ps: optim.Adagrad(ps),
            }[write]([p])
            opt.step()
    np.testing.assert_array_equal(np.array(array), before)
    if source == "bytes":
        assert payload == np.arange(6, dtype=np.float32).tobytes()


def test_read_only_tensors_still_read_and_clone_writable():
    t = _from_numpy(_read_only_array())
    np.testing.assert_array_equal((t * 2).numpy(), np.arange(6) * 2)
    c = t.clone()
    c.fill_(1.0)
    assert c.numpy().flags.writeable and not t.numpy().flags.writeable
    model = nn.Linear(6, 2)
    model(t)  # inference over read-only inputs


def test_optimizer_step_on_read_only_parameter_changes_nothing():
    a = cr.ones(3, requires_grad=True)
    b = _from_numpy(_read_only_array(3))
    b.requires_grad = True
    a.grad, b.grad = cr.ones(3), cr.ones(3)
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD([a, b], lr=1.0).step()
    np.testing.assert_array_equal(a.detach().numpy(), np.ones(3))  # the step stopped before any write


def test_read_only_state_from_load_state_dict_is_refused_not_written():
    p = cr.ones(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = cr.ones(3)
    opt.step()
    state = opt.state_dict()
    buf = np.array(state["state"][0]["momentum_buffer"].numpy())
    buf.flags.writeable = False
    state["state"][0]["momentum_buffer"] = _from_numpy(buf)
    opt.load_state_dict(state)
    try:
        opt.step()
    except ValueError as e:  # refused; or load_state_dict copied it into writable memory
        assert "read-only" in str(e)
    assert not buf.flags.writeable and np.isfinite(buf).all()


def test_memmap_mode_r_is_never_written(tmp_path):
    path = tmp_path / "w.bin"
    np.ones(8, dtype=np.float32).tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=(8,))
    t = _from_numpy(mm)
    with pytest.raises(ValueError, match="read-only"):
        t.fill_(0.0)
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        assert np.frombuffer(m, dtype=np.float32).tolist() == [1.0] * 8
        m.close()
