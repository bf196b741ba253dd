"""The benchmark models beyond plain Linear + ReLU stacks, built the same way with chainrule.nn and
torch.nn (both have the same module names and arguments):

    tabular  64 -> 512 -> 512 -> 1, each hidden Linear followed by BatchNorm1d + ReLU + Dropout(0.1);
             batch 256, MSE, AdamW
    deep     128 features, 20 x (Linear 128 + LayerNorm + GELU), then a Linear 128 -> 10 head;
             batch 128, cross-entropy, AdamW
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    features: int
    outputs: int
    batch: int
    loss: str  # "mse" or "cross_entropy"
    layers: tuple  # ("linear", in, out), ("batch_norm", n), ("layer_norm", n), ("relu",), ("gelu",), ("dropout", p)
    description: str

    @property
    def linear_shapes(self) -> list[tuple[int, int]]:
        return [(layer[1], layer[2]) for layer in self.layers if layer[0] == "linear"]


def _tabular() -> ModelSpec:
    layers = []
    for fan_in, fan_out in ((64, 512), (512, 512)):
        layers += [("linear", fan_in, fan_out), ("batch_norm", fan_out), ("relu",), ("dropout", 0.1)]
    layers.append(("linear", 512, 1))
    return ModelSpec("tabular", 64, 1, 256, "mse", tuple(layers), "64-512-512-1 BN+ReLU+Dropout")


def _deep() -> ModelSpec:
    layers = []
    for _ in range(20):
        layers += [("linear", 128, 128), ("layer_norm", 128), ("gelu",)]
    layers.append(("linear", 128, 10))
    return ModelSpec("deep", 128, 10, 128, "cross_entropy", tuple(layers), "20x(128 LN GELU)-10")


MODELS = {spec.name: spec for spec in (_tabular(), _deep())}


def build(nn, spec: ModelSpec):
    """spec's model from `nn` (chainrule.nn or torch.nn), float32, in training mode."""
    modules = []
    for layer in spec.layers:
        kind = layer[0]
        if kind == "linear":
            modules.append(nn.Linear(layer[1], layer[2]))
        elif kind == "batch_norm":
            modules.append(nn.BatchNorm1d(layer[1]))
        elif kind == "layer_norm":
            modules.append(nn.LayerNorm(layer[1]))
        elif kind == "relu":
            modules.append(nn.ReLU())
        elif kind == "gelu":
            modules.append(nn.GELU())
        elif kind == "dropout":
            modules.append(nn.Dropout(layer[1]))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return nn.Sequential(*modules)


def copy_state(torch, torch_model, chainrule_model) -> None:
    """torch_model's parameters and buffers := chainrule_model's (same structure, same keys)."""
    source = chainrule_model.state_dict()
    with torch.no_grad():
        for key, value in torch_model.state_dict().items():
            value.copy_(torch.from_numpy(source[key].numpy().copy()))
