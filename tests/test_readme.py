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
    import chainrule
    from chainrule import _core

    for block in _python_blocks():
        # The GPU example runs on the host-backed stand-in device where no GPU is available.
        stand_in = '"cuda"' in block and not chainrule.cuda.is_available()
        if stand_in:
            _core._use_host_device_as_cuda(1)
        try:
            exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
        finally:
            if stand_in:
                _core._use_host_device_as_cuda(0)
    assert "0.weight" in capsys.readouterr().out
