# The type stub of chainrule._core, written by tools/generate_core_stub.py from the built module:
# change the bindings (csrc/bindings/) or the methods Python adds to Tensor, then rerun it.
"""
chainrule's C++ core: tensors, autograd and CPU kernels
"""
from __future__ import annotations
import builtins
import chainrule._core
import numpy as _numpy
import collections.abc
import numpy
import typing
class ValueError(builtins.ValueError, builtins.RuntimeError):
    """A bad argument value or shape: both a ValueError and a RuntimeError (as PyTorch raises)."""
__all__: list[str] = ['Activation', 'AdagradStep', 'AdamStep', 'AdamaxStep', 'ChainStage', 'DenseChain', 'GroupStep', 'LossKind', 'MlpActivation', 'MlpLoss', 'MlpSolver', 'NadamStep', 'Node', 'RadamStep', 'Reduction', 'RmspropStep', 'SgdStep', 'StageKind', 'Tensor', 'ValueError', 'abs', 'binary_cross_entropy', 'binary_cross_entropy_with_logits', 'cos', 'cross_entropy', 'dtype', 'empty', 'exp', 'expm1', 'fit_batches', 'from_numpy', 'full', 'gelu', 'get_num_threads', 'huber_loss', 'is_grad_enabled', 'l1_loss', 'leaky_relu', 'linear', 'log', 'log1p', 'log_softmax', 'manual_seed', 'matmul', 'mse_loss', 'ones', 'rand', 'randn', 'random_permutation', 'relu', 'rsqrt', 'set_num_threads', 'sigmoid', 'sin', 'softmax', 'sqrt', 'tan', 'tanh', 'zeros']

class dtype:
    """
    Members:
    
      float32
    
      float64
    
      int64
    
      int32
    
      bool
    """
    __members__: typing.ClassVar[dict[builtins.str, dtype]]
    bool: typing.ClassVar[dtype]
    float32: typing.ClassVar[dtype]
    float64: typing.ClassVar[dtype]
    int32: typing.ClassVar[dtype]
    int64: typing.ClassVar[dtype]

    @typing.overload
    def __eq__(self: dtype, other: dtype) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self: dtype, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self: dtype) -> builtins.int:
        ...

    def __init__(self: dtype, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self: dtype) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self: dtype, other: dtype) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self: dtype, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self: dtype) -> builtins.str:
        ...

    def __setstate__(self: dtype, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self: dtype) -> builtins.str:
        ...

    @property
    def is_floating_point(self) -> builtins.bool:
        ...

    @property
    def itemsize(self) -> builtins.int:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class Node:

    def __repr__(self) -> builtins.str:
        ...

    def name(self) -> builtins.str:
        ...

class Tensor:
    data: Tensor
    grad: Tensor | None
    requires_grad: builtins.bool

    def __add__(self, arg0: typing.Any) -> Tensor:
        ...

    def __and__(self, arg0: typing.Any) -> Tensor:
        ...

    def __eq__(self, arg0: typing.Any) -> Tensor:  # type: ignore[override]
        ...

    def __floordiv__(self, arg0: typing.Any) -> Tensor:
        ...

    def __ge__(self, arg0: typing.Any) -> Tensor:
        ...

    def __getitem__(self, arg0: typing.Any) -> typing.Any:
        ...

    def __gt__(self, arg0: typing.Any) -> Tensor:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __init__(self, data: Tensor) -> None:
        """
        A new tensor sharing `data`'s memory, without its autograd history.
        """

    def __invert__(self) -> Tensor:
        ...

    def __le__(self, arg0: typing.Any) -> Tensor:
        ...

    def __len__(self) -> builtins.int:
        ...

    def __lt__(self, arg0: typing.Any) -> Tensor:
        ...

    def __matmul__(self, arg0: typing.Any) -> Tensor:
        ...

    def __mod__(self, arg0: typing.Any) -> Tensor:
        ...

    def __mul__(self, arg0: typing.Any) -> Tensor:
        ...

    def __ne__(self, arg0: typing.Any) -> Tensor:  # type: ignore[override]
        ...

    def __neg__(self) -> Tensor:
        ...

    def __or__(self, arg0: typing.Any) -> Tensor:
        ...

    def __pos__(self) -> Tensor:
        ...

    def __pow__(self, arg0: typing.Any) -> Tensor:
        ...

    def __radd__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rand__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rfloordiv__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rmatmul__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rmod__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rmul__(self, arg0: typing.Any) -> Tensor:
        ...

    def __ror__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rpow__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rsub__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rtruediv__(self, arg0: typing.Any) -> Tensor:
        ...

    def __rxor__(self, arg0: typing.Any) -> Tensor:
        ...

    def __sub__(self, arg0: typing.Any) -> Tensor:
        ...

    def __truediv__(self, arg0: typing.Any) -> Tensor:
        ...

    def __xor__(self, arg0: typing.Any) -> Tensor:
        ...

    def _check_inplace(self, arg0: builtins.str) -> None:
        ...

    def _data_ptr(self) -> builtins.int:
        ...

    def _is_view_of(self, arg0: Tensor) -> builtins.bool:
        ...

    def _round(self) -> Tensor:
        ...

    def _to_device(self, type: builtins.str, index: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
        """
        This tensor on the device (type, index), differentiably.
        """

    def _write_result(self, arg0: Tensor, arg1: builtins.str) -> Tensor:
        ...

    def abs(self) -> Tensor:
        ...

    def argmax(self, dim: typing.Any=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def backward(self, gradient: typing.Any=None, retain_graph: typing.Any=None, create_graph: builtins.bool=False, inputs: typing.Any=None) -> None:
        ...

    def bool(self) -> Tensor:
        ...

    def ceil(self) -> Tensor:
        ...

    def clone(self) -> Tensor:
        ...

    def cos(self) -> Tensor:
        ...

    def detach(self) -> Tensor:
        ...

    def dim(self) -> builtins.int:
        ...

    def double(self) -> Tensor:
        ...

    def eq(self, arg0: typing.Any) -> Tensor:
        ...

    def erf(self) -> Tensor:
        ...

    def exp(self) -> Tensor:
        ...

    def expand(self, *args) -> Tensor:
        ...

    def expand_as(self, arg0: Tensor) -> Tensor:
        ...

    def expm1(self) -> Tensor:
        ...

    def float(self) -> Tensor:
        ...

    def floor(self) -> Tensor:
        ...

    def floor_divide(self, arg0: typing.Any) -> Tensor:
        ...

    def fmod(self, arg0: typing.Any) -> Tensor:
        ...

    def ge(self, arg0: typing.Any) -> Tensor:
        ...

    def gt(self, arg0: typing.Any) -> Tensor:
        ...

    def int(self) -> Tensor:
        ...

    def is_floating_point(self) -> builtins.bool:
        ...

    def item(self) -> typing.Any:
        ...

    def le(self, arg0: typing.Any) -> Tensor:
        ...

    def log(self) -> Tensor:
        ...

    def log10(self) -> Tensor:
        ...

    def log1p(self) -> Tensor:
        ...

    def log2(self) -> Tensor:
        ...

    def log_softmax(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
        ...

    def logical_and(self, arg0: typing.Any) -> Tensor:
        ...

    def logical_not(self) -> Tensor:
        ...

    def logical_or(self, arg0: typing.Any) -> Tensor:
        ...

    def logical_xor(self, arg0: typing.Any) -> Tensor:
        ...

    def long(self) -> Tensor:
        ...

    def lt(self, arg0: typing.Any) -> Tensor:
        ...

    def matmul(self, arg0: Tensor) -> Tensor:
        ...

    def maximum(self, arg0: Tensor) -> Tensor:
        ...

    def mean(self, dim: typing.Any=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def minimum(self, arg0: Tensor) -> Tensor:
        ...

    def mul(self, arg0: typing.Any) -> Tensor:
        ...

    def ne(self, arg0: typing.Any) -> Tensor:
        ...

    def neg(self) -> Tensor:
        ...

    def negative(self) -> Tensor:
        ...

    def numel(self) -> builtins.int:
        ...

    def numpy(self) -> numpy.ndarray:
        ...

    def pow(self, arg0: typing.Any) -> Tensor:
        ...

    def reciprocal(self) -> Tensor:
        ...

    def relu(self) -> Tensor:
        ...

    def remainder(self, arg0: typing.Any) -> Tensor:
        ...

    def requires_grad_(self, requires_grad: builtins.bool=True) -> Tensor:
        ...

    def reshape(self, *args) -> Tensor:
        ...

    def rsqrt(self) -> Tensor:
        ...

    def sigmoid(self) -> Tensor:
        ...

    def sign(self) -> Tensor:
        ...

    def sin(self) -> Tensor:
        ...

    def softmax(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
        ...

    def sqrt(self) -> Tensor:
        ...

    def square(self) -> Tensor:
        ...

    def sum(self, dim: typing.Any=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def t(self) -> Tensor:
        ...

    def tan(self) -> Tensor:
        ...

    def tanh(self) -> Tensor:
        ...

    def zero_(self) -> Tensor:
        ...

    @property
    def T(self) -> Tensor:
        ...

    @property
    def _version(self) -> builtins.int:
        """
        How many in-place writes the tensor's memory has seen (PyTorch's t._version).
        """

    @property
    def device(self) -> typing.Any:
        ...

    @property
    def dtype(self) -> chainrule._core.dtype:
        ...

    @property
    def grad_fn(self) -> Node | None:
        ...

    @property
    def is_cpu(self) -> builtins.bool:
        ...

    @property
    def is_cuda(self) -> builtins.bool:
        ...

    @property
    def is_leaf(self) -> builtins.bool:
        ...

    @property
    def ndim(self) -> builtins.int:
        ...

    @property
    def shape(self) -> typing.Any:
        ...

    def __array__(self: Tensor, dtype=None, copy=None):
        ...
    __array_priority__: builtins.int

    def __bool__(self: Tensor) -> builtins.bool:
        ...

    def __deepcopy__(self: Tensor, memo):
        ...

    def __float__(self: Tensor) -> builtins.float:
        ...

    def __format__(self: Tensor, spec: builtins.str) -> builtins.str:
        ...

    def __iadd__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __ifloordiv__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __imod__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __imul__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __index__(self: Tensor) -> builtins.int:
        ...

    def __int__(self: Tensor) -> builtins.int:
        ...

    def __ipow__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __isub__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __iter__(self: Tensor):
        ...

    def __itruediv__(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def __reduce__(self: Tensor):
        ...

    def __repr__(self: Tensor) -> builtins.str:
        ...

    def __setitem__(t: Tensor, index: typing.Any, value: typing.Any) -> None:
        ...

    def __str__(self: Tensor) -> builtins.str:
        ...

    def _fill(self: Tensor, arg0: typing.SupportsFloat | typing.SupportsIndex) -> Tensor:
        ...

    def _flatten_all(self: Tensor) -> Tensor:
        ...
    _grad_in_arena: builtins.bool

    def _normal(self: Tensor, mean: typing.SupportsFloat | typing.SupportsIndex=0.0, std: typing.SupportsFloat | typing.SupportsIndex=1.0) -> Tensor:
        ...

    def _uniform(self: Tensor, a: typing.SupportsFloat | typing.SupportsIndex=0.0, b: typing.SupportsFloat | typing.SupportsIndex=1.0) -> Tensor:
        ...

    def abs_(self: Tensor) -> Tensor:
        ...

    def absolute(self: Tensor) -> Tensor:
        ...

    def add(input: typing.Any, other: typing.Any, *, alpha: builtins.float=1) -> Tensor:
        ...

    def add_(self: Tensor, other: typing.Any, *, alpha: builtins.float=1) -> Tensor:
        ...

    def all(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def allclose(input: Tensor, other: Tensor, rtol: builtins.float=1e-05, atol: builtins.float=1e-08, equal_nan: builtins.bool=False) -> builtins.bool:
        ...

    def amax(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int]=..., keepdim: builtins.bool=False) -> Tensor:
        ...

    def amin(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int]=..., keepdim: builtins.bool=False) -> Tensor:
        ...

    def any(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def argmin(input: Tensor, dim: builtins.int | None=None, keepdim: builtins.bool=False) -> Tensor:
        ...

    def chunk(self: Tensor, chunks: builtins.int, dim: builtins.int=0) -> tuple[Tensor, ...]:
        ...

    def clamp(input: Tensor, min: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None, max: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None) -> Tensor:
        ...

    def clamp_(self: Tensor, min: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None, max: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None) -> Tensor:
        ...

    def clip(input: Tensor, min: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None, max: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None) -> Tensor:
        ...

    def clip_(self: Tensor, min: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None, max: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any] | None=None) -> Tensor:
        ...

    def contiguous(self: Tensor, memory_format: typing.Any=None) -> Tensor:
        ...

    def copy_(self: Tensor, src: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any], non_blocking: builtins.bool=False) -> Tensor:
        ...

    def count_nonzero(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None) -> Tensor:
        ...

    def cpu(self: Tensor, memory_format=None) -> Tensor:
        ...

    def cuda(self: Tensor, device=None, non_blocking: builtins.bool=False, memory_format=None) -> Tensor:
        ...

    def cumsum(input: Tensor, dim: builtins.int, *, dtype: chainrule._core.dtype | None=None) -> Tensor:
        ...

    def div(input: Tensor, other: typing.Any, *, rounding_mode: builtins.str | None=None) -> Tensor:
        ...

    def div_(self: Tensor, other: typing.Any, *, rounding_mode: builtins.str | None=None) -> Tensor:
        ...

    def divide(input: Tensor, other: typing.Any, *, rounding_mode: builtins.str | None=None) -> Tensor:
        ...

    def equal(input: Tensor, other: Tensor) -> builtins.bool:
        ...

    def exp_(self: Tensor) -> Tensor:
        ...

    def fill_(self: Tensor, value: builtins.float) -> Tensor:
        ...

    def flatten(self: Tensor, start_dim: builtins.int=0, end_dim: builtins.int=...) -> Tensor:
        ...

    def flip(self: Tensor, dims: builtins.int | typing.Sequence[builtins.int]) -> Tensor:
        ...

    def gather(self: Tensor, dim: builtins.int, index: Tensor) -> Tensor:
        ...

    def index_select(self: Tensor, dim: builtins.int, index: Tensor) -> Tensor:
        ...

    def isclose(input: Tensor, other: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any], rtol: builtins.float=1e-05, atol: builtins.float=1e-08, equal_nan: builtins.bool=False) -> Tensor:
        ...

    def isfinite(input: Tensor) -> Tensor:
        ...

    def isinf(input: Tensor) -> Tensor:
        ...

    def isnan(input: Tensor) -> Tensor:
        ...

    def lerp(input: Tensor, end: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any], weight: Tensor | _numpy.ndarray | builtins.float | builtins.int | typing.Sequence[typing.Any]) -> Tensor:
        ...

    def logsumexp(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int], keepdim: builtins.bool=False) -> Tensor:
        ...

    @property
    def mT(self) -> typing.Any:
        ...

    def max(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False, *, out: Tensor | None=None) -> typing.Any:
        ...

    def min(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False, *, out: Tensor | None=None) -> typing.Any:
        ...

    def mul_(self: Tensor, other: typing.Any) -> Tensor:
        ...

    def multiply(self: Tensor, arg0: object) -> Tensor:
        ...

    def narrow(self: Tensor, dim: builtins.int, start: builtins.int, length: builtins.int) -> Tensor:
        ...

    def neg_(self: Tensor) -> Tensor:
        ...

    def new_empty(self: Tensor, *size, dtype=None, device=None, requires_grad: builtins.bool=False, **kwargs):
        ...

    def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: builtins.bool=False):
        ...

    def new_ones(self: Tensor, *size, dtype=None, device=None, requires_grad: builtins.bool=False, **kwargs):
        ...

    def new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad: builtins.bool=False):
        ...

    def new_zeros(self: Tensor, *size, dtype=None, device=None, requires_grad: builtins.bool=False, **kwargs):
        ...

    def nonzero(input: Tensor, *, as_tuple: builtins.bool=False) -> typing.Any:
        ...

    def norm(input: Tensor, p: builtins.float | builtins.str='fro', dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False, dtype: chainrule._core.dtype | None=None) -> Tensor:
        ...

    def normal_(self: Tensor, mean: builtins.float=0.0, std: builtins.float=1.0, *, generator: typing.Any | None=None) -> Tensor:
        ...

    def permute(self: Tensor, *dims) -> Tensor:
        ...

    def pow_(self: Tensor, exponent: typing.Any) -> Tensor:
        ...

    def prod(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, keepdim: builtins.bool=False, *, dtype: chainrule._core.dtype | None=None) -> Tensor:
        ...

    def relu_(self: Tensor) -> Tensor:
        ...

    def repeat(self: Tensor, *sizes) -> Tensor:
        ...

    def retain_grad(self: Tensor) -> None:
        ...

    def round(input: Tensor, decimals: builtins.int=0) -> Tensor:
        ...

    def scatter_add(self: Tensor, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor:
        ...

    def select(self: Tensor, dim: builtins.int, index: builtins.int) -> Tensor:
        ...

    def size(self: Tensor, dim: builtins.int | None=None) -> typing.Any:
        ...

    def split(self: Tensor, split_size_or_sections: typing.Any, dim: builtins.int=0) -> tuple[Tensor, ...]:
        ...

    def sqrt_(self: Tensor) -> Tensor:
        ...

    def squeeze(self: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None) -> Tensor:
        ...

    def std(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, unbiased: builtins.bool | None=None, keepdim: builtins.bool=False, *, correction: builtins.int | None=None) -> Tensor:
        ...

    def sub(input: typing.Any, other: typing.Any, *, alpha: builtins.float=1) -> Tensor:
        ...

    def sub_(self: Tensor, other: typing.Any, *, alpha: builtins.float=1) -> Tensor:
        ...

    def subtract(input: typing.Any, other: typing.Any, *, alpha: builtins.float=1) -> Tensor:
        ...

    def to(self: Tensor, *args, **kwargs) -> Tensor:
        ...

    def tolist(self: Tensor) -> typing.Any:
        ...

    def transpose(self: Tensor, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        ...

    def true_divide(self: Tensor, arg0: object) -> Tensor:
        ...

    def type(self: Tensor, dtype=None, non_blocking: builtins.bool=False, **kwargs):
        ...

    def unbind(self: Tensor, dim: builtins.int=0) -> tuple[Tensor, ...]:
        ...

    def unflatten(self: Tensor, dim: builtins.int, sizes: typing.Sequence[builtins.int]) -> Tensor:
        ...

    def uniform_(self: Tensor, a: builtins.float=0.0, b: builtins.float=1.0, *, generator: typing.Any | None=None) -> Tensor:
        ...

    def unsqueeze(self: Tensor, dim: builtins.int) -> Tensor:
        ...

    def var(input: Tensor, dim: builtins.int | typing.Sequence[builtins.int] | None=None, unbiased: builtins.bool | None=None, keepdim: builtins.bool=False, *, correction: builtins.int | None=None) -> Tensor:
        ...

    def view(self: Tensor, *shape) -> Tensor:
        ...

    def where(self, condition, other):
        ...

class _Generator:

    def __init__(self) -> None:
        ...

    def _next_u64(self) -> builtins.int:
        ...

    def _seed(self, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    @property
    def _initial_seed(self) -> builtins.int:
        ...

    @_initial_seed.setter
    def _initial_seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    @property
    def _key(self) -> builtins.int:
        ...

    @_key.setter
    def _key(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    @property
    def _offset(self) -> builtins.int:
        ...

    @_offset.setter
    def _offset(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

class Reduction:
    """
    How a loss reduces its values: mean, sum or none
    
    Members:
    
      none
    
      mean
    
      sum
    """
    __members__: typing.ClassVar[dict[builtins.str, Reduction]]
    mean: typing.ClassVar[Reduction]
    none: typing.ClassVar[Reduction]
    sum: typing.ClassVar[Reduction]

    @typing.overload
    def __eq__(self, other: Reduction) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: Reduction) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class LossKind:
    """
    A built-in loss, as chainrule.fit's native loop runs it
    
    Members:
    
      mse
    
      l1
    
      huber
    
      bce
    
      bce_with_logits
    
      cross_entropy
    
      nll
    """
    __members__: typing.ClassVar[dict[builtins.str, LossKind]]
    bce: typing.ClassVar[LossKind]
    bce_with_logits: typing.ClassVar[LossKind]
    cross_entropy: typing.ClassVar[LossKind]
    huber: typing.ClassVar[LossKind]
    l1: typing.ClassVar[LossKind]
    mse: typing.ClassVar[LossKind]
    nll: typing.ClassVar[LossKind]

    @typing.overload
    def __eq__(self, other: LossKind) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: LossKind) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class Activation:
    """
    The activation that follows a stage of a fused DenseChain
    
    Members:
    
      identity
    
      relu
    
      sigmoid
    
      tanh
    
      leaky_relu
    
      gelu
    
      gelu_tanh
    
      silu
    
      elu
    
      selu
    
      celu
    
      softplus
    
      mish
    
      hardtanh
    
      hardswish
    
      log_sigmoid
    
      softsign
    """
    __members__: typing.ClassVar[dict[builtins.str, Activation]]
    celu: typing.ClassVar[Activation]
    elu: typing.ClassVar[Activation]
    gelu: typing.ClassVar[Activation]
    gelu_tanh: typing.ClassVar[Activation]
    hardswish: typing.ClassVar[Activation]
    hardtanh: typing.ClassVar[Activation]
    identity: typing.ClassVar[Activation]
    leaky_relu: typing.ClassVar[Activation]
    log_sigmoid: typing.ClassVar[Activation]
    mish: typing.ClassVar[Activation]
    relu: typing.ClassVar[Activation]
    selu: typing.ClassVar[Activation]
    sigmoid: typing.ClassVar[Activation]
    silu: typing.ClassVar[Activation]
    softplus: typing.ClassVar[Activation]
    softsign: typing.ClassVar[Activation]
    tanh: typing.ClassVar[Activation]

    @typing.overload
    def __eq__(self, other: Activation) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: Activation) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class GroupStep:
    """
    One parameter group's update: owns the parameters, their state and step counts.
    """

    def clear_grads_if_holds(self, params: typing.Any, set_to_none: builtins.bool) -> builtins.bool:
        """
        zero_grad for `params` when it is a list of exactly this step's parameters (True); False, clearing nothing, when it is not.
        """

    def holds(self, params: typing.Any) -> builtins.bool:
        """
        Whether `params` is a list of exactly this step's parameters, in order.
        """

    def step(self) -> builtins.bool:
        """
        Update every parameter that has a .grad; True when a state tensor was created.
        """

    def step_if_holds(self, params: typing.Any) -> typing.Any:
        """
        step() when `params` is a list of exactly this step's parameters; None (and no update) when it is not, so the optimizer rebuilds the step. One call in place of a key built per step.
        """

    def take_created_since(self) -> builtins.bool:
        """
        True when a step since the last call created a state tensor; clears that.
        """

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def params(self) -> list[Tensor]:
        ...

    @property
    def state(self) -> list[list[Tensor]]:
        """
        state[k][i]: state tensor k of params[i] (or None)
        """

    @property
    def state_names(self) -> list[builtins.str]:
        ...

    @property
    def steps(self) -> list[builtins.int]:
        """
        steps[i]: the number of updates of params[i]
        """

class SgdStep(GroupStep):
    """
    SGD; state: momentum_buffer
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, nesterov: builtins.bool, maximize: builtins.bool) -> None:
        ...

class AdamStep(GroupStep):
    """
    Adam / AdamW; state: exp_avg, exp_avg_sq, max_exp_avg_sq
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, amsgrad: builtins.bool, maximize: builtins.bool, decoupled_weight_decay: builtins.bool) -> None:
        ...

class NadamStep(GroupStep):
    """
    NAdam; state: exp_avg, exp_avg_sq (and mu_products, one per parameter)
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], mu_products: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, momentum_decay: typing.SupportsFloat | typing.SupportsIndex, maximize: builtins.bool, decoupled_weight_decay: builtins.bool) -> None:
        ...

    @property
    def mu_products(self) -> list[builtins.float]:
        ...

class RadamStep(GroupStep):
    """
    RAdam; state: exp_avg, exp_avg_sq
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, maximize: builtins.bool, decoupled_weight_decay: builtins.bool) -> None:
        ...

class AdamaxStep(GroupStep):
    """
    Adamax; state: exp_avg, exp_inf
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, maximize: builtins.bool) -> None:
        ...

class RmspropStep(GroupStep):
    """
    RMSprop; state: square_avg, momentum_buffer, grad_avg
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, centered: builtins.bool, maximize: builtins.bool) -> None:
        ...

class AdagradStep(GroupStep):
    """
    Adagrad; state: sum
    """

    def __init__(self, params: collections.abc.Sequence[Tensor], state: collections.abc.Sequence[collections.abc.Sequence[Tensor]], steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], *, lr: typing.SupportsFloat | typing.SupportsIndex, lr_decay: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, initial_accumulator_value: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, maximize: builtins.bool) -> None:
        ...

class StageKind:
    """
    What a stage of a fused DenseChain does before its activation
    
    Members:
    
      linear
    
      batch_norm
    
      layer_norm
    
      dropout
    
      activation
    
      softmax
    
      log_softmax
    """
    __members__: typing.ClassVar[dict[builtins.str, StageKind]]
    activation: typing.ClassVar[StageKind]
    batch_norm: typing.ClassVar[StageKind]
    dropout: typing.ClassVar[StageKind]
    layer_norm: typing.ClassVar[StageKind]
    linear: typing.ClassVar[StageKind]
    log_softmax: typing.ClassVar[StageKind]
    softmax: typing.ClassVar[StageKind]

    @typing.overload
    def __eq__(self, other: StageKind) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: StageKind) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class ChainStage:
    """
    One stage of a fused DenseChain (see dense_chain.h)
    """

    def __init__(self, kind: StageKind, *, weight: Tensor | None=None, bias: Tensor | None=None, activation: Activation=Activation.identity, activation_param: typing.SupportsFloat | typing.SupportsIndex=0.0, activation_param2: typing.SupportsFloat | typing.SupportsIndex=0.0, running_mean: Tensor | None=None, running_var: Tensor | None=None, num_batches_tracked: Tensor | None=None, eps: typing.SupportsFloat | typing.SupportsIndex=1e-05, momentum: typing.SupportsFloat | typing.SupportsIndex | None=0.1, p: typing.SupportsFloat | typing.SupportsIndex=0.0, features: typing.SupportsInt | typing.SupportsIndex=0, training: builtins.bool=True) -> None:
        ...

    @property
    def activation(self) -> Activation:
        ...

    @property
    def kind(self) -> StageKind:
        ...

class DenseChain:

    def __init__(self, stages: collections.abc.Sequence[ChainStage]) -> None:
        ...

    def forward(self, input: typing.Any) -> Tensor:
        ...

    def runs_serially(self, rows: typing.SupportsInt | typing.SupportsIndex) -> builtins.bool:
        """
        Whether a call on `rows` rows runs on the calling thread alone (all its layers are small)
        """

    def set_training(self, training: collections.abc.Sequence[builtins.bool]) -> None:
        ...

    @property
    def has_batch_norm(self) -> builtins.bool:
        ...

    @property
    def in_features(self) -> builtins.int:
        ...

    @property
    def out_features(self) -> builtins.int:
        ...

class MlpActivation:
    """
    A hidden or output activation of chainrule.sklearn's MLPs
    
    Members:
    
      identity
    
      logistic
    
      tanh
    
      relu
    
      softmax
    """
    __members__: typing.ClassVar[dict[builtins.str, MlpActivation]]
    identity: typing.ClassVar[MlpActivation]
    logistic: typing.ClassVar[MlpActivation]
    relu: typing.ClassVar[MlpActivation]
    softmax: typing.ClassVar[MlpActivation]
    tanh: typing.ClassVar[MlpActivation]

    @typing.overload
    def __eq__(self, other: MlpActivation) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: MlpActivation) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class MlpLoss:
    """
    The loss of chainrule.sklearn's MLPs
    
    Members:
    
      squared_error
    
      log_loss
    
      binary_log_loss
    """
    __members__: typing.ClassVar[dict[builtins.str, MlpLoss]]
    binary_log_loss: typing.ClassVar[MlpLoss]
    log_loss: typing.ClassVar[MlpLoss]
    squared_error: typing.ClassVar[MlpLoss]

    @typing.overload
    def __eq__(self, other: MlpLoss) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: MlpLoss) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

class MlpSolver:
    """
    The stochastic solver of chainrule.sklearn's MLPs
    
    Members:
    
      sgd
    
      adam
    """
    __members__: typing.ClassVar[dict[builtins.str, MlpSolver]]
    adam: typing.ClassVar[MlpSolver]
    sgd: typing.ClassVar[MlpSolver]

    @typing.overload
    def __eq__(self, other: MlpSolver) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> builtins.int:
        ...

    def __hash__(self) -> builtins.int:
        ...

    def __index__(self) -> builtins.int:
        ...

    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __int__(self) -> builtins.int:
        ...

    @typing.overload
    def __ne__(self, other: MlpSolver) -> builtins.bool:
        ...

    @typing.overload
    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> builtins.str:
        ...

    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...

    def __str__(self) -> builtins.str:
        ...

    @property
    def name(self) -> builtins.str:
        ...

    @property
    def value(self) -> builtins.int:
        ...

def _clamp(input: Tensor, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex, has_lo: bool, has_hi: bool) -> Tensor:
    ...

def _clear_grads(params: collections.abc.Sequence[Tensor], set_to_none: bool) -> None:
    ...

def _cpu_isa() -> str:
    ...

def _default_generator() -> _Generator:
    ...

def _device_count(type: str) -> int:
    """
    Devices the registered backend of `type` sees; -1 when no backend is registered.
    """

def _device_empty_cache(type: str, index: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...

def _device_memory_stats(type: str, index: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    The caching allocator's byte counts for one device: allocated, peak_allocated, reserved, backend_allocations.
    """

def _device_reset_peak(type: str, index: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...

def _device_synchronize(type: str, index: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...

def _dtype_category(arg0: dtype) -> int:
    ...

def _fill_normal(tensor: Tensor, mean: typing.SupportsFloat | typing.SupportsIndex, std: typing.SupportsFloat | typing.SupportsIndex, generator: typing.Any=None) -> None:
    ...

def _fill_uniform(tensor: Tensor, low: typing.SupportsFloat | typing.SupportsIndex, high: typing.SupportsFloat | typing.SupportsIndex, generator: typing.Any=None) -> None:
    ...

def _gemm(isa: str, ta: bool, tb: bool, a: numpy.ndarray, b: numpy.ndarray, c: numpy.ndarray, accumulate: bool) -> str:
    ...

def _gemm_parallel_min_flop(dtype: dtype) -> float:
    ...

def _get_default_dtype() -> dtype:
    ...

def _grad_hook_identity(input: Tensor, callback: typing.Any) -> Tensor:
    """
    An alias of input whose backward calls callback(grad) and passes on its result (grad when None).
    """

def _host_device_is_cuda() -> bool:
    ...

def _host_device_raw_allocations() -> int:
    ...

def _mlp_loss_gradient(X: numpy.ndarray, Y: numpy.ndarray, coefs: list, intercepts: list, hidden_activation: MlpActivation, output_activation: MlpActivation, loss: MlpLoss, alpha: typing.SupportsFloat | typing.SupportsIndex, dcoefs: list, dintercepts: list) -> float:
    """
    The full-batch MLP objective; writes its gradient into dcoefs/dintercepts
    """

def _mlp_predict(X: numpy.ndarray, coefs: list, intercepts: list, hidden_activation: MlpActivation, output_activation: MlpActivation) -> numpy.ndarray:
    """
    The MLP's output activation for X
    """

def _mlp_train_epoch(X: numpy.ndarray, Y: numpy.ndarray, order: typing.Any, batch_size: typing.SupportsInt | typing.SupportsIndex, coefs: list, intercepts: list, hidden_activation: MlpActivation, output_activation: MlpActivation, loss: MlpLoss, alpha: typing.SupportsFloat | typing.SupportsIndex, solver: MlpSolver, first: list, second: list, learning_rate: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, beta_1: typing.SupportsFloat | typing.SupportsIndex, beta_2: typing.SupportsFloat | typing.SupportsIndex, epsilon: typing.SupportsFloat | typing.SupportsIndex, t: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    """
    One epoch of scikit-learn's MLP minibatch training; returns (sum of batch loss x rows, adam steps, adam's last bias-corrected learning rate)
    """

def _randint(low: typing.SupportsInt | typing.SupportsIndex, high: typing.SupportsInt | typing.SupportsIndex, size: typing.Any, dtype: typing.Any=None, generator: typing.Any=None) -> Tensor:
    ...

def _randperm(n: typing.SupportsInt | typing.SupportsIndex, generator: typing.Any=None) -> Tensor:
    ...

def _record(out: Tensor, backward: typing.Any, inputs: collections.abc.Sequence, name: str) -> bool:
    ...

def _result_type(arg0: Tensor, arg1: Tensor) -> dtype:
    ...

def _retain_grad(arg0: Tensor) -> None:
    ...

def _run_backward(roots: collections.abc.Sequence, grad_roots: collections.abc.Sequence, inputs: collections.abc.Sequence, retain_graph: bool, create_graph: bool, accumulate: bool) -> list:
    ...

def _set_default_dtype(dtype: dtype) -> None:
    ...

def _set_grad_enabled(arg0: bool) -> None:
    ...

def _set_isa(isa: str) -> str:
    ...

def _set_size_type(arg0: typing.Any) -> None:
    ...

def _use_host_device_as_cuda(device_count: typing.SupportsInt | typing.SupportsIndex, capacity_bytes: typing.SupportsInt | typing.SupportsIndex=-1) -> None:
    """
    Registers the host-backed stand-in as the CUDA backend with that many devices (0 unregisters it); for tests.
    """

def _where(condition: Tensor, input: Tensor, other: Tensor) -> Tensor:
    ...

def abs(input: typing.Any) -> Tensor:
    ...

def binary_cross_entropy(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean) -> Tensor:
    ...

def binary_cross_entropy_with_logits(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean) -> Tensor:
    ...

def cos(input: typing.Any) -> Tensor:
    ...

def cross_entropy(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean) -> Tensor:
    ...

def empty(*args, dtype: typing.Any=None, requires_grad: bool=False) -> Tensor:
    ...

def exp(input: typing.Any) -> Tensor:
    ...

def expm1(input: typing.Any) -> Tensor:
    ...

def fit_batches(arg0: DenseChain, arg1: Tensor, arg2: Tensor, arg3: typing.Any, arg4: typing.SupportsInt | typing.SupportsIndex, arg5: typing.SupportsInt | typing.SupportsIndex, arg6: typing.SupportsInt | typing.SupportsIndex, arg7: LossKind, arg8: Reduction, arg9: typing.SupportsFloat | typing.SupportsIndex, arg10: collections.abc.Sequence[GroupStep], arg11: bool) -> tuple[list[float], list[int], int]:
    ...

def from_numpy(ndarray: typing.Any) -> Tensor:
    ...

def full(size: typing.Any, fill_value: typing.SupportsFloat | typing.SupportsIndex, *, dtype: typing.Any=None, requires_grad: bool=False) -> Tensor:
    ...

def gelu(input: typing.Any, approximate: str='none') -> Tensor:
    ...

def get_num_threads() -> int:
    ...

def huber_loss(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean, delta: typing.SupportsFloat | typing.SupportsIndex=1.0) -> Tensor:
    ...

def is_grad_enabled() -> bool:
    ...

def l1_loss(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean) -> Tensor:
    ...

def leaky_relu(input: typing.Any, negative_slope: typing.SupportsFloat | typing.SupportsIndex=0.01) -> Tensor:
    ...

def linear(input: typing.Any, weight: typing.Any, bias: typing.Any=None) -> Tensor:
    ...

def log(input: typing.Any) -> Tensor:
    ...

def log1p(input: typing.Any) -> Tensor:
    ...

def log_softmax(input: typing.Any, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    ...

def manual_seed(seed: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...

def matmul(arg0: typing.Any, arg1: typing.Any) -> Tensor:
    ...

def mse_loss(input: typing.Any, target: typing.Any, reduction: Reduction=Reduction.mean) -> Tensor:
    ...

def ones(*args, dtype: typing.Any=None, requires_grad: bool=False) -> Tensor:
    ...

def rand(*args, dtype: typing.Any=None, requires_grad: bool=False, generator: typing.Any=None) -> Tensor:
    ...

def randn(*args, dtype: typing.Any=None, requires_grad: bool=False, generator: typing.Any=None) -> Tensor:
    ...

def random_permutation(n: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    ...

def relu(input: typing.Any) -> Tensor:
    ...

def rsqrt(input: typing.Any) -> Tensor:
    ...

def set_num_threads(num_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...

def sigmoid(input: typing.Any) -> Tensor:
    ...

def sin(input: typing.Any) -> Tensor:
    ...

def softmax(input: typing.Any, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    ...

def sqrt(input: typing.Any) -> Tensor:
    ...

def tan(input: typing.Any) -> Tensor:
    ...

def tanh(input: typing.Any) -> Tensor:
    ...

def zeros(*args, dtype: typing.Any=None, requires_grad: bool=False) -> Tensor:
    ...
__version__: str = '0.1.0'
_cuda_built: bool = False
_device_backend_registrar: typing.Any
