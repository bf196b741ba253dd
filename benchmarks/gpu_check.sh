#!/usr/bin/env bash
# The GPU check: proves chainrule's CUDA backend on a machine with an NVIDIA GPU, in a few minutes.
#
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR] [gpu_check.py options]
#
# On a fresh machine with a GPU, nvcc and a Python with pip (and scikit-build-core, pybind11,
# cmake, ninja, numpy), it installs nvidia-cublas if no cuBLASLt is found, builds chainrule with
# CHAINRULE_CUDA=ON for this GPU's architecture only (nvidia-smi's compute capability), fails
# loudly if chainrule._cuda does not import or sees no device, runs tests/test_cuda.py (the kernel
# twins, and tensors, autograd, the fused chain, optimizers, 25-step training and run-to-run bits on
# the GPU against the CPU), prints which cuBLASLt epilogue paths ran (fused or fallback), times the
# CUDA kernels of the standard workloads' dense layers, and times one SGD training step of seed,
# mnist, mlp and wide with model and data on the GPU, each against PyTorch CUDA eager when torch is
# importable and sees the GPU. Everything goes to
# OUTPUT_DIR/gpu_check.json and OUTPUT_DIR/gpu_check.log (OUTPUT_DIR: the first argument, else
# $OUT, else build/gpu-check). The exit status is 0 only if every step passed.
#
# Environment: PYTHON (default python3) is the Python to build and test with (chainrule is
# installed into it); CUDACXX names nvcc (default: nvcc on PATH, then /usr/local/cuda/bin/nvcc).
# `--no-gpu --arch 90` runs every step that needs no GPU (for trying this script without one).
set -uo pipefail
cd "$(dirname "$0")/.."

out_dir="${OUT:-build/gpu-check}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  out_dir="$1"
  shift
fi
mkdir -p "$out_dir"
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "gpu_check: no Python at '$python' (set PYTHON)" | tee "$out_dir/gpu_check.log" >&2
  exit 2
fi

# Unbuffered, so the log keeps the order of events and survives a timeout.
PYTHONUNBUFFERED=1 "$python" benchmarks/gpu_check.py --out "$out_dir" "$@" 2>&1 | tee "$out_dir/gpu_check.log"
exit "${PIPESTATUS[0]}"
