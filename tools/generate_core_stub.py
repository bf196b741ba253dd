#!/usr/bin/env python3
"""Writes python/chainrule/_core.pyi, the type stub of the compiled module chainrule._core.

Two sources, each read in its own process:

1. pybind11-stubgen describes what the C++ bindings define. It reads a copy of the extension
   loaded on its own, under an empty ``chainrule`` package, so that chainrule's ``__init__`` has
   not yet added its Python methods to Tensor.
2. The Python package then adds methods, properties and operators to ``Tensor`` (``_tensor.py``,
   ``_protocols.py``, ``_tensor_ops.py``). They are read from the imported package and written
   into the stub's ``class Tensor`` with their Python signatures, replacing the C++ member of the
   same name where one is replaced at run time, so an editor completes ``tensor.`` with
   everything a Tensor has.

Run it after changing the bindings or the methods Python adds to Tensor (the package must be
built, e.g. by ``pip install -e .``):

    pip install pybind11-stubgen
    python tools/generate_core_stub.py          # rewrites python/chainrule/_core.pyi
    python tools/generate_core_stub.py --check  # exits 1 when the committed stub differs

tests/test_core_stub.py fails when the stub and the module disagree on a public name.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUB = REPO / "python" / "chainrule" / "_core.pyi"
HEADER = (
    "# The type stub of chainrule._core, written by tools/generate_core_stub.py from the built module:\n"
    "# change the bindings (csrc/bindings/) or the methods Python adds to Tensor, then rerun it.\n"
)
# How the names in the Python methods' annotations are spelled in the stub; an annotation that
# names anything else is left out (the parameter is then untyped there).
STUB_NAMES = {
    "Tensor": "Tensor",
    "bool": "bool",
    "int": "int",
    "float": "float",
    "str": "str",
    "None": "None",
    "dtype": "dtype",
    "tuple": "tuple",
    "list": "list",
    "dict": "dict",
    "Any": "typing.Any",
    "Sequence": "typing.Sequence",
    "Generator": "typing.Any",
    "TensorLike": "Tensor | _numpy.ndarray | float | int | typing.Sequence[typing.Any]",
}


def _stub_annotation(text: str | None) -> str | None:
    """The annotation `text` (from a Python signature) as the stub spells it, or None."""
    if text is None:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None

    class Rename(ast.NodeTransformer):
        failed = False

        def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
            if ast.unparse(node) == "_core.dtype":
                return ast.Name("dtype", ast.Load())
            self.failed = True
            return node

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id not in STUB_NAMES:
                self.failed = True
                return node
            return ast.parse(STUB_NAMES[node.id], mode="eval").body

    renamer = Rename()
    renamed = renamer.visit(tree)
    return None if renamer.failed else ast.unparse(renamed)


# Class attributes every Python class has; they are not part of Tensor's interface.
IGNORED_MEMBERS = {"__module__", "__doc__", "__dict__", "__weakref__", "__qualname__"}


def _extension_path() -> str:
    """The built chainrule._core file, found by importing the package in a child process."""
    out = subprocess.run(
        [sys.executable, "-c", "import chainrule._core as c; print(c.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return out.stdout.strip().splitlines()[-1]


def _bare_stub(extension: str, workdir: Path) -> tuple[str, list[str]]:
    """pybind11-stubgen's stub of the extension loaded alone, and the bare Tensor's member names."""
    script = f"""
import importlib.machinery, importlib.util, json, sys, types
package = types.ModuleType("chainrule")
package.__path__ = []
sys.modules["chainrule"] = package
loader = importlib.machinery.ExtensionFileLoader("chainrule._core", {extension!r})
spec = importlib.util.spec_from_file_location("chainrule._core", {extension!r}, loader=loader)
core = importlib.util.module_from_spec(spec)
loader.exec_module(core)
sys.modules["chainrule._core"] = package._core = core
import pybind11_stubgen
arguments = ["chainrule._core", "-o", {str(workdir)!r}]
# Every bound enum (a class with __members__), so defaults such as Reduction.mean print as such.
for name, value in vars(core).items():
    if isinstance(value, type) and hasattr(value, "__members__"):
        arguments += ["--enum-class-locations", name + ":chainrule._core"]
pybind11_stubgen.main(arguments)
print(json.dumps(sorted(vars(core.Tensor))))
"""
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    bare_members = json.loads(out.stdout.strip().splitlines()[-1])
    return (workdir / "chainrule" / "_core.pyi").read_text(encoding="utf-8"), bare_members


def _python_members(bare_members: list[str]) -> list[dict]:
    """What the imported package adds to or replaces on Tensor, one record per member."""
    script = f"""
import inspect, json, types
import chainrule
from chainrule._core import Tensor
bare = set({bare_members!r})
records = []
for name, value in vars(Tensor).items():
    if name in {sorted(IGNORED_MEMBERS)!r}:
        continue
    if isinstance(value, types.FunctionType):
        records.append({{"name": name, "kind": "function", "text": str(inspect.signature(value)),
                         "annotations": {{k: v if isinstance(v, str) else getattr(v, "__name__", repr(v))
                                          for k, v in value.__annotations__.items()}}}})
    elif isinstance(value, property) and isinstance(value.fget, types.FunctionType):
        records.append({{"name": name, "kind": "property", "settable": value.fset is not None}})
    elif name in bare:
        continue  # the C++ member itself
    elif type(value).__name__ == "instancemethod":  # a C++ method under a second name
        records.append({{"name": name, "kind": "alias", "doc": value.__func__.__doc__ or ""}})
    elif isinstance(value, (bool, int, float, str)):
        records.append({{"name": name, "kind": "attribute", "type": type(value).__name__}})
    elif name == "__hash__":
        records.append({{"name": name, "kind": "hash"}})
    else:
        raise SystemExit(f"generate_core_stub: cannot describe Tensor.{{name}} ({{type(value).__name__}})")
print(json.dumps(records))
"""
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _python_signature(record: dict) -> str:
    """A def line from a Python signature: plain annotations kept, other defaults as `...`."""
    text = record["text"]
    annotations = record["annotations"]
    parsed = ast.parse(f"def f{text}: pass").body[0]
    assert isinstance(parsed, ast.FunctionDef)
    arguments = parsed.args

    def render(argument: ast.arg, default: ast.expr | None) -> str:
        piece = argument.arg
        annotation = _stub_annotation(annotations.get(argument.arg))
        if annotation is not None:
            piece += f": {annotation}"
        if default is not None:
            literal = isinstance(default, ast.Constant) and isinstance(
                default.value, (bool, int, float, str, type(None))
            )
            value = ast.unparse(default) if literal else "..."
            piece += f" = {value}" if ":" in piece else f"={value}"
        return piece

    positional = arguments.posonlyargs + arguments.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pieces = [render(a, d) for a, d in zip(positional, defaults)]
    if arguments.posonlyargs:
        pieces.insert(len(arguments.posonlyargs), "/")
    if arguments.vararg:
        pieces.append("*" + arguments.vararg.arg)
    elif arguments.kwonlyargs:
        pieces.append("*")
    pieces += [render(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)]
    if arguments.kwarg:
        pieces.append("**" + arguments.kwarg.arg)
    returns = annotations.get("return")
    result = f" -> {_stub_annotation(returns)}" if _stub_annotation(returns) is not None else ""
    return f"def {record['name']}({', '.join(pieces)}){result}:"


def _alias_signature(record: dict) -> str:
    """A C++ method kept under another name: its pybind11 signature, else a catch-all."""
    first_line = record["doc"].strip().splitlines()[0] if record["doc"].strip() else ""
    head, _, tail = first_line.partition("(")
    if head.isidentifier() and "Overloaded" not in record["doc"] and ") -> " in tail:
        return f"def {record['name']}({tail.replace('chainrule._core.', '')}:"
    return f"def {record['name']}(self, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:"


def _member_lines(record: dict) -> list[str]:
    kind, name = record["kind"], record["name"]
    if kind == "function":
        return [_python_signature(record), "    ..."]
    if kind == "alias":
        return [_alias_signature(record), "    ..."]
    if kind == "property":
        lines = ["@property", f"def {name}(self) -> typing.Any:", "    ..."]
        if record["settable"]:
            lines += [f"@{name}.setter", f"def {name}(self, value: typing.Any) -> None:", "    ..."]
        return lines
    if kind == "attribute":
        # Not ClassVar: such an attribute is a class-level default that instances may override.
        return [f"{name}: {record['type']}"]
    if kind == "hash":
        return ["def __hash__(self) -> int:", "    ..."]
    raise AssertionError(kind)


def _rewrite(bare_stub: str, records: list[dict]) -> str:
    """The bare stub with its fixes, and Tensor's Python members written into its class."""
    # pybind11-stubgen reads an unqualified `dtype` in a signature as numpy's; here it is ours.
    text = bare_stub.replace("numpy.dtype[typing.Any]", "dtype")
    # chainrule's ValueError is both a ValueError and a RuntimeError (module.cpp).
    # numpy as _numpy too: inside class Tensor the name numpy is the Tensor.numpy method.
    text = text.replace(
        "from chainrule import ValueError\n", "import builtins\nimport chainrule._core\nimport numpy as _numpy\n"
    )
    lines = text.splitlines()
    tree = ast.parse(text)
    tensor = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Tensor")
    replaced = {record["name"] for record in records}
    # Drop the C++ members that Python replaces (with their decorators and overloads).
    doomed: set[int] = set()
    for node in tensor.body:
        name = getattr(node, "name", None)
        if name is None and isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        if name in replaced:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            assert node.end_lineno is not None
            doomed.update(range(first - 1, node.end_lineno))
    added = ["    " + line for record in sorted(records, key=lambda r: r["name"]) for line in _member_lines(record)]
    assert tensor.end_lineno is not None
    body = lines[: tensor.end_lineno] + added + lines[tensor.end_lineno :]
    body = [line for index, line in enumerate(body) if index not in doomed]
    tree = _TypeFixes().visit(ast.parse("\n".join(body) + "\n"))
    out = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    # A leaf has no grad_fn, and a tensor no grad until a backward pass writes one.
    out = out.replace("    grad: Tensor\n", "    grad: Tensor | None\n")
    out = out.replace("def grad_fn(self) -> Node:", "def grad_fn(self) -> Node | None:")
    # Tensor's == and != compare elementwise and return a Tensor, as PyTorch's do.
    out = re.sub(r"(def __(?:eq|ne)__\(self.*\) -> Tensor:)", r"\1  # type: ignore[override]", out)
    value_error = (
        "class ValueError(builtins.ValueError, builtins.RuntimeError):\n"
        '    """A bad argument value or shape: both a ValueError and a RuntimeError'
        ' (as PyTorch raises)."""\n'
    )
    out = out.replace("__all__: list[str] = [", value_error + "__all__: list[str] = [", 1)
    return HEADER + out


class _TypeFixes(ast.NodeTransformer):
    """Inside a class, a type named like one of the class's members is spelled in full: builtin
    types as builtins.X (Tensor has methods named int, float and bool) and the module's own
    classes as chainrule._core.X (Tensor has a property named dtype). A parameter whose default
    is None admits None."""

    BUILTIN_TYPES = {"bool", "int", "float", "str", "type"}

    def __init__(self) -> None:
        self.class_members: list[set[str]] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        members = {getattr(n, "name", None) for n in node.body}
        members |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        self.class_members.append({m for m in members if m} | self.BUILTIN_TYPES)
        self.generic_visit(node)
        self.class_members.pop()
        return node

    def _spelled_out(self, name: ast.Name) -> ast.expr:
        if not self.class_members or name.id not in self.class_members[-1]:
            return name
        if name.id in self.BUILTIN_TYPES:
            return ast.Attribute(ast.Name("builtins", ast.Load()), name.id, ast.Load())
        return ast.Attribute(ast.Attribute(ast.Name("chainrule", ast.Load()), "_core", ast.Load()), name.id, ast.Load())

    def _annotation(self, annotation: ast.expr | None) -> ast.expr | None:
        if annotation is None or not self.class_members:
            return annotation
        for node in ast.walk(annotation):
            for field, value in ast.iter_fields(node):
                if isinstance(node, ast.Attribute) and field == "value":
                    continue  # the module in numpy.ndarray, not a type
                if isinstance(value, ast.Name):
                    setattr(node, field, self._spelled_out(value))
                elif isinstance(value, list):
                    value[:] = [self._spelled_out(v) if isinstance(v, ast.Name) else v for v in value]
        return self._spelled_out(annotation) if isinstance(annotation, ast.Name) else annotation

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        arguments = node.args
        positional = arguments.posonlyargs + arguments.args
        defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
        for argument, default in [*zip(positional, defaults), *zip(arguments.kwonlyargs, arguments.kw_defaults)]:
            argument.annotation = self._annotation(argument.annotation)
            admits_none = (
                argument.annotation is None
                or "None" in ast.unparse(argument.annotation)
                or "Any" in ast.unparse(argument.annotation)
            )
            if isinstance(default, ast.Constant) and default.value is None and not admits_none:
                assert argument.annotation is not None
                argument.annotation = ast.BinOp(argument.annotation, ast.BitOr(), ast.Constant(None))
        node.returns = self._annotation(node.returns)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AnnAssign:
        node.annotation = self._annotation(node.annotation) or node.annotation
        return node


def generate() -> str:
    with tempfile.TemporaryDirectory() as workdir:
        bare_stub, bare_members = _bare_stub(_extension_path(), Path(workdir))
    return _rewrite(bare_stub, _python_members(bare_members))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed stub differs")
    args = parser.parse_args()
    stub = generate()
    if args.check:
        if STUB.read_text(encoding="utf-8") != stub:
            print(f"{STUB.relative_to(REPO)} is out of date: run python tools/generate_core_stub.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(stub, encoding="utf-8")
    print(f"wrote {STUB.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
