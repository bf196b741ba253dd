"""Stochastic gradient descent, the seed's W <- W - lr dL/dW, with PyTorch's options."""
from __future__ import annotations

from chainrule import _core
from chainrule._grad_mode import enable_grad
from chainrule.optim.optimizer import Optimizer, required


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
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            value = group[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"SGD: {name} must be a number, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"SGD: invalid {name} value: {value} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._validate_group(group)  # the group may have been edited (e.g. by a scheduler)
            params = group["params"]
            buffers = [self.state[p].get("momentum_buffer") if p in self.state else None for p in params]
            _core.sgd_step(params, buffers, float(group["lr"]), float(group["momentum"]),
                           float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                           bool(group["maximize"]))
            if group["momentum"] != 0:
                for p, buf in zip(params, buffers):
                    if buf is not None:
                        self.state[p]["momentum_buffer"] = buf
        return loss
