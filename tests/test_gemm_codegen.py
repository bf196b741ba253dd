"""The GEMM micro-kernels' hot loops keep their accumulators in registers.

A register tile is only fast while every accumulator stays in a register across the k-loop. If the
compiler gives up on that (for example because a loop around the k-loop indexes the accumulator
array with a run-time row), each k-step stores the tile to the stack and reloads it: still correct,
so no numerical test notices, but the kernel runs at half of the FMA peak or less. These tests
compile each per-ISA kernel file the way CMakeLists.txt does, disassemble it, and check that no
innermost loop containing FMAs moves a vector register to or from the stack.

Skipped where no C++ compiler or objdump is found. Compiling needs no AVX-512 hardware.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
ISA_FLAGS = {  # as CMakeLists.txt compiles the per-ISA sources
    "gemm_avx2.cpp": ["-mavx2", "-mfma"],
    "gemm_avx512.cpp": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mavx2"],
}
X86_VECTOR = re.compile(r"%[yz]mm\d+")
STACK_OPERAND = re.compile(r"\(%(rsp|rbp)[,)]")
INSTRUCTION = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")
BRANCH_TARGET = re.compile(r"^([0-9a-f]+)\b")


def _tool(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def compile_and_disassemble(source: str, compiler: str, flags: list[str], tmp_path, objdump: str) -> str:
    obj = tmp_path / (pathlib.Path(source).stem + ".o")
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O3",
            "-fPIC",
            "-fno-math-errno",
            *flags,
            f"-I{REPOSITORY / 'csrc' / 'include'}",
            f"-I{REPOSITORY / 'csrc'}",
            "-c",
            str(REPOSITORY / "csrc" / "cpu" / "isa" / source),
            "-o",
            str(obj),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", "-C", str(obj)], check=True, capture_output=True, text=True
    ).stdout


def functions(disassembly: str):
    """{name: [(address, mnemonic, operands)]} for every function in an objdump listing."""
    result, current = {}, None
    for line in disassembly.splitlines():
        header = FUNCTION.match(line)
        if header:
            current = result.setdefault(header.group(1), [])
            continue
        instruction = INSTRUCTION.match(line)
        if instruction and current is not None:
            current.append((int(instruction.group(1), 16), instruction.group(2), instruction.group(3)))
    return result


def innermost_fma_loops(body):
    """The [start, end] address ranges of loops (a backward branch to an earlier address) that
    contain an FMA and no smaller such loop inside them."""
    loops = []
    for address, mnemonic, operands in body:
        if not mnemonic.startswith("j"):
            continue
        target = BRANCH_TARGET.match(operands)
        if target and int(target.group(1), 16) < address:
            start = int(target.group(1), 16)
            if any(start <= a <= address and m.startswith("vfmadd") for a, m, _ in body):
                loops.append((start, address))
    return [(s, e) for s, e in loops if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in loops)]


def stack_vector_moves(body, start, end):
    return [
        f"{a:x}: {m} {ops}"
        for a, m, ops in body
        if start <= a <= end and X86_VECTOR.search(ops) and STACK_OPERAND.search(ops)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(ISA_FLAGS))
def test_micro_kernel_hot_loops_keep_accumulators_in_registers(source, tmp_path):
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(
            "this machine is not x86-64: the AVX2/AVX-512 kernels whose machine code this test reads "
            "are compiled only there"
        )
    compiler = _tool("g++", "c++", "clang++")
    objdump = _tool("objdump")
    if compiler is None or objdump is None:
        pytest.skip(
            "no C++ compiler (g++, c++ or clang++) or no objdump on PATH: this test compiles the "
            "kernels and reads their machine code (apt-get install g++ binutils)"
        )
    listing = compile_and_disassemble(source, compiler, ISA_FLAGS[source], tmp_path, objdump)
    tiles = {name: body for name, body in functions(listing).items() if "tile<" in name}
    assert tiles, f"no tile functions found in the disassembly of {source}"
    checked, spilling = 0, {}
    for name, body in tiles.items():
        for start, end in innermost_fma_loops(body):
            checked += 1
            moves = stack_vector_moves(body, start, end)
            if moves:
                spilling[name] = moves[:6]
    assert checked >= 8, f"found only {checked} FMA loops in {source}; the check no longer sees the kernels"
    assert not spilling, (
        f"{source}: these tiles move vector registers through the stack inside their k-loop "
        f"(accumulators spilled):\n" + "\n".join(f"{n}\n    " + "\n    ".join(m) for n, m in spilling.items())
    )
