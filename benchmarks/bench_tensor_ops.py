"""Elementwise tensor ops: chainrule against PyTorch on a 1M-element float32 tensor (throughput),
and the cost of one op on a 100-element tensor from Python (overhead).

    python benchmarks/bench_tensor_ops.py [--repeat 200]

Both libraries run with the same thread count (torch.set_num_threads(chainrule.get_num_threads())).
Prints one markdown table; ratio > 1 means chainrule is faster.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr


def best_time(fn, repeat: int) -> float:
    """Median of `repeat` timed calls, seconds, after a warm-up."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def per_call(fn, calls: int) -> float:
    """Mean seconds per call over a loop of `calls` calls (best of 5 loops)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


OPS = {
    "a + b": lambda a, b: a + b,
    "a * b": lambda a, b: a * b,
    "a * 2.0": lambda a, b: a * 2.0,
    "exp(a)": lambda a, b: a.exp(),
    "sin(a)": lambda a, b: a.sin(),
    "tanh(a)": lambda a, b: a.tanh(),
    "a > b": lambda a, b: a > b,
    "maximum(a, b)": lambda a, b: a.maximum(b),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(cr.get_num_threads())

    rng = np.random.default_rng(0)
    big = [rng.standard_normal(1 << 20).astype(np.float32) for _ in range(2)]
    small = [rng.standard_normal(100).astype(np.float32) for _ in range(2)]
    ours_big = [cr.from_numpy(x.copy()) for x in big]
    theirs_big = [torch.from_numpy(x.copy()) for x in big]
    ours_small = [cr.from_numpy(x.copy()) for x in small]
    theirs_small = [torch.from_numpy(x.copy()) for x in small]

    print(f"threads: {cr.get_num_threads()}, ISA: {cr.config()['cpu_isa']}, torch {torch.__version__}")
    print("| op | 1M float32: chainrule µs | PyTorch µs | ratio | 100 elements: chainrule µs/call | PyTorch µs/call |")
    print("|---|---|---|---|---|---|")
    for name, fn in OPS.items():
        ours = best_time(lambda: fn(*ours_big), args.repeat)
        theirs = best_time(lambda: fn(*theirs_big), args.repeat)
        ours_s = per_call(lambda: fn(*ours_small), 20000)
        theirs_s = per_call(lambda: fn(*theirs_small), 20000)
        print(f"| `{name}` | {ours * 1e6:.0f} | {theirs * 1e6:.0f} | {theirs / ours:.2f}x | "
              f"{ours_s * 1e6:.2f} | {theirs_s * 1e6:.2f} |")


if __name__ == "__main__":
    main()
