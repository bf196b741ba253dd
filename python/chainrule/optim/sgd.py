"""Stochastic gradient descent, the seed's W <- W - lr dL/dW, with PyTorch's options."""
from __future__ import annotations

from chainrule import _core
from chainrule.optim.optimizer import Optimizer, _check_non_negative


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

    def _step_group(self, group):
        state = self.state
        cache = self.__dict__.setdefault("_group_steps", {})
        params = group["params"]
        hyper = (group["lr"], group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"],
                 group["maximize"])
        key = (hyper, tuple(map(id, params)), id(state))
        cached = cache.get(id(group))
        if cached is None or cached[0] != key:
            # A new or edited group (e.g. a scheduler changed lr): validate it and build its C++
            # step, which keeps the parameter list and momentum buffers between calls.
            self._validate_group(group)
            buffers = [None] * len(params) if group["momentum"] == 0 else \
                [state[p].get("momentum_buffer") if p in state else None for p in params]
            cached = (key, _core.SgdGroupStep(params, buffers, float(group["lr"]), float(group["momentum"]),
                                              float(group["dampening"]), float(group["weight_decay"]),
                                              bool(group["nesterov"]), bool(group["maximize"])), [False])
            cache[id(group)] = cached
        _, native_step, synced = cached
        native_step.step()
        if group["momentum"] != 0 and not synced[0]:
            # Buffers are created by the first step; publish them once in self.state.
            synced[0] = True
            for p, buf in zip(params, native_step.momentum_buffers):
                if buf is None:
                    synced[0] = False
                else:
                    state[p]["momentum_buffer"] = buf

    def _forget_native_steps(self) -> None:
        """Drop the cached C++ steps (their buffers may no longer be the ones in self.state)."""
        self.__dict__.pop("_group_steps", None)
