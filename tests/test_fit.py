"""chainrule.fit: native C++ loop vs Python loop, History, validation, schedulers, callbacks,
monitoring, plotting, checkpoints with PyTorch interchange, and the `python -m chainrule` job."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from optional_dependencies import require


def _data(n=200, features=8, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(dtype)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)
    return X, y % classes


def _model(dtype=cr.float32, act=nn.ReLU, sizes=(8, 16, 3)):
    cr.manual_seed(7)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _weights(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


OPTIMIZERS = [
    lambda p: optim.SGD(p, lr=0.1),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.1, maximize=False),
    lambda p: optim.Adam(p, lr=0.01),
    lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=1e-3, maximize=False),
    lambda p: optim.AdamW(p, lr=0.01, betas=(0.8, 0.99)),
    lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    lambda p: optim.Adagrad(p, lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
    lambda p: optim.NAdam(p, lr=0.01, weight_decay=1e-3),
    lambda p: optim.NAdam(p, lr=0.01, weight_decay=1e-3, decoupled_weight_decay=True),
    lambda p: optim.RAdam(p, lr=0.01, weight_decay=1e-3),
    lambda p: optim.Adamax(p, lr=0.01, weight_decay=1e-3),
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_and_python_loops_are_bitwise_identical(make_opt, dtype, threads):
    X, y = _data(dtype=np.float32 if dtype == cr.float32 else np.float64)
    previous = cr.get_num_threads()
    cr.set_num_threads(threads)
    try:
        results = []
        for native in (True, False):
            model = _model(dtype)
            opt = make_opt(model.parameters())
            h = cr.fit(
                model,
                nn.CrossEntropyLoss(),
                opt,
                X,
                y,
                epochs=3,
                batch_size=32,
                seed=3,
                metrics=["accuracy"],
                progress=False,
                native=native,
            )
            assert h.native is native
            results.append((h.history, _weights(model)))
    finally:
        cr.set_num_threads(previous)
    (h1, w1), (h2, w2) = results
    assert h1["loss"] == h2["loss"]
    assert h1["accuracy"] == h2["accuracy"]
    for a, b in zip(w1, w2):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "loss_fn,act,last",
    [
        (nn.MSELoss(), nn.Tanh, None),
        (nn.L1Loss(reduction="sum"), nn.Sigmoid, None),
        (nn.HuberLoss(delta=0.5), nn.LeakyReLU, None),
        (nn.BCEWithLogitsLoss(), nn.GELU, None),
        (nn.BCELoss(), nn.ReLU, nn.Sigmoid),
    ],
)
def test_native_matches_python_for_regression_losses(loss_fn, act, last):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((90, 5)).astype(np.float32)
    y = rng.uniform(0, 1, (90, 2)).astype(np.float32)
    weights = []
    for native in (True, False):
        model = _model(act=act, sizes=(5, 7, 2))
        if last is not None:
            model.append(last())
        h = cr.fit(
            model,
            loss_fn,
            optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
            X,
            y,
            epochs=2,
            batch_size=16,
            seed=0,
            progress=False,
            native=native,
        )
        assert h.native is native
        weights.append((h.history["loss"], _weights(model)))
    assert weights[0][0] == weights[1][0]
    for a, b in zip(weights[0][1], weights[1][1]):
        assert np.array_equal(a, b)


def test_fit_trains_and_records_history():
    X, y = _data(400)
    model = _model()
    h = cr.fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
        X,
        y,
        epochs=8,
        batch_size=32,
        seed=0,
        validation_data=(X[:100], y[:100]),
        metrics=["accuracy"],
        progress=False,
    )
    assert set(h.history) >= {"loss", "val_loss", "accuracy", "val_accuracy", "lr"}
    assert len(h.history["loss"]) == 8 and h.epoch == list(range(8))
    assert h.history["loss"][-1] < h.history["loss"][0] * 0.5
    assert h.history["val_accuracy"][-1] > 0.85
    assert "History(epochs=8" in repr(h)


def test_unshuffled_batches_and_drop_in_python_module():
    class Custom(nn.Module):  # not a Sequential: the Python loop runs
        def __init__(self):
            super().__init__()
            self.inner = _model()

        def forward(self, x):
            return self.inner(x)

    X, y = _data()
    model = Custom()
    h = cr.fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        shuffle=False,
        progress=False,
    )
    assert h.native is False
    with pytest.raises(ValueError, match="native=True.*not an nn.Sequential"):
        cr.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), X, y, native=True, progress=False)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_epoch_loss_is_the_sample_weighted_mean_of_the_batch_losses(native, reduction):
    # 50 rows in batches of 16: three of 16 and a short one of 2, unshuffled, so the batch losses
    # can be recomputed from the weights before the epoch (one epoch, lr=0: nothing moves).
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 4)).astype(np.float32)
    y = rng.standard_normal((50, 1)).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    loss_fn = nn.MSELoss(reduction=reduction)
    h = cr.fit(
        model,
        loss_fn,
        optim.SGD(model.parameters(), lr=0.0),
        X,
        y,
        epochs=1,
        batch_size=16,
        shuffle=False,
        progress=False,
        native=native,
    )
    assert h.native is native
    with cr.no_grad():
        batch_losses = [
            float(loss_fn(model(cr.tensor(X[lo : lo + 16])), cr.tensor(y[lo : lo + 16]))) for lo in (0, 16, 32, 48)
        ]
    sizes = [16, 16, 16, 2]
    expected = np.dot(batch_losses, sizes) / 50 if reduction == "mean" else np.sum(batch_losses) / 50
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_epoch_loss_of_opposite_infinities_is_nan():
    from chainrule.training._driver import _sum

    assert _sum([1.0, float("inf")]) == float("inf")
    assert np.isnan(_sum([float("inf"), float("-inf"), 1.0]))
    assert _sum([0.1] * 10) == 1.0  # correctly rounded, where a running sum gives 0.9999999999999999


def test_scheduler_and_callbacks():
    X, y = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    seen = []

    def stop_after_three(epoch, logs):
        seen.append((epoch, logs["lr"]))
        return epoch == 2

    h = cr.fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        X,
        y,
        epochs=10,
        scheduler=sched,
        callbacks=[stop_after_three],
        progress=False,
    )
    assert len(h.epoch) == 3
    assert [lr for _, lr in seen] == [0.1, 0.05, 0.025]


def test_reduce_on_plateau_uses_validation_loss():
    X, y = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=10.0)
    h = cr.fit(
        model, nn.CrossEntropyLoss(), opt, X, y, epochs=3, validation_data=(X, y), scheduler=sched, progress=False
    )
    assert h.history["lr"][0] == 0.1 and h.history["lr"][-1] < 0.1


def test_monitor_records_health_and_warns_on_vanishing():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 16)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    layers = []
    for _ in range(20):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(16, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = cr.fit(
            model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), X, y, epochs=2, monitor=True, progress=False
        )
    entries = h.history["gradient_health"][-1]
    assert entries[0].name == "0.weight" and entries[0].status == "vanishing"
    vanishing_warnings = [w for w in caught if "'0.weight'" in str(w.message) and "vanishing" in str(w.message)]
    assert len(vanishing_warnings) == 1  # once, not once per epoch


def test_progress_bar_runs(capsys):
    X, y = _data(64)
    model = _model()
    cr.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err + captured.out


@pytest.mark.slow
def test_history_plot_writes_png(tmp_path):
    require("matplotlib")
    X, y = _data(64)
    model = _model()
    h = cr.fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        validation_data=(X, y),
        metrics=["accuracy"],
        progress=False,
    )
    path = tmp_path / "curves.png"
    h.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(epochs=-1), ValueError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(metrics=["f1"]), ValueError, "unknown metric"),
        (dict(native="yes"), ValueError, "native"),
        (dict(validation_data=np.zeros(3)), ValueError, "validation_data"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    X, y = _data(32)
    model = _model()
    with pytest.raises(error, match=match):
        cr.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), X, y, progress=False, **kwargs)


def test_bad_data():
    X, y = _data(32)
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="rows"):
        cr.fit(model, nn.CrossEntropyLoss(), opt, X, y[:10], progress=False)
    with pytest.raises(IndexError, match="out of bounds"):
        cr.fit(model, nn.CrossEntropyLoss(), opt, X, y + 5, progress=False)
    with pytest.raises(ValueError, match="in_features|last dimension"):
        cr.fit(model, nn.CrossEntropyLoss(), opt, X[:, :3], y, progress=False)
    with pytest.raises(TypeError, match="model"):
        cr.fit("model", nn.CrossEntropyLoss(), opt, X, y, progress=False)


# ---- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_round_trip_of_model_and_optimizer(tmp_path):
    X, y = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cr.fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, progress=False)
    path = tmp_path / "ckpt.safetensors"
    cr.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    loaded = cr.load(path)
    assert isinstance(loaded["model"]["0.weight"], cr.Tensor)

    twin = _model()
    twin_opt = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    twin.load_state_dict(loaded["model"])
    twin_opt.load_state_dict(loaded["optimizer"])
    for a, b in zip(_weights(model), _weights(twin)):
        assert np.array_equal(a, b)
    # Training on from the checkpoint continues exactly as the original does.
    cr.fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, seed=5, progress=False)
    cr.fit(twin, nn.CrossEntropyLoss(), twin_opt, X, y, epochs=1, seed=5, progress=False)
    for a, b in zip(_weights(model), _weights(twin)):
        assert np.array_equal(a, b)


def test_checkpoint_interchange_with_pytorch(tmp_path):
    torch = require("torch")
    st_torch = require("safetensors.torch")
    tmodel = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    path = tmp_path / "from_torch.safetensors"
    st_torch.save_file(tmodel.state_dict(), str(path))
    model = _model()
    model.load_state_dict(cr.load(path))
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)

    back = tmp_path / "from_chainrule.safetensors"
    cr.save(model.state_dict(), back)
    twin = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    twin.load_state_dict(st_torch.load_file(str(back)))
    for (k, a), (_, b) in zip(twin.state_dict().items(), tmodel.state_dict().items()):
        assert torch.equal(a, b), k


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    cr.save(_model().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        cr.load(path)


# ---- the main job -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_main_job_runs(tmp_path):
    ckpt = tmp_path / "digits.safetensors"
    out = subprocess.run(
        [sys.executable, "-m", "chainrule", "--epochs", "3", "--no-progress", "--save", str(ckpt)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "validation accuracy" in out.stdout
    assert "NumPy baseline" in out.stdout
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    model.load_state_dict(cr.load(ckpt))


@pytest.mark.slow
def test_main_job_help():
    out = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for option in ("--epochs", "--batch-size", "--save", "--plot", "--threads"):
        assert option in out.stdout


def test_frozen_parameters_with_stale_gradients_match_the_python_loop():
    X, y = _data()
    results = []
    for native in (True, False):
        model = _model()
        model[0].weight.requires_grad = False
        model[0].weight.grad = cr.ones(*model[0].weight.shape)  # stale: must not be applied
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        h = cr.fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=2, seed=0, progress=False, native=native)
        assert h.native is native
        results.append(_weights(model))
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    assert np.array_equal(results[0][0], _weights(_model())[0])  # the frozen weight did not move


def test_epoch_orders_are_seeded_permutations():
    from chainrule import _core

    a = _core.random_permutation(1000, 42).numpy()
    assert sorted(a.tolist()) == list(range(1000))
    assert np.array_equal(a, _core.random_permutation(1000, 42).numpy())
    assert not np.array_equal(a, _core.random_permutation(1000, 43).numpy())
    assert _core.random_permutation(0, 1).shape == (0,)
    with pytest.raises(ValueError, match="n"):
        _core.random_permutation(-1, 1)


def test_epoch_orders_are_uniform():
    """Every element lands in every position equally often over many seeds: the multiply-shift
    draw redraws the biased sliver, so a skew (e.g. a draw reduced modulo the count, or a j taken
    from [0, i) instead of [0, i]) shows up as counts far from the expected one."""
    from chainrule import _core

    n, seeds = 6, 30000
    counts = np.zeros((n, n))
    for seed in range(seeds):
        counts[np.arange(n), _core.random_permutation(n, seed).numpy()] += 1
    expected = seeds / n
    sigma = np.sqrt(seeds * (1 / n) * (1 - 1 / n))
    assert np.abs(counts - expected).max() < 5 * sigma
    # Sattolo's variant (j in [0, i)) never leaves an element in place: make sure some stay.
    assert counts.diagonal().min() > expected - 5 * sigma
    for n in (1, 2, 3):
        assert sorted(_core.random_permutation(n, 7).numpy().tolist()) == list(range(n))


def test_fit_batches_draws_a_seeded_order_as_the_given_one():
    """fit_batches takes the epoch's order as a tensor or as the seed random_permutation draws it
    from (then drawn in C++, unchecked): both train the same weights."""
    from chainrule import _core

    X, y = _data(300)
    results = []
    for order in (_core.random_permutation(300, 11), 11):
        model = _model()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
        losses, sizes, _ = _core.fit_batches(
            model.fused_chain(),
            cr.from_numpy(X),
            cr.from_numpy(y),
            order,
            32,
            0,
            10,
            _core.LossKind.cross_entropy,
            _core.Reduction.mean,
            0.0,
            opt.group_steps(),
            False,
        )
        assert sizes == [32] * 9 + [12]
        results.append((losses, _weights(model)))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        assert np.array_equal(a, b)


def test_native_loop_publishes_state_it_created_once():
    """The optimizer's state after a native fit holds the momentum buffers the C++ loop created,
    as the Python loop leaves them; a later fit that creates none keeps them current."""
    X, y = _data()
    states = []
    for native in (True, False):
        model = _model()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        cr.fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, seed=3, progress=False, native=native)
        first = [opt.state[p]["momentum_buffer"] for p in model.parameters()]
        cr.fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, seed=4, progress=False, native=native)
        second = [opt.state[p]["momentum_buffer"] for p in model.parameters()]
        assert all(a is b for a, b in zip(first, second))  # updated in place, not replaced
        states.append([b.numpy().copy() for b in second])
    for a, b in zip(*states):
        assert np.array_equal(a, b)


def test_same_seed_same_training_different_seed_different():
    X, y = _data()
    runs = []
    for seed in (5, 5, 6):
        model = _model()
        cr.fit(
            model,
            nn.CrossEntropyLoss(),
            optim.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=2,
            seed=seed,
            progress=False,
        )
        runs.append(_weights(model))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))
