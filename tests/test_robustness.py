"""Inputs that could crash the process or run into undefined behaviour: each gives a value or a
clear Python exception (regression tests for the hostile-input report)."""

import json
import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

# ---- zero-size dimensions (an integer division by zero in the fused chain would raise SIGFPE) ----


@pytest.mark.parametrize("shape_in", [(5, 0), (0, 0), (2, 3, 0)])
def test_fused_chain_with_zero_in_features(shape_in):
    model = nn.Sequential(nn.Linear(0, 4))
    x = cr.zeros(*shape_in)
    out = model(x)
    assert out.shape == shape_in[:-1] + (4,)
    np.testing.assert_array_equal(out.detach().numpy(), np.broadcast_to(model[0].bias.detach().numpy(), out.shape))
    out.sum().backward()
    assert model[0].weight.grad.shape == (4, 0)
    np.testing.assert_array_equal(model[0].bias.grad.numpy(), np.full(4, np.prod(shape_in[:-1])))


@pytest.mark.parametrize(
    "layers",
    [[nn.Linear(0, 4)], [nn.Linear(3, 0), nn.ReLU(), nn.Linear(0, 2)], [nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)]],
)
@pytest.mark.parametrize("rows", [0, 5])
def test_fused_chain_zero_size_matches_unfused(layers, rows):
    model = nn.Sequential(*layers)
    x = cr.randn(rows, layers[0].in_features)
    out = model(x)
    ref = x
    for layer in layers:
        ref = layer(ref) if not isinstance(layer, nn.Linear) else cr.nn.functional.linear(ref, layer.weight, layer.bias)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("native", [True, False])
def test_fit_with_zero_in_features(native):
    model = nn.Sequential(nn.Linear(0, 4))
    opt = optim.SGD(model.parameters(), lr=0.1)
    X, y = np.zeros((5, 0), np.float32), np.zeros((5, 4), np.float32)
    history = cr.fit(model, nn.MSELoss(), opt, X, y, epochs=2, batch_size=2, progress=False, native=native)
    assert len(history.history["loss"]) == 2


def test_fit_with_zero_samples():
    model = nn.Sequential(nn.Linear(3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    cr.fit(
        model, nn.MSELoss(), opt, np.zeros((0, 3), np.float32), np.zeros((0, 2), np.float32), epochs=1, progress=False
    )


# ---- optimizer state that no longer matches its parameter (unchecked, a heap overflow) ---------


def test_sgd_momentum_buffer_shape_is_checked():
    m = nn.Linear(4, 4)
    o = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(cr.randn(2, 4)).sum().backward()
    o.step()
    m.weight.data = cr.randn(4000, 4000)
    m.weight.grad = cr.ones(4000, 4000)
    with pytest.raises(ValueError, match="momentum_buffer"):
        o.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.Adam(ps),
        lambda ps: optim.RMSprop(ps, momentum=0.5, centered=True),
        lambda ps: optim.Adagrad(ps),
        lambda ps: optim.AdamW(ps, amsgrad=True),
    ],
)
def test_stateful_optimizers_check_state_shapes(make):
    m = nn.Linear(3, 3)
    o = make(m.parameters())
    m(cr.randn(2, 3)).sum().backward()
    o.step()
    m.weight.data = cr.randn(30, 30)
    m.weight.grad = cr.ones(30, 30)
    with pytest.raises(ValueError, match="state"):
        o.step()


# ---- NumPy buffers at odd addresses --------------------------------------------------------------


def _misaligned(dtype, n=7):
    raw = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    a = raw[1:].view(dtype)
    a[...] = np.arange(n)
    assert a.ctypes.data % a.itemsize
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_misaligned_arrays_are_refused_by_from_numpy_and_copied_elsewhere(dtype):
    a = _misaligned(dtype)
    with pytest.raises(ValueError, match="aligned"):
        cr.from_numpy(a)
    t = cr.tensor(a)
    np.testing.assert_array_equal(t.numpy(), np.arange(7))
    x = _misaligned(np.float32, 8).reshape(2, 4)
    out = nn.Linear(4, 3)(x)  # modules copy NumPy inputs they cannot share
    assert out.shape == (2, 3)
    np.testing.assert_allclose((cr.ones(7, dtype=cr.float64) + _misaligned(np.float64)).numpy(), np.arange(7) + 1)


# ---- integer overflow wraps, as in NumPy, without signed-overflow UB ------------------------------


def test_int64_arithmetic_wraps_like_numpy():
    a = np.array([2**62, -(2**63), 2**63 - 1, 3], np.int64)
    b = np.array([2, -1, 1, -5], np.int64)
    t, u = cr.from_numpy(a.copy()), cr.from_numpy(b.copy())
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((t * u).numpy(), a * b)
        np.testing.assert_array_equal((t + u).numpy(), a + b)
        np.testing.assert_array_equal((t - u).numpy(), a - b)
        np.testing.assert_array_equal((t * 2).numpy(), a * 2)
        np.testing.assert_array_equal((-t).numpy(), -a)
    big = cr.from_numpy(np.full((3, 2), 2**62, np.int64))
    assert big.sum().item() == int(np.full((3, 2), 2**62, np.int64).sum())
    np.testing.assert_array_equal(big.sum(dim=0).numpy(), np.full((3, 2), 2**62, np.int64).sum(axis=0))


def test_randint_over_the_whole_int64_range():
    t = cr.randint(-(2**63), 2**63 - 1, (1000,))
    assert t.dtype == cr.int64 and t.numpy().min() < 0 < t.numpy().max()


# ---- float -> int conversions of NaN and inf -----------------------------------------------------


def test_float_to_int_casts_of_non_finite_values_are_defined():
    x = cr.tensor([np.nan, np.inf, -np.inf, 1e300, -2.7, 2.7], dtype=cr.float64)
    got = x.long().numpy()
    assert got[4] == -2 and got[5] == 2
    assert (got[:4] == np.iinfo(np.int64).min).all()  # what x86 (and so NumPy, PyTorch) give
    assert cr.full((2,), float("nan"), dtype=cr.int64).numpy().tolist() == [np.iinfo(np.int64).min] * 2


# ---- fit's batch arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("batch_size", [2**63 - 1, 2**64, 10**30])
def test_fit_with_huge_batch_size_is_one_batch(native, batch_size):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    X, y = np.random.rand(10, 3).astype(np.float32), np.random.rand(10, 2).astype(np.float32)
    history = cr.fit(
        model, nn.MSELoss(), opt, X, y, epochs=1, batch_size=batch_size, progress=False, native=native, shuffle=False
    )
    assert len(history.history["loss"]) == 1


# ---- the model's lock is waited for without the GIL ---------------------------------------------


def test_forward_during_fit_does_not_freeze_other_threads():
    model = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128))
    opt = optim.SGD(model.parameters(), lr=1e-4)
    X = np.random.rand(8192, 128).astype(np.float32)
    y = np.random.rand(8192, 128).astype(np.float32)
    weight = model[0].weight
    version_before = weight._version
    done = threading.Event()
    window = []

    def train():
        cr.fit(model, nn.MSELoss(), opt, X, y, epochs=1, batch_size=16, progress=False, native=True)
        done.set()

    def infer():
        # Once the first step has moved the weight's version, the native loop holds the model's
        # lock for the rest of the epoch (hundreds of batches): this call has to wait for it.
        while weight._version == version_before and not done.is_set():
            time.sleep(0)
        window.append(len(beats))
        with cr.no_grad():
            model(cr.randn(2, 128))
        window.append(len(beats))

    beats = []

    def heartbeat():
        while not done.is_set():
            beats.append(None)
            time.sleep(0.0005)

    threads = [threading.Thread(target=f) for f in (train, infer, heartbeat)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A waiter holding the GIL would stop the heartbeat for the whole wait (one beat at most).
    assert window[1] - window[0] > 3


def test_long_forward_and_backward_let_other_threads_run():
    # Small calls keep the GIL (letting it go costs more than their work); long ones let it go.
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024))
    x = cr.randn(1024, 1024)
    stop = threading.Event()
    beats = []

    def heartbeat():
        while not stop.is_set():
            beats.append(None)
            time.sleep(0.0002)

    thread = threading.Thread(target=heartbeat)
    thread.start()
    try:
        time.sleep(0.01)
        during = []
        for _ in range(3):
            before = len(beats)
            model(x).sum().backward()  # about 13 GFLOP: tens of milliseconds or more
            during.append(len(beats) - before)
    finally:
        stop.set()
        thread.join()
    assert max(during) > 3


# ---- 0-d inputs keep their shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        nn.MSELoss,
        nn.L1Loss,
        nn.HuberLoss,
        nn.BCELoss,
        nn.BCEWithLogitsLoss,
        nn.SmoothL1Loss,
        nn.KLDivLoss,
        nn.PoissonNLLLoss,
    ],
)
def test_zero_dim_inputs_keep_their_shape_in_unreduced_losses(loss):
    x, t = cr.tensor(0.25), cr.tensor(1.0)
    out = loss(reduction="none")(x, t)
    assert out.shape == ()
    assert loss(reduction="mean")(x, t).shape == ()


def test_zero_dim_numpy_values_stay_zero_dim():
    # np.ascontiguousarray would make them (1,); PyTorch keeps ().
    from chainrule.utils.data import default_convert

    assert default_convert(np.array(2.0)).shape == ()
    assert nn.Embedding(5, 3)(np.array(2)).shape == (3,)
    x = cr.tensor(0.5, requires_grad=True)
    out = nn.functional.kl_div(x, cr.tensor(0.3), reduction="none")
    assert out.shape == ()
    out.backward()
    assert x.grad.shape == ()


def test_linear_rejects_zero_dim_input():
    for k in (1, 3):
        with pytest.raises((ValueError, RuntimeError)):
            nn.Linear(1, k)(cr.tensor(2.0))
        with pytest.raises((ValueError, RuntimeError)):
            nn.Sequential(nn.Linear(1, k))(cr.tensor(2.0))
        with pytest.raises((ValueError, RuntimeError)):
            cr.nn.functional.linear(cr.tensor(2.0), cr.ones(k, 1))


# ---- checkpoints -------------------------------------------------------------------------------------


def test_next_save_removes_stale_temporaries(tmp_path):
    path = tmp_path / "model.safetensors"
    stale = tmp_path / ".model.safetensors.0123456789ab.tmp"  # what a killed save leaves
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / ".other.safetensors.0123456789ab.tmp"  # another file's: not ours to remove
    other.write_bytes(b"x")
    cr.save({"w": cr.ones(3)}, path)
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other.name])


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.uint8),
        np.arange(6, dtype=np.int32),
        np.arange(6, dtype=np.float16),
        np.array([True, False]),
        np.arange(6, dtype=np.int8),
        np.arange(6, dtype=np.uint64),
        np.arange(6, dtype=np.int16),
        np.arange(6, dtype=np.uint32),
    ],
)
def test_load_reads_every_dtype_save_writes(tmp_path, array):
    path = tmp_path / "a.safetensors"
    cr.save({"a": array}, path)
    back = cr.load(path)["a"]
    assert isinstance(back, cr.Tensor)
    np.testing.assert_array_equal(back.numpy().astype(np.float64), array.astype(np.float64))


def test_uint64_values_beyond_int64_are_refused_by_save_and_load(tmp_path):
    path = tmp_path / "a.safetensors"
    # save refuses what load could not return ...
    with pytest.raises(ValueError, match="uint64 array at a"):
        cr.save({"a": np.array([2**64 - 1], np.uint64)}, path)
    assert not path.exists()
    cr.save({"a": np.array([2**63 - 1], np.uint64)}, path)
    assert cr.load(path)["a"].tolist() == [2**63 - 1]
    # ... and load names the file when another writer stored such values.
    header = json.dumps({"a": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + (2**64 - 1).to_bytes(8, "little"))
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        cr.load(path)


def test_deeply_nested_header_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "deep.safetensors"
    header = ("[" * 100000 + "]" * 100000).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ValueError, match="deep.safetensors"):
        cr.load(path)
    structure = json.dumps({"__metadata__": {"chainrule.structure": "[" * 100000 + "]" * 100000}}).encode()
    path.write_bytes(len(structure).to_bytes(8, "little") + structure)
    with pytest.raises(ValueError, match="deep.safetensors"):
        cr.load(path)
