"""nn.Module: the base of every layer, with PyTorch's registration, traversal and state_dict."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._tensor import numpy_dtype
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.flat import zero_grads


# Plain attributes that the fused DenseChain of nn.Sequential reads when it is built: activation
# settings, and the diagnostics recording switch that turns the fused path off.
_FUSED_PATH_ATTRIBUTES = frozenset({"negative_slope", "approximate", "_record"})


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module to an attribute registers it, as in PyTorch; parameters()
    and state_dict() walk them in registration order.
    """

    training: bool
    # Bumped whenever any module's structure may change (a Parameter, Module or buffer is
    # (re)assigned, or an attribute the fused path reads): nn.Sequential rebuilds its DenseChain
    # when the number has moved since it was built. Plain attributes (a loss's reduction, a
    # counter) leave it alone, so building e.g. a loss module per step costs no rebuild.
    _structure_version = 0

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration --------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() call")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        buffers = self.__dict__["_buffers"]
        if (isinstance(value, (Parameter, Module)) or name in params or name in modules or name in buffers
                or name in _FUSED_PATH_ATTRIBUTES):
            Module._structure_version += 1
        if isinstance(value, (Parameter, Module)):
            # As in PyTorch: the name leaves every other registry and the plain attributes, so
            # `self.w = None; self.w = Parameter(...)` registers the parameter instead of shadowing it.
            self.__dict__.pop(name, None)
            buffers.pop(name, None)
            (modules if isinstance(value, Parameter) else params).pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        Module._structure_version += 1
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[registry]:
                del self.__dict__[registry][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        Module._structure_version += 1
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_parameter: parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected nn.Parameter or None for '{name}', got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        Module._structure_version += 1
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: expected a Tensor or None for '{name}', got {type(tensor).__name__}")
        self._buffers[name] = tensor

    def add_module(self, name: str, module: "Module | None") -> None:
        Module._structure_version += 1
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"add_module: module name must be a non-empty string without '.', got {name!r}")
        self._modules[name] = module

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield mod_prefix + ("." if mod_prefix else "") + name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for mod_prefix, module in self.named_modules(prefix=prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield mod_prefix + ("." if mod_prefix else "") + name, b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    # ---- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("train: mode must be a bool")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    # ---- dtype / device ------------------------------------------------------------------------
    def _apply_to_tensors(self, fn) -> "Module":
        # Parameters keep their identity (optimizers hold them): only their data is replaced.
        for module in self.modules():
            for p in module._parameters.values():
                if p is None:
                    continue
                p.data = fn(p.detach())
                if p.grad is not None:
                    p.grad = fn(p.grad)
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = fn(b)
        return self

    def to(self, *args, dtype=None, device=None) -> "Module":
        """to(dtype), to(device) or to(device, dtype): converts floating parameters in place."""
        from chainrule import device as device_cls
        for a in args:
            if isinstance(a, _core.dtype):
                dtype = a
            else:
                device = a
        if device is not None and device_cls(device).type != "cpu":
            raise ValueError(f"to: device '{device}' is not available: tensors live on 'cpu' only; "
                             "the CUDA backend (chainrule.cuda) cannot yet hold tensors")
        if dtype is not None:
            if not isinstance(dtype, _core.dtype) or not dtype.is_floating_point:
                raise TypeError(f"to: dtype must be a floating point chainrule dtype, got {dtype!r}")
            self._apply_to_tensors(lambda t: t.to(dtype) if t.is_floating_point() else t)
        return self

    def float(self) -> "Module":
        return self.to(_core.dtype.float32)

    def double(self) -> "Module":
        return self.to(_core.dtype.float64)

    def cpu(self) -> "Module":
        return self

    # ---- state_dict ----------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by PyTorch's dotted names ('0.weight', 'fc.bias'), detached."""
        if destination is None:
            destination = OrderedDict()
        for name, t in self._state_items(prefix):
            destination[name] = t if keep_vars else t.detach()
        return destination

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """PyTorch's state_dict walk: each module's parameters, then its buffers, then its children;
        a module or parameter reachable by two names (tied weights) appears under both."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(prefix + name + ".")

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into this module's parameters (Tensors or NumPy arrays accepted).

        With strict=True, missing and unexpected keys raise a KeyError that lists them. A value
        whose shape differs raises a ValueError naming the key and both shapes. Values are copied
        into the existing parameters, so optimizers holding them keep working.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict of name -> Tensor/array, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing keys: " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        # Validate everything before writing anything, so a failure leaves the module unchanged.
        staged = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                array = value.detach().numpy()
            elif isinstance(value, np.ndarray) or np.isscalar(value):
                array = np.asarray(value)
            elif hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch tensor
                array = value.detach().cpu().numpy()
            else:
                raise TypeError(f"load_state_dict: value for '{key}' must be a Tensor or NumPy array, "
                                f"got {type(value).__name__}")
            if tuple(array.shape) != tuple(target.shape):
                raise ValueError(f"load_state_dict: size mismatch for '{key}': copying a param with shape "
                                 f"{tuple(array.shape)}, the parameter in the current model has shape {tuple(target.shape)}")
            if array.dtype.kind not in "fiub":
                raise TypeError(f"load_state_dict: value for '{key}' has unsupported dtype {array.dtype}")
            staged.append((target, array))
        for target, array in staged:
            # copy_ (not a write through .numpy()): it refuses read-only memory and moves the
            # version on, so a graph that saved the old values raises at backward.
            target.detach().copy_(np.array(array, dtype=numpy_dtype(target.dtype), order="C"))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        # PyTorch's layout: a one-line extra_repr stays inline when there are no children;
        # otherwise each extra line and each child gets its own indented line.
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            children.append(f"({name}): {child_repr}")
        main = type(self).__name__ + "("
        if len(lines) == 1 and not children:
            main += lines[0]
        elif lines or children:
            main += "\n  " + "\n  ".join(lines + children) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers))


class _IncompatibleKeys:
    """load_state_dict's result: (missing_keys, unexpected_keys), like PyTorch's named tuple."""

    def __init__(self, missing_keys, unexpected_keys):
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys

    def __iter__(self):
        return iter((self.missing_keys, self.unexpected_keys))

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"
