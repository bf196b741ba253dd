"""The scripts in examples/ run and do what they say."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_fit_example_learns(capsys):
    accuracy = _load("digits_fit").main(epochs=3)
    assert accuracy > 0.8
    out = capsys.readouterr().out
    assert "trained natively in C++: True" in out
    assert "checkpoint restores the same predictions: True" in out
