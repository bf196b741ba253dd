"""Optimizer base class with PyTorch's param_groups / state / state_dict layout."""

from __future__ import annotations as _annotations

import copy as _copy
import numbers as _numbers
import operator as _operator
from collections import defaultdict
from typing import Any, Callable

import numpy as _np

from chainrule import _grads
from chainrule._core import Tensor
from chainrule._grad_mode import enable_grad
from chainrule._grads import zero_grads
from chainrule._tensor import as_tensor, numpy_dtype
from chainrule._typing import ParamsT


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _check_non_negative(owner: str, group: dict, names) -> None:
    """Raises, naming the argument, unless each group[name] is a real number >= 0 (NaN fails)."""
    for name in names:
        value = group[name]
        if isinstance(value, bool) or not isinstance(value, _numbers.Real):
            raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
        if not value >= 0:
            raise ValueError(f"{owner}: invalid {name} value: {value} (must be >= 0)")


class Optimizer:
    """Holds parameter groups (dicts with 'params' plus hyper-parameters) and per-parameter state.

    Each parameter group is updated by one C++ object, a ``chainrule._core.GroupStep``, that owns
    the group's parameters, their state tensors and step counts: ``step()`` calls it, and so does
    the native loop of ``chainrule.fit``. A subclass names its state (``state_keys``, in the order
    its GroupStep keeps them), says whether PyTorch records a 'step' count for it
    (``records_step``) and builds the GroupStep from a group (``_make_group_step``). The objects
    are rebuilt, from ``self.state``, whenever a group's hyper-parameters or parameters change.
    """

    #: Names of the per-parameter state tensors, in the order the GroupStep keeps them.
    state_keys: tuple = ()
    #: Whether self.state[p] holds a 'step' count (PyTorch's SGD keeps none).
    records_step: bool = True
    #: (the built group steps by id(group), a function reading a group's hyper-parameter values
    #: with one C-level call), made by the first step; None until then.
    _step_cache: tuple | None = None

    def __init__(self, params: ParamsT, defaults: dict) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got a Tensor"
            )
        param_groups: list = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        _grads.register_optimizer(self)  # its state follows its parameters when Module.to moves them

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
        # Each group's built C++ step holds its parameters: clearing through it takes one call and
        # no list conversion (a small network's step is a few microseconds). A group without a
        # current step, and parameters whose gradients live in an arena, take zero_grads.
        cache = self._step_cache
        if cache is not None and (not set_to_none or not _grads._arena_ever_used):
            steps = cache[0]
            for group in self.param_groups:
                params = group["params"]
                cached = steps.get(id(group))
                if cached is None or not cached[2].clear_grads_if_holds(params, set_to_none):
                    zero_grads(params, set_to_none)
            return
        zero_grads([p for group in self.param_groups for p in group["params"]], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Re-evaluate the loss with `closure` (grad enabled) when given, then update every group
        (one C++ call each). Returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # group_steps() inlined: this runs on every training step. A built step is current while
        # its group's hyper-parameters and the state dict are those it was built from and it
        # holds the group's parameters (which step_if_holds checks in C++ as it steps).
        cache, hyper_parameters = self._step_cache or self._new_step_cache()
        state = self.state
        records_step = self.records_step
        for group in self.param_groups:
            params = group["params"]
            cached = cache.get(id(group))
            created = None
            if cached is not None and cached[1] is state and cached[0] == hyper_parameters(group):
                created = cached[2].step_if_holds(params)  # None: the parameters changed
            if created is None:
                cached = self._build_group_step(group, cache, hyper_parameters)
                created = cached[2].step()
            if created or records_step:
                self._record(params, cached[2], created)
        return loss

    def _state_to_parameter_devices(self) -> None:
        """Moves every state tensor to its parameter's device (Module.to calls this after moving
        parameters). In place (`.data`), so the built C++ steps, which hold the same tensor objects,
        see them moved."""
        for p, entries in self.state.items():
            for k, v in entries.items():
                if k != "step" and isinstance(v, Tensor) and v.device != p.device:
                    v.data = v.to(p.device)

    def group_steps(self) -> list:
        """The C++ object that updates each parameter group (a ``chainrule._core.GroupStep``),
        built when the group is new or its hyper-parameters, parameters or state were replaced.
        ``step()`` runs them; ``chainrule.fit`` hands them to its native loop and then calls
        ``publish_state()``."""
        cache, hyper_parameters = self._step_cache or self._new_step_cache()
        state = self.state
        steps = []
        for group in self.param_groups:
            cached = cache.get(id(group))
            if (
                cached is None
                or cached[1] is not state
                or cached[0] != hyper_parameters(group)
                or not cached[2].holds(group["params"])
            ):
                cached = self._build_group_step(group, cache, hyper_parameters)
            steps.append(cached[2])
        return steps

    def _new_step_cache(self) -> tuple:
        # The hyper-parameters are the names of `defaults` (the class's own, which its C++ step
        # reads); a key added to `defaults` later only fills new groups and changes no step.
        names = tuple(self.defaults)
        self._step_cache = ({}, _operator.itemgetter(*names) if names else (lambda group: ()))
        return self._step_cache

    def _build_group_step(self, group: dict, cache: dict, hyper_parameters: Callable[[dict], tuple]) -> tuple:
        # A new or edited group (e.g. a scheduler changed lr): validate it and build its C++ step
        # from the state its parameters already have. Cached as (the hyper-parameter values, the
        # state dict, the step): what decides whether it is still current, beside its parameters.
        self._validate_group(group)
        state = self.state
        params = group["params"]
        entries = [state[p] if p in state else {} for p in params]
        counts = [int(entry.get("step", 0)) for entry in entries]
        lists = [[entry.get(name) for entry in entries] for name in self.state_keys]
        cached = (hyper_parameters(group), state, self._make_group_step(group, params, lists, counts))
        cache[id(group)] = cached
        return cached

    def publish_state(self, steps: list | None = None) -> None:
        """Record in ``self.state`` what the group steps created or advanced since they were built
        (``chainrule.fit`` calls this after running them in its native loop, passing the steps it
        ran, which ``group_steps()`` returned)."""
        for group, native in zip(self.param_groups, self.group_steps() if steps is None else steps):
            created = native.take_created_since()
            if created or self.records_step:
                self._record(group["params"], native, created)

    def _record(self, params: list, native, created: bool) -> None:
        # Parameters without a gradient were skipped, so their state (or its absence) stays as it
        # was, as in PyTorch. State tensors are shared with the C++ object, so they need recording
        # only when the step created one.
        state = self.state
        if self.records_step:
            for p, count in zip(params, native.steps):
                if p.grad is not None:
                    state[p]["step"] = count
        if created:
            lists = native.state
            for i, p in enumerate(params):
                if p.grad is None:
                    continue
                for name, values in zip(self.state_keys, lists):
                    if values[i] is not None:
                        state[p][name] = values[i]

    def _make_group_step(self, group: dict, params: list, state: list, steps: list):
        """Subclasses build their chainrule._core.GroupStep for one group: state[k][i] is
        state_keys[k] of params[i] (None when not created yet), steps[i] its step count."""
        raise NotImplementedError(f"{type(self).__name__} must implement _make_group_step")

    # ---- state_dict: parameters are referred to by their index across all groups -----------------
    def state_dict(self) -> dict:
        index_of: dict[int, int] = {}
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
                    state[index_of[id(p)]] = {
                        k: (v.detach() if isinstance(v, Tensor) else v) for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' (from state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: loaded state has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    f"load_state_dict: group {i} has {len(saved['params'])} parameters in the loaded "
                    f"state but {len(mine['params'])} here"
                )
        param_of = {}
        for mine, saved in zip(self.param_groups, saved_groups):
            for p, idx in zip(mine["params"], saved["params"]):
                param_of[int(idx)] = p
        new_state: defaultdict[Tensor, dict] = defaultdict(dict)
        for idx, entries in state_dict["state"].items():
            idx = int(idx)
            if idx not in param_of:
                raise ValueError(f"load_state_dict: state refers to parameter {idx}, which no group contains")
            p = param_of[idx]
            restored = {}
            for k, v in entries.items():
                if isinstance(v, Tensor):
                    v = v.detach().cpu().numpy()
                elif hasattr(v, "detach") and hasattr(v, "numpy"):  # e.g. a torch tensor
                    v = v.detach().cpu().numpy()
                if isinstance(v, _np.ndarray):
                    # A copy in the parameter's dtype (the 'step' counter keeps its own).
                    restored[k] = as_tensor(_np.array(v, dtype=None if k == "step" else numpy_dtype(p.dtype)))
                    if k != "step" and p.device.type != "cpu":  # state lives beside its parameter
                        restored[k] = restored[k].to(p.device)
                    if k != "step" and tuple(v.shape) != tuple(p.shape):
                        raise ValueError(
                            f"load_state_dict: state '{k}' of parameter {idx} has shape "
                            f"{tuple(v.shape)}, the parameter has shape {tuple(p.shape)}"
                        )
                else:
                    restored[k] = _copy.deepcopy(v)
            new_state[p] = restored
        self.state = new_state
        self._step_cache = None  # the built C++ steps hold the old state's tensors
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = _copy.deepcopy(v)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
