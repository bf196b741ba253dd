"""Sequential: modules applied one after another."""
from __future__ import annotations

from collections import OrderedDict

from chainrule import _core
from chainrule._core import Tensor
from chainrule.nn import layers
from chainrule.nn.module import Module

# Built-in activations the fused DenseChain can apply after a Linear, with their parameters.
_Activation = _core.Activation
_FUSABLE_ACTIVATIONS = {
    layers.ReLU: lambda m: (_Activation.relu, 0.0),
    layers.Sigmoid: lambda m: (_Activation.sigmoid, 0.0),
    layers.Tanh: lambda m: (_Activation.tanh, 0.0),
    layers.LeakyReLU: lambda m: (_Activation.leaky_relu, m.negative_slope),
    layers.GELU: lambda m: (_Activation.gelu if m.approximate == "none" else _Activation.gelu_tanh, 0.0),
}


def _dense_chain_specs(modules):
    """[(weight, bias, activation, param), ...] when `modules` is Linear layers each followed by
    at most one built-in activation (Identity anywhere), else None."""
    specs = []
    for m in modules:
        kind = type(m)
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
        if type(input) is Tensor and d.get("_chain_version") == Module._structure_version:
            chain = d["_chain"]
            if chain is not None:
                return chain.forward(input)
        return self.forward(input)

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
        if self.__dict__.get("_chain_version") != Module._structure_version:
            specs = _dense_chain_specs(self._modules.values())
            chain = _core.DenseChain(list(specs)) if specs else None
            object.__setattr__(self, "_chain_first_weight", specs[0][0] if specs else None)
            object.__setattr__(self, "_chain", chain)
            object.__setattr__(self, "_chain_version", Module._structure_version)
        return self.__dict__["_chain"]

    def _chain_dtype(self):
        return self.__dict__["_chain_first_weight"].dtype

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        if not isinstance(index, int):
            raise TypeError(f"Sequential indices must be integers or slices, got {type(index).__name__}")
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential index {index} is out of range for {len(modules)} modules")
        return modules[index][1]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self
