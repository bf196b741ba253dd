"""Adagrad with PyTorch's update rule (one fused C++ update per parameter group)."""

from __future__ import annotations as _annotations

import numpy as _np

from chainrule import _core
from chainrule._tensor import as_tensor, numpy_dtype
from chainrule._typing import ParamsT
from chainrule.optim.optimizer import Optimizer, _check_non_negative


class Adagrad(Optimizer):
    """torch.optim.Adagrad's exact rule (lr decay, weight decay, initial accumulator, maximize).

    State per parameter, as in PyTorch: 'step' (a Python int here, a 0-d tensor in PyTorch) and
    'sum'. Like PyTorch, the state is created when a parameter joins the optimizer, not at its
    first step, so state_dict() lists every parameter. foreach, differentiable and fused are
    accepted so PyTorch code runs unchanged; they do not change the math.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            state = self.state[p]
            state["step"] = 0
            state["sum"] = as_tensor(
                _np.full(tuple(p.shape), float(group["initial_accumulator_value"]), dtype=numpy_dtype(p.dtype))
            )

    def _validate_group(self, group):
        _check_non_negative("Adagrad", group, ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"))

    state_keys = ("sum",)

    def _make_group_step(self, group, params, state, steps):
        return _core.AdagradStep(
            params,
            state,
            steps,
            lr=float(group["lr"]),
            lr_decay=float(group["lr_decay"]),
            weight_decay=float(group["weight_decay"]),
            initial_accumulator_value=float(group["initial_accumulator_value"]),
            eps=float(group["eps"]),
            maximize=bool(group["maximize"]),
        )
