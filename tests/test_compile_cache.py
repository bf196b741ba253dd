"""tools/compile_cache.py, the launcher that keeps objects across pip's isolated builds: a second
identical compile is served from the cache, and any change the compiler would see misses."""

import os
import pathlib
import subprocess
import sys

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = REPOSITORY / "tools" / "compile_cache.py"

# A stand-in compiler: `-E` prints the source with its header inlined (as a preprocessor would);
# a compile appends a line to compiles.log and writes the object and the dependency file.
FAKE_COMPILER = """\
import pathlib, sys
args = sys.argv[1:]
source = pathlib.Path(next(a for a in args if a.endswith(".c")))
text = source.read_text().replace('#include "h.h"', (source.parent / "h.h").read_text())
flags = " ".join(a for a in args if a.startswith("-D"))
if "-E" in args:
    print(flags + text)
    sys.exit(0)
with open(source.parent / "compiles.log", "a") as log:
    log.write("compile\\n")
out = args[args.index("-o") + 1]
pathlib.Path(out).write_text("object of " + flags + text)
if "-MF" in args:
    pathlib.Path(args[args.index("-MF") + 1]).write_text(out + ": " + str(source) + "\\n")
"""


@pytest.fixture
def project(tmp_path):
    compiler = tmp_path / "fakecc"
    compiler.write_text(f"#!{sys.executable}\n" + FAKE_COMPILER)
    compiler.chmod(0o755)
    (tmp_path / "h.h").write_text("int h;\n")
    (tmp_path / "a.c").write_text('#include "h.h"\nint a;\n')
    return tmp_path, compiler


def _compile(project_dir, compiler, *flags):
    out, dep = project_dir / "a.o", project_dir / "a.o.d"
    for path in (out, dep):
        path.unlink(missing_ok=True)  # as after scikit-build-core clears CMakeFiles/
    subprocess.run(
        [
            sys.executable,
            str(LAUNCHER),
            str(project_dir / "cache"),
            str(compiler),
            *flags,
            "-MD",
            "-MT",
            str(out),
            "-MF",
            str(dep),
            "-o",
            str(out),
            "-c",
            str(project_dir / "a.c"),
        ],
        check=True,
    )
    compiles = (project_dir / "compiles.log").read_text().count("compile")
    return out.read_text(), dep.read_text(), compiles


def test_an_identical_compile_is_served_from_the_cache(project):
    project_dir, compiler = project
    first = _compile(project_dir, compiler, "-DX=1")
    second = _compile(project_dir, compiler, "-DX=1")
    assert first[2] == 1 and second[2] == 1  # the compiler ran once
    assert second[:2] == first[:2]  # the same object and dependency file


@pytest.mark.parametrize("change", ["header", "flags"])
def test_what_the_compiler_would_see_differently_misses(project, change):
    project_dir, compiler = project
    _compile(project_dir, compiler, "-DX=1")
    if change == "header":
        (project_dir / "h.h").write_text("int h2;\n")
        obj, _, compiles = _compile(project_dir, compiler, "-DX=1")
        assert "h2" in obj
    else:
        obj, _, compiles = _compile(project_dir, compiler, "-DX=2")
        assert "-DX=2" in obj
    assert compiles == 2


def test_anything_but_a_compile_runs_the_compiler_unchanged(project):
    project_dir, compiler = project
    out = subprocess.run(
        [sys.executable, str(LAUNCHER), str(project_dir / "cache"), str(compiler), "-E", str(project_dir / "a.c")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "int h;" in out.stdout
    assert not (project_dir / "compiles.log").exists()
    assert not os.path.exists(project_dir / "cache")
