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

# Built-in activations the fused DenseChain can apply after a Linear, with their parameters.
_Activation = _core.Activation
_FUSABLE_ACTIVATIONS = {
    layers.ReLU: lambda m: (_Activation.relu, 0.0),
    layers.Sigmoid: lambda m: (_Activation.sigmoid, 0.0),
    layers.Tanh: lambda m: (_Activation.tanh, 0.0),
    layers.LeakyReLU: lambda m: (_Activation.leaky_relu, m.negative_slope),
    layers.GELU: lambda m: (_Activation.gelu if m.approximate == "none" else _Activation.gelu_tanh, 0.0),
}

# Plain attributes the fused chain reads when it is built: activation settings, and the
# diagnostics recording switch that turns the fused path off. Assigning one rebuilds the chain.
_FUSED_PATH_ATTRIBUTES = frozenset({"negative_slope", "approximate", "_record"})
_structure.watched_attributes.update(_FUSED_PATH_ATTRIBUTES)


def _dense_chain_specs(modules):
    """[(weight, bias, activation, param), ...] when `modules` is Linear layers each followed by
    at most one built-in activation (Identity anywhere), else None."""
    specs = []
    for m in modules:
        kind = type(m)
        if m._has_hooks():
            return None  # hooks must see the module's own call
        if kind is layers.Identity:
            continue
        if kind is layers.Linear:
            specs.append([m.weight, m.bias, _Activation.identity, 0.0])
        elif kind in _FUSABLE_ACTIVATIONS and specs and specs[-1][2] == _Activation.identity \
                and getattr(m, "_record", None) is None:
            specs[-1][2], specs[-1][3] = _FUSABLE_ACTIVATIONS[kind](m)
        else:
            return None
    return [tuple(s) for s in specs] or None


class Sequential(Module):
    """Sequential(m1, m2, ...) or Sequential(OrderedDict(name=module, ...))."""

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
            chain = d["_chain"]
            if chain is not None:
                return chain.forward(input)
        return Module.__call__(self, input)

    def forward(self, input):
        chain = self._dense_chain()
        if chain is not None:
            # One C++ call for the whole stack (and one graph node for its backward).
            return chain.forward(layers._input(input, self._chain_dtype()))
        for module in self._modules.values():
            input = module(input)
        return input

    def _dense_chain(self):
        """The fused DenseChain for this stack, rebuilt after any module attribute changed."""
        if self.__dict__.get("_chain_version") != _structure.version:
            specs = _dense_chain_specs(self._modules.values())
            if specs and self._has_hooks():
                specs = None
            chain = _core.DenseChain(list(specs)) if specs else None
            object.__setattr__(self, "_chain_first_weight", specs[0][0] if specs else None)
            object.__setattr__(self, "_chain", chain)
            object.__setattr__(self, "_chain_version", _structure.version)
        return self.__dict__["_chain"]

    def _chain_dtype(self):
        return self.__dict__["_chain_first_weight"].dtype

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

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential: Iterable[Module]) -> "Sequential":
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
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

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int = -1) -> Module:
        module = self[key]
        del self[key]
        return module

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
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
            raise TypeError("ModuleDict.update should be called with an iterable of key/value pairs, but got "
                            + type(modules).__name__)
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

    def append(self, value: Tensor) -> "ParameterList":
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Tensor]) -> "ParameterList":
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
