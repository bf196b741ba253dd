"""The GPU check's steps (run through benchmarks/gpu_check.sh, which says what it proves).

Each step is recorded in one JSON report: the machine, the build, the import of chainrule._cuda,
the CUDA tests, which cuBLASLt epilogue paths ran, the kernel benchmark and the training-step
benchmark (model and data on the GPU), both against PyTorch CUDA.
A failed step fails the check (exit status 1); later steps that need it are recorded as skipped.

    python benchmarks/gpu_check.py --out DIR [--arch 90] [--no-gpu] [--skip-build]

--no-gpu runs what needs no GPU (the build for --arch, the import, the tests, which then skip
their GPU cases) and records the GPU steps as skipped: for trying this script on a machine without
one. --skip-build tests the chainrule already installed in this Python.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
BUILD_DIR = REPOSITORY / "build" / "gpu-check"
TEST_TIMEOUT_S = 420


class StepFailed(Exception):
    """A step that failed; its message goes into the report."""


def log(message=""):
    print(message, flush=True)


def run_command(command, timeout, **kwargs):
    """Runs command, streaming its output into the log; returns (exit status, output)."""
    log("$ " + " ".join(str(c) for c in command))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    lines = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
        if time.monotonic() > deadline:
            process.kill()
            lines.append(f"\n(killed after {timeout} s)\n")
            break
    return process.wait(), "".join(lines)


# ---- the machine ----------------------------------------------------------------------------------


def query_gpu():
    """nvidia-smi's view of the GPUs: [{name, compute_cap, driver_version, memory_total}], [] if none."""
    if shutil.which("nvidia-smi") is None:
        return []
    fields = "name,compute_cap,driver_version,memory.total"
    result = subprocess.run(
        ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        log(f"nvidia-smi failed: {result.stdout}{result.stderr}")
        return []
    gpus = []
    for line in result.stdout.strip().splitlines():
        name, cap, driver, memory = (part.strip() for part in line.split(","))
        gpus.append({"name": name, "compute_cap": cap, "driver_version": driver, "memory_total": memory})
    return gpus


def find_nvcc():
    for candidate in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise StepFailed("no nvcc: put it on PATH or set CUDACXX")


def nvcc_version(nvcc):
    text = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"release (\d+)\.(\d+)", text)
    if not match:
        raise StepFailed(f"cannot read nvcc's version from: {text!r}")
    return int(match.group(1)), int(match.group(2))


def find_wheel_cublas(major):
    """The nvidia-cublas wheel's root (holding include/cublasLt.h) in this Python, or None."""
    for name in (f"nvidia.cu{major}", "nvidia.cublas"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for directory in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isfile(os.path.join(directory, "include", "cublasLt.h")):
                return directory
    return None


def toolkit_has_cublas(nvcc):
    root = pathlib.Path(nvcc).resolve().parents[1]
    return (root / "include" / "cublasLt.h").is_file() and any(
        (root / lib).glob("libcublasLt.so*") for lib in ("lib64", "lib", "targets/x86_64-linux/lib")
    )


def ensure_cublas(nvcc, major):
    """Where cuBLASLt comes from: the toolkit, else the nvidia-cublas wheel (installed if missing)."""
    if toolkit_has_cublas(nvcc):
        return {"from": "toolkit", "root": None}
    root = find_wheel_cublas(major)
    if root is None:
        package = "nvidia-cublas" if major >= 13 else f"nvidia-cublas-cu{major}"
        log(f"no cuBLASLt in the toolkit or this Python: pip install {package}")
        status, _ = run_command([sys.executable, "-m", "pip", "install", "--quiet", package], timeout=600)
        importlib.invalidate_caches()
        root = find_wheel_cublas(major)
        if status != 0 or root is None:
            raise StepFailed(
                f"could not install {package} (cuBLASLt); without network, bring its wheel and pip install it first"
            )
    return {"from": "nvidia-cublas wheel", "root": root}


# ---- the steps ------------------------------------------------------------------------------------


def step_build(arch, cublas, timeout):
    """pip install of this checkout with CHAINRULE_CUDA=ON for `arch` only, into this Python."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-v",
        "--no-build-isolation",
        "--no-deps",
        "--force-reinstall",
        str(REPOSITORY),
        f"-Cbuild-dir={BUILD_DIR}",
        "-Ccmake.define.CHAINRULE_CUDA=ON",
        f"-Ccmake.define.CMAKE_CUDA_ARCHITECTURES={arch}",
    ]
    if cublas["root"]:
        command.append(f"-Ccmake.define.CHAINRULE_CUBLAS_ROOT={cublas['root']}")
    environment = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
    start = time.monotonic()
    status, output = run_command(command, timeout=timeout, env=environment, cwd=tempfile.gettempdir())
    seconds = time.monotonic() - start
    if status != 0:
        raise StepFailed(f"the build failed (exit status {status}); see the log")
    return {"seconds": round(seconds, 1), "arch": arch, "cublas": cublas}


IMPORT_PROBE = r"""
import json, chainrule, chainrule.cuda
from chainrule import _cuda
print("GPU_CHECK_IMPORT " + json.dumps({
    "chainrule_file": chainrule.__file__, "cuda_module_file": _cuda.__file__,
    "cuda_built": chainrule.config()["cuda_built"], "runtime_version": _cuda.runtime_version(),
    "cublaslt_version": _cuda.cublaslt_version(), "device_count": _cuda.device_count(),
    "is_available": chainrule.cuda.is_available()}))
"""


def step_import(expect_gpu):
    """chainrule._cuda must import (a failure here is the whole point of the check) and see the GPU."""
    # From a directory outside the checkout, so the installed package is the one imported.
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir()
    )
    log(result.stdout + result.stderr)
    found = [line for line in result.stdout.splitlines() if line.startswith("GPU_CHECK_IMPORT ")]
    if result.returncode != 0 or not found:
        raise StepFailed("chainrule._cuda does not import:\n" + result.stderr.strip())
    report = json.loads(found[0].split(" ", 1)[1])
    if not report["cuda_built"]:
        raise StepFailed("chainrule.config()['cuda_built'] is False after a CHAINRULE_CUDA=ON build")
    if expect_gpu and not (report["device_count"] > 0 and report["is_available"]):
        raise StepFailed(f"chainrule._cuda imports but sees no device (device_count {report['device_count']})")
    return report


def step_tests(expect_gpu, out_dir):
    junit = pathlib.Path(out_dir) / "gpu_check_tests.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rfEs",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        str(REPOSITORY / "tests" / "test_cuda.py"),
    ]
    start = time.monotonic()
    status, output = run_command(command, timeout=TEST_TIMEOUT_S, cwd=REPOSITORY)
    report = {"exit_status": status, "seconds": round(time.monotonic() - start, 1)}
    if junit.is_file():
        suite = ElementTree.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        for key in ("tests", "failures", "errors", "skipped"):
            report[key] = int(suite.get(key, 0))
        skipped = [case.get("name") for case in suite.iter("testcase") if case.find("skipped") is not None]
        # Skipped for want of a GPU or of the backend: on a GPU machine, each is a check that did not
        # run. (Tests of the GPU-less behaviour skip where a GPU is present, as they should.)
        skipped_for_no_gpu = [
            case.get("name")
            for case in suite.iter("testcase")
            if case.find("skipped") is not None
            and re.search(r"no CUDA GPU here|built without the CUDA backend", case.find("skipped").get("message", ""))
        ]
        report["skipped_for_no_gpu_count"] = len(skipped_for_no_gpu)
        report["skipped_for_no_gpu"] = skipped_for_no_gpu[:50]
        failed = [
            case.get("name")
            for case in suite.iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None
        ]
        report["failed_tests"] = failed[:50]
        report["skipped_tests"] = skipped[:50]
    if status != 0:
        raise StepFailed(f"tests/test_cuda.py failed (exit status {status})", report)
    if expect_gpu and report.get("skipped_for_no_gpu_count"):
        raise StepFailed(f"{report['skipped_for_no_gpu_count']} CUDA tests skipped on a machine with a GPU", report)
    return report


def step_epilogue_paths():
    """Runs each standard workload's layers once through the fused path and reports what cuBLASLt did."""
    import numpy as np

    import chainrule as cr
    from chainrule import _cuda

    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import bench_cuda_kernels

    rng = np.random.default_rng(0)
    cr.cuda.reset_epilogue_paths()
    for sizes, batch in bench_cuda_kernels.WORKLOADS.values():
        for B, C, OC, _act in bench_cuda_kernels.layers(sizes, batch):
            for dtype in (np.float32, np.float64):
                x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((B, C), (OC, C), (OC,)))
                dout = rng.standard_normal((B, OC)).astype(dtype)
                for activation in ("relu", "gelu_tanh", "identity"):
                    _cuda.dense_forward(x, w, b, _cuda.Activation.__members__[activation])
                _cuda.dense_forward(x, w, b, _cuda.Activation.relu, offset=1)  # an arena slice's alignment
                _cuda.linear_backward(dout, x, w)
    paths = cr.cuda.epilogue_paths()
    for p in paths:
        log(
            f"  {p['site']:>15} {p['epilogue']:>9} {p['dtype']}: fused {p['fused']:3d}, fallback {p['fallback']:3d}"
            + (f" (last refusal: {p['last_refusal']})" if p["last_refusal"] else "")
        )
    return paths


def step_benchmark():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import bench_cuda_kernels

    try:
        import torch

        torch_version = torch.__version__ if torch.cuda.is_available() else None
    except ImportError:
        torch_version = None
    rows = bench_cuda_kernels.run(list(bench_cuda_kernels.WORKLOADS), log=lambda line: log("  " + line))
    return {"torch": torch_version, "rows": rows}


TRAINING_WORKLOADS = ("seed", "mnist", "mlp", "wide")
TRAINING_SECONDS = 3.0  # per library and workload, after the warm-up
TRAINING_MAX_STEPS = 2000


def time_training_steps(step, synchronize):
    """Seconds per step of `step` after a warm-up: as many steps as fit in TRAINING_SECONDS."""
    for _ in range(5):
        step()
    synchronize()
    steps, start = 0, time.perf_counter()
    while steps < TRAINING_MAX_STEPS and time.perf_counter() - start < TRAINING_SECONDS:
        for _ in range(10):
            step()
        steps += 10
        synchronize()
    return (time.perf_counter() - start) / steps


def step_training_benchmark():
    """One SGD training step of the standard workloads with model and data on the GPU: chainrule
    against PyTorch CUDA eager (the same initial parameters and data) when torch sees a GPU."""
    import numpy as np

    import chainrule as cr

    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import bench_mlp

    try:
        import torch

        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    rows = []
    for name in TRAINING_WORKLOADS:
        workload = bench_mlp.WORKLOADS[name]
        X, target = bench_mlp.make_data(workload, np.float32)
        # bench_mlp's model: Linear + ReLU layers of the workload's sizes, SGD, float32.
        cr.manual_seed(0)
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
            layers.append(cr.nn.Linear(fan_in, fan_out))
            if index < len(workload.sizes) - 2:
                layers.append(cr.nn.ReLU())
        model = cr.nn.Sequential(*layers)
        initial = [p.detach().numpy().copy() for p in model.parameters()]
        model.to("cuda")
        criterion = cr.nn.MSELoss() if workload.loss == "mse" else cr.nn.CrossEntropyLoss()
        optimizer = cr.optim.SGD(model.parameters(), lr=bench_mlp.LEARNING_RATE)
        x, y = cr.from_numpy(X).to("cuda"), cr.from_numpy(target).to("cuda")

        def chainrule_step(model=model, criterion=criterion, optimizer=optimizer, x=x, y=y):
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        first_loss = float(chainrule_step().item())
        row = {"workload": name, "layers": workload.layers, "batch": workload.batch, "first_loss": first_loss}
        row["chainrule_ms"] = 1e3 * time_training_steps(chainrule_step, cr.cuda.synchronize)
        if torch is not None:
            layers = []
            for index, (fan_in, fan_out) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
                layers.append(torch.nn.Linear(fan_in, fan_out))
                if index < len(workload.sizes) - 2:
                    layers.append(torch.nn.ReLU())
            torch_model = torch.nn.Sequential(*layers).cuda()
            with torch.no_grad():
                for parameter, value in zip(torch_model.parameters(), initial):
                    parameter.copy_(torch.from_numpy(value))
            torch_criterion = torch.nn.MSELoss() if workload.loss == "mse" else torch.nn.CrossEntropyLoss()
            torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=bench_mlp.LEARNING_RATE)
            tx, ty = torch.from_numpy(X).cuda(), torch.from_numpy(target).cuda()

            def torch_step(
                torch_model=torch_model, torch_criterion=torch_criterion, torch_optimizer=torch_optimizer, tx=tx, ty=ty
            ):
                loss = torch_criterion(torch_model(tx), ty)
                torch_optimizer.zero_grad()
                loss.backward()
                torch_optimizer.step()
                return loss

            row["torch_first_loss"] = float(torch_step().item())
            row["torch_ms"] = 1e3 * time_training_steps(torch_step, torch.cuda.synchronize)
            row["speedup_vs_torch"] = row["torch_ms"] / row["chainrule_ms"]
        log(
            f"  {name:>6} {workload.layers:>20} B={workload.batch:<4} chainrule {row['chainrule_ms']:8.3f} ms"
            + (
                f"  torch {row['torch_ms']:8.3f} ms  x{row['speedup_vs_torch']:.2f}"
                f"  (first loss {first_loss:.6g} vs {row['torch_first_loss']:.6g})"
                if "torch_ms" in row
                else "  (no PyTorch CUDA)"
            )
        )
        rows.append(row)
    return {"torch": torch.__version__ if torch is not None else None, "rows": rows}


# ---- the report -----------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for gpu_check.json")
    parser.add_argument("--arch", help="CUDA architecture to build for (default: nvidia-smi's compute capability)")
    parser.add_argument("--no-gpu", action="store_true", help="run only the steps that need no GPU")
    parser.add_argument("--skip-build", action="store_true", help="test the chainrule already installed")
    parser.add_argument("--build-timeout", type=int, default=900, help="seconds the build may take (default 900)")
    args = parser.parse_args(argv)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "no_gpu": args.no_gpu,
        "steps": {},
    }
    expect_gpu = not args.no_gpu

    def record(name, function, *function_args, needs=()):
        missing = [n for n in needs if report["steps"].get(n, {}).get("status") != "passed"]
        if missing:
            report["steps"][name] = {"status": "skipped", "reason": "needs " + ", ".join(missing)}
            log(f"== {name}: skipped (needs {', '.join(missing)})")
            return None
        log(f"== {name}")
        start = time.monotonic()
        try:
            result = function(*function_args)
            entry = {"status": "passed", "result": result}
        except StepFailed as failure:
            entry = {"status": "failed", "error": failure.args[0]}
            if len(failure.args) > 1:
                entry["result"] = failure.args[1]
        except Exception as error:  # noqa: BLE001 - any crash of a step is a failed step, with its traceback
            entry = {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
        entry["seconds"] = round(time.monotonic() - start, 1)
        report["steps"][name] = entry
        log(f"== {name}: {entry['status'].upper()}" + (f": {entry['error']}" if "error" in entry else ""))
        return entry.get("result")

    def machine():
        gpus = query_gpu()
        if expect_gpu and not gpus:
            raise StepFailed("nvidia-smi reports no GPU (run with --no-gpu to check the rest without one)")
        arch = args.arch or (gpus[0]["compute_cap"].replace(".", "") if gpus else None)
        if not arch:
            raise StepFailed("no GPU to take the architecture from: pass --arch")
        nvcc = find_nvcc()
        major, minor = nvcc_version(nvcc)
        return {
            "gpus": gpus,
            "arch": arch,
            "nvcc": nvcc,
            "nvcc_version": f"{major}.{minor}",
            "cpu_count": os.cpu_count(),
        }

    info = record("machine", machine)
    if args.skip_build:
        report["steps"]["build"] = {"status": "passed", "result": "skipped by --skip-build"}
    else:

        def build():
            major = int(info["nvcc_version"].split(".")[0])
            return step_build(info["arch"], ensure_cublas(info["nvcc"], major), args.build_timeout)

        record("build", build, needs=("machine",))
    record("import", step_import, expect_gpu, needs=("build",))
    record("tests", step_tests, expect_gpu, out_dir, needs=("import",))
    if expect_gpu:
        record("epilogue_paths", step_epilogue_paths, needs=("import",))
        record("benchmark", step_benchmark, needs=("import",))
        record("training_benchmark", step_training_benchmark, needs=("import",))
    else:
        for name in ("epilogue_paths", "benchmark", "training_benchmark"):
            report["steps"][name] = {"status": "skipped", "reason": "--no-gpu"}
            log(f"== {name}: skipped (--no-gpu)")

    report["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report["ok"] = all(step["status"] != "failed" for step in report["steps"].values())
    path = out_dir / "gpu_check.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    log(
        f"\nGPU check {'PASSED' if report['ok'] else 'FAILED'}: "
        + ", ".join(f"{name} {step['status']}" for name, step in report["steps"].items())
    )
    log(f"report: {path}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
