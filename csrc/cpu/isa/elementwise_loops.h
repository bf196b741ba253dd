#pragma once
// Internal to the elementwise kernels: the loops of the per-ISA kernels (elementwise_kernels.h),
// written once over the traits K of vector_math.h and instantiated by each per-ISA file. Plain
// arithmetic is written as scalar loops that the compiler vectorises with that file's instruction
// set; the transcendental functions run vector_math.h on whole vectors, the last partial vector
// padded, so an element's result never depends on where it sits.
#include <cmath>
#include <cstring>

#include "elementwise_kernels.h"
#include "vector_math.h"

namespace chainrule::cpu::detail {
namespace {

template <class K, class F>
inline void map_vectors(typename K::S* out, const typename K::S* x, int64_t n, F f) {
  using V = typename K::V;
  constexpr int64_t kLanes = K::kLanes;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    const V y = f(v);
    std::memcpy(out + i, &y, sizeof y);
  }
  if (i < n) {
    V v = splat<K>(0);
    std::memcpy(&v, x + i, sizeof(x[0]) * (n - i));
    const V y = f(v);
    std::memcpy(out + i, &y, sizeof(x[0]) * (n - i));
  }
}

template <typename S, class F>
inline void map_scalars(S* out, const S* x, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

// out[i] = f(a[i * a_step], b[i * b_step]), one loop per step pattern so each vectorises.
template <typename S, typename R, class F>
inline void zip(R* out, const S* a, int64_t a_step, const S* b, int64_t b_step, int64_t n, F f) {
  if (a_step && b_step) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (a_step) {
    const S y = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], y);
  } else if (b_step) {
    const S x = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b[i]);
  } else {
    const R v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

template <class K>
void unary_kernel(typename K::S* out, const typename K::S* x, int64_t n, Unary op) {
  using S = typename K::S;
  using V = typename K::V;
  switch (op) {
    case Unary::Neg: map_scalars(out, x, n, [](S v) { return -v; }); return;
    case Unary::Abs: map_scalars(out, x, n, [](S v) { return std::fabs(v); }); return;
    case Unary::Relu: map_scalars(out, x, n, [](S v) { return v > S(0) ? v : S(0); }); return;
    case Unary::Sqrt: map_scalars(out, x, n, [](S v) { return std::sqrt(v); }); return;
    case Unary::Rsqrt: map_scalars(out, x, n, [](S v) { return S(1) / std::sqrt(v); }); return;
    case Unary::Square: map_scalars(out, x, n, [](S v) { return v * v; }); return;
    case Unary::Reciprocal: map_scalars(out, x, n, [](S v) { return S(1) / v; }); return;
    case Unary::Exp: map_vectors<K>(out, x, n, [](V v) { return vexp<K>(v); }); return;
    case Unary::Log: map_vectors<K>(out, x, n, [](V v) { return vlog<K>(v); }); return;
    case Unary::Log1p: map_vectors<K>(out, x, n, [](V v) { return vlog1p<K>(v); }); return;
    case Unary::Expm1: map_vectors<K>(out, x, n, [](V v) { return vexpm1<K>(v); }); return;
    case Unary::Sin: map_vectors<K>(out, x, n, [](V v) { return vsincos<K>(v, 0); }); return;
    case Unary::Cos: map_vectors<K>(out, x, n, [](V v) { return vsincos<K>(v, 1); }); return;
    case Unary::Tanh: map_vectors<K>(out, x, n, [](V v) { return vtanh<K>(v); }); return;
    case Unary::Sigmoid: map_vectors<K>(out, x, n, [](V v) { return vsigmoid<K>(v); }); return;
    default: return;  // not unary_has_simd_kernel: elementwise.cpp never passes it
  }
}

template <class K>
void binary_kernel(typename K::S* out, const typename K::S* a, int64_t a_step, const typename K::S* b, int64_t b_step,
                   int64_t n, Binary op) {
  using S = typename K::S;
  switch (op) {
    case Binary::Add: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x + y; }); return;
    case Binary::Sub: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x - y; }); return;
    case Binary::Mul: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x * y; }); return;
    case Binary::Div: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x / y; }); return;
    // NaN propagates from either side, as in PyTorch.
    case Binary::Maximum:
      zip(out, a, a_step, b, b_step, n, [](S x, S y) { return ((x > y) | (x != x)) ? x : y; });
      return;
    case Binary::Minimum:
      zip(out, a, a_step, b, b_step, n, [](S x, S y) { return ((x < y) | (x != x)) ? x : y; });
      return;
    default: return;  // not binary_has_simd_kernel
  }
}

template <class K>
void compare_kernel(bool* out, const typename K::S* a, int64_t a_step, const typename K::S* b, int64_t b_step,
                    int64_t n, Compare op) {
  using S = typename K::S;
  switch (op) {
    case Compare::Eq: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x == y; }); return;
    case Compare::Ne: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x != y; }); return;
    case Compare::Lt: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x < y; }); return;
    case Compare::Le: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x <= y; }); return;
    case Compare::Gt: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x > y; }); return;
    case Compare::Ge: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return x >= y; }); return;
    case Compare::And: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return (x != S(0)) & (y != S(0)); }); return;
    case Compare::Or: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return (x != S(0)) | (y != S(0)); }); return;
    case Compare::Xor: zip(out, a, a_step, b, b_step, n, [](S x, S y) { return (x != S(0)) != (y != S(0)); }); return;
  }
}

// NaN stays NaN: each comparison with it is false.
template <class K>
void clamp_kernel(typename K::S* out, const typename K::S* x, int64_t n, typename K::S lo, typename K::S hi,
                  bool has_lo, bool has_hi) {
  using S = typename K::S;
  if (has_lo && has_hi) {
    map_scalars(out, x, n, [lo, hi](S v) {
      v = v < lo ? lo : v;
      return v > hi ? hi : v;
    });
  } else if (has_lo) {
    map_scalars(out, x, n, [lo](S v) { return v < lo ? lo : v; });
  } else {
    map_scalars(out, x, n, [hi](S v) { return v > hi ? hi : v; });
  }
}

// A vector select on the condition bytes widened to lanes: a plain loop compiles to a branch per
// element, which a random condition mispredicts half the time.
template <class K>
void where_kernel(typename K::S* out, const bool* condition, const typename K::S* a, const typename K::S* b,
                  int64_t n) {
  using V = typename K::V;
  using I = typename K::I;
  using Bytes = typename K::Bytes;
  constexpr int64_t kLanes = K::kLanes;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Bytes c;
    V x, y;
    std::memcpy(&c, condition + i, sizeof c);
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    const I take_a = __builtin_convertvector(c, I) != 0;
    const V r = take_a ? x : y;
    std::memcpy(out + i, &r, sizeof r);
  }
  for (; i < n; ++i) out[i] = condition[i] ? a[i] : b[i];
}

template <class K>
constexpr ElementwiseKernels<typename K::S> kernels_of() {
  return {unary_kernel<K>, binary_kernel<K>, compare_kernel<K>, clamp_kernel<K>, where_kernel<K>};
}

}  // namespace
}  // namespace chainrule::cpu::detail
