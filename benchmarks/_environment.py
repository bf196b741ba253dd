"""What every benchmark does before NumPy is imported.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, make NumPy's OpenBLAS pick slower kernels (some
machines set them), and OpenBLAS reads them and its thread count once, when it loads. So a
benchmark calls prepare() first thing: it re-executes the script without those variables
(remembering what it removed, for the report) and pins the BLAS thread count to --threads.
"""

from __future__ import annotations

import os
import sys

SLOW_OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REMOVED_MARKER = "CHAINRULE_BENCH_REMOVED_ENV"


def rerun_without_openblas_overrides() -> None:
    found = [name for name in SLOW_OPENBLAS_VARIABLES if name in os.environ]
    if not found:
        return
    environment = {name: value for name, value in os.environ.items() if name not in found}
    environment[REMOVED_MARKER] = " ".join(f"{name}={os.environ[name]}" for name in found)
    arguments = sys.orig_argv[1:] if hasattr(sys, "orig_argv") else sys.argv
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *arguments], environment)


def threads_from_arguments(default: int = 2) -> int:
    # argparse runs later; the BLAS thread count has to be in the environment before NumPy loads.
    for index, argument in enumerate(sys.argv):
        if argument == "--threads" and index + 1 < len(sys.argv):
            return int(sys.argv[index + 1])
        if argument.startswith("--threads="):
            return int(argument.split("=", 1)[1])
    return default


def prepare(pin_openmp: bool = False) -> None:
    rerun_without_openblas_overrides()
    threads = str(threads_from_arguments())
    os.environ["OPENBLAS_NUM_THREADS"] = threads
    if pin_openmp:
        os.environ["OMP_NUM_THREADS"] = threads


def removed_variables() -> str:
    """'NAME=value ...' of what prepare() removed, or ''."""
    return os.environ.get(REMOVED_MARKER, "")


# After a call, OpenBLAS keeps a worker thread spinning for about 0.1 s (and OpenMP runtimes spin
# briefly too); on a 2-core machine the next library timed would share its cores with that
# spinner. Benchmarks pause this long before each library's block of timed calls.
SETTLE_SECONDS = 0.2


def settle() -> None:
    """Let the previous library's idle threads go to sleep before timing the next one."""
    import time

    time.sleep(SETTLE_SECONDS)


def cpu_model() -> str:
    """The CPU's marketing name (platform.processor() is often empty or only the architecture)."""
    import platform

    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """'CPU model, N CPUs', for the header of every benchmark table."""
    return f"{cpu_model()}, {os.cpu_count()} CPUs"
