"""chainrule.distributions: Normal, Bernoulli, Categorical against torch.distributions."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributions import Bernoulli, Categorical, Normal
from optional_dependencies import require


def _np(t):
    return t.detach().numpy()


# ---- Normal ------------------------------------------------------------------------------------


def test_normal_log_prob_entropy_and_moments_match_torch():
    torch = require("torch")
    loc = np.array([[0.0, 1.5, -2.0]])
    scale = np.array([[1.0], [0.5]])
    value = np.array([0.3, -1.0, 2.0])
    ours = Normal(cr.tensor(loc), cr.tensor(scale))
    theirs = torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale))
    assert ours.batch_shape == tuple(theirs.batch_shape) == (2, 3)
    np.testing.assert_allclose(
        _np(ours.log_prob(cr.tensor(value))), theirs.log_prob(torch.tensor(value)).numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(_np(ours.entropy()), theirs.entropy().numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(ours.mean), theirs.mean.numpy())
    np.testing.assert_allclose(_np(ours.variance), theirs.variance.numpy())
    np.testing.assert_allclose(
        _np(Normal(0.0, 2.0).log_prob(1.0)),
        torch.distributions.Normal(0.0, 2.0).log_prob(torch.tensor(1.0)).numpy(),
        rtol=1e-6,
    )


def test_normal_sampling_shapes_statistics_and_gradients():
    cr.manual_seed(0)
    loc = cr.tensor([1.0, -3.0], requires_grad=True)
    scale = cr.tensor([0.5, 2.0], requires_grad=True)
    dist = Normal(loc, scale)
    draws = dist.sample((20000,))
    assert tuple(draws.shape) == (20000, 2) and not draws.requires_grad
    np.testing.assert_allclose(_np(draws).mean(0), [1.0, -3.0], atol=0.05)
    np.testing.assert_allclose(_np(draws).std(0), [0.5, 2.0], rtol=0.03)
    sample = dist.rsample((3,))
    assert sample.requires_grad and tuple(sample.shape) == (3, 2)
    sample.sum().backward()
    assert loc.grad.tolist() == [3.0, 3.0]  # d(loc + eps * scale)/dloc, summed over 3 draws
    assert dist.has_rsample and tuple(Normal(0.0, 1.0).sample().shape) == ()


def test_normal_log_prob_and_entropy_gradcheck():
    loc = cr.tensor([0.2, -0.7], dtype=cr.float64, requires_grad=True)
    scale = cr.tensor([1.3, 0.4], dtype=cr.float64, requires_grad=True)
    value = cr.tensor([0.5, 0.1], dtype=cr.float64)
    assert cr.autograd.gradcheck(lambda m, s: Normal(m, s).log_prob(value), [loc, scale])
    assert cr.autograd.gradcheck(lambda m, s: Normal(m, s).entropy(), [loc, scale])


def test_normal_validation():
    with pytest.raises(ValueError, match="Expected parameter scale .*GreaterThan"):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        Normal(cr.zeros(2), cr.ones(3))
    Normal(0.0, -1.0, validate_args=False)
    with pytest.raises(TypeError, match="loc must be a Tensor or a number"):
        Normal("a", 1.0)


# ---- Bernoulli ---------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_bernoulli_matches_torch(by):
    torch = require("torch")
    parameter = np.array([0.1, 0.5, 0.9]) if by == "probs" else np.array([-2.0, 0.0, 30.0])
    value = np.array([1.0, 0.0, 1.0])
    ours = Bernoulli(**{by: cr.tensor(parameter)})
    theirs = torch.distributions.Bernoulli(**{by: torch.tensor(parameter)})
    np.testing.assert_allclose(
        _np(ours.log_prob(cr.tensor(value))), theirs.log_prob(torch.tensor(value)).numpy(), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(_np(ours.entropy()), theirs.entropy().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(ours.probs), theirs.probs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(ours.logits), theirs.logits.numpy(), rtol=1e-10)


def test_bernoulli_gradients_and_sampling():
    probs = cr.tensor([0.2, 0.5, 0.7], dtype=cr.float64, requires_grad=True)
    value = cr.tensor([1.0, 0.0, 1.0], dtype=cr.float64)
    assert cr.autograd.gradcheck(lambda p: Bernoulli(probs=p).log_prob(value), [probs])
    assert cr.autograd.gradcheck(lambda p: Bernoulli(probs=p).entropy(), [probs])
    logits = cr.tensor([-1.0, 0.0, 2.5], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(lambda lg: Bernoulli(logits=lg).log_prob(value), [logits])
    cr.manual_seed(1)
    draws = Bernoulli(probs=cr.tensor([0.1, 0.9])).sample((5000,))
    assert tuple(draws.shape) == (5000, 2) and set(np.unique(_np(draws))) <= {0.0, 1.0}
    np.testing.assert_allclose(_np(draws).mean(0), [0.1, 0.9], atol=0.03)
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        Bernoulli()
    with pytest.raises(ValueError, match="Expected parameter probs"):
        Bernoulli(probs=cr.tensor([1.5]))
    with pytest.raises(ValueError, match="Expected parameter value"):
        Bernoulli(probs=0.3).log_prob(cr.tensor(0.5))


# ---- Categorical -------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_categorical_matches_torch(by):
    torch = require("torch")
    parameter = (
        np.array([[1.0, 2.0, 7.0], [0.2, 0.2, 0.6]]) if by == "probs" else np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]])
    )
    value = np.array([2, 0])
    ours = Categorical(**{by: cr.tensor(parameter)})
    theirs = torch.distributions.Categorical(**{by: torch.tensor(parameter)})
    assert ours.batch_shape == tuple(theirs.batch_shape) == (2,)
    np.testing.assert_allclose(
        _np(ours.log_prob(cr.tensor(value))), theirs.log_prob(torch.tensor(value)).numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(_np(ours.entropy()), theirs.entropy().numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(ours.probs), theirs.probs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(ours.logits), theirs.logits.numpy(), rtol=1e-12)
    # log_prob broadcasts a batch of values against the batch of distributions
    values = np.array([[0, 1], [2, 2], [1, 0]])
    np.testing.assert_allclose(
        _np(ours.log_prob(cr.tensor(values))), theirs.log_prob(torch.tensor(values)).numpy(), rtol=1e-12
    )


def test_categorical_sampling_and_policy_gradient():
    cr.manual_seed(2)
    dist = Categorical(probs=cr.tensor([0.1, 0.0, 0.9]))
    draws = dist.sample((4000,))
    assert tuple(draws.shape) == (4000,) and draws.dtype == cr.int64
    counts = np.bincount(_np(draws), minlength=3)
    assert counts[1] == 0 and abs(counts[0] / 4000 - 0.1) < 0.02
    batch = Categorical(logits=cr.zeros(5, 4))
    assert tuple(batch.sample().shape) == (5,) and tuple(batch.sample((2, 3)).shape) == (2, 3, 5)
    # REINFORCE: the gradient of log_prob(action) * reward flows to the logits.
    logits = cr.tensor([[0.3, -0.2, 0.1]], dtype=cr.float64, requires_grad=True)
    action = Categorical(logits=logits).sample()
    (-Categorical(logits=logits).log_prob(action) * 2.0).sum().backward()
    probs = np.exp(_np(logits)) / np.exp(_np(logits)).sum()
    expected = -2.0 * (np.eye(3)[action.tolist()] - probs)
    np.testing.assert_allclose(_np(logits.grad), expected, rtol=1e-10)
    assert cr.autograd.gradcheck(lambda lg: Categorical(logits=lg).entropy(), [logits.detach().requires_grad_()])
    assert cr.autograd.gradcheck(
        lambda p: Categorical(probs=p).log_prob(cr.tensor([2])),
        [cr.tensor([[0.2, 0.3, 0.5]], dtype=cr.float64, requires_grad=True)],
    )


def test_categorical_validation():
    with pytest.raises(ValueError, match="at least one-dimensional"):
        Categorical(probs=cr.tensor(0.5))
    with pytest.raises(ValueError, match="Expected parameter probs"):
        Categorical(probs=cr.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="Expected parameter value"):
        Categorical(probs=cr.tensor([0.5, 0.5])).log_prob(cr.tensor(2))


def test_reprs():
    torch = require("torch")
    assert repr(Normal(0.0, 1.0)) == repr(torch.distributions.Normal(0.0, 1.0))
    assert repr(Bernoulli(probs=cr.tensor(0.25))) == repr(torch.distributions.Bernoulli(probs=torch.tensor(0.25)))


def test_categorical_masked_logits_and_unbatched_match_torch():
    torch = require("torch")
    logits = np.array([[1.0, -np.inf, 0.5], [-np.inf, 2.0, -np.inf]])
    ours = Categorical(logits=cr.tensor(logits, requires_grad=True))
    theirs = torch.distributions.Categorical(logits=torch.tensor(logits))
    np.testing.assert_allclose(_np(ours.entropy()), theirs.entropy().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        _np(ours.log_prob(cr.tensor([2, 1]))), theirs.log_prob(torch.tensor([2, 1])).numpy(), rtol=1e-12
    )
    ours.entropy().sum().backward()
    single = Categorical(probs=cr.tensor([0.2, 0.3, 0.5], dtype=cr.float64))
    theirs = torch.distributions.Categorical(probs=torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    assert single.batch_shape == () and tuple(single.log_prob(cr.tensor(1)).shape) == ()
    np.testing.assert_allclose(_np(single.log_prob(cr.tensor(1))), theirs.log_prob(torch.tensor(1)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(single.entropy()), theirs.entropy().numpy(), rtol=1e-12)
    assert tuple(single.sample().shape) == () and single.mode.item() == 2
