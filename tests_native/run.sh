#!/usr/bin/env bash
# Builds and runs tests_native/test_gemm_kernels.cpp (the GEMM and the dense epilogues against the
# reference), tests_native/test_small_dense_kernels.cpp (the tiny-layer kernels against a double
# reference) and tests_native/test_elementwise_kernels.cpp (the SIMD elementwise kernels against a
# long double reference) on every ISA path the target CPU runs, without Python.
#   tests_native/run.sh            this machine's compiler and CPU (x86-64: AVX-512/AVX2 + scalar)
#   tests_native/run.sh aarch64    cross-compiled with Debian's aarch64 toolchain and run under
#                                  qemu-aarch64: the NEON kernels + scalar, on any x86 machine
# Needs g++ (and for aarch64: g++-aarch64-linux-gnu, qemu-user); installs them with apt-get
# when missing and allowed (root, or sudo without a password).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-native}
out=tests_native/build/$target
mkdir -p "$out"

need() {  # need COMMAND DEBIAN-PACKAGE...
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "installing $* for $1"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${@:2}" >/dev/null
}

kernel_sources=(csrc/cpu/gemm.cpp csrc/cpu/dense.cpp csrc/cpu/small_dense.cpp)
sources=(tests_native/test_gemm_kernels.cpp "${kernel_sources[@]}")
flags=(-std=c++17 -O2 -fopenmp -fno-math-errno -Icsrc/include -Icsrc -Wall -Wextra -Wno-unused-parameter)
# As CMakeLists.txt builds them: multiply-adds fuse only where the kernels say so.
elementwise_flags=(-ffp-contract=off -Wno-psabi)
case "$target" in
  native)
    need g++ g++
    objects=()
    for isa_source in csrc/cpu/isa/*_avx512.cpp csrc/cpu/isa/*_avx2.cpp; do
      [ "$(uname -m)" = x86_64 ] || break
      case "$isa_source" in
        *_avx512.cpp) isa_flags=(-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mavx2) ;;
        *) isa_flags=(-mavx2 -mfma) ;;
      esac
      case "$isa_source" in
        */elementwise_* | */small_dense_*) isa_flags+=("${elementwise_flags[@]}") ;;
      esac
      object="$out/$(basename "$isa_source" .cpp).o"
      g++ "${flags[@]}" "${isa_flags[@]}" -c "$isa_source" -o "$object"
      objects+=("$object")
    done
    if [ "$(uname -m)" = aarch64 ]; then
      objects+=(csrc/cpu/isa/elementwise_neon.cpp csrc/cpu/isa/gemm_neon.cpp csrc/cpu/isa/small_dense_neon.cpp)
    fi
    g++ "${flags[@]}" "${sources[@]}" "${objects[@]}" -o "$out/test_gemm_kernels"
    "$out/test_gemm_kernels"
    g++ "${flags[@]}" tests_native/test_small_dense_kernels.cpp "${kernel_sources[@]}" "${objects[@]}" \
        -o "$out/test_small_dense_kernels"
    "$out/test_small_dense_kernels"
    g++ "${flags[@]}" "${elementwise_flags[@]}" tests_native/test_elementwise_kernels.cpp "${objects[@]}" \
        -o "$out/test_elementwise_kernels"
    "$out/test_elementwise_kernels"
    ;;
  aarch64)
    need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
    need qemu-aarch64 qemu-user
    neon_sources=(csrc/cpu/isa/gemm_neon.cpp csrc/cpu/isa/small_dense_neon.cpp)
    aarch64-linux-gnu-g++ "${flags[@]}" "${sources[@]}" "${neon_sources[@]}" -o "$out/test_gemm_kernels"
    OMP_NUM_THREADS=2 qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/test_gemm_kernels"
    aarch64-linux-gnu-g++ "${flags[@]}" tests_native/test_small_dense_kernels.cpp "${kernel_sources[@]}" \
        "${neon_sources[@]}" -o "$out/test_small_dense_kernels"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/test_small_dense_kernels"
    aarch64-linux-gnu-g++ "${flags[@]}" "${elementwise_flags[@]}" tests_native/test_elementwise_kernels.cpp \
        csrc/cpu/isa/elementwise_neon.cpp -o "$out/test_elementwise_kernels"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/test_elementwise_kernels"
    ;;
  *)
    echo "usage: $0 [native|aarch64]" >&2
    exit 2
    ;;
esac
