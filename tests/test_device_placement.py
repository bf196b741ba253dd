"""Placing tensors, modules and optimizer state on a device, tested without a GPU.

The stand-in device (``_core._use_host_device_as_cuda``) registers itself as CUDA: its memory is
host memory behind pointers that crash any CPU code reading them directly, and its kernels are the
CPU's. Everything here is device placement and bookkeeping: the same code runs against a real GPU.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def test_factories_place_their_results(cuda):
    cr.manual_seed(3)
    on_cpu = cr.randn(3, 4, dtype=cr.float64)
    cr.manual_seed(3)
    on_device = cr.randn(3, 4, dtype=cr.float64, device="cuda")
    assert on_device.device == cr.device("cuda", 0) and on_device.is_cuda and not on_device.is_cpu
    np.testing.assert_array_equal(on_device.cpu().numpy(), on_cpu.numpy())  # drawn on the host: same numbers
    for made in (
        cr.zeros(2, 3, device="cuda"),
        cr.ones(2, device="cuda:1"),
        cr.full((2,), 7.0, device=cr.device("cuda", 0)),
        cr.tensor([1.0, 2.0], device="cuda"),
        cr.arange(4, device="cuda"),
        cr.eye(3, device="cuda"),
        cr.linspace(0, 1, 5, device="cuda"),
        cr.randint(0, 5, (3,), device="cuda"),
    ):
        assert made.is_cuda
    assert cr.ones(2, device="cuda:1").device == "cuda:1"
    np.testing.assert_array_equal(cr.full((2,), 7.0, device="cuda").cpu().numpy(), [7.0, 7.0])
    leaf = cr.zeros(2, device="cuda", requires_grad=True)
    assert leaf.is_leaf and leaf.requires_grad and leaf.is_cuda
    like = cr.zeros_like(on_device)  # *_like follows its input's device
    assert like.is_cuda and cr.zeros_like(on_device, device="cpu").device == "cpu"


def test_moving_tensors_back_and_forth(cuda):
    x = cr.tensor([[1.5, -2.0], [3.0, 4.25]], dtype=cr.float64)
    y = x.to("cuda")
    assert y.is_cuda and y.dtype == cr.float64 and tuple(y.shape) == (2, 2)
    assert y.to("cuda") is y and x.cpu() is x
    assert y.cuda() is y and x.cuda(1).device == "cuda:1"
    np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    np.testing.assert_array_equal(x.cuda(1).to("cuda:0").cpu().numpy(), x.numpy())  # device to device
    assert y.to("cpu", cr.float32).dtype == cr.float32
    assert x.to(device="cuda", dtype=cr.float32).is_cuda
    assert y.tolist() == x.tolist()
    assert cr.tensor([2.5], device="cuda").item() == 2.5
    assert float(y.cpu()[1, 1]) == 4.25
    assert repr(y).endswith("device='cuda:0', dtype=chainrule.float64)")


def test_device_memory_cannot_be_read_as_numpy(cuda):
    y = cr.ones(3, device="cuda")
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu()"):
        y.numpy()
    with pytest.raises(TypeError, match="cuda:0"):
        np.asarray(y)
    with pytest.raises(RuntimeError, match="must be cuda device"):
        y.cuda("cpu")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        cr.zeros(2).cuda(5)


def test_gradients_flow_back_across_a_move(cuda):
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    y = x.to("cuda")
    assert not y.is_leaf and y.grad_fn.name() == "ToCopyBackward"
    z = y.cpu()
    (z * cr.tensor([1.0, 10.0, 100.0], dtype=cr.float64)).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 10.0, 100.0])


def test_module_to_moves_parameters_gradients_and_buffers(cuda):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    before = {name: t.detach().numpy().copy() for name, t in model.state_dict().items()}
    weight = model[0].weight
    model[0].weight.grad = cr.ones(3, 4)
    assert model.to("cuda") is model
    assert model[0].weight is weight  # the same Parameter object: optimizers keep working
    for name, t in model.state_dict().items():
        assert t.is_cuda, name
        np.testing.assert_array_equal(t.cpu().numpy(), before[name])
    assert weight.grad.is_cuda and weight.requires_grad and weight.is_leaf
    model.cpu()
    assert all(t.device == "cpu" for t in model.state_dict().values()) and weight.grad.device == "cpu"
    model.cuda(1)
    assert weight.device == "cuda:1"
    model.to(cr.zeros(1, dtype=cr.float64))  # to(tensor): its device and dtype
    assert weight.device == "cpu" and weight.dtype == cr.float64


def test_optimizer_state_follows_its_parameters(cuda):
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(cr.ones(4, 3)).sum().backward()
    opt.step()
    state = opt.state[model.weight]
    assert state["exp_avg"].device == "cpu"
    model.cuda()  # moves the state of every optimizer beside the parameters
    assert state["exp_avg"].is_cuda and state["exp_avg_sq"].is_cuda
    saved = opt.state_dict()
    model.cpu()
    fresh = optim.Adam(model.parameters(), lr=0.1)
    model.cuda()
    fresh.load_state_dict(saved)
    assert fresh.state[model.weight]["exp_avg"].is_cuda
    np.testing.assert_array_equal(fresh.state[model.weight]["exp_avg"].cpu().numpy(), state["exp_avg"].cpu().numpy())


def test_caching_allocator_figures(cuda):
    cr.cuda.empty_cache()
    start = cr.cuda.memory_allocated()
    x = cr.empty(1000, device="cuda")  # 4000 bytes: one 4096-byte block
    assert cr.cuda.memory_allocated() == start + 4096
    assert cr.cuda.max_memory_allocated() >= start + 4096
    reserved = cr.cuda.memory_reserved()
    del x
    assert cr.cuda.memory_allocated() == start
    assert cr.cuda.memory_reserved() == reserved  # kept in the cache for the next tensor
    y = cr.empty(1000, device="cuda")
    assert cr.cuda.memory_reserved() == reserved  # and handed out again
    del y
    cr.cuda.empty_cache()
    assert cr.cuda.memory_reserved() == cr.cuda.memory_allocated() == start
    cr.cuda.reset_peak_memory_stats()
    assert cr.cuda.max_memory_allocated() == start
    assert cr.cuda.memory_allocated("cuda:1") == 0 and cr.cuda.memory_allocated(1) == 0


def test_default_device(cuda):
    cr.set_default_device("cuda")
    assert cr.get_default_device() == "cuda:0"
    assert cr.zeros(2).is_cuda and cr.randn(2).is_cuda
    assert cr.zeros(2, device="cpu").device == "cpu"
    cr.set_default_device("cpu")
    assert cr.zeros(2).device == "cpu"


def test_save_and_load_onto_a_device(cuda, tmp_path):
    values = cr.tensor([1.0, 2.0, 3.0])
    cr.save({"w": values.cuda()}, tmp_path / "w.pt")
    on_cpu = cr.load(tmp_path / "w.pt")
    assert on_cpu["w"].device == "cpu"
    on_device = cr.load(tmp_path / "w.pt", map_location="cuda")
    assert on_device["w"].is_cuda
    np.testing.assert_array_equal(on_device["w"].cpu().numpy(), values.numpy())


def test_mixing_devices_in_one_op_raises_pytorchs_error(cuda):
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two"):
        cr.zeros(2) + cr.zeros(2, device="cuda")


def test_without_a_device_backend_nothing_is_registered():
    if cr.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    assert cr.cuda.memory_allocated() == 0 and cr.cuda.memory_reserved() == 0
    cr.cuda.empty_cache()  # nothing to give back, and no error
