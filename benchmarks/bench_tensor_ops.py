"""Elementwise tensor ops: chainrule against PyTorch on a 1M-element float32 tensor (throughput),
and the cost of one op on a 100-element tensor from Python (overhead).

    python benchmarks/bench_tensor_ops.py [--repeat 200] [--threads N]

Both libraries run with the same thread count (torch.set_num_threads(chainrule.get_num_threads())).
The two libraries' calls alternate within each timed round, so load on a shared machine hits both
alike; each figure is the best round (the least disturbed one). Prints one markdown table;
ratio > 1 means chainrule is faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import chainrule as cr


def interleaved_best(ours, theirs, repeat: int, calls: int) -> tuple[float, float]:
    """Best mean seconds per call of each over `repeat` rounds of `calls` calls, alternating."""
    for _ in range(3):
        ours()
        theirs()
    best_ours = best_theirs = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            ours()
        middle = time.perf_counter()
        for _ in range(calls):
            theirs()
        end = time.perf_counter()
        best_ours = min(best_ours, (middle - start) / calls)
        best_theirs = min(best_theirs, (end - middle) / calls)
    return best_ours, best_theirs


def ops_for(lib):
    return {
        "a + b": lambda a, b: a + b,
        "a - b": lambda a, b: a - b,
        "a * b": lambda a, b: a * b,
        "a / b": lambda a, b: a / b,
        "a * 2.0": lambda a, b: a * 2.0,
        "1 - a": lambda a, b: 1 - a,
        "-a": lambda a, b: -a,
        "abs(a)": lambda a, b: a.abs(),
        "exp(a)": lambda a, b: a.exp(),
        "log(b)": lambda a, b: b.log(),
        "log1p(b)": lambda a, b: b.log1p(),
        "expm1(a)": lambda a, b: a.expm1(),
        "sqrt(b)": lambda a, b: b.sqrt(),
        "rsqrt(b)": lambda a, b: b.rsqrt(),
        "sin(a)": lambda a, b: a.sin(),
        "cos(a)": lambda a, b: a.cos(),
        "tanh(a)": lambda a, b: a.tanh(),
        "sigmoid(a)": lambda a, b: a.sigmoid(),
        "relu(a)": lambda a, b: a.relu(),
        "torch.sin(a)": lambda a, b: lib.sin(a),
        "maximum(a, b)": lambda a, b: a.maximum(b),
        "minimum(a, b)": lambda a, b: a.minimum(b),
        "clamp(a, -0.5, 0.5)": lambda a, b: a.clamp(-0.5, 0.5),
        "where(a > 0, a, b)": lambda a, b: lib.where(a > 0, a, b),
        "a > b": lambda a, b: a > b,
        "a == b": lambda a, b: a == b,
        "a > 0": lambda a, b: a > 0,
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200, help="timed rounds per op and size")
    parser.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: chainrule's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        cr.set_num_threads(args.threads)
    torch.set_num_threads(cr.get_num_threads())

    rng = np.random.default_rng(0)
    big = [rng.standard_normal(1 << 20).astype(np.float32), rng.uniform(0.01, 4, 1 << 20).astype(np.float32)]
    small = [rng.standard_normal(100).astype(np.float32), rng.uniform(0.01, 4, 100).astype(np.float32)]
    ours_big = [cr.from_numpy(x.copy()) for x in big]
    theirs_big = [torch.from_numpy(x.copy()) for x in big]
    ours_small = [cr.from_numpy(x.copy()) for x in small]
    theirs_small = [torch.from_numpy(x.copy()) for x in small]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"CPU: {cpu_name()}; chainrule ISA path: {cr.config()['cpu_isa']}; threads: {cr.get_num_threads()}; "
        f"torch {torch.__version__}; load average {load:.2f}"
    )
    print("| op | 1M float32: chainrule µs | PyTorch µs | ratio | 100 elements: chainrule µs/call | PyTorch µs/call |")
    print("|---|---|---|---|---|---|")
    ours_ops, theirs_ops = ops_for(cr), ops_for(torch)
    for name in ours_ops:
        f, g = ours_ops[name], theirs_ops[name]
        ours, theirs = interleaved_best(lambda f=f: f(*ours_big), lambda g=g: g(*theirs_big), args.repeat, 1)
        ours_s, theirs_s = interleaved_best(
            lambda f=f: f(*ours_small), lambda g=g: g(*theirs_small), max(args.repeat // 10, 5), 2000
        )
        print(
            f"| `{name}` | {ours * 1e6:.0f} | {theirs * 1e6:.0f} | {theirs / ours:.2f}x | "
            f"{ours_s * 1e6:.2f} | {theirs_s * 1e6:.2f} |"
        )


if __name__ == "__main__":
    main()
