"""Python protocols on tensors: numbers, indexing lists, format, repr, pickling, types and .to."""

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from optional_dependencies import require


def test_numbers_from_one_element_tensors():
    assert cr.tensor(2.5).item() == 2.5 and float(cr.tensor([2.5])) == 2.5 and int(cr.tensor(2.7)) == 2
    assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.ones(2))
    with pytest.raises(ValueError):
        float(cr.ones(2))


def test_an_integer_tensor_indexes_a_python_list():
    items = ["a", "b", "c"]
    assert items[cr.tensor(2)] == "c" and items[cr.tensor([1])] == "b"
    assert items[cr.tensor(1) :] == ["b", "c"]
    assert [10, 20, 30][cr.randint(0, 3, (1,))] in (10, 20, 30)
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        items[cr.tensor(1.0)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        items[cr.tensor([0, 1])]


def test_format_formats_the_number():
    loss = cr.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235" and f"{loss:>8.2f}" == "    0.12" and f"{cr.tensor(7):03d}" == "007"
    assert f"{cr.ones(2)}" == "tensor([1., 1.])"
    with pytest.raises(TypeError, match="format"):
        f"{cr.ones(2):.2f}"


def test_tolist():
    assert cr.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert cr.tensor(1.5).tolist() == 1.5


def test_pickle_and_deepcopy_keep_values_dtype_and_requires_grad():
    x = cr.randn(2, 3, dtype=cr.float64, requires_grad=True)
    x.grad = cr.ones(2, 3, dtype=cr.float64)
    for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
        assert y is not x and y.dtype == cr.float64 and y.requires_grad and y.is_leaf
        np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
        assert not y._is_view_of(x)
    assert copy.deepcopy(x).grad.tolist() == [[1.0] * 3] * 2
    with pytest.raises(RuntimeError, match="graph"):
        pickle.dumps(x * 2)
    # deepcopy of a structure keeps shared tensors shared, as copy.deepcopy does
    pair = copy.deepcopy([x, x])
    assert pair[0] is pair[1]


def test_tensors_hash_by_identity():
    a, b = cr.zeros(2), cr.zeros(2)
    assert len({a, b, a}) == 2 and {a: 1}[a] == 1


def test_to_cpu_type_and_legacy_type_names():
    x = cr.tensor([1.7, -2.2])
    assert x.to("cpu") is x and x.cpu() is x and x.to(cr.device("cpu")) is x
    assert x.to("cpu", cr.float64).dtype == cr.float64 and x.to(dtype=cr.float64).dtype == cr.float64
    assert x.to(cr.zeros(1, dtype=cr.int64)).tolist() == [1, -2]
    assert x.to(copy=True) is not x
    assert x.type(cr.float) is x and x.type(cr.long).tolist() == [1, -2]
    assert x.type(cr.LongTensor).dtype == cr.int64 and x.type("torch.DoubleTensor").dtype == cr.float64
    assert x.type() == "chainrule.FloatTensor" and x.double().type() == "chainrule.DoubleTensor"
    assert isinstance(x, cr.FloatTensor) and not isinstance(x, cr.LongTensor)
    assert cr.FloatTensor([1, 2]).dtype == cr.float32 and tuple(cr.LongTensor(2, 3).shape) == (2, 3)
    assert cr.DoubleTensor(np.arange(3)).tolist() == [0.0, 1.0, 2.0]
    assert x.is_cuda is False and x.is_cpu
    with pytest.raises(ValueError, match="type: invalid type"):
        x.type("torch.HalfTensor")
    with pytest.raises(TypeError, match="to: expected"):
        x.to([1])


def test_new_factories():
    x = cr.zeros(2, dtype=cr.float64)
    assert x.new_zeros(3).dtype == cr.float64 and tuple(x.new_ones((2, 2)).shape) == (2, 2)
    assert x.new_full((2,), 3).tolist() == [3.0, 3.0] and x.new_tensor([1, 2]).dtype == cr.float64
    assert x.new_empty(4).numel() == 4


# ---- repr, as PyTorch prints it --------------------------------------------------------------


def _repr_cases(lib):
    return [
        lib.tensor(3.5),
        lib.tensor(7),
        lib.tensor([1.0, 2.0, 3.0]),
        lib.tensor([0.1, -2.25, 3.0]),
        lib.tensor([[1.5, 2e-5], [3.0, 4.0]]),
        lib.tensor([1e9, 1.0]),
        lib.tensor([123456.789, 1.5]),
        lib.tensor([[1, -20], [300, 4]]),
        lib.tensor([], dtype=lib.float32),
        lib.zeros(0, 3),
        lib.tensor([], dtype=lib.int64),
        lib.zeros(2, 3, dtype=lib.float64),
        lib.arange(2000.0),
        lib.arange(30.0).reshape(5, 6) / 7,
        lib.arange(24.0).reshape(2, 3, 4),
        lib.arange(1500).reshape(15, 100),
        lib.tensor([float("inf"), float("nan"), 1.5]),
        lib.tensor([0.0, 0.0]),
        lib.tensor([float("nan")]),
        lib.tensor([1.0, 2.0], requires_grad=True),
        lib.arange(100.0),
        lib.arange(0.0, 1.0, 0.01, dtype=lib.float64),
        lib.tensor(-0.0),
        lib.tensor([1e-5, 1.0]),
    ]


def test_repr_matches_torch():
    torch = require("torch")
    for ours, theirs in zip(_repr_cases(cr), _repr_cases(torch)):
        assert repr(ours) == repr(theirs).replace("torch.", "chainrule."), repr(theirs)
        assert str(ours) == str(theirs).replace("torch.", "chainrule.")


def test_repr_names_requires_grad_and_grad_fn():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2).startswith("tensor([2., 4.], grad_fn=<") and repr(x * 2).endswith(">)")
    assert repr(x.detach()) == "tensor([1., 2.])"


def test_legacy_variable_wrapper():
    from chainrule.autograd import Variable

    x = cr.ones(2)
    v = Variable(x, requires_grad=True)
    assert isinstance(v, cr.Tensor) and v is not x and v._is_view_of(x)
    assert v.requires_grad and not x.requires_grad and isinstance(x, Variable)
    (v * 3).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]
    y = Variable(v * 2)
    assert y.grad_fn is None and not y.requires_grad
    with pytest.warns(UserWarning, match="volatile"):
        Variable(x, volatile=True)
    with pytest.raises(TypeError, match="Variable data has to be a tensor"):
        Variable([1.0, 2.0])
