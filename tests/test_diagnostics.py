"""chainrule.diagnostics: gradient health (the seed's vanishing/exploding gradients) and activation
statistics."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import diagnostics as D


def mlp(depth, act, width=32, d_in=32, d_out=1, scale=1.0, seed=0):
    """depth Linear layers with `act` between them, PyTorch default init, weights times `scale`."""
    cr.manual_seed(seed)
    layers, d = [], d_in
    for _ in range(depth - 1):
        layers += [nn.Linear(d, width), act()]
        d = width
    layers.append(nn.Linear(d, d_out))
    model = nn.Sequential(*layers)
    if scale != 1.0:
        with cr.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    m.weight.detach().numpy()[...] *= scale
    return model


def backward_once(model, d_in=32, d_out=1, n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((n, d_in)).astype(np.float32))
    y = cr.tensor(rng.standard_normal((n, d_out)).astype(np.float32))
    nn.MSELoss()(model(x), y).backward()


# ---- gradient health ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_sigmoid_vanishes_at_first_layer_only(seed):
    # The seed's example of vanishing gradients: 20 sigmoid layers, default init, one backward.
    model = mlp(20, nn.Sigmoid, seed=seed)
    backward_once(model, seed=seed)
    health = {e.name: e for e in D.gradient_health(model)}
    assert health["0.weight"].status == "vanishing"
    assert health["0.bias"].status == "vanishing"
    assert health["38.weight"].status == "ok"
    assert health["38.bias"].status == "ok"
    assert health["36.weight"].status == "ok"
    # far past the threshold, not near it
    assert health["0.weight"].relative < D.VANISHING_FACTOR * 1e-6
    assert D.check_gradients(model) == "vanishing"


def test_shallow_nets_are_ok():
    for act in (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU):
        model = mlp(3, act)
        backward_once(model)
        assert D.check_gradients(model) == "ok", act.__name__


def test_kaiming_relu_20_layers_is_ok():
    model = mlp(20, nn.ReLU)
    with cr.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    backward_once(model)
    assert D.check_gradients(model) == "ok"


@pytest.mark.parametrize("act", [nn.ReLU, nn.Identity])
def test_scaled_weights_explode(act):
    model = mlp(10, act, scale=10.0)
    backward_once(model)
    entries = D.gradient_health(model)
    first = entries[0]
    assert first.name == "0.weight" and first.status == "exploding"
    assert first.ratio > D.EXPLODING_RATIO
    assert math.isfinite(first.grad_norm)
    # the biases grow on the way back from the loss: caught relative to the output layer's bias
    assert entries[1].status == "exploding" and entries[1].relative > D.EXPLODING_FACTOR
    assert D.check_gradients(model) == "exploding"


def test_nonfinite_grad_and_weights():
    model = mlp(3, nn.Tanh)
    backward_once(model)
    model[2].weight.grad.numpy()[0, 0] = np.nan
    model[4].bias.grad.numpy()[0] = np.inf
    status = {e.name: e.status for e in D.gradient_health(model)}
    assert status["2.weight"] == "nonfinite"
    assert status["4.bias"] == "nonfinite"
    assert status["0.weight"] != "nonfinite"
    assert D.check_gradients(model) == "nonfinite"
    entry = D.gradient_health(model)[2]
    assert math.isnan(entry.grad_norm) and math.isnan(entry.ratio)

    model.zero_grad()
    backward_once(model)
    with cr.no_grad():
        model[0].weight.detach().numpy()[1, 1] = np.inf  # nan weights poison every later gradient
    assert D.gradient_health(model)[0].status == "nonfinite"


def test_order_names_shapes_and_norms_match_numpy():
    model = mlp(3, nn.ReLU, d_in=5, width=7, d_out=2)
    backward_once(model, d_in=5, d_out=2)
    entries = D.gradient_health(model)
    assert [e.name for e in entries] == [n for n, _ in model.named_parameters()]
    for e, (_, p) in zip(entries, model.named_parameters()):
        assert e.shape == tuple(p.shape)
        g, w = p.grad.numpy().astype(np.float64), p.detach().numpy().astype(np.float64)
        assert e.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-9)
        assert e.weight_norm == pytest.approx(np.linalg.norm(w), rel=1e-9)
        assert e.ratio == pytest.approx(np.linalg.norm(g) / np.linalg.norm(w), rel=1e-9)
        assert e.grad_rms == pytest.approx(np.linalg.norm(g) / math.sqrt(g.size), rel=1e-9)
    assert entries[-2].relative == pytest.approx(1.0) and entries[-1].relative == pytest.approx(1.0)


def test_no_grad_status_and_zero_grad():
    model = mlp(3, nn.ReLU)
    assert {e.status for e in D.gradient_health(model)} == {"no_grad"}  # before any backward
    assert D.check_gradients(model) == "no_grad"
    model[0].requires_grad_(False)
    backward_once(model)
    status = {e.name: e.status for e in D.gradient_health(model)}
    assert status["0.weight"] == "no_grad" and status["2.weight"] == "ok"
    assert D.check_gradients(model) == "no_grad"  # worse than ok, better than the alarms
    model[2].weight.grad.numpy()[...] = 0  # a gradient that is exactly zero carries no signal
    assert {e.name: e.status for e in D.gradient_health(model)}["2.weight"] == "vanishing"


def test_zero_weights_ratio_inf_and_zero_bias_ok():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    with cr.no_grad():
        model[0].bias.zero_()
    backward_once(model, d_in=4)
    entry = D.gradient_health(model)[1]
    assert entry.weight_norm == 0.0 and entry.ratio == math.inf and entry.status == "ok"


def test_anchor_names_the_output_module():
    class Net(nn.Module):  # head registered first: registration order is not depth order
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(32, 1)
            self.body = mlp(20, nn.Sigmoid, d_out=32)

        def forward(self, x):
            return self.head(F_sigmoid(self.body(x)))

    F_sigmoid = nn.Sigmoid()
    model = Net()
    backward_once(model)
    by_name = {e.name: e.status for e in D.gradient_health(model, anchor="head")}
    assert by_name["body.0.weight"] == "vanishing" and by_name["head.weight"] == "ok"
    with pytest.raises(KeyError, match="anchor 'nope'"):
        D.gradient_health(model, anchor="nope")
    with pytest.raises(ValueError, match="anchor 'body'"):
        D.gradient_health(model, anchor="body")  # a container owns no parameter itself
    with pytest.raises(TypeError, match="anchor"):
        D.gradient_health(model, anchor=3)


def test_format_health_and_status_strings():
    model = mlp(20, nn.Sigmoid)
    backward_once(model)
    text = D.format_health(D.gradient_health(model))
    lines = text.splitlines()
    assert lines[0].split() == ["name", "shape", "grad_norm", "weight_norm", "ratio", "relative", "status"]
    assert len(lines) == 2 + len(list(model.parameters()))
    assert "0.weight" in lines[2] and lines[2].endswith("vanishing")
    assert "32x32" in lines[2]
    assert str(D.Status.VANISHING) == "vanishing" and f"{D.Status.OK}" == "ok"


def test_bad_input_names_the_argument():
    for fn in (D.gradient_health, D.check_gradients, D.activation_stats, D.record_activations, D.is_recording):
        with pytest.raises(TypeError, match="model must be a chainrule.nn.Module"):
            fn([1, 2])
    with pytest.raises(TypeError, match="enabled"):
        D.record_activations(nn.ReLU(), enabled="yes")


# ---- activation statistics ---------------------------------------------------------------------


def test_recording_is_off_by_default():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Sigmoid())
    assert not D.is_recording(model)
    assert nn.ReLU._record is None and model[1]._record is None
    model(cr.randn(5, 4))
    assert D.activation_stats(model) == []
    assert "_activation_stats" not in model[1].__dict__


def test_dead_relu_from_a_very_negative_bias():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.ReLU())
    with cr.no_grad():
        model[0].bias.fill_(-100.0)  # every unit of the first ReLU is dead
        model[2].bias.detach().numpy()[:] = [100.0, 100.0, -100.0]  # one of three dead
    with D.record_activations(model) as rec:
        assert isinstance(rec, D.ActivationRecording)
        assert D.is_recording(model) and D.is_recording(model[1])
        model(cr.randn(16, 4))
    assert not D.is_recording(model)
    stats = D.activation_stats(model)  # still readable after the with block
    assert [(s.name, s.kind) for s in stats] == [("1", "ReLU"), ("3", "ReLU")]
    first, second = stats
    assert first.dead_fraction == 1.0 and first.zero_fraction == 1.0
    assert first.num_samples == 16 and first.num_units == 6
    assert first.saturation_fraction is None
    assert second.dead_fraction == pytest.approx(1 / 3) and second.zero_fraction == pytest.approx(1 / 3)


def test_dead_units_versus_zero_activations():
    # a unit that fires for one sample is alive: dead_fraction counts units, zero_fraction counts values
    relu = nn.ReLU()
    x = np.array([[1.0, -1.0, -1.0, -2.0], [-1.0, -1.0, 3.0, -2.0], [-1.0, -1.0, -1.0, -2.0]], dtype=np.float32)
    D.record_activations(relu)
    relu(cr.tensor(x))
    (s,) = D.activation_stats(relu)
    assert s.name == "" and s.kind == "ReLU"
    assert s.dead_fraction == pytest.approx(2 / 4)
    assert s.zero_fraction == pytest.approx(10 / 12)
    assert s.mean == pytest.approx(np.maximum(x, 0).mean())
    D.record_activations(relu, enabled=False)
    relu(cr.tensor(np.ones((2, 4), np.float32)))  # not recorded: the old stats stay
    assert D.activation_stats(relu)[0].dead_fraction == pytest.approx(0.5)


def test_leaky_relu_and_gelu_dead_units():
    x = np.array([[-5.0, 1.0], [-6.0, -1.0]], dtype=np.float32)
    for module in (nn.LeakyReLU(0.1), nn.GELU()):
        D.record_activations(module)
        module(cr.tensor(x))
        (s,) = D.activation_stats(module)
        assert s.dead_fraction == pytest.approx(0.5), s.kind  # column 0 is below -3 for every sample
    # GELU of -1 is -0.159: that value still passes a gradient, so it is not inactive
    assert D.activation_stats(nn.GELU()) == []
    assert s.zero_fraction == pytest.approx(2 / 4)


def test_sigmoid_and_tanh_saturation():
    x = np.array([[-10.0, -1.0, 0.0, 6.0], [0.5, 20.0, -4.0, 2.0]], dtype=np.float32)
    sig, tanh = nn.Sigmoid(), nn.Tanh()
    model = nn.Sequential(sig)
    D.record_activations(model)
    D.record_activations(tanh)
    model(cr.tensor(x))
    tanh(cr.tensor(x))
    (s,) = D.activation_stats(model)
    # sigmoid < 0.01 or > 0.99 <=> |x| > 4.595: -10, 6, 20
    assert s.kind == "Sigmoid" and s.saturation_fraction == pytest.approx(3 / 8)
    assert s.dead_fraction is None and s.zero_fraction is None
    (t,) = D.activation_stats(tanh)
    # |tanh| > 0.99 <=> |x| > 2.647: -10, 6, 20, -4
    assert t.kind == "Tanh" and t.saturation_fraction == pytest.approx(4 / 8)


def test_recording_through_sequential_fast_path_and_deep_sigmoid():
    model = mlp(6, nn.Sigmoid, scale=20.0)  # large weights: saturated sigmoids
    x = cr.randn(32, 32)
    out_plain = model(x).detach().numpy().copy()
    with D.record_activations(model):
        out_rec = model(x).detach().numpy().copy()
    np.testing.assert_allclose(out_rec, out_plain, rtol=1e-5, atol=1e-6)
    stats = D.activation_stats(model)
    assert len(stats) == 5 and all(s.kind == "Sigmoid" for s in stats)
    assert max(s.saturation_fraction for s in stats) > 0.5
    # re-enabling clears old stats until the next forward
    D.record_activations(model)
    assert D.activation_stats(model) == []
    D.record_activations(model, enabled=False)


def test_nested_record_context_restores_previous_state():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    D.record_activations(model)
    with D.record_activations(model, enabled=False):
        assert not D.is_recording(model)
    assert D.is_recording(model)
    D.record_activations(model, enabled=False)


def test_format_activation_stats():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())
    with D.record_activations(model):
        model(cr.randn(8, 3))
    text = D.format_activation_stats(D.activation_stats(model))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "samples"]
    assert len(lines) == 4 and "ReLU" in lines[2] and "Tanh" in lines[3]


def test_activation_stats_edge_shapes():
    relu = nn.ReLU()
    D.record_activations(relu)
    relu(cr.tensor(np.array([-1.0, 2.0, 0.0], dtype=np.float32)))  # 1-D: one sample of 3 units
    (s,) = D.activation_stats(relu)
    assert (s.num_samples, s.num_units) == (1, 3) and s.dead_fraction == pytest.approx(2 / 3)
    relu(cr.zeros(2, 3, 4) - 1.0)  # leading axes are samples, the last one units
    (s,) = D.activation_stats(relu)
    assert (s.num_samples, s.num_units, s.dead_fraction) == (6, 4, 1.0)
    relu(cr.zeros(0, 4))  # an empty batch records zeros, not nan
    (s,) = D.activation_stats(relu)
    assert (s.num_samples, s.dead_fraction, s.mean) == (0, 0.0, 0.0)
