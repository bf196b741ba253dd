"""The fused Sequential reuses its buffers across steps without ever overwriting a tensor the
caller still holds."""

import numpy as np

import chainrule as cr
from chainrule import nn, optim


def _step(model, opt, x, y):
    loss = nn.MSELoss()(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def _setup():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, optim.SGD(model.parameters(), lr=0.1), cr.randn(5, 6), cr.randn(5, 2)


def test_gradients_dropped_by_zero_grad_are_reused():
    model, opt, x, y = _setup()
    _step(model, opt, x, y)
    pointers = [p.grad._data_ptr() for p in model.parameters()]
    _step(model, opt, x, y)
    assert [p.grad._data_ptr() for p in model.parameters()] == pointers


def test_a_gradient_the_caller_keeps_is_not_overwritten():
    model, opt, x, y = _setup()
    _step(model, opt, x, y)
    kept = model[0].weight.grad
    before = kept.numpy().copy()
    x.numpy()[...] *= 3.0  # a different step, so different gradients
    _step(model, opt, x, y)
    assert np.array_equal(kept.numpy(), before)
    assert not np.array_equal(model[0].weight.grad.numpy(), before)


def test_an_output_the_caller_keeps_is_not_overwritten():
    model, _, x, _ = _setup()
    first = model(x)
    values = first.detach().numpy().copy()
    model(x * 2.0)
    assert np.array_equal(first.detach().numpy(), values)


def test_changing_an_activation_setting_rebuilds_the_fused_chain():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.1), nn.Linear(4, 1))
    x = cr.randn(8, 4)
    before = model(x).detach().numpy().copy()
    model[1].negative_slope = 0.5
    after = model(x).detach().numpy()
    h = x
    for m in model:
        h = m(h) if not isinstance(m, nn.LeakyReLU) else nn.functional.leaky_relu(h, 0.5)
    np.testing.assert_array_equal(after, h.detach().numpy())
    assert not np.array_equal(before, after)


def test_predicting_from_another_thread_while_fit_runs():
    import threading

    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2048, 16)).astype(np.float32)
    y = rng.integers(0, 4, 2048)
    errors = []

    def train():
        try:
            cr.fit(
                model,
                nn.CrossEntropyLoss(),
                optim.SGD(model.parameters(), lr=0.01),
                X,
                y,
                epochs=5,
                batch_size=32,
                progress=False,
                native=True,
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=train)
    worker.start()
    probe = cr.from_numpy(X[:8])
    while worker.is_alive():
        with cr.no_grad():
            out = model(probe).numpy()
        assert out.shape == (8, 4) and np.isfinite(out).all()
    worker.join()
    assert not errors
