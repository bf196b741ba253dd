"""Creation functions, devices, the default dtype, generators and torch.accelerator."""

import numpy as np
import pytest

import chainrule as cr
from optional_dependencies import require


def _values(t):
    return t.detach().numpy()


# ---- shapes, dtypes, requires_grad ----------------------------------------------------------


@pytest.mark.parametrize("factory", [cr.zeros, cr.ones, cr.empty, cr.rand, cr.randn])
@pytest.mark.parametrize("size", [(), (0,), (3,), (2, 3), (2, 0, 4)])
def test_size_spellings(factory, size):
    for t in (factory(*size), factory(size), factory(list(size)), factory(size=size)):
        assert tuple(t.shape) == size and t.dtype == cr.float32
    assert factory(*size, dtype=cr.float64).dtype == cr.float64


@pytest.mark.parametrize("factory", [cr.zeros, cr.ones, cr.rand, cr.randn])
def test_requires_grad_and_device_keywords(factory):
    t = factory(2, 3, requires_grad=True, device="cpu")
    assert t.requires_grad and t.is_leaf
    assert factory(2, device=cr.device("cpu")).device == "cpu"


@pytest.mark.parametrize(
    "where,call",
    [
        ("zeros", lambda: cr.zeros(2, device="cuda")),
        ("tensor", lambda: cr.tensor([1.0], device="cuda:0")),
        ("randn", lambda: cr.randn(2, device=cr.device("cuda"))),
        ("arange", lambda: cr.arange(3, device="cuda")),
        ("to", lambda: cr.zeros(2).to(cr.device("cuda", 0))),
        ("cuda", lambda: cr.zeros(2).cuda()),
    ],
)
def test_cuda_without_a_gpu_is_refused_with_the_reason(where, call):
    if cr.cuda.is_available():
        pytest.skip("a CUDA device is available here, so placing tensors there succeeds")
    reason = "(this chainrule was built without its CUDA backend|no CUDA GPU is available)"
    with pytest.raises(RuntimeError, match=f"^{where}: cannot place a tensor on 'cuda.*': {reason}"):
        call()


def test_like_factories_follow_the_input():
    x = cr.randn(2, 3, dtype=cr.float64)
    for make in (cr.zeros_like, cr.ones_like, cr.empty_like, cr.rand_like, cr.randn_like):
        y = make(x)
        assert tuple(y.shape) == (2, 3) and y.dtype == cr.float64 and not y.requires_grad
        assert make(x, dtype=cr.float32).dtype == cr.float32
        assert make(x, requires_grad=True).requires_grad
    np.testing.assert_array_equal(_values(cr.full_like(x, 7)), np.full((2, 3), 7.0))
    assert cr.randint_like(x, 5).dtype == cr.float64


def test_full_infers_the_dtype_from_the_fill_value():
    assert cr.full((2,), 7).dtype == cr.int64
    assert cr.full((2,), 7.0).dtype == cr.float32
    assert cr.full((2,), 7.0, dtype=cr.float64).dtype == cr.float64
    np.testing.assert_array_equal(_values(cr.full([2, 2], 1.5)), np.full((2, 2), 1.5, np.float32))


def test_eye():
    np.testing.assert_array_equal(_values(cr.eye(3)), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(_values(cr.eye(2, 4, dtype=cr.float64)), np.eye(2, 4))
    with pytest.raises(ValueError, match="eye"):
        cr.eye(-1)
    with pytest.raises(TypeError, match="eye: n"):
        cr.eye(2.5)


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="zeros: dtype"):
        cr.zeros(2, dtype=np.float32)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shape'"):
        cr.zeros(shape=(2,))
    with pytest.raises(TypeError, match="linspace: steps"):
        cr.linspace(0, 1, 2.5)
    with pytest.raises(ValueError, match="linspace: number of steps"):
        cr.linspace(0, 1, -1)
    with pytest.raises(TypeError, match="randperm: generator"):
        cr.randperm(3, generator=np.random.default_rng())
    with pytest.raises(TypeError, match="normal: size"):
        cr.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="normal: std"):
        cr.normal(0.0, -1.0, size=(2,))
    with pytest.raises(RuntimeError, match="requires_grad"):
        cr.arange(3, requires_grad=True)


# ---- ranges ------------------------------------------------------------------------------------


def test_arange_dtypes_and_values():
    assert cr.arange(5).dtype == cr.int64 and cr.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert cr.arange(1, 2.5, 0.5).dtype == cr.float32
    assert cr.arange(1, 2.5, 0.5).tolist() == [1.0, 1.5, 2.0]
    assert cr.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert cr.arange(0).numel() == 0
    with pytest.raises(ValueError, match="arange"):
        cr.arange(0, 5, -1)


@pytest.mark.parametrize("args", [(0, 1, 5), (-3.5, 7.25, 11), (2, 2, 1), (0, 1, 0), (10, -10, 7), (0, 1, 100)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linspace_and_logspace_match_torch(args, dtype):
    torch = require("torch")
    ours = cr.linspace(*args, dtype=getattr(cr, dtype))
    theirs = torch.linspace(*args, dtype=getattr(torch, dtype))
    # Both ends exact; inside, to rounding (PyTorch's vectorized kernel rounds some entries differently).
    eps = np.finfo(np.float32 if dtype == "float32" else np.float64).eps
    scale = max(abs(args[0]), abs(args[1]), 1)
    np.testing.assert_allclose(_values(ours), theirs.numpy(), rtol=0, atol=4 * eps * scale)
    if args[2] > 0:
        assert _values(ours)[[0, -1]].tolist() == theirs.numpy()[[0, -1]].tolist()
    ours = cr.logspace(*args, dtype=getattr(cr, dtype))
    theirs = torch.logspace(*args, dtype=getattr(torch, dtype))
    np.testing.assert_allclose(_values(ours), theirs.numpy(), rtol=1e-6 if dtype == "float32" else 1e-13)
    assert cr.linspace(0, 1, 3, dtype=cr.int64).tolist() == torch.linspace(0, 1, 3, dtype=torch.int64).tolist()


@pytest.mark.parametrize("args", [(5,), (1, 7, 2), (0.5, 3), (-1, 1, 0.25), (10, 0, -3), (0, 1, 0.1)])
def test_arange_matches_torch(args):
    torch = require("torch")
    ours, theirs = cr.arange(*args), torch.arange(*args)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_values(ours), theirs.numpy(), rtol=1e-6)


# ---- the default dtype -------------------------------------------------------------------------


def test_set_default_dtype_changes_float_factories_and_python_floats():
    assert cr.get_default_dtype() == cr.float32
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.get_default_dtype() == cr.float64
        assert cr.zeros(2).dtype == cr.float64 and cr.randn(2).dtype == cr.float64
        assert cr.tensor([1.5]).dtype == cr.float64 and cr.arange(0.0, 1.0, 0.5).dtype == cr.float64
        assert cr.tensor([1]).dtype == cr.int64
        assert repr(cr.zeros(1)) == "tensor([0.])"
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.zeros(2).dtype == cr.float32
    with pytest.raises(TypeError, match="set_default_dtype"):
        cr.set_default_dtype(cr.int64)
    with pytest.raises(TypeError, match="set_default_dtype"):
        cr.set_default_dtype("float64")


def test_set_default_device_without_a_gpu_accepts_the_cpu_only():
    cr.set_default_device("cpu")
    cr.set_default_device(None)
    assert cr.get_default_device() == cr.device("cpu")
    if cr.cuda.is_available():
        return
    with pytest.raises(RuntimeError, match="set_default_device: cannot place a tensor on 'cuda'"):
        cr.set_default_device("cuda")
    assert cr.get_default_device() == cr.device("cpu")


def test_device_objects():
    assert str(cr.device("cuda:1")) == "cuda:1" and cr.device("cuda:1").index == 1
    assert cr.device("cuda", 0) == "cuda:0" and cr.device("cpu") == "cpu" and cr.device("cpu") != "cuda"
    assert repr(cr.device("cpu")) == "device(type='cpu')"
    assert cr.device(cr.device("cpu")) == cr.device("cpu")
    assert len({cr.device("cpu"), cr.device("cpu")}) == 1
    with pytest.raises(ValueError, match="device"):
        cr.device("cuda:x")


def test_accelerator_says_there_is_none():
    assert cr.accelerator.current_accelerator() is None
    assert cr.accelerator.is_available() is False and cr.accelerator.device_count() == 0
    # The tutorial idiom picks the CPU:
    device = cr.accelerator.current_accelerator().type if cr.accelerator.is_available() else "cpu"
    assert cr.zeros(2, device=device).device == "cpu"


# ---- generators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda g: cr.rand(5, generator=g),
        lambda g: cr.randn(2, 3, generator=g),
        lambda g: cr.randint(0, 100, (6,), generator=g),
        lambda g: cr.randperm(20, generator=g),
        lambda g: cr.normal(1.0, 2.0, size=(4,), generator=g),
        lambda g: cr.normal(cr.zeros(3), cr.ones(3), generator=g),
        lambda g: cr.rand_like(cr.zeros(3), generator=g),
    ],
)
def test_seeded_generators_repeat_and_leave_the_default_stream_alone(draw):
    cr.manual_seed(5)
    expected_default = cr.rand(3).tolist()
    cr.manual_seed(5)
    first = draw(cr.Generator().manual_seed(42)).tolist()
    assert cr.rand(3).tolist() == expected_default  # the generator did not advance the default
    assert draw(cr.Generator().manual_seed(42)).tolist() == first
    assert draw(cr.Generator().manual_seed(43)).tolist() != first


def test_generator_state_round_trip():
    g = cr.Generator()
    assert g.initial_seed() == 67280421310721
    g.manual_seed(7)
    assert g.initial_seed() == 7
    state = g.get_state()
    a = cr.randn(4, generator=g).tolist()
    b = cr.randn(4, generator=g).tolist()
    assert a != b
    g.set_state(state)
    assert cr.randn(4, generator=g).tolist() == a
    assert g.manual_seed(-1).initial_seed() == 2**64 - 1
    fresh = g.seed()
    assert g.initial_seed() == fresh
    with pytest.raises(TypeError, match="set_state"):
        g.set_state([1, 2, 3])
    with pytest.raises(TypeError, match="manual_seed: seed"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="manual_seed"):
        g.manual_seed(2**64)
    assert g.device == "cpu"


def test_default_generator_is_what_manual_seed_seeds():
    assert cr.manual_seed(3) is cr.default_generator
    assert cr.initial_seed() == 3
    a = cr.randn(3).tolist()
    state = cr.get_rng_state()
    b = cr.randn(3).tolist()
    cr.set_rng_state(state)
    assert cr.randn(3).tolist() == b
    cr.manual_seed(3)
    assert cr.randn(3).tolist() == a
    assert cr.randn(3, generator=cr.default_generator).tolist() == b


def test_randperm_and_randint():
    p = cr.randperm(50)
    assert p.dtype == cr.int64 and sorted(p.tolist()) == list(range(50))
    assert cr.randperm(0).numel() == 0
    assert cr.randperm(4, dtype=cr.float64).dtype == cr.float64
    r = cr.randint(3, 7, (1000,))
    assert set(r.tolist()) == {3, 4, 5, 6}
    assert set(cr.randint(2, (100,)).tolist()) == {0, 1}
    assert tuple(cr.randint(0, 5, size=(2, 2)).shape) == (2, 2)


def test_normal_statistics_and_forms():
    cr.manual_seed(0)
    x = cr.normal(3.0, 2.0, size=(20000,))
    assert abs(float(x.mean()) - 3.0) < 0.05 and abs(float(_values(x).std()) - 2.0) < 0.05
    mean = cr.tensor([0.0, 100.0])
    y = cr.normal(mean, 0.001)
    assert np.allclose(_values(y), [0.0, 100.0], atol=0.01)
    z = cr.normal(cr.zeros(2, 1, dtype=cr.float64), cr.ones(3, dtype=cr.float64))
    assert tuple(z.shape) == (2, 3) and z.dtype == cr.float64
