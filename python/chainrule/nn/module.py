"""nn.Module: the base of every layer, with PyTorch's registration, traversal and state_dict."""

from __future__ import annotations as _annotations

import itertools as _itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, NamedTuple, TypeVar

import numpy as _np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._device import _check_device, _place
from chainrule._grads import parameters_moved, zero_grads
from chainrule._tensor import numpy_dtype
from chainrule.nn import _structure
from chainrule.nn.parameter import Parameter

# The type of self in the methods that return it (model.train() is still the model's own type).
_M = TypeVar("_M", bound="Module")


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module to an attribute registers it, as in PyTorch; parameters()
    and state_dict() walk them in registration order.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration --------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() call")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        buffers = self.__dict__["_buffers"]
        if (
            isinstance(value, (Parameter, Module))
            or name in params
            or name in modules
            or name in buffers
            or name in _structure.watched_attributes
        ):
            _structure.bump()
        if isinstance(value, (Parameter, Module)):
            # As in PyTorch: the name leaves every other registry and the plain attributes, so
            # `self.w = None; self.w = Parameter(...)` registers the parameter instead of shadowing it.
            self.__dict__.pop(name, None)
            buffers.pop(name, None)
            (modules if isinstance(value, Parameter) else params).pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' (nn.Parameter or None expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' (nn.Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        _structure.bump()
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[registry]:
                del self.__dict__[registry][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_member_name(self, "register_parameter", "parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: expected nn.Parameter or None for '{name}', got {type(param).__name__}"
            )
        _structure.bump()
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that belongs to the module's state but is not a parameter (BatchNorm's running
        statistics). Persistent buffers appear in state_dict(); non-persistent ones do not."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_member_name(self, "register_buffer", "buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: expected a Tensor or None for '{name}', got {type(tensor).__name__}")
        _structure.bump()
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"add_module: module name must be a non-empty string without '.', got {name!r}")
        if name in self.__dict__ and name not in self._modules:
            raise KeyError(f"add_module: attribute '{name}' already exists")
        _structure.bump()
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"]):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward = _BackwardHookState(self) if self._backward_hooks else None
        if backward is not None:
            args = backward.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        if backward is not None:
            output = backward.wrap_outputs(output)
        return output

    # ---- hooks ---------------------------------------------------------------------------------
    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """hook(module, args) -> None or new args, called before forward() (with_kwargs:
        hook(module, args, kwargs) -> None or (args, kwargs))."""
        return self._add_hook("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", hook, prepend, with_kwargs)

    def register_forward_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False
    ) -> RemovableHandle:
        """hook(module, args, output) -> None or a replacement output, called after forward()
        (with_kwargs: hook(module, args, kwargs, output))."""
        return self._add_hook("_forward_hooks", "_forward_hooks_with_kwargs", hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_input, grad_output) -> None or replacement grad_input, called when the
        gradients with respect to the module's Tensor inputs have been computed. grad_input and
        grad_output are tuples with one entry per positional Tensor input / output (None where no
        gradient flows)."""
        return self._add_hook("_backward_hooks", None, hook, prepend, False)

    def _add_hook(self, registry: str, kwargs_registry, hook, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        # Hooks must see every call, so a module with hooks leaves nn.Sequential's fused chain.
        _structure.bump()
        hooks = self.__dict__[registry]
        handle = RemovableHandle(hooks, self.__dict__[kwargs_registry] if kwargs_registry else None)
        hooks[handle.id] = hook
        if with_kwargs:
            self.__dict__[kwargs_registry].add(handle.id)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def _has_hooks(self) -> bool:
        d = self.__dict__
        return bool(d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"])

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield mod_prefix + ("." if mod_prefix else "") + name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, b in module._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield mod_prefix + ("." if mod_prefix else "") + name, b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self: _M, fn: Callable[[Module], Any]) -> _M:
        """Calls fn(module) on every child (recursively, children first) and then on self, as
        PyTorch does; the usual way to run nn.init over a model."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients -------------------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        """Sets training mode on this module and every submodule (Dropout drops and BatchNorm uses
        batch statistics only in training mode)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    # ---- dtype / device ------------------------------------------------------------------------
    def _apply_to_tensors(self, fn) -> Module:
        # Parameters keep their identity (optimizers hold them): only their data is replaced.
        for module in self.modules():
            for p in module._parameters.values():
                if p is None:
                    continue
                data = p.detach()
                converted = fn(data)
                if converted is not data:  # unchanged tensors keep their memory (and saved graphs stay valid)
                    p.data = converted
                if p.grad is not None:
                    p.grad = fn(p.grad)
            for name, b in module._buffers.items():
                if b is not None:
                    converted = fn(b)
                    if converted is not b:
                        module._buffers[name] = converted
                        _structure.bump()  # a fused chain holds the old buffer (BatchNorm1d's statistics)
        return self

    def to(self: _M, *args: Any, dtype: _core.dtype | None = None, device: Any = None, **kwargs: Any) -> _M:
        """to(device), to(dtype), to(device, dtype) or to(tensor): moves parameters, buffers and
        gradients to the device and converts the floating ones to the dtype, in place (parameters
        keep their identity, so optimizers built before still hold them)."""
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
        for a in args:
            if isinstance(a, _core.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif not isinstance(a, bool):  # to(device, dtype, non_blocking) passes the flag positionally
                device = a
        if dtype is not None and (not isinstance(dtype, _core.dtype) or not dtype.is_floating_point):
            raise TypeError(f"to: dtype must be a floating point chainrule dtype, got {dtype!r}")
        if device is not None:
            target = _check_device(device, "to")
            self._move_to(target)
        if dtype is not None:
            self._apply_to_tensors(lambda t: t.to(dtype) if t.is_floating_point() else t)
        return self

    def _move_to(self, target: Any) -> None:
        """Parameters, gradients and buffers onto `target` (from _check_device: None is the CPU)."""
        moved = False

        def move(t: Tensor) -> Tensor:
            nonlocal moved
            placed = t.cpu() if target is None else _place(t, target)
            moved = moved or placed is not t
            return placed

        self._apply_to_tensors(move)
        if moved:
            parameters_moved()

    def cuda(self: _M, device: Any = None) -> _M:
        """Moves every parameter and buffer to a CUDA device (the current one by default)."""
        self._move_to(_check_device("cuda" if device is None else device, "cuda"))  # an int is a CUDA index
        return self

    def float(self: _M) -> _M:
        return self.to(_core.dtype.float32)

    def double(self: _M) -> _M:
        return self.to(_core.dtype.float64)

    def cpu(self: _M) -> _M:
        """Moves every parameter and buffer to the CPU."""
        self._move_to(None)
        return self

    # ---- state_dict ----------------------------------------------------------------------------
    def state_dict(
        self, destination: OrderedDict[str, Tensor] | None = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict[str, Tensor]:
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
            if b is not None and name not in self._non_persistent_buffers_set:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(prefix + name + ".")

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy values into this module's parameters (Tensors or NumPy arrays accepted).

        With strict=True, missing and unexpected keys raise a KeyError that lists them. A value
        whose shape differs raises a ValueError naming the key and both shapes. Values are copied
        into the existing parameters, so optimizers holding them keep working.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(
                f"load_state_dict: expected a dict of name -> Tensor/array, got {type(state_dict).__name__}"
            )
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
                array = value.detach().cpu().numpy()
            elif isinstance(value, _np.ndarray) or _np.isscalar(value):
                array = _np.asarray(value)
            elif hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch tensor
                array = value.detach().cpu().numpy()
            else:
                raise TypeError(
                    f"load_state_dict: value for '{key}' must be a Tensor or NumPy array, got {type(value).__name__}"
                )
            if tuple(array.shape) != tuple(target.shape):
                raise ValueError(
                    f"load_state_dict: size mismatch for '{key}': copying a param with shape "
                    f"{tuple(array.shape)}, the parameter in the current model has shape {tuple(target.shape)}"
                )
            if array.dtype.kind not in "fiub":
                raise TypeError(f"load_state_dict: value for '{key}' has unsupported dtype {array.dtype}")
            staged.append((target, array))
        for target, array in staged:
            # copy_ (not a write through .numpy()): it refuses read-only memory and moves the
            # version on, so a graph that saved the old values raises at backward.
            target.detach().copy_(_np.array(array, dtype=numpy_dtype(target.dtype), order="C"))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
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

    def __dir__(self) -> Iterable[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers))


class _IncompatibleKeys(NamedTuple):
    """load_state_dict's result, PyTorch's named tuple (missing_keys, unexpected_keys)."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    def __str__(self) -> str:
        return self.__repr__()


def _check_member_name(module: Module, fn: str, kind: str, name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{fn}: {kind} name should be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{fn}: {kind} name must be a non-empty string without '.', got {name!r}")
    registries = {"parameter": "_parameters", "buffer": "_buffers"}
    if (
        name in module.__dict__
        or (kind == "parameter" and name in module._buffers)
        or (kind == "buffer" and name in module._parameters)
        or name in module._modules
    ):
        raise KeyError(f"{fn}: attribute '{name}' already exists")
    del registries


class RemovableHandle:
    """Returned by the register_*_hook methods: handle.remove() unregisters the hook (also usable
    as a context manager)."""

    _next_id = _itertools.count()

    def __init__(self, hooks: OrderedDict, extra: set | None = None):
        self.id = next(RemovableHandle._next_id)
        self._hooks = hooks
        self._extra = extra

    def remove(self) -> None:
        if self.id in self._hooks:
            _structure.bump()
            del self._hooks[self.id]
        if self._extra is not None:
            self._extra.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class _BackwardHookState:
    """One call's full backward hooks: the module's Tensor inputs and outputs pass through identity
    nodes whose backward reports the gradients. Once the gradient of the outputs has arrived and
    every input that needs one has its gradient, the hooks run with (grad_input, grad_output) and
    may replace grad_input."""

    def __init__(self, module: Module):
        self.module = module
        self.input_slots: list = []  # positions of Tensor inputs that require grad
        self.n_inputs = 0
        self.grad_inputs: dict = {}
        self.grad_outputs = None

    def wrap_inputs(self, args):
        self.n_inputs = sum(1 for a in args if isinstance(a, Tensor))
        wrapped, position = [], 0
        for a in args:
            if isinstance(a, Tensor):
                if a.requires_grad and _core.is_grad_enabled():
                    slot = position
                    self.input_slots.append(slot)
                    a = _core._grad_hook_identity(a, lambda g, slot=slot: self._on_input_grad(slot, g))
                position += 1
            wrapped.append(a)
        return tuple(wrapped)

    def wrap_outputs(self, output):
        if not _core.is_grad_enabled():
            return output
        single = isinstance(output, Tensor)
        outputs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else None
        if outputs is None:
            return output
        self.grad_outputs = [None] * len(outputs)
        self.n_outputs_pending = sum(1 for o in outputs if isinstance(o, Tensor) and o.requires_grad)
        wrapped = []
        for index, o in enumerate(outputs):
            if isinstance(o, Tensor) and o.requires_grad:
                o = _core._grad_hook_identity(o, lambda g, index=index: self._on_output_grad(index, g))
            wrapped.append(o)
        if single:
            return wrapped[0]
        return type(output)(wrapped)

    def _on_output_grad(self, index, grad):
        self.grad_outputs[index] = grad
        self.n_outputs_pending -= 1
        if self.n_outputs_pending == 0 and not self.input_slots:
            # No input needs a gradient: the hooks run now, with grad_input all None (PyTorch's rule).
            self._run_hooks()
        return None

    def _on_input_grad(self, slot, grad):
        self.grad_inputs[slot] = grad
        if len(self.grad_inputs) < len(self.input_slots):
            return None
        replaced = self._run_hooks()
        if replaced is None:
            return None
        return replaced[slot]

    def _run_hooks(self):
        grad_input = tuple(self.grad_inputs.get(i) for i in range(self.n_inputs))
        grad_output = tuple(self.grad_outputs or ())
        result = None
        for hook in list(self.module._backward_hooks.values()):
            out = hook(self.module, grad_input if result is None else result, grad_output)
            if out is not None:
                out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
                if len(out) != len(grad_input):
                    raise RuntimeError(
                        f"backward hook returned an invalid number of grad_input, got {len(out)}, "
                        f"but expected {len(grad_input)}"
                    )
                result = out
        self._replaced = result
        return result
