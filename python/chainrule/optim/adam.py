"""Adam and AdamW with PyTorch's update rules (one fused C++ update per parameter group)."""

from __future__ import annotations as _annotations

import numbers as _numbers

from chainrule import _core
from chainrule._typing import ParamsT
from chainrule.optim.optimizer import Optimizer, _check_non_negative


def adam_options(group: dict) -> dict:
    """The hyper-parameters the Adam family's C++ steps share, read from a parameter group."""
    beta1, beta2 = group["betas"]
    return dict(
        lr=float(group["lr"]),
        beta1=float(beta1),
        beta2=float(beta2),
        eps=float(group["eps"]),
        weight_decay=float(group["weight_decay"]),
        maximize=bool(group["maximize"]),
    )


class Adam(Optimizer):
    """torch.optim.Adam's exact rule (weight decay, AMSGrad, maximize).

    State per parameter, as in PyTorch: 'step' (a Python int here, a 0-d tensor in PyTorch),
    'exp_avg', 'exp_avg_sq' and, with amsgrad, 'max_exp_avg_sq'. decoupled_weight_decay=True is
    AdamW, as in PyTorch. foreach, capturable, differentiable and fused are accepted so PyTorch
    code runs unchanged; they do not change the math.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        owner = type(self).__name__
        _check_non_negative(owner, group, ("lr", "eps", "weight_decay"))
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            if isinstance(beta, bool) or not isinstance(beta, _numbers.Real) or not 0.0 <= beta < 1.0:
                raise ValueError(f"{owner}: invalid beta parameter at index {index}: {beta}")

    state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _make_group_step(self, group, params, state, steps):
        return _core.AdamStep(
            params,
            state,
            steps,
            **adam_options(group),
            amsgrad=bool(group["amsgrad"]),
            decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )


class AdamW(Adam):
    """torch.optim.AdamW's exact rule: Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay)
    before the Adam update (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
