"""Optional test dependencies: a test that needs one skips, saying what is missing and how to get it.

None of these is a dependency of chainrule. PyTorch is the reference the parity tests compare
against; the others come with the test extra (pip install "chainrule[test]") or with the
extra that the tested feature needs.
"""

from __future__ import annotations

from typing import Any

import pytest

_WHY = {
    "torch": "PyTorch is not installed, and this test compares chainrule with it (pip install torch)",
    "sklearn": 'scikit-learn is not installed, and chainrule.sklearn needs it (pip install "chainrule[sklearn]")',
    "sklearn.datasets": "scikit-learn is not installed, and this test reads its datasets (pip install scikit-learn)",
    "safetensors.numpy": "safetensors is not installed, and this test checks files against it "
    '(pip install "chainrule[test]")',
    "safetensors.torch": "safetensors or PyTorch is not installed, and this test checks files against them "
    "(pip install safetensors torch)",
    "matplotlib": 'matplotlib is not installed, and the plots need it (pip install "chainrule[plot]")',
    "scipy": "SciPy is not installed, and this test drives its optimizer (pip install scipy)",
    "pandas": "pandas is not installed, and this test feeds a DataFrame (pip install pandas)",
    "threadpoolctl": "threadpoolctl is not installed, and this test limits threads with it "
    '(pip install "chainrule[sklearn]")',
    "hypothesis": "hypothesis is not installed, and the property tests are written with it "
    '(pip install "chainrule[test]")',
    "distributed": "dask.distributed is not installed, and this test runs a search on a local cluster "
    '(pip install "chainrule[dask]")',
    "emlearn": "emlearn is not installed, and this test exports a model with it (pip install emlearn)",
}


def require(module: str) -> Any:
    """The module, imported; or the calling test skips with the reason listed above."""
    __tracebackhide__ = True  # the skip is reported at the caller's line, in the test file
    return pytest.importorskip(module, reason=_WHY[module])
