"""The GEMM alone against NumPy's OpenBLAS, at the three GEMMs of a Linear layer.

For each (M, N, K) = (batch, out features, in features) of the standard MLP workloads (bench_mlp.py):

    fwd  Y  = X W^T     (M, N, K)    X (M, K), W (N, K)
    dX   dX = dY W      (M, K, N)    dY (M, N), W (N, K)
    dW   dW = dY^T X    (N, K, M)    dY (M, N), X (M, K)

chainrule is called through the test-only binding _core._gemm (one Python call around the
kernel, nothing else); NumPy through np.matmul(..., out=) on the same (transposed-view) operands.
Both use the same thread count, interleaved in rounds so a noisy machine slows them alike (each
block of calls starts after the other library's idle threads have gone to sleep); the
table gives median GFLOP/s and the median over the rounds of each round's ratio chainrule / NumPy
(above 1: chainrule faster).

    python benchmarks/bench_gemm.py                      # 2 threads, float32, JSON to bench_gemm.json
    python benchmarks/bench_gemm.py --threads 1 --dtype float64 --json out.json
    python benchmarks/bench_gemm.py --threads 1 --clock cpu   # on a busy machine, see below
    CHAINRULE_ISA=avx2 python benchmarks/bench_gemm.py --openblas-coretype Haswell   # both on AVX2 kernels

--clock cpu times each call in the calling thread's CPU time (time.thread_time) instead of wall
time: with one thread that is all the work of both libraries, and it does not count the time
other processes held the core, so the ratio stays meaningful on a shared, overloaded machine
(caches are still shared). Only valid with --threads 1.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _environment  # noqa: E402  (before NumPy: see its docstring)

    _environment.prepare(pin_openmp=True)
    # --openblas-coretype forces OpenBLAS's kernels (prepare() removed any inherited setting, and
    # OpenBLAS reads it once, when NumPy loads): Haswell compares chainrule's AVX2 path on an
    # AVX-512 machine with OpenBLAS's AVX2 kernels.
    for _index, _argument in enumerate(sys.argv):
        if _argument == "--openblas-coretype" and _index + 1 < len(sys.argv):
            os.environ["OPENBLAS_CORETYPE"] = sys.argv[_index + 1]
        elif _argument.startswith("--openblas-coretype="):
            os.environ["OPENBLAS_CORETYPE"] = _argument.split("=", 1)[1]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# (batch, out features, in features) of each layer, by --shapes:
#   mlp      the standard MLP workloads (bench_mlp.py)
#   sklearn  the layers chainrule.sklearn's trainer runs in float64 (batches of 200): 50->256->256->1
#            and 64->100->10, small-M/N shapes where per-tile and packing overheads show (the trainer
#            keeps W as (in, out), so its fwd reads W and its dX W^T: same sizes, other operand packed)
SHAPE_SETS = {
    "mlp": [(256, 512, 784), (512, 4096, 1024), (512, 4096, 4096), (128, 256, 784)],
    "sklearn": [(200, 256, 50), (200, 256, 256), (200, 1, 256), (200, 100, 64), (200, 10, 100)],
}


def _openblas_kernel() -> str:
    try:
        import threadpoolctl

        for info in threadpoolctl.threadpool_info():
            if info.get("internal_api") == "openblas":
                return f"{info.get('architecture')} ({info.get('num_threads')} threads)"
    except ImportError:
        pass
    return "unknown (threadpoolctl not installed)"


def _cases(dtype, rng, shapes):
    """(name, M, N, K, chainrule call, numpy call) for every shape and Linear GEMM."""
    cases = []
    for batch, out_f, in_f in shapes:
        X = rng.standard_normal((batch, in_f)).astype(dtype)
        W = rng.standard_normal((out_f, in_f)).astype(dtype)
        dY = rng.standard_normal((batch, out_f)).astype(dtype)
        for name, ta, tb, A, B, M, N, K in [
            ("fwd X W^T", False, True, X, W, batch, out_f, in_f),
            ("dX  dY W", False, False, dY, W, batch, in_f, out_f),
            ("dW  dY^T X", True, False, dY, X, out_f, in_f, batch),
        ]:
            c_ours = np.empty((M, N), dtype)
            c_numpy = np.empty((M, N), dtype)
            opA, opB = (A.T if ta else A), (B.T if tb else B)
            cases.append(
                (
                    f"{name:11s}",
                    (batch, out_f, in_f),
                    M,
                    N,
                    K,
                    lambda ta=ta, tb=tb, A=A, B=B, C=c_ours: _core._gemm("", ta, tb, A, B, C, False),
                    lambda opA=opA, opB=opB, C=c_numpy: np.matmul(opA, opB, out=C),
                )
            )
    return cases


def _seconds(call, min_time=0.05, clock=time.perf_counter):
    """One round's sample: the mean time per call over enough calls to fill min_time (main takes
    the median of the rounds, which discards a round a busy machine slowed). It first waits for
    the other library's idle threads to stop spinning (_environment.settle)."""
    _environment.settle()
    call()
    reps, elapsed = 1, 0.0
    while True:
        start = clock()
        for _ in range(reps):
            call()
        elapsed = clock() - start
        if elapsed >= min_time:
            return elapsed / reps
        reps *= 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--shapes", choices=sorted(SHAPE_SETS), default="mlp", help="which layers' GEMMs to time")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: the calling thread's CPU time (with --threads 1 only)",
    )
    parser.add_argument(
        "--openblas-coretype",
        default="",
        help="force OpenBLAS's kernels (e.g. Haswell, to compare with CHAINRULE_ISA=avx2); default: its own choice",
    )
    parser.add_argument("--json", default="bench_gemm.json", help="where to write the results ('' for none)")
    args = parser.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu measures the calling thread only: use it with --threads 1")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    global _core
    import chainrule as cr
    from chainrule import _core

    cr.set_num_threads(args.threads)
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(args.threads)
    except ImportError:
        pass

    removed = _environment.removed_variables()
    print(
        f"chainrule {cr.config()['cpu_isa']} GEMM vs NumPy {np.__version__} OpenBLAS {_openblas_kernel()}; "
        f"{args.threads} threads, {args.dtype}, {args.shapes} shapes, median of {args.rounds} interleaved rounds, {args.clock} clock; "
        f"{_environment.machine()}"
    )
    if removed:
        print(f"(unset for this run: {removed})")

    cases = _cases(np.dtype(args.dtype), np.random.default_rng(0), SHAPE_SETS[args.shapes])
    times = {index: ([], []) for index in range(len(cases))}
    for _ in range(args.rounds):
        for index, (_, _, _, _, _, ours, numpy_call) in enumerate(cases):
            times[index][0].append(_seconds(ours, clock=clock))
            times[index][1].append(_seconds(numpy_call, clock=clock))

    rows = []
    print(
        f"{'layer (B,OC,C)':>20s}  {'gemm':11s} {'M':>5s} {'N':>5s} {'K':>5s}  "
        f"{'chainrule':>10s} {'numpy':>10s}  {'ratio':>6s}"
    )
    for index, (name, layer, M, N, K, _, _) in enumerate(cases):
        flop = 2.0 * M * N * K
        ours = statistics.median(times[index][0])
        theirs = statistics.median(times[index][1])
        # The ratio is the median of each round's pair (the two libraries timed back to back), not
        # the ratio of the medians: a slow spell of a shared machine that lasts a few rounds then
        # slows both halves of the pairs it covers instead of whichever library it happened to hit.
        paired = statistics.median(t / o for o, t in zip(*times[index]))
        rows.append(
            dict(
                gemm=name.strip(),
                layer=list(layer),
                M=M,
                N=N,
                K=K,
                chainrule_gflops=flop / ours * 1e-9,
                numpy_gflops=flop / theirs * 1e-9,
                ratio=paired,
            )
        )
        print(
            f"{str(layer):>20s}  {name} {M:5d} {N:5d} {K:5d}  {flop / ours * 1e-9:8.1f} G "
            f"{flop / theirs * 1e-9:8.1f} G  {paired:6.2f}"
        )
    geo = float(np.exp(np.mean([np.log(r["ratio"]) for r in rows])))
    print(f"geometric mean ratio chainrule/numpy: {geo:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    threads=args.threads,
                    dtype=args.dtype,
                    shapes=args.shapes,
                    isa=cr.config()["cpu_isa"],
                    cpu=_environment.machine(),
                    clock=args.clock,
                    openblas=_openblas_kernel(),
                    removed_env=removed,
                    rows=rows,
                    geometric_mean_ratio=geo,
                ),
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
