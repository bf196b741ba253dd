"""The public Python API carries type hints (mypy checks them in CI, with pyproject.toml's [tool.mypy]).

Every public function and every public method of a public class in the modules below annotates
each parameter (self and cls aside) and its return (``__init__`` aside). The check reads the
source, so it sees exactly what a type checker and an editor see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "python" / "chainrule"

ANNOTATED_MODULES = [
    "nn/module.py",
    "nn/layers.py",
    "nn/loss.py",
    "nn/normalization.py",
    "nn/parameter.py",
    "optim/optimizer.py",
    "optim/sgd.py",
    "optim/adam.py",
    "optim/adam_variants.py",
    "optim/rmsprop.py",
    "optim/adagrad.py",
    "optim/lbfgs.py",
    "optim/lr_scheduler.py",
    "autograd.py",
    "utils/data/dataset.py",
    "utils/data/sampler.py",
    "utils/data/dataloader.py",
    "utils/data/_collate.py",
    "__init__.py",
    "_creation.py",
    "_random.py",
    "_grad_mode.py",
    "_device.py",
    "sklearn/_neuralnet.py",
    "nn/functional.py",
    "nn/init.py",
    "_tensor.py",
    "_tensor_ops.py",
    "_indexing.py",
    "distributions/distribution.py",
    "distributions/normal.py",
    "distributions/bernoulli.py",
    "distributions/categorical.py",
    "data.py",
    "diagnostics.py",
    "baseline.py",
    "accelerator.py",
    "io.py",
    "cuda.py",
    "datasets/digits.py",
    "_grads.py",
    "_variable.py",
    "_kinds.py",
    "_printing.py",
    "_protocols.py",
]


def _unannotated(source: str) -> list[str]:
    """Qualified names of public functions and methods that miss an annotation."""
    missing = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                dunder = node.name.startswith("__") and node.name.endswith("__")
                if node.name.startswith("_") and not dunder:
                    continue
                arguments = node.args
                parameters = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
                if prefix and parameters and parameters[0].arg in ("self", "cls"):
                    parameters = parameters[1:]
                parameters += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
                if any(p.annotation is None for p in parameters) or (node.returns is None and node.name != "__init__"):
                    missing.append(prefix + node.name)

    visit(ast.parse(source).body, "")
    return missing


def test_the_check_finds_a_missing_hint():
    source = (
        "class Layer:\n    def forward(self, x: int):\n        ...\n    def _private(self, x): ...\n"
        "def scale(x: float, factor) -> float: ...\ndef shift(x: float) -> float: ...\n"
    )
    assert _unannotated(source) == ["Layer.forward", "scale"]


@pytest.mark.parametrize("module", ANNOTATED_MODULES)
def test_public_api_is_annotated(module):
    missing = _unannotated((PACKAGE_DIR / module).read_text(encoding="utf-8"))
    assert not missing, f"chainrule/{module}: public functions without complete type hints: {missing}"
