"""Train a classifier on the digits shipped with chainrule using chainrule.fit, watch gradient
health, save a checkpoint and load it back.

    python examples/digits_fit.py
"""

import tempfile
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import diagnostics, nn, optim
from chainrule.datasets import load_digits, split


def main(epochs: int = 10) -> float:
    X, y = load_digits(return_X_y=True)
    X /= 16.0
    X_train, X_val, y_train, y_val = split(X, y, test_fraction=0.2, seed=0)

    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = cr.fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        X_train,
        y_train,
        epochs=epochs,
        batch_size=64,
        seed=0,
        validation_data=(X_val, y_val),
        metrics=["accuracy"],
        scheduler=scheduler,
        monitor=True,
        progress=False,
    )
    print(f"trained natively in C++: {history.native}")
    for epoch, (loss, acc) in enumerate(zip(history.history["loss"], history.history["val_accuracy"]), 1):
        print(f"epoch {epoch:2d}  loss {loss:.4f}  validation accuracy {acc:.2%}")
    print("\nGradient health after the last epoch:")
    print(diagnostics.format_health(history.history["gradient_health"][-1]))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digits.safetensors"
        cr.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
        restored = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
        restored.load_state_dict(cr.load(path)["model"])
    with cr.no_grad():
        agree = np.array_equal(model(X_val).numpy(), restored(X_val).numpy())
    print(f"\ncheckpoint restores the same predictions: {agree}")
    return history.history["val_accuracy"][-1]


if __name__ == "__main__":
    main()
