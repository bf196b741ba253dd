"""The seed document's PyTorch program (examples/seed_example.py) runs unchanged on chainrule.

The example is the seed's program with only its three import lines changed (plus a print of the
loss). Running it, the loss falls; and given identical initial weights and data, chainrule's loss
at each of the 100 epochs equals PyTorch's.
"""

import ast
import pathlib
import re
import runpy

import numpy as np
import pytest

import chainrule as cr
from optional_dependencies import require

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "seed_example.py"
SEED_DIR = ROOT.parent / "shared" / "seed"

# The seed document's program, verbatim.
SEED_PROGRAM = """\
import torch
import torch.nn as nn
import torch.optim as optim

# 定義簡單的神經網絡
model = nn.Sequential(
    nn.Linear(10, 5),
    nn.ReLU(),
    nn.Linear(5, 1)
)

# 定義損失函數和優化器
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)

# 假設有一些訓練數據
inputs = torch.randn(100, 10)
targets = torch.randn(100, 1)

# 訓練過程
for epoch in range(100):
    # 前向傳播
    outputs = model(inputs)
    loss = criterion(outputs, targets)

    # 反向傳播
    optimizer.zero_grad()  # 清除之前的梯度
    loss.backward()        # 計算新的梯度
    optimizer.step()       # 更新權重
"""

CHAINRULE_IMPORTS = ["import chainrule as torch", "import chainrule.nn as nn", "import chainrule.optim as optim"]
TORCH_IMPORTS = ["import torch", "import torch.nn as nn", "import torch.optim as optim"]


def test_seed_program_constant_is_the_seed_documents():
    files = sorted(SEED_DIR.glob("*.txt")) if SEED_DIR.is_dir() else []
    if not files:
        pytest.skip(
            f"the seed document (a .txt file in {SEED_DIR}, beside the repository) is not there: it comes "
            "with the project's shared folder; place it there to compare the example with it"
        )
    text = files[0].read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert SEED_PROGRAM in blocks


def test_example_is_the_seed_program_with_only_the_imports_changed():
    example = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    seed = ast.parse(SEED_PROGRAM)
    body = list(example.body)
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)  # the docstring
    body = body[1:]
    assert [ast.unparse(s) for s in body[:3]] == CHAINRULE_IMPORTS
    assert [ast.unparse(s) for s in seed.body[:3]] == TORCH_IMPORTS
    # The training loop gains only a print of the loss, as its last statement.
    loop, seed_loop = body[-1], seed.body[-1]
    assert isinstance(loop, ast.For) and isinstance(seed_loop, ast.For)
    added = loop.body[len(seed_loop.body) :]
    assert len(added) == 1 and "print" in ast.unparse(added[0]) and "loss" in ast.unparse(added[0])
    loop_without_print = ast.For(
        target=loop.target, iter=loop.iter, body=loop.body[: len(seed_loop.body)], orelse=loop.orelse
    )
    assert ast.dump(loop_without_print) == ast.dump(seed_loop)
    assert [ast.dump(s) for s in body[3:-1]] == [ast.dump(s) for s in seed.body[3:-1]]


def _printed_losses(text):
    return [float(v) for v in re.findall(r"loss\s+([0-9.eE+-]+)", text)]


def test_running_the_example_the_loss_falls(capsys):
    cr.manual_seed(0)
    namespace = runpy.run_path(str(EXAMPLE), run_name="__main__")
    losses = _printed_losses(capsys.readouterr().out)
    assert len(losses) >= 5
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # full-batch GD with a small lr: monotone
    assert namespace["epoch"] == 99
    assert isinstance(namespace["model"], cr.nn.Sequential)


def _run_seed_program(lib, source, weights, data, monkeypatch):
    """Runs `source` (the seed's program importing `lib` as torch) with nn.Sequential starting from
    `weights`, torch.randn returning `data` in order, and nn.MSELoss recording every epoch's loss."""
    to_lib = lib.tensor
    pending = [to_lib(a) for a in data]
    losses = []

    def randn(*size, **kwargs):
        value = pending.pop(0)
        assert tuple(value.shape) == tuple(size)
        return value

    base_sequential, base_mse = lib.nn.Sequential, lib.nn.MSELoss

    class Sequential(base_sequential):
        def __init__(self, *args):
            super().__init__(*args)
            self.load_state_dict({k: to_lib(v) for k, v in weights.items()})

    class MSELoss(base_mse):
        def forward(self, input, target):
            loss = super().forward(input, target)
            losses.append(loss.item())
            return loss

    monkeypatch.setattr(lib, "randn", randn)
    monkeypatch.setattr(lib.nn, "Sequential", Sequential)
    monkeypatch.setattr(lib.nn, "MSELoss", MSELoss)
    namespace = {"__name__": "__main__"}
    exec(compile(source, str(EXAMPLE), "exec"), namespace)
    monkeypatch.undo()
    assert not pending
    return np.array(losses), namespace["model"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_example_loss_per_epoch_equals_pytorch(seed, monkeypatch, capsys):
    torch = require("torch")
    torch.manual_seed(seed)
    reference = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    weights = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}
    rng = np.random.default_rng(seed)
    data = [rng.standard_normal((100, 10)).astype(np.float32), rng.standard_normal((100, 1)).astype(np.float32)]

    example_source = EXAMPLE.read_text(encoding="utf-8")
    torch_source = example_source
    for ours, theirs in zip(CHAINRULE_IMPORTS, TORCH_IMPORTS):
        assert ours in torch_source
        torch_source = torch_source.replace(ours, theirs)

    c_losses, c_model = _run_seed_program(cr, example_source, weights, data, monkeypatch)
    t_losses, t_model = _run_seed_program(torch, torch_source, weights, data, monkeypatch)
    capsys.readouterr()

    assert isinstance(c_model, cr.nn.Sequential) and isinstance(t_model, torch.nn.Sequential)
    assert len(c_losses) == len(t_losses) == 100
    np.testing.assert_allclose(c_losses, t_losses, rtol=1e-5, atol=0)
    assert c_losses[-1] < c_losses[0]
    t_state = t_model.state_dict()
    for k, v in c_model.state_dict().items():
        np.testing.assert_allclose(v.numpy(), t_state[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
