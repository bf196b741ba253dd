"""Time one training step of the standard MLP workloads: chainrule against NumPy and PyTorch.

A step is what a PyTorch training loop does per batch: forward, loss, zero_grad, backward, SGD step.
The standard workloads:

    seed   10-5-1 ReLU,              batch 100, MSE
    mnist  784-256-10 ReLU,          batch 128, cross-entropy
    mlp    784-512-512-10 ReLU,      batch 256, cross-entropy
    wide   1024-4096-4096-1024 ReLU, batch 512, MSE

and two models of benchmarks/_models.py, trained with AdamW (chainrule and PyTorch only: the NumPy
baseline and the JAX step are the plain ReLU stack):

    tabular  64-512-512-1, BatchNorm1d + ReLU + Dropout(0.1) after each hidden Linear, batch 256, MSE
    deep     20 x (Linear 128 + LayerNorm + GELU) and a 10-class head, batch 128, cross-entropy

Columns: chainrule (PyTorch-style code), the NumPy baseline (python/chainrule/baseline.py, the seed's
equations with NumPy arrays), PyTorch eager when it is importable, and JAX with the whole step
(forward, loss, gradients, SGD update) under one jax.jit when jax is importable (never a dependency).
All run in one process with the same thread count, interleaved in rounds so that a noisy machine
slows them alike; the table gives median step times and the ratios t(peer)/t(chainrule) (above 1:
chainrule faster), each the median over the turns of the two libraries' back-to-back blocks. The
header names the machine: CPU model, chainrule's ISA path, threads and the peers' versions, with
the kernel OpenBLAS chose (threadpoolctl).

    python benchmarks/bench_mlp.py                       # all workloads, 2 threads, float32
    python benchmarks/bench_mlp.py --workloads seed,mnist --threads 1 --json results.json
    python benchmarks/bench_mlp.py --workloads tabular,deep

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, make NumPy's OpenBLAS pick slower kernels, so the
script runs itself again without them and reports which kernel OpenBLAS chose (with threadpoolctl).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _environment  # noqa: E402  (before NumPy: see its docstring)

    _environment.prepare(pin_openmp=False)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

import _models  # noqa: E402

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
LIBRARIES = ("chainrule", "numpy", "torch", "jax")
LEARNING_RATE = 1e-3  # small, so thousands of steps on fixed data neither diverge nor reach NaN
_blas_limits = None  # threadpoolctl's limit on NumPy's BLAS threads, held for the whole run


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    batch: int
    loss: str  # "mse" or "cross_entropy"
    model: _models.ModelSpec | None = None  # None: Linear + ReLU layers of `sizes`, trained with SGD

    @property
    def flop(self) -> int:
        """Nominal FLOP per step: three GEMMs (forward, input gradient, weight gradient) of 2 B in out per Linear layer."""
        shapes = self.model.linear_shapes if self.model else list(zip(self.sizes[:-1], self.sizes[1:]))
        return 3 * 2 * self.batch * sum(a * b for a, b in shapes)

    @property
    def layers(self) -> str:
        return self.model.description if self.model else "-".join(map(str, self.sizes))


def _model_workload(spec: _models.ModelSpec) -> Workload:
    return Workload(spec.name, (spec.features, spec.outputs), spec.batch, spec.loss, spec)


WORKLOADS = {
    w.name: w
    for w in (
        Workload("seed", (10, 5, 1), 100, "mse"),
        Workload("mnist", (784, 256, 10), 128, "cross_entropy"),
        Workload("mlp", (784, 512, 512, 10), 256, "cross_entropy"),
        Workload("wide", (1024, 4096, 4096, 1024), 512, "mse"),
        *(_model_workload(spec) for spec in _models.MODELS.values()),
    )
}


@dataclass
class Runner:
    """One library's training step on one workload; step() returns the loss as that library gives it."""

    library: str
    step: Callable[[], object]
    first_loss: float
    initial_parameters: list[np.ndarray] | None = None  # the NumPy model's, which torch copies


def _load_baseline():
    # By path, not `from chainrule import baseline`: the package import needs the compiled core,
    # and the NumPy column must work without it.
    path = REPOSITORY / "python" / "chainrule" / "baseline.py"
    spec = importlib.util.spec_from_file_location("chainrule_baseline_for_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_data(workload: Workload, dtype: np.dtype):
    """X (B, in) and the target: (B, out) floats for MSE, (B,) int64 class indices for cross-entropy."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((workload.batch, workload.sizes[0])).astype(dtype)
    if workload.loss == "cross_entropy":
        target = rng.integers(0, workload.sizes[-1], size=workload.batch, dtype=np.int64)
    else:
        target = rng.standard_normal((workload.batch, workload.sizes[-1])).astype(dtype)
    return X, target


def make_numpy_runner(baseline, workload: Workload, dtype: np.dtype, X, target) -> Runner:
    model = baseline.MLP.from_sizes(list(workload.sizes), "relu", dtype=dtype, rng=0)
    initial = [p.copy() for p in model.parameters()]

    def step():
        return model.train_step(X, target, workload.loss, lr=LEARNING_RATE)

    return Runner("numpy", step, float(step()), initial_parameters=initial)


def make_torch_runner(torch, workload: Workload, dtype: np.dtype, X, target, initial_parameters) -> Runner:
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out, dtype=torch_dtype))
        if index < len(workload.sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for parameter, value in zip(model.parameters(), initial_parameters):
            parameter.copy_(torch.from_numpy(value))
    criterion = torch.nn.MSELoss() if workload.loss == "mse" else torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(X), torch.from_numpy(target)

    def step():
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return Runner("torch", step, float(step().item()))


def make_jax_runner(jax, workload: Workload, dtype: np.dtype, X, target, initial_parameters) -> Runner:
    """The step as JAX users write it: a pure function of (parameters, batch) under jax.jit that
    returns the updated parameters and the loss. The parameters stay on the device between steps."""
    jnp = jax.numpy
    if dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    layers = len(workload.sizes) - 1

    def loss_of(parameters, x, y):
        a = x
        for index in range(layers):
            weight, bias = parameters[2 * index], parameters[2 * index + 1]
            a = a @ weight.T + bias
            if index < layers - 1:
                a = jnp.maximum(a, 0)
        if workload.loss == "mse":
            return jnp.mean((a - y) ** 2)
        log_probabilities = jax.nn.log_softmax(a, axis=-1)
        return -jnp.mean(jnp.take_along_axis(log_probabilities, y[:, None], axis=-1))

    @jax.jit
    def train_step(parameters, x, y):
        loss, grads = jax.value_and_grad(loss_of)(parameters, x, y)
        return [p - LEARNING_RATE * g for p, g in zip(parameters, grads)], loss

    state = {"parameters": [jnp.asarray(p) for p in initial_parameters]}
    x, y = jnp.asarray(X), jnp.asarray(target)

    def step():
        state["parameters"], loss = train_step(state["parameters"], x, y)
        return loss.block_until_ready()

    return Runner("jax", step, float(step()))


def make_model_runners(chainrule, torch, workload: Workload, dtype: np.dtype, X, target) -> list[Runner]:
    """chainrule and PyTorch on a _models workload: the same modules from the same weights, AdamW."""
    import chainrule.nn as nn
    import chainrule.optim as optim

    chainrule.manual_seed(0)
    model = _models.build(nn, workload.model)
    if dtype == np.float64:
        model = model.double()
    criterion = nn.MSELoss() if workload.loss == "mse" else nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    x, y = chainrule.from_numpy(X), chainrule.from_numpy(target)

    def step():
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    runners = []
    if torch is not None:
        torch_model = _models.build(torch.nn, workload.model)
        if dtype == np.float64:
            torch_model = torch_model.double()
        _models.copy_state(torch, torch_model, model)
        torch_criterion = torch.nn.MSELoss() if workload.loss == "mse" else torch.nn.CrossEntropyLoss()
        torch_optimizer = torch.optim.AdamW(torch_model.parameters(), lr=LEARNING_RATE)
        tx, ty = torch.from_numpy(X), torch.from_numpy(target)

        def torch_step():
            loss = torch_criterion(torch_model(tx), ty)
            torch_optimizer.zero_grad()
            loss.backward()
            torch_optimizer.step()
            return loss

        runners.append(Runner("torch", torch_step, float(torch_step().item())))
    runners.insert(0, Runner("chainrule", step, float(step().item())))
    return runners


def make_chainrule_runner(chainrule, workload: Workload, dtype: np.dtype, X, target) -> Runner:
    import chainrule.nn as nn
    import chainrule.optim as optim

    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
        if dtype == np.float64:
            layers.append(nn.Linear(fan_in, fan_out, dtype=chainrule.float64))
        else:
            layers.append(nn.Linear(fan_in, fan_out))
        if index < len(workload.sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    criterion = nn.MSELoss() if workload.loss == "mse" else nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x, y = chainrule.from_numpy(X), chainrule.from_numpy(target)  # zero-copy views

    def step():
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return Runner("chainrule", step, float(step().item()))


# Runs in a fresh process so its peak resident size (VmHWM, which never goes down) sees only the
# training loop: the peak before the model exists is the baseline, the peak after a few steps
# includes parameters, gradients, activations and whatever else the loop allocates. VmHWM rather
# than getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec,
# so a child of this (large) benchmark process would start at the parent's peak.
_PEAK_MEMORY_SCRIPT = """
import json, sys
import numpy as np
import chainrule, chainrule.nn as nn, chainrule.optim as optim
sizes, batch, loss_name, dtype_name, threads, steps = json.loads(sys.argv[1])
chainrule.set_num_threads(threads)
dtype = np.dtype(dtype_name)
rng = np.random.default_rng(0)
X = rng.standard_normal((batch, sizes[0])).astype(dtype)
target = rng.standard_normal((batch, sizes[-1])).astype(dtype)
x, y = chainrule.from_numpy(X), chainrule.from_numpy(target)
def maxrss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
before = maxrss_bytes()
layers = []
for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
    layers.append(nn.Linear(fan_in, fan_out, dtype=chainrule.float64 if dtype == np.float64 else chainrule.float32))
    if index < len(sizes) - 2:
        layers.append(nn.ReLU())
model = nn.Sequential(*layers)
criterion = nn.MSELoss() if loss_name == "mse" else nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=1e-3)
for _ in range(steps):
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(json.dumps({"before": before, "after": maxrss_bytes()}))
"""


def chainrule_peak_memory(workload: Workload, dtype: np.dtype, threads: int, steps: int = 3) -> dict:
    """Peak-memory growth of chainrule's training loop against what the step has to hold:
    parameters + gradients (2 x parameter bytes) + one activation per layer output (batch x width)."""
    import subprocess

    arguments = json.dumps([list(workload.sizes), workload.batch, workload.loss, str(dtype), threads, steps])
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_SCRIPT, arguments], capture_output=True, text=True, check=True
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    sizes = workload.sizes
    parameters = sum(fan_out * (fan_in + 1) for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))
    activations = workload.batch * sum(sizes[1:])
    needed = (2 * parameters + activations) * dtype.itemsize
    growth = measured["after"] - measured["before"]
    return {
        "workload": workload.name,
        "maxrss_growth_bytes": growth,
        "needed_bytes": needed,
        "ratio": growth / needed,
        "steps": steps,
    }


# Steps per library at most (a 7 us seed step fills --seconds with about 200,000) and turns per
# library: blocks of similar length for every library, however fast its step.
MAX_STEPS = 200_000
MAX_ROUNDS = 25


def _default_steps(estimate: float, seconds_per_library: float) -> int:
    """About seconds_per_library worth of steps; fewer, down to one, for a step of seconds."""
    fewest = 5 if estimate < 0.2 else 3 if estimate < 5 else 1
    return max(fewest, min(MAX_STEPS, round(seconds_per_library / estimate)))


def time_runners(runners: list[Runner], repeat: int | None, seconds_per_library: float) -> dict[str, dict]:
    """Median and minimum step time per library, in seconds.

    Each library times its own number of steps (--repeat, or about seconds_per_library worth), so a
    slow column does not stretch the others. The libraries take turns in rounds, a block of steps
    each, so that a slow spell of a shared machine lands on all of them; when steps are short the
    first step of a block is not timed, since it pays for the caches the previous library evicted.
    Every runner has already run one step (its first loss), which warmed allocators and thread pools.
    """
    samples: dict[str, list[float]] = {}
    steps: dict[str, int] = {}
    rewarm: dict[str, bool] = {}
    turns: dict[str, list[float]] = {runner.library: [] for runner in runners}
    for runner in runners:
        start = time.perf_counter()
        runner.step()
        estimate = time.perf_counter() - start
        steps[runner.library] = repeat or _default_steps(estimate, seconds_per_library)
        rewarm[runner.library] = estimate < 0.01
        # A long step is its own warm-up's equal: keep it rather than pay for another.
        samples[runner.library] = [estimate] if estimate > 0.1 else []
    # Up to MAX_ROUNDS turns of a few tens of milliseconds each: a shared machine's slow spells
    # last seconds, and with a few long turns one library could sit out a spell another caught.
    rounds = min(MAX_ROUNDS, max(steps.values()))
    for round_index in range(rounds):
        for runner in runners:
            wanted = steps[runner.library] - len(samples[runner.library])
            block = math.ceil(wanted / (rounds - round_index)) if wanted > 0 else 0
            if block:
                _environment.settle()  # the previous library's idle threads stop spinning first
            if block and rewarm[runner.library]:
                runner.step()
            for _ in range(block):
                start = time.perf_counter()
                runner.step()
                samples[runner.library].append(time.perf_counter() - start)
            if block:
                turns[runner.library].append(statistics.median(samples[runner.library][-block:]))
    return {
        library: {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "steps": len(times),
            "turn_medians_s": turns[library],
        }
        for library, times in samples.items()
    }


def paired_ratio(peer: dict | None, ours: dict | None) -> float | None:
    """t(peer) / t(chainrule): the median of the turns' ratios when both took the same turns (each
    pair ran back to back, so a slow spell of the machine slows both halves of the pairs it
    covers), else the ratio of the medians."""
    if peer is None or ours is None:
        return None
    a, b = peer.get("turn_medians_s", []), ours.get("turn_medians_s", [])
    if len(a) == len(b) >= 3:
        return statistics.median(x / y for x, y in zip(a, b))
    return peer["median_s"] / ours["median_s"]


def blas_report(threads: int) -> tuple[str, list[dict]]:
    """Limit NumPy's BLAS to `threads` and describe which library and kernel it runs."""
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed: OpenBLAS kernel unknown", []
    # Kept alive for the whole run; "blas" only, since OpenMP pools belong to torch and chainrule.
    global _blas_limits
    _blas_limits = threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
    pools = threadpoolctl.threadpool_info()
    numpy_pools = [p for p in pools if p.get("user_api") == "blas" and "numpy" in p.get("filepath", "")]
    described = numpy_pools or [p for p in pools if p.get("user_api") == "blas"]
    if not described:
        return "no BLAS found by threadpoolctl", pools
    p = described[0]
    text = (
        f"{p.get('internal_api')} {p.get('version')}, {p.get('architecture')} kernels, "
        f"{p.get('num_threads')} threads ({pathlib.Path(p.get('filepath', '?')).name})"
    )
    return text, pools


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.2f}x"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {','.join(WORKLOADS)}")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed steps per library (default: about --seconds worth, 5 to 2000; fewer for slow steps)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the results here as JSON")
    parser.add_argument("--no-memory", action="store_true", help="skip the wide workload's peak-memory report")
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="time per library and workload when --repeat is not given"
    )
    arguments = parser.parse_args()
    unknown = [name for name in arguments.workloads.split(",") if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    if arguments.repeat is not None and arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    return arguments


def main() -> int:
    arguments = parse_arguments()
    dtype = np.dtype(arguments.dtype)
    threads = arguments.threads

    baseline = _load_baseline()
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError as error:
        torch = None
        print(f"torch: skipped ({error})")
    if threads == 1:  # XLA's CPU client otherwise runs its own thread pool
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    try:
        import jax

        jax_version = f"jax {jax.__version__} ({jax.default_backend()}, whole step under jax.jit)"
    except ImportError as error:
        jax = None
        jax_version = f"jax: skipped ({error})"
    try:
        import chainrule

        chainrule.set_num_threads(threads)
    except Exception as error:  # an unbuilt or broken core raises more than ImportError
        chainrule = None
        print(f"chainrule: skipped, `import chainrule` failed: {type(error).__name__}: {error}")

    blas, pools = blas_report(threads)
    removed = _environment.removed_variables()
    print(f"numpy {np.__version__} BLAS: {blas}")
    if removed:
        print(f"  (ran without {removed}, which slow OpenBLAS down)")
    if torch is not None:
        print(f"torch {torch.__version__} eager, {torch.get_num_threads()} threads")
    print(jax_version)
    isa = chainrule.config()["cpu_isa"] if chainrule is not None else "-"
    machine = _environment.machine()
    print(f"chainrule {isa} path; dtype {dtype}, {threads} threads; {machine}\n")

    results = []
    for name in arguments.workloads.split(","):
        workload = WORKLOADS[name]
        X, target = make_data(workload, dtype)
        if workload.model is not None:
            runners = make_model_runners(chainrule, torch, workload, dtype, X, target) if chainrule else []
            timings = time_runners(runners, arguments.repeat, arguments.seconds)
            for runner in runners:
                results.append(
                    {
                        "workload": name,
                        "layers": workload.layers,
                        "batch": workload.batch,
                        "loss": workload.loss,
                        "flop": workload.flop,
                        "library": runner.library,
                        "first_loss": runner.first_loss,
                        **timings[runner.library],
                        "gflops": workload.flop / timings[runner.library]["median_s"] / 1e9,
                    }
                )
            print(f"{name}: done", file=sys.stderr)
            continue
        runners = []
        numpy_runner = make_numpy_runner(baseline, workload, dtype, X, target)
        if chainrule is not None:
            try:
                runners.append(make_chainrule_runner(chainrule, workload, dtype, X, target))
            except Exception as error:
                print(f"{name}: chainrule skipped: {type(error).__name__}: {error}")
        runners.append(numpy_runner)
        if torch is not None:
            torch_runner = make_torch_runner(torch, workload, dtype, X, target, numpy_runner.initial_parameters)
            runners.append(torch_runner)
            # Same weights, same data: the first losses must agree, or the two are not doing the same work.
            if not math.isclose(torch_runner.first_loss, numpy_runner.first_loss, rel_tol=1e-3):
                print(
                    f"{name}: WARNING first loss differs: numpy {numpy_runner.first_loss}, "
                    f"torch {torch_runner.first_loss}"
                )
        if jax is not None:
            jax_runner = make_jax_runner(jax, workload, dtype, X, target, numpy_runner.initial_parameters)
            runners.append(jax_runner)
            if not math.isclose(jax_runner.first_loss, numpy_runner.first_loss, rel_tol=1e-3):
                print(
                    f"{name}: WARNING first loss differs: numpy {numpy_runner.first_loss}, jax {jax_runner.first_loss}"
                )
        timings = time_runners(runners, arguments.repeat, arguments.seconds)
        for runner in runners:
            results.append(
                {
                    "workload": name,
                    "layers": workload.layers,
                    "batch": workload.batch,
                    "loss": workload.loss,
                    "flop": workload.flop,
                    "library": runner.library,
                    "first_loss": runner.first_loss,
                    **timings[runner.library],
                    "gflops": workload.flop / timings[runner.library]["median_s"] / 1e9,
                }
            )
        print(f"{name}: done", file=sys.stderr)

    by_library = {(r["workload"], r["library"]): r for r in results}
    header = (
        "workload",
        "layers",
        "batch",
        "chainrule",
        "numpy",
        "torch",
        "jax",
        "numpy/chainrule",
        "torch/chainrule",
        "jax/chainrule",
    )
    rows = []
    for name in arguments.workloads.split(","):
        timed = {library: by_library.get((name, library)) for library in LIBRARIES}
        rows.append(
            (
                name,
                WORKLOADS[name].layers,
                str(WORKLOADS[name].batch),
                *(format_seconds(timed[library] and timed[library]["median_s"]) for library in LIBRARIES),
                *(
                    format_ratio(paired_ratio(timed[peer], timed["chainrule"]), 1.0)
                    for peer in ("numpy", "torch", "jax")
                ),
            )
        )
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    print(
        f"\nmedian time per training step (ratios above 1: chainrule is faster); chainrule {isa} path, "
        f"{threads} threads, {machine}"
    )
    for row in (header, *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    print(
        "\nnominal GFLOP/s (3 GEMMs of 2 B in out per Linear layer): "
        + "; ".join(f"{r['workload']} {r['library']} {r['gflops']:.1f}" for r in results)
    )

    memory = None
    if chainrule is not None and "wide" in arguments.workloads.split(",") and not arguments.no_memory:
        memory = chainrule_peak_memory(WORKLOADS["wide"], dtype, threads)
        print(
            f"\nwide peak memory (chainrule training loop, {memory['steps']} steps, fresh process): peak resident size grew "
            f"{memory['maxrss_growth_bytes'] / 2**20:.1f} MiB for {memory['needed_bytes'] / 2**20:.1f} MiB of "
            f"parameters + gradients + activations: {memory['ratio']:.2f}x (target <= 1.3x)"
        )

    if arguments.json:
        report = {
            "peak_memory": memory,
            "dtype": str(dtype),
            "threads": threads,
            "numpy": np.__version__,
            "numpy_blas": blas,
            "removed_environment": removed,
            "threadpools": pools,
            "torch": getattr(torch, "__version__", None),
            "jax": getattr(jax, "__version__", None),
            "chainrule": getattr(chainrule, "__version__", None) if chainrule is not None else None,
            "chainrule_isa": isa,
            "cpu": machine,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "results": results,
        }
        arguments.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
