"""chainrule's public modules export only public names.

A module imported for a module's own use (``import numpy as np``) or a ``from __future__``
feature would otherwise show up as ``chainrule.data.np`` or ``chainrule.annotations``, in
completions, ``dir()`` and documentation tools. Every module whose dotted path has no part
starting with an underscore is walked; each public attribute must not be a module from outside
chainrule nor a ``__future__`` feature, and every name in ``__all__`` must exist.
"""

from __future__ import annotations
import __future__

import importlib
import importlib.util
import types
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "python" / "chainrule"

# Public attributes known to leak, by module; none today.
KNOWN_LEAKS: dict = {}


def _public_module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = ["chainrule", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] == "__main__" or any(part.startswith("_") for part in parts):
            continue
        names.append(".".join(parts))
    return names


def _import(name: str) -> types.ModuleType:
    if name.startswith("chainrule.sklearn") and importlib.util.find_spec("sklearn") is None:
        pytest.skip(
            "chainrule.sklearn needs scikit-learn, which is not installed here (pip install 'chainrule[sklearn]')"
        )
    return importlib.import_module(name)


def _leaks(module: types.ModuleType) -> set[str]:
    leaked = set()
    for attribute in dir(module):
        if attribute.startswith("_"):
            continue
        value = getattr(module, attribute)
        if isinstance(value, __future__._Feature):
            leaked.add(attribute)
        elif isinstance(value, types.ModuleType) and value.__name__.partition(".")[0] != "chainrule":
            leaked.add(attribute)
    return leaked


def test_the_walk_covers_the_public_namespaces():
    names = set(_public_module_names())
    for expected in (
        "chainrule",
        "chainrule.nn",
        "chainrule.nn.functional",
        "chainrule.optim",
        "chainrule.optim.lr_scheduler",
        "chainrule.utils.data",
        "chainrule.autograd",
        "chainrule.data",
        "chainrule.datasets",
        "chainrule.distributions",
        "chainrule.sklearn",
    ):
        assert expected in names
    assert not any(name.startswith("chainrule._") for name in names)


def test_a_leak_is_found_when_there_is_one():
    module = types.ModuleType("chainrule.example")
    exec("from __future__ import annotations\nimport math\nimport numpy as _np\nimport chainrule", module.__dict__)
    assert _leaks(module) == {"annotations", "math"}


@pytest.mark.parametrize("name", _public_module_names())
def test_public_module_exports_only_public_names(name):
    module = _import(name)
    leaked = _leaks(module) - KNOWN_LEAKS.get(name, set())
    assert not leaked, (
        f"{name} exposes {sorted(leaked)}: import them under a private name "
        "(import numpy as _np, from __future__ import annotations as _annotations)"
    )
    missing = [entry for entry in getattr(module, "__all__", ()) if not hasattr(module, entry)]
    assert not missing, f"{name}.__all__ names {missing}, which the module does not define"
