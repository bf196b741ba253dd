"""History: what chainrule.fit recorded, one value per epoch."""

from __future__ import annotations

__all__ = ["History"]


class History:
    """What fit() recorded: .history maps 'loss', 'val_loss', 'accuracy', 'val_accuracy', 'lr'
    (and 'gradient_health' with monitor=True) to one value per epoch; .epoch lists the epochs."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.native: bool = False

    def _record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def plot(self, path) -> None:
        """Write a PNG of the loss (and accuracy) curves to `path` (needs matplotlib: the 'plot' extra)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("History.plot needs matplotlib: pip install 'chainrule[plot]'") from exc
        curves = [k for k in ("loss", "val_loss") if k in self.history]
        accuracy = [k for k in ("accuracy", "val_accuracy") if k in self.history]
        panels = 1 + bool(accuracy)
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for key in curves:
            axes[0][0].plot(epochs, self.history[key], marker="o", label=key)
        axes[0][0].set_xlabel("epoch")
        axes[0][0].set_ylabel("loss")
        axes[0][0].legend()
        for key in accuracy:
            axes[0][1].plot(epochs, self.history[key], marker="o", label=key)
        if accuracy:
            axes[0][1].set_xlabel("epoch")
            axes[0][1].set_ylabel("accuracy")
            axes[0][1].legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)}, native={self.native})"
