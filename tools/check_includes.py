"""Check that chainrule's C++ includes point one way: base -> cpu/cuda -> core -> ops -> bindings.

Every file under csrc/ belongs to one layer (LAYERS below, first matching prefix wins). A file may
include, with #include "...", only headers of its own layer and of the layers it is allowed to
see (MAY_INCLUDE). System and third-party headers (#include <...>) are not checked. Exits 1 and
names each wrong arrow.

    python tools/check_includes.py
"""

from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"

# (path prefix relative to csrc/, layer); first match wins, so specific files come first.
LAYERS = [
    ("include/chainrule/errors.h", "base"),
    ("include/chainrule/numeric.h", "base"),
    ("include/chainrule/types.h", "base"),
    ("include/chainrule/kernel_types.h", "base"),
    ("include/chainrule/activation_math.h", "base"),
    ("include/chainrule/device.h", "base"),
    ("include/chainrule/kernels.h", "cpu"),
    ("include/chainrule/gemm.h", "cpu"),
    ("include/chainrule/cuda_kernels.h", "cuda"),
    ("include/chainrule/tensor.h", "core"),
    ("include/chainrule/autograd.h", "core"),
    ("include/chainrule/letting_others_run.h", "core"),
    ("include/chainrule/workspace.h", "core"),
    ("include/chainrule/generator.h", "core"),
    ("include/chainrule/device_memory.h", "core"),
    ("include/chainrule/", "ops"),
    ("cpu/", "cpu"),
    ("cuda/", "cuda"),
    ("core/", "core"),
    ("ops/", "ops"),
    ("bindings/cuda/", "cuda_bindings"),
    ("bindings/", "bindings"),
]

# What each layer may include besides itself. Kernels (cpu, cuda) see only the neutral base; the
# bindings convert arguments and call ops, so they see no kernel header.
MAY_INCLUDE = {
    "base": set(),
    "cpu": {"base"},
    "cuda": {"base"},
    "core": {"base", "cpu"},
    "ops": {"base", "cpu", "core"},
    "bindings": {"base", "core", "ops"},
    "cuda_bindings": {"base", "core", "ops", "cuda", "bindings"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_SUFFIXES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"}


def layer_of(relative: str) -> str | None:
    for prefix, layer in LAYERS:
        if relative.startswith(prefix):
            return layer
    return None


def resolve(including: pathlib.Path, name: str) -> pathlib.Path | None:
    """The file an #include "name" means: beside the including file, or under csrc/include or csrc."""
    for base in (including.parent, CSRC / "include", CSRC):
        candidate = (base / name).resolve()
        if candidate.is_file():
            return candidate
    return None


def main() -> int:
    problems = []
    for path in sorted(CSRC.rglob("*")):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(CSRC).as_posix()
        layer = layer_of(relative)
        if layer is None:
            problems.append(f"csrc/{relative}: belongs to no layer (add it to LAYERS in {pathlib.Path(__file__).name})")
            continue
        for name in INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
            target = resolve(path, name)
            if target is None:
                problems.append(f'csrc/{relative}: includes "{name}", which is not in the tree')
                continue
            target_layer = layer_of(target.relative_to(CSRC).as_posix())
            if target_layer != layer and target_layer not in MAY_INCLUDE[layer]:
                problems.append(
                    f'csrc/{relative} ({layer}) includes "{name}" ({target_layer}): '
                    f"{layer} may include only {', '.join(sorted(MAY_INCLUDE[layer] | {layer}))}"
                )
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} include(s) point the wrong way (see tools/check_includes.py)")
        return 1
    print("includes point one way: base -> cpu/cuda -> core -> ops -> bindings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
