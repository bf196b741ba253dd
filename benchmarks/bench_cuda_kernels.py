"""Time the CUDA kernels of one dense layer's training pair against PyTorch CUDA, layer by layer.

For each Linear layer of the standard workloads (benchmarks/bench_mlp.py: seed, mnist, mlp, wide),
float32, device-resident data:

    chainrule fwd   dense_forward: the GEMM with its bias + activation (a cuBLASLt epilogue when
                    offered, else chainrule's epilogue kernel after a plain GEMM)
    chainrule bwd   activation_backward_inplace + linear_backward (dinp, dweight and dbias; the bias
                    gradient as cuBLASLt's BGRADB epilogue when offered)
    torch fwd/bwd   act(F.linear(x, W, b)) and its autograd backward, eager, timed the same way

each the mean of --iters calls between two CUDA events after --warmup calls. Both sides compute
float32 GEMMs in float32 (TF32 off). Also times chainrule with the cuBLASLt epilogues turned off
(lt_epilogue=False), which shows what the fused epilogues buy. Host-side work between steps (the
autograd engine, the optimizer, the loss) is not included: this compares the layers' device work.

    python benchmarks/bench_cuda_kernels.py [--workloads seed,mnist] [--json results.json]

Needs a GPU and chainrule built with its CUDA backend (README, "CUDA backend").
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

WORKLOADS = {  # name -> (layer sizes, batch); every hidden layer is followed by ReLU
    "seed": ((10, 5, 1), 100),
    "mnist": ((784, 256, 10), 128),
    "mlp": ((784, 512, 512, 10), 256),
    "wide": ((1024, 4096, 4096, 1024), 512),
}


def layers(sizes, batch):
    """(B, C, OC, act) of each Linear layer: ReLU after every layer but the last."""
    n = len(sizes) - 1
    return [(batch, sizes[i], sizes[i + 1], "relu" if i < n - 1 else "identity") for i in range(n)]


def time_chainrule(cuda, B, C, OC, act, lt_epilogue, warmup, iters, rng):
    x = rng.standard_normal((B, C)).astype(np.float32)
    w = (rng.standard_normal((OC, C)) / np.sqrt(C)).astype(np.float32)
    b = rng.standard_normal(OC).astype(np.float32)
    dout = rng.standard_normal((B, OC)).astype(np.float32)
    return cuda.time_dense_layer(x, w, b, dout, cuda.Activation.__members__[act], 0.0, lt_epilogue, warmup, iters)


def time_torch(torch, B, C, OC, act, warmup, iters):
    device = torch.device("cuda")
    x = torch.randn(B, C, device=device, requires_grad=True)
    w = (torch.randn(OC, C, device=device) / C**0.5).requires_grad_()
    b = torch.randn(OC, device=device, requires_grad=True)
    dout = torch.randn(B, OC, device=device)
    activation = torch.relu if act == "relu" else (lambda v: v)

    def forward():
        return activation(torch.nn.functional.linear(x, w, b))

    def timed(f):
        for _ in range(warmup):
            f()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            f()
        stop.record()
        stop.synchronize()
        return 1000.0 * start.elapsed_time(stop) / iters

    with torch.no_grad():
        forward_us = timed(forward)
    outputs = [forward() for _ in range(warmup + iters)]  # one graph per backward call
    it = iter(outputs)
    backward_us = timed(lambda: next(it).backward(dout))
    return {"forward_us": forward_us, "backward_us": backward_us}


def run(workloads, warmup=10, iters=100, log=print):
    """One row per layer; raises if chainrule's CUDA backend or a GPU is missing."""
    import chainrule as cr

    if not cr.cuda.is_available():
        raise RuntimeError("no CUDA device (or chainrule was built without its CUDA backend)")
    from chainrule import _cuda

    try:
        import torch

        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 GEMMs in float32, as chainrule's
        torch.backends.cudnn.allow_tf32 = False
    rng = np.random.default_rng(0)
    rows = []
    for name in workloads:
        sizes, batch = WORKLOADS[name]
        for index, (B, C, OC, act) in enumerate(layers(sizes, batch)):
            row = {"workload": name, "layer": index, "B": B, "C": C, "OC": OC, "act": act}
            fused = time_chainrule(_cuda, B, C, OC, act, True, warmup, iters, rng)
            plain = time_chainrule(_cuda, B, C, OC, act, False, warmup, iters, rng)
            row.update(
                chainrule_forward_us=fused["forward_us"],
                chainrule_backward_us=fused["backward_us"],
                chainrule_no_lt_epilogue_forward_us=plain["forward_us"],
                chainrule_no_lt_epilogue_backward_us=plain["backward_us"],
            )
            if torch is not None:
                reference = time_torch(torch, B, C, OC, act, warmup, iters)
                row.update(torch_forward_us=reference["forward_us"], torch_backward_us=reference["backward_us"])
                row["torch_over_chainrule"] = (reference["forward_us"] + reference["backward_us"]) / (
                    fused["forward_us"] + fused["backward_us"]
                )
            rows.append(row)
            log(format_row(row))
    return rows


def format_row(row):
    text = (
        f"{row['workload']:>6} layer {row['layer']} ({row['B']}x{row['C']} -> {row['OC']}, {row['act']}): "
        f"chainrule fwd {row['chainrule_forward_us']:8.1f} us bwd {row['chainrule_backward_us']:8.1f} us "
        f"(no cuBLASLt epilogue: {row['chainrule_no_lt_epilogue_forward_us']:.1f} / "
        f"{row['chainrule_no_lt_epilogue_backward_us']:.1f} us)"
    )
    if "torch_forward_us" in row:
        text += (
            f" | torch fwd {row['torch_forward_us']:8.1f} us bwd {row['torch_backward_us']:8.1f} us"
            f" | torch/chainrule {row['torch_over_chainrule']:.2f}x"
        )
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")
    rows = run(names, args.warmup, args.iters)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
