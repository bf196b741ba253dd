"""NAdam, RAdam and Adamax with PyTorch's update rules.

Their updates run as NumPy array expressions on each parameter's memory (in the parameter's
dtype, in PyTorch's operation order), not yet as C++ group steps like SGD/Adam/RMSprop/Adagrad, so
chainrule.fit trains with them in its Python loop.
"""

from __future__ import annotations as _annotations

from typing import Any, Callable

import numpy as _np

from chainrule._tensor import as_tensor
from chainrule._typing import ParamsT
from chainrule.optim.adam import Adam
from chainrule.optim.optimizer import Optimizer, _check_non_negative


def _lerp(start: _np.ndarray, end: _np.ndarray, weight: float) -> _np.ndarray:
    # ATen's lerp: the formula is picked by |weight| < 0.5 so the result is exact at both ends.
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


class _NumpyStepOptimizer(Optimizer):
    """Optimizers whose step() walks the parameters with NumPy: state tensors are chainrule
    Tensors (so state_dict() saves them as for every optimizer), updated through their NumPy
    views."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        from chainrule._grad_mode import enable_grad

        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._validate_group(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "step" not in state:
                    state["step"] = 0
                    for name in self.state_keys:
                        state[name] = as_tensor(_np.zeros_like(p.detach().numpy()))
                    self._init_extra_state(state)
                state["step"] += 1
                grad = p.grad.numpy()
                if group["maximize"]:
                    grad = -grad
                self._update(group, p.detach().numpy(), grad, state)
        return loss

    def group_steps(self) -> list:
        raise NotImplementedError(f"{type(self).__name__} has no C++ group step yet; it runs in Python")

    def _init_extra_state(self, state: dict) -> None:
        pass

    def _update(self, group: dict, param: _np.ndarray, grad: _np.ndarray, state: dict) -> None:
        """One parameter's update, in place on its NumPy view."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update")


class NAdam(_NumpyStepOptimizer):
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

    def _init_extra_state(self, state):
        state["mu_product"] = 1.0

    def _update(self, group, param, grad, state):
        beta1, beta2 = group["betas"]
        lr, wd, step = group["lr"], group["weight_decay"], state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"].numpy(), state["exp_avg_sq"].numpy()
        bias_correction2 = 1 - beta2**step
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                grad = grad + wd * param
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
        state["mu_product"] = mu_product = state["mu_product"] * mu
        exp_avg[...] = _lerp(exp_avg, grad, 1 - beta1)
        exp_avg_sq[...] = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
        denom = _np.sqrt(exp_avg_sq / bias_correction2) + group["eps"]
        param += (-lr * (1.0 - mu) / (1.0 - mu_product)) * grad / denom
        param += ((-lr * mu_next) / (1.0 - mu_product * mu_next)) * exp_avg / denom


class RAdam(_NumpyStepOptimizer):
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

    def _update(self, group, param, grad, state):
        beta1, beta2 = group["betas"]
        lr, wd, step = group["lr"], group["weight_decay"], state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"].numpy(), state["exp_avg_sq"].numpy()
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                grad = grad + wd * param
        exp_avg[...] = _lerp(exp_avg, grad, 1 - beta1)
        exp_avg_sq[...] = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        corrected = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = (bias_correction2**0.5) / (_np.sqrt(exp_avg_sq) + group["eps"])
            param += -1.0 * (corrected * lr * adaptive * rect)
        else:
            param += -1.0 * (corrected * lr)


class Adamax(_NumpyStepOptimizer):
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

    def _update(self, group, param, grad, state):
        beta1, beta2 = group["betas"]
        lr, wd, step = group["lr"], group["weight_decay"], state["step"]
        exp_avg, exp_inf = state["exp_avg"].numpy(), state["exp_inf"].numpy()
        if wd != 0:
            grad = grad + wd * param
        exp_avg[...] = _lerp(exp_avg, grad, 1 - beta1)
        _np.maximum(exp_inf * beta2, _np.abs(grad) + group["eps"], out=exp_inf)
        clr = lr / (1 - beta1**step)
        param += -clr * exp_avg / exp_inf
