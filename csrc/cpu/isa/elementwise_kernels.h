#pragma once
// Internal to the elementwise kernels: the per-ISA SIMD kernels that csrc/cpu/elementwise.cpp
// calls on contiguous runs of elements (each thread's chunk, or one row of a broadcast).
//
//   unary:   out[i] = f(x[i])                                   i < n
//   binary:  out[i] = a[i * a_step] op b[i * b_step]            a_step, b_step in {0, 1}
//   compare: out[i] = a[i * a_step] cmp b[i * b_step]           (bool out)
//   clamp:   out[i] = x[i] clamped to [lo, hi] (each bound only when has_lo / has_hi)
//   where:   out[i] = condition[i] ? a[i] : b[i]
//
// A step of 0 reads one scalar operand for every element (x * 2.0, 1 - p). out may be a or b
// itself (in-place ops). Every element's result depends only on its own operands, never on its
// position, n or the chunking, so results do not depend on the thread count. Only the ops for
// which *_has_simd_kernel holds may be passed; elementwise.cpp runs the others itself.
#include <cstdint>

#include "chainrule/kernel_types.h"

namespace chainrule::cpu::detail {

inline bool unary_has_simd_kernel(Unary op) {
  switch (op) {
    case Unary::Neg:
    case Unary::Abs:
    case Unary::Relu:
    case Unary::Sqrt:
    case Unary::Rsqrt:
    case Unary::Square:
    case Unary::Reciprocal:
    case Unary::Exp:
    case Unary::Log:
    case Unary::Log1p:
    case Unary::Expm1:
    case Unary::Sin:
    case Unary::Cos:
    case Unary::Tanh:
    case Unary::Sigmoid: return true;
    default: return false;
  }
}
inline bool binary_has_simd_kernel(Binary op) {
  switch (op) {
    case Binary::Add:
    case Binary::Sub:
    case Binary::Mul:
    case Binary::Div:
    case Binary::Maximum:
    case Binary::Minimum: return true;
    default: return false;
  }
}

template <typename T>
using UnaryKernelFn = void (*)(T* out, const T* x, int64_t n, Unary op);
template <typename T>
using BinaryKernelFn = void (*)(T* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Binary op);
template <typename T>
using CompareKernelFn = void (*)(bool* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n,
                                 Compare op);

template <typename T>
using ClampKernelFn = void (*)(T* out, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi);
template <typename T>
using WhereKernelFn = void (*)(T* out, const bool* condition, const T* a, const T* b, int64_t n);

// One ISA's kernels for one element type.
template <typename T>
struct ElementwiseKernels {
  UnaryKernelFn<T> unary;
  BinaryKernelFn<T> binary;
  CompareKernelFn<T> compare;
  ClampKernelFn<T> clamp;
  WhereKernelFn<T> where;
};

extern const ElementwiseKernels<float> kElementwiseF32Avx512;
extern const ElementwiseKernels<double> kElementwiseF64Avx512;
extern const ElementwiseKernels<float> kElementwiseF32Avx2;
extern const ElementwiseKernels<double> kElementwiseF64Avx2;
extern const ElementwiseKernels<float> kElementwiseF32Neon;
extern const ElementwiseKernels<double> kElementwiseF64Neon;

}  // namespace chainrule::cpu::detail
