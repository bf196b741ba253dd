"""Optimizer base class with PyTorch's param_groups / state / state_dict layout."""
from __future__ import annotations

import copy
import numbers
from collections import defaultdict

import numpy as np

from chainrule._core import Tensor
from chainrule._grad_mode import enable_grad
from chainrule.nn.utils.flat import zero_grads
from chainrule._tensor import as_tensor, numpy_dtype


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _check_non_negative(owner: str, group: dict, names) -> None:
    """Raises, naming the argument, unless each group[name] is a real number >= 0 (NaN fails)."""
    for name in names:
        value = group[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
        if not value >= 0:
            raise ValueError(f"{owner}: invalid {name} value: {value} (must be >= 0)")


def _gather_state(optimizer: "Optimizer", params: list, keys) -> tuple[list, dict]:
    """One group's state in the form the C++ group steps take: the step counts (0 where a parameter
    has no state yet) and, per key, the state tensors (None where not created yet)."""
    states = [optimizer.state.get(p, {}) for p in params]
    return [s.get("step", 0) for s in states], {k: [s.get(k) for s in states] for k in keys}


def _store_state(optimizer: "Optimizer", params: list, steps: list, lists: dict) -> None:
    """Keeps what a C++ group step created or advanced. It skipped parameters without a gradient,
    so their state (or its absence) stays as it was, as in PyTorch."""
    for i, p in enumerate(params):
        if p.grad is None:
            continue
        state = optimizer.state[p]
        state["step"] = steps[i]
        for k, values in lists.items():
            if values[i] is not None:
                state[k] = values[i]


class Optimizer:
    """Holds parameter groups (dicts with 'params' plus hyper-parameters) and per-parameter state.

    Subclasses implement step(); each step calls one C++ kernel per group that updates all of the
    group's parameters.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("optimizer can't optimize a non-leaf Tensor")
            if not p.is_floating_point():
                raise TypeError("optimizer can only optimize floating point Tensors")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        self._validate_group(group)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError("a parameter group contains the same parameter more than once")
        self.param_groups.append(group)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check their hyper-parameters here (e.g. lr >= 0)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads([p for group in self.param_groups for p in group["params"]], set_to_none)

    def step(self, closure=None):
        """Re-evaluate the loss with `closure` (grad enabled) when given, then update every group
        (one C++ call each). Returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        """Subclasses update one parameter group from its parameters' .grad."""
        raise NotImplementedError

    # ---- state_dict: parameters are referred to by their index across all groups -----------------
    def state_dict(self) -> dict:
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                ids.append(index_of[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index_of[id(p)]] = {k: (v.detach() if isinstance(v, Tensor) else v)
                                              for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' (from state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: loaded state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(f"load_state_dict: group {i} has {len(saved['params'])} parameters in the loaded "
                                 f"state but {len(mine['params'])} here")
        param_of = {}
        for mine, saved in zip(self.param_groups, saved_groups):
            for p, idx in zip(mine["params"], saved["params"]):
                param_of[int(idx)] = p
        new_state = defaultdict(dict)
        for idx, entries in state_dict["state"].items():
            idx = int(idx)
            if idx not in param_of:
                raise ValueError(f"load_state_dict: state refers to parameter {idx}, which no group contains")
            p = param_of[idx]
            restored = {}
            for k, v in entries.items():
                if isinstance(v, Tensor):
                    v = v.detach().numpy()
                elif hasattr(v, "detach") and hasattr(v, "numpy"):  # e.g. a torch tensor
                    v = v.detach().cpu().numpy()
                if isinstance(v, np.ndarray):
                    # A copy in the parameter's dtype (the 'step' counter keeps its own).
                    restored[k] = as_tensor(np.array(v, dtype=None if k == "step" else numpy_dtype(p.dtype)))
                    if k != "step" and tuple(v.shape) != tuple(p.shape):
                        raise ValueError(f"load_state_dict: state '{k}' of parameter {idx} has shape "
                                         f"{tuple(v.shape)}, the parameter has shape {tuple(p.shape)}")
                else:
                    restored[k] = copy.deepcopy(v)
            new_state[p] = restored
        self.state = new_state
        self.__dict__.pop("_group_steps", None)  # cached C++ steps hold the old state's tensors
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
