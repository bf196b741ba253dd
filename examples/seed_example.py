"""The seed document's PyTorch program, run on chainrule.

Copied from the seed with only its three import lines changed (and a print of the loss added, so
the run shows it falling). Run it with ``python examples/seed_example.py``.
"""

import chainrule as torch
import chainrule.nn as nn
import chainrule.optim as optim

# 定義簡單的神經網絡 (define a simple neural network)
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))

# 定義損失函數和優化器 (define the loss function and the optimizer)
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)

# 假設有一些訓練數據 (suppose we have some training data)
inputs = torch.randn(100, 10)
targets = torch.randn(100, 1)

# 訓練過程 (the training loop)
for epoch in range(100):
    # 前向傳播 (forward pass)
    outputs = model(inputs)
    loss = criterion(outputs, targets)

    # 反向傳播 (backward pass)
    optimizer.zero_grad()  # 清除之前的梯度 (clear the previous gradients)
    loss.backward()  # 計算新的梯度 (compute the new gradients)
    optimizer.step()  # 更新權重 (update the weights)

    if epoch % 10 == 0 or epoch == 99:
        print(f"epoch {epoch:3d}  loss {loss.item():.6f}")
