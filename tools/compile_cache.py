"""A compiler launcher that keeps the last object of each source in the build directory.

Why: `pip install .` builds in a new, temporarily named environment each time, and scikit-build-core
then deletes the build directory's CMakeFiles/ (where CMake keeps the object files) before it
configures again. Without a cache, `pip install ".[test]"` after `pip install .` recompiles every
file. CMakeLists.txt puts this script in front of the C++ compiler (unless another launcher, such
as ccache, is configured), with a cache directory outside CMakeFiles/.

    python compile_cache.py CACHE_DIR COMPILER ARGS...

For a compile (`-c ... -o OBJ`), the key is a hash of the compiler (path, size, mtime), its
arguments with the output paths left out, and the preprocessed source (so any header change
misses). The cache holds one entry per object path, so it never grows beyond one copy of the
build's objects. A hit restores the object and its dependency file; anything else runs the
compiler unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

# Options whose next argument is an output path: left out of the key and of the preprocessing run.
_OUTPUT_OPTIONS = {"-o", "-MF", "-MT", "-MQ"}
_DEPENDENCY_FLAGS = {"-MD", "-MMD"}


def _run(command: list[str]) -> int:
    return subprocess.call(command)


def _split(args: list[str]):
    """(the arguments without output paths and dependency flags, {option: path})."""
    kept, outputs = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _OUTPUT_OPTIONS and i + 1 < len(args):
            outputs[arg] = args[i + 1]
            i += 2
            continue
        if arg not in _DEPENDENCY_FLAGS:
            kept.append(arg)
        i += 1
    return kept, outputs


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        sys.stderr.write("usage: compile_cache.py CACHE_DIR COMPILER ARGS...\n")
        return 2
    cache_dir, compiler, args = argv[0], argv[1], argv[2:]
    command = [compiler, *args]
    kept, outputs = _split(args)
    obj = outputs.get("-o")
    if "-c" not in args or obj is None or "-E" in args:
        return _run(command)

    # What the compiler sees: its identity, its flags and the source after the preprocessor.
    digest = hashlib.sha256()
    try:
        stat = os.stat(shutil.which(compiler) or compiler)
        digest.update(f"{compiler}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    except OSError:
        return _run(command)
    digest.update("\0".join(kept).encode())
    preprocess = [compiler, *(a for a in kept if a != "-c"), "-E"]
    result = subprocess.run(preprocess, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if result.returncode != 0:
        return _run(command)  # let the real compile report the error
    digest.update(result.stdout)
    key = digest.hexdigest()

    entry = os.path.join(cache_dir, hashlib.sha1(os.path.abspath(obj).encode()).hexdigest())
    depfile = outputs.get("-MF")
    try:
        with open(entry + ".key") as f:
            hit = f.read() == key
    except OSError:
        hit = False
    if hit and os.path.exists(entry + ".o") and (depfile is None or os.path.exists(entry + ".d")):
        shutil.copyfile(entry + ".o", obj)
        if depfile is not None:
            shutil.copyfile(entry + ".d", depfile)
        return 0

    status = _run(command)
    if status == 0:
        os.makedirs(cache_dir, exist_ok=True)
        # The key last: an entry whose key is written is complete.
        if os.path.exists(entry + ".key"):
            os.remove(entry + ".key")
        shutil.copyfile(obj, entry + ".o")
        if depfile is not None and os.path.exists(depfile):
            shutil.copyfile(depfile, entry + ".d")
        with open(entry + ".key", "w") as f:
            f.write(key)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
