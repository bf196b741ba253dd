"""chainrule.distributions: the probability distributions small policy-gradient and probabilistic
networks use, with PyTorch's names and semantics (torch.distributions).

``sample()`` draws without recording a graph; ``rsample()`` (Normal) reparameterizes, so its
samples carry gradients to the parameters; ``log_prob`` and ``entropy`` are differentiable in the
parameters wherever PyTorch's are. Random draws come from chainrule's generator (``manual_seed``).
"""

from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.normal import Normal

__all__ = ["Distribution", "Normal", "Bernoulli", "Categorical"]
