"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples():
    assert len(_python_blocks()) >= 2


@pytest.mark.slow
def test_readme_examples_run(capsys):
    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
    assert "0.weight" in capsys.readouterr().out
