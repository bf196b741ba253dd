"""python/chainrule/_core.pyi, the type stub of the compiled module, lists what the module has.

The stub is written by tools/generate_core_stub.py; these tests fail when the module gains or
loses a name (a function, a class, a class member) that the stub does not list, so the stub
cannot fall behind the bindings. Regenerate it with the tool after changing them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule  # noqa: F401  (Tensor as users see it: with the methods Python adds)
from chainrule import _core

STUB = Path(__file__).resolve().parent.parent / "python" / "chainrule" / "_core.pyi"
REGENERATE = "regenerate the stub: python tools/generate_core_stub.py"
# Every class has these; they are not part of its interface.
IGNORED = {
    "__module__",
    "__doc__",
    "__dict__",
    "__weakref__",
    "__qualname__",
    "__entries",
    "__all__",
    "_pybind11_conduit_v1_",
}  # pybind11's own hook between extension modules


def _defined_names(body: list[ast.stmt]) -> set[str]:
    names = set()
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names - IGNORED


def _stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"), str(STUB))


def _interface(names) -> set[str]:
    """Names other than the dunders every object has (which the stub lists only where they matter)."""
    return {n for n in names if not (n.startswith("__") and n.endswith("__")) or n == "__version__"} - IGNORED


def test_the_stub_is_shipped_beside_the_package():
    assert STUB.is_file()
    assert (STUB.parent / "py.typed").is_file()


def test_the_stub_lists_every_name_of_the_module():
    in_stub = _interface(_defined_names(_stub_tree().body))
    in_module = _interface(dir(_core))
    assert not in_module - in_stub, f"_core has names the stub lacks: {sorted(in_module - in_stub)}; {REGENERATE}"
    assert not in_stub - in_module, f"the stub lists names _core lacks: {sorted(in_stub - in_module)}; {REGENERATE}"


def test_the_stub_lists_every_member_of_each_class():
    classes = [node for node in _stub_tree().body if isinstance(node, ast.ClassDef)]
    assert any(node.name == "Tensor" for node in classes)
    for node in classes:
        in_stub = _interface(_defined_names(node.body))
        in_module = _interface(vars(getattr(_core, node.name)))
        missing, extra = sorted(in_module - in_stub), sorted(in_stub - in_module)
        assert not missing, f"_core.{node.name} has members the stub lacks: {missing}; {REGENERATE}"
        assert not extra, f"the stub lists members _core.{node.name} lacks: {extra}; {REGENERATE}"


def test_a_missing_name_is_noticed():
    tree = ast.parse("class Tensor:\n    def add(self) -> Tensor: ...\ndef relu(x): ...\nversion: str\n")
    assert _defined_names(tree.body) == {"Tensor", "relu", "version"}
    assert _defined_names(tree.body[0].body) == {"add"}
