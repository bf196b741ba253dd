"""RMSprop with PyTorch's update rule (one fused C++ update per parameter group)."""
from __future__ import annotations

from chainrule import _core
from chainrule.optim.optimizer import Optimizer, _check_non_negative, _gather_state, _store_state


class RMSprop(Optimizer):
    """torch.optim.RMSprop's exact rule (weight decay, momentum, centered, maximize).

    State per parameter, as in PyTorch: 'step' (a Python int here, a 0-d tensor in PyTorch),
    'square_avg', 'momentum_buffer' when momentum > 0 and 'grad_avg' when centered. foreach,
    capturable, differentiable are accepted so PyTorch code runs unchanged; they do not change the math.
    """

    def __init__(self, params, lr=1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach=None,
                 maximize: bool = False, differentiable: bool = False):
        # The argument order is PyTorch's: maximize is not keyword-only there.
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        # PyTorch only requires alpha >= 0; alpha > 1 is accepted there too.
        _check_non_negative("RMSprop", group, ("lr", "alpha", "eps", "weight_decay", "momentum"))

    def _step_group(self, group):
        self._validate_group(group)  # the group may have been edited (e.g. by a scheduler)
        params = group["params"]
        steps, state = _gather_state(self, params, ("square_avg", "momentum_buffer", "grad_avg"))
        _core.rmsprop_step(params, state["square_avg"], state["momentum_buffer"], state["grad_avg"], steps,
                           float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                           float(group["weight_decay"]), float(group["momentum"]), bool(group["centered"]),
                           bool(group["maximize"]))
        _store_state(self, params, steps, state)
