"""Stochastic gradient descent, the seed's W <- W - lr dL/dW, with PyTorch's options."""
from __future__ import annotations

from chainrule import _core
from chainrule._grad_mode import enable_grad
from chainrule.optim.optimizer import Optimizer, _check_non_negative, required


class SGD(Optimizer):
    """torch.optim.SGD's exact rule (momentum, dampening, weight decay, Nesterov, maximize).

    One C++ call per parameter group updates every parameter of the group.
    """

    def __init__(self, params, lr=1e-3, momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach=None, differentiable: bool = False,
                 fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        # Any real number (NumPy scalars included) >= 0; NaN is rejected.
        _check_non_negative("SGD", group, ("lr", "momentum", "dampening", "weight_decay"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        for group in self.param_groups:
            self._validate_group(group)  # the group may have been edited (e.g. by a scheduler)
            params = group["params"]
            if group["momentum"] == 0:
                buffers = [None] * len(params)
            else:
                buffers = [state[p].get("momentum_buffer") if p in state else None for p in params]
            _core.sgd_step(params, buffers, float(group["lr"]), float(group["momentum"]),
                           float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                           bool(group["maximize"]))
            if group["momentum"] != 0:
                for p, buf in zip(params, buffers):
                    if buf is not None:
                        self.state[p]["momentum_buffer"] = buf
        return loss
