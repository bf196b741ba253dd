"""NAdam, RAdam and Adamax with PyTorch's update rules (one fused C++ update per parameter group,
like SGD, Adam, RMSprop and Adagrad, so chainrule.fit's native loop runs them too)."""

from __future__ import annotations as _annotations

from chainrule import _core
from chainrule._typing import ParamsT
from chainrule.optim.adam import Adam, adam_options
from chainrule.optim.optimizer import Optimizer, _check_non_negative


class NAdam(Optimizer):
    """torch.optim.NAdam: Adam with Nesterov momentum (Dozat 2016) and momentum decay. State per
    parameter: 'step', 'exp_avg', 'exp_avg_sq' and 'mu_product' (a float here, a 0-d tensor in
    PyTorch). decoupled_weight_decay=True decays the weights as AdamW does."""

    state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate_group(self, group):
        Adam._validate_group(self, group)
        _check_non_negative(type(self).__name__, group, ("momentum_decay",))

    def _make_group_step(self, group, params, state, steps):
        # mu_product: 1 before a parameter's first step; PyTorch keeps it as a 0-d tensor.
        mu_products = [
            float(self.state[p]["mu_product"]) if "mu_product" in self.state.get(p, ()) else 1.0 for p in params
        ]
        return _core.NadamStep(
            params,
            state,
            steps,
            mu_products,
            **adam_options(group),
            momentum_decay=float(group["momentum_decay"]),
            decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )

    def _record(self, params, native, created):
        super()._record(params, native, created)
        state = self.state
        for p, mu_product in zip(params, native.mu_products):
            if p.grad is not None:
                state[p]["mu_product"] = mu_product


class RAdam(Optimizer):
    """torch.optim.RAdam (Liu et al. 2020): Adam whose adaptive step is rectified, and plain
    momentum steps while the variance of the adaptive learning rate is intractable. State per
    parameter: 'step', 'exp_avg', 'exp_avg_sq'. decoupled_weight_decay=True decays as AdamW."""

    state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    _validate_group = Adam._validate_group

    def _make_group_step(self, group, params, state, steps):
        return _core.RadamStep(
            params, state, steps, **adam_options(group), decoupled_weight_decay=bool(group["decoupled_weight_decay"])
        )


class Adamax(Optimizer):
    """torch.optim.Adamax: Adam with the infinity norm (Kingma & Ba 2015, section 7.1). State per
    parameter: 'step', 'exp_avg', 'exp_inf'."""

    state_keys = ("exp_avg", "exp_inf")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    _validate_group = Adam._validate_group

    def _make_group_step(self, group, params, state, steps):
        return _core.AdamaxStep(params, state, steps, **adam_options(group))
