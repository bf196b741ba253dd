"""RMSprop with PyTorch's update rule (one fused C++ update per parameter group)."""

from __future__ import annotations as _annotations

from chainrule import _core
from chainrule._typing import ParamsT
from chainrule.optim.optimizer import Optimizer, _check_non_negative


class RMSprop(Optimizer):
    """torch.optim.RMSprop's exact rule (weight decay, momentum, centered, maximize).

    State per parameter, as in PyTorch: 'step' (a Python int here, a 0-d tensor in PyTorch),
    'square_avg', 'momentum_buffer' when momentum > 0 and 'grad_avg' when centered. foreach,
    capturable, differentiable are accepted so PyTorch code runs unchanged; they do not change the math.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        # The argument order is PyTorch's: maximize is not keyword-only there.
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        # PyTorch only requires alpha >= 0; alpha > 1 is accepted there too.
        _check_non_negative("RMSprop", group, ("lr", "alpha", "eps", "weight_decay", "momentum"))

    state_keys = ("square_avg", "momentum_buffer", "grad_avg")

    def _make_group_step(self, group, params, state, steps):
        return _core.RmspropStep(
            params,
            state,
            steps,
            lr=float(group["lr"]),
            alpha=float(group["alpha"]),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]),
            centered=bool(group["centered"]),
            maximize=bool(group["maximize"]),
        )
