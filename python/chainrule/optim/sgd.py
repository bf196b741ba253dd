"""Stochastic gradient descent, the seed's W <- W - lr dL/dW, with PyTorch's options."""

from __future__ import annotations as _annotations

from chainrule import _core
from chainrule._typing import ParamsT
from chainrule.optim.optimizer import Optimizer, _check_non_negative


class SGD(Optimizer):
    """torch.optim.SGD's exact rule (momentum, dampening, weight decay, Nesterov, maximize).

    One C++ call per parameter group updates every parameter of the group.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        # Any real number (NumPy scalars included) >= 0; NaN is rejected.
        _check_non_negative("SGD", group, ("lr", "momentum", "dampening", "weight_decay"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    state_keys = ("momentum_buffer",)
    records_step = False  # PyTorch's SGD keeps no step count

    def _make_group_step(self, group, params, state, steps):
        return _core.SgdStep(
            params,
            state,
            steps,
            lr=float(group["lr"]),
            momentum=float(group["momentum"]),
            dampening=float(group["dampening"]),
            weight_decay=float(group["weight_decay"]),
            nesterov=bool(group["nesterov"]),
            maximize=bool(group["maximize"]),
        )
