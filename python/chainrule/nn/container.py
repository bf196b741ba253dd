"""Containers: Sequential (modules applied one after another), ModuleList, ModuleDict,
ParameterList and ParameterDict."""

from __future__ import annotations as _annotations

import operator as _operator
from collections import OrderedDict
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, NoReturn

from chainrule import _core
from chainrule._core import Tensor
from chainrule.nn import _structure, layers
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

# Built-in activations the fused DenseChain applies after a stage: (kind, parameter, parameter 2).
_Activation = _core.Activation
_FUSABLE_ACTIVATIONS = {
    layers.ReLU: lambda m: (_Activation.relu, 0.0, 0.0),
    layers.Sigmoid: lambda m: (_Activation.sigmoid, 0.0, 0.0),
    layers.Tanh: lambda m: (_Activation.tanh, 0.0, 0.0),
    layers.LeakyReLU: lambda m: (_Activation.leaky_relu, m.negative_slope, 0.0),
    layers.GELU: lambda m: (_Activation.gelu if m.approximate == "none" else _Activation.gelu_tanh, 0.0, 0.0),
    layers.SiLU: lambda m: (_Activation.silu, 0.0, 0.0),
    layers.Mish: lambda m: (_Activation.mish, 0.0, 0.0),
    layers.Hardswish: lambda m: (_Activation.hardswish, 0.0, 0.0),
    layers.SELU: lambda m: (_Activation.selu, 0.0, 0.0),
    layers.ELU: lambda m: (_Activation.elu, m.alpha, 0.0),
    layers.CELU: lambda m: (_Activation.celu, m.alpha, 0.0),
    layers.Softplus: lambda m: (_Activation.softplus, m.beta, m.threshold),
    layers.Hardtanh: lambda m: (_Activation.hardtanh, m.min_val, m.max_val),
    layers.ReLU6: lambda m: (_Activation.hardtanh, m.min_val, m.max_val),
    layers.LogSigmoid: lambda m: (_Activation.log_sigmoid, 0.0, 0.0),
    layers.Softsign: lambda m: (_Activation.softsign, 0.0, 0.0),
}
_Stage = _core.StageKind
_SOFTMAX_STAGES = {layers.Softmax: _Stage.softmax, layers.LogSoftmax: _Stage.log_softmax}

# Plain attributes the fused chain reads when it is built: activation, dropout and normalisation
# settings, and the diagnostics recording switch that turns the fused path off. Assigning one
# rebuilds the chain.
_FUSED_PATH_ATTRIBUTES = frozenset(
    {
        "negative_slope",
        "approximate",
        "alpha",
        "beta",
        "threshold",
        "min_val",
        "max_val",
        "p",
        "eps",
        "momentum",
        "dim",
        "_record",
    }
)
_structure.watched_attributes.update(_FUSED_PATH_ATTRIBUTES)


class _ChainPlan:
    """How a Sequential maps onto a DenseChain: its stages, the module whose training mode each
    stage follows (BatchNorm1d, Dropout; None for the others), and whether input must be 2-D."""

    def __init__(self):
        self.stages = []  # keyword arguments of _core.ChainStage, one dict per stage
        self.mode_modules = []  # per stage: the module whose .training it follows, or None
        # A BatchNorm1d stage, or a (Log)Softmax over dim 1: other input ranks keep the
        # module-by-module path.
        self.needs_2d = False

    def add(self, kind, module=None, **kwargs):
        self.stages.append(dict(kind=kind, **kwargs))
        self.mode_modules.append(module)

    def attach_activation(self, activation):
        kind, param, param2 = activation
        last = self.stages[-1] if self.stages else None
        if last is None or last.get("activation", _Activation.identity) != _Activation.identity:
            self.add(_Stage.activation)
            last = self.stages[-1]
        last.update(activation=kind, activation_param=float(param), activation_param2=float(param2))


def _chain_plan(modules):
    """The _ChainPlan of `modules` when each is a Linear, a built-in activation, Dropout,
    BatchNorm1d, LayerNorm over the last dimension, or Softmax / LogSoftmax over the features
    (Identity anywhere), their widths chain and at least one of them sets a width; else None (the
    module-by-module path)."""
    from chainrule.nn import normalization

    plan = _ChainPlan()
    width = None  # the width flowing between stages, once a stage has set it
    for m in modules:
        kind = type(m)
        if m._has_hooks():
            return None  # hooks must see the module's own call
        if kind is layers.Identity:
            continue
        takes = None
        if kind is layers.Linear:
            takes, width_out = m.in_features, m.out_features
            plan.add(_Stage.linear, weight=m.weight, bias=m.bias)
        elif kind in _FUSABLE_ACTIVATIONS and getattr(m, "_record", None) is None:
            plan.attach_activation(_FUSABLE_ACTIVATIONS[kind](m))
            continue
        elif kind is normalization.Dropout:
            plan.add(_Stage.dropout, m, p=m.p, training=m.training)
            continue
        elif kind in _SOFTMAX_STAGES and getattr(m, "_record", None) is None:
            # The chain normalises each row of its (rows, features) view: dim=-1 for any rank;
            # dim=1 (and None, which means 1 for 2-D input) only for 2-D input.
            if m.dim not in (-1, 1, None):
                return None
            plan.add(_SOFTMAX_STAGES[kind])
            plan.needs_2d = plan.needs_2d or m.dim != -1
            continue
        elif kind is normalization.BatchNorm1d:
            takes = width_out = m.num_features
            plan.add(
                _Stage.batch_norm,
                m,
                weight=m.weight,
                bias=m.bias,
                running_mean=m.running_mean,
                running_var=m.running_var,
                num_batches_tracked=m.num_batches_tracked,
                eps=m.eps,
                momentum=m.momentum,
                features=m.num_features,
                training=m.training,
            )
            plan.needs_2d = True
        elif kind is normalization.LayerNorm and len(m.normalized_shape) == 1:
            takes = width_out = m.normalized_shape[0]
            plan.add(_Stage.layer_norm, weight=m.weight, bias=m.bias, eps=m.eps, features=takes)
        else:
            return None
        if width is not None and takes != width:
            return None  # the modules' own calls raise the error a user expects
        width = width_out
    return plan if width is not None else None


class Sequential(Module):
    """Sequential(m1, m2, ...) or Sequential(OrderedDict(name=module, ...)).

    A Sequential of Linear layers, built-in activations, Dropout, BatchNorm1d (2-D input),
    LayerNorm (over the last dimension) and Softmax / LogSoftmax over the features (dim=-1, or
    dim=1 on 2-D input), in any order, runs as one fused C++ op: see fused_chain().
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: argument {index} is a {type(module).__name__}, not an nn.Module")
                self.add_module(str(index), module)

    def __call__(self, input):
        # The training-loop fast path: a Tensor input and an up-to-date fused chain go straight
        # to C++ (the per-call Python cost matters for small networks).
        d = self.__dict__
        if type(input) is Tensor and d.get("_chain_version") == _structure.version:
            chain = d["_chain_without_modes"]  # no BatchNorm1d or Dropout: nothing to check first
            if chain is not None:
                return chain.forward(input)
            chain = d["_chain"]
            if chain is not None and (not d["_chain_needs_2d"] or input.ndim == 2):
                self._sync_chain_modes()
                return chain.forward(input)
        return Module.__call__(self, input)

    def forward(self, input):
        chain = self.fused_chain()
        if chain is not None:
            x = layers._input(input, self._chain_dtype())
            if not self.__dict__["_chain_needs_2d"] or x.ndim == 2:
                # One C++ call for the whole stack (and one graph node for its backward).
                return chain.forward(x)
        for module in self._modules.values():
            input = module(input)
        return input

    def fused_chain(self):
        """The fused ``_core.DenseChain`` that runs this Sequential in one C++ call, set to the
        modules' current training modes, or None when a module keeps it on the module-by-module
        path (a user module, a hook, BatchNorm1d widths that do not chain, ...). Rebuilt after any
        structural change. ``chainrule.fit`` runs its native loop on it."""
        if self.__dict__.get("_chain_version") != _structure.version:
            plan = _chain_plan(self._modules.values())
            if plan is not None and self._has_hooks():
                plan = None
            chain = None
            if plan is not None:
                chain = _core.DenseChain([_core.ChainStage(**stage) for stage in plan.stages])
            dtype_source = None
            if plan is not None:
                dtype_source = next(
                    (st[k] for st in plan.stages for k in ("weight", "bias", "running_mean") if st.get(k) is not None),
                    None,
                )
            d = self.__dict__
            object.__setattr__(self, "_chain_dtype_source", dtype_source)
            object.__setattr__(self, "_chain", chain)
            object.__setattr__(self, "_chain_needs_2d", plan.needs_2d if plan else False)
            stage_modules = plan.mode_modules if plan else []
            object.__setattr__(self, "_chain_stage_modules", stage_modules)
            object.__setattr__(self, "_chain_mode_modules", [m for m in stage_modules if m is not None])
            object.__setattr__(self, "_chain_modes", tuple(m.training for m in d["_chain_mode_modules"]))
            simple = chain is not None and not d["_chain_mode_modules"] and not d["_chain_needs_2d"]
            object.__setattr__(self, "_chain_without_modes", chain if simple else None)
            object.__setattr__(self, "_chain_version", _structure.version)
        if self.__dict__["_chain_mode_modules"]:
            self._sync_chain_modes()
        return self.__dict__["_chain"]

    # The name the native loop and the tests used before fused_chain() was public.
    _dense_chain = fused_chain

    def _sync_chain_modes(self):
        """Hands the chain the training modes of its BatchNorm1d and Dropout modules when one changed."""
        d = self.__dict__
        modes = tuple(m.training for m in d["_chain_mode_modules"])
        if modes != d["_chain_modes"]:
            d["_chain"].set_training([m.training if m is not None else True for m in d["_chain_stage_modules"]])
            object.__setattr__(self, "_chain_modes", modes)

    def _chain_dtype(self):
        source = self.__dict__["_chain_dtype_source"]
        return source.dtype if source is not None else None

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        if not isinstance(index, int):
            raise TypeError(f"Sequential indices must be integers or slices, got {type(index).__name__}")
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential index {index} is out of range for {len(modules)} modules")
        return modules[index][1]

    def __setitem__(self, index: int, module: Module) -> None:
        key = self._key_at(index)
        setattr(self, key, module)

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._modules)
        if isinstance(index, slice):
            for key in keys[index]:
                delattr(self, key)
        else:
            delattr(self, self._key_at(index))
        # PyTorch renumbers the remaining modules so str(i) stays the i-th one.
        remaining = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(remaining):
            self._modules[str(i)] = m
        _structure.bump()

    def _key_at(self, index):
        keys = list(self._modules)
        index = _operator.index(index)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"index {index} is out of range")
        return keys[index]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        _structure.bump()
        return self

    def pop(self, key: int) -> Module:
        module = self[key]
        del self[key]
        return module

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)


def _abs_index(index, length: int, owner: str) -> int:
    index = _operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range")
    return index + length if index < 0 else index


class ModuleList(Module):
    """A list of modules, registered so parameters() and state_dict() see them ('0.weight', ...).
    It has no forward: the owner decides how its modules are called."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[str(_abs_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_abs_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._modules)
        doomed = keys[index] if isinstance(index, slice) else [keys[_abs_index(index, len(keys), "ModuleList")]]
        for key in doomed:
            del self._modules[key]
        remaining = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(remaining):
            self._modules[str(i)] = m
        _structure.bump()

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int = -1) -> Module:
        module = self[key]
        del self[key]
        return module

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable) or isinstance(modules, Module) and not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable, but got " + type(modules).__name__)
        for m in list(modules):
            self.append(m)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ModuleList has no forward(); iterate over it and call each module")


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]
        _structure.bump()

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()
        _structure.bump()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def keys(self) -> KeysView[str]:
        return self._modules.keys()

    def items(self) -> ItemsView[str, Module]:
        return self._modules.items()

    def values(self) -> ValuesView[Module]:
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleDict.update should be called with an iterable of key/value pairs, but got "
                + type(modules).__name__
            )
        for index, pair in enumerate(modules):
            if not isinstance(pair, Iterable) or isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{index} should be an iterable of length 2")
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ModuleDict has no forward(); look modules up by key and call them")


def _as_parameter(value):
    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"cannot assign '{type(value).__name__}' as a parameter (Tensor or Parameter expected)")


class ParameterList(Module):
    """A list of parameters registered as '0', '1', ... (plain Tensors become Parameters)."""

    def __init__(self, values: Iterable | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index: int | slice) -> Parameter | ParameterList:
        if isinstance(index, slice):
            return ParameterList(list(self)[index])
        return self._parameters[str(_abs_index(index, len(self), "ParameterList"))]

    def __setitem__(self, index: int, param: Tensor) -> None:
        self.register_parameter(str(_abs_index(index, len(self), "ParameterList")), _as_parameter(param))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __iadd__(self, parameters: Iterable[Tensor]) -> ParameterList:
        return self.extend(parameters)

    def append(self, value: Tensor) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got " + type(values).__name__)
        for v in list(values):
            self.append(v)
        return self

    def extra_repr(self) -> str:
        lines = []
        for i, p in enumerate(self):
            size = "x".join(str(s) for s in p.shape)
            lines.append(f"({i}): Parameter containing: [{_dtype_label(p)} of size {size}]")
        return "\n".join(lines)

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ParameterList has no forward()")


class ParameterDict(Module):
    """An ordered dict of parameters registered under their keys (plain Tensors become Parameters)."""

    def __init__(self, parameters: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter | None:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Tensor | None) -> None:
        if key in self._parameters:
            self._parameters[key] = _as_parameter(value)
            _structure.bump()
        else:
            self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]
        _structure.bump()

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> KeysView[str]:
        return self._parameters.keys()

    def items(self) -> ItemsView[str, Parameter | None]:
        return self._parameters.items()

    def values(self) -> ValuesView[Parameter | None]:
        return self._parameters.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter | None:
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        self._parameters.clear()
        _structure.bump()

    def update(self, parameters: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]]) -> None:
        items = parameters.items() if isinstance(parameters, (Mapping, ParameterDict)) else parameters
        for index, pair in enumerate(items):
            if not isinstance(pair, Iterable) or isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"ParameterDict update sequence element #{index} should be an iterable of length 2")
            self[pair[0]] = pair[1]

    def extra_repr(self) -> str:
        lines = []
        for k, p in self._parameters.items():
            size = "x".join(str(s) for s in p.shape)
            lines.append(f"({k}): Parameter containing: [{_dtype_label(p)} of size {size}]")
        return "\n".join(lines)

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("ParameterDict has no forward()")


def _dtype_label(p) -> str:
    return "chainrule.float64" if p.dtype == _core.dtype.float64 else "chainrule.float32"
