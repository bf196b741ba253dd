// Tiny Linear layers in one call per pass (see kernels.h): the per-ISA kernels of
// cpu/isa/small_dense_kernels.h, entered after the CPUID check, and the portable loops that are
// the scalar path. Activations other than ReLU run as the separate passes of dense.cpp after the
// affine part, so every activation keeps the one definition the GEMM epilogues use.
#include <algorithm>

#include "chainrule/gemm.h"
#include "chainrule/kernels.h"
#include "cpu/isa/small_dense_kernels.h"
#include "cpu/isa_builds.h"

namespace chainrule::cpu {

namespace {

template <typename T>
const detail::SmallDenseKernels<T>* small_dense_kernels(Isa isa);

template <>
const detail::SmallDenseKernels<float>* small_dense_kernels<float>(Isa isa) {
#if CHAINRULE_HAVE_X86_ISA
  if (isa == Isa::Avx512) return &detail::kSmallDenseF32Avx512;
  if (isa == Isa::Avx2) return &detail::kSmallDenseF32Avx2;
#endif
#if CHAINRULE_HAVE_NEON_ISA
  if (isa == Isa::Neon) return &detail::kSmallDenseF32Neon;
#endif
  return nullptr;
}

template <>
const detail::SmallDenseKernels<double>* small_dense_kernels<double>(Isa isa) {
#if CHAINRULE_HAVE_X86_ISA
  if (isa == Isa::Avx512) return &detail::kSmallDenseF64Avx512;
  if (isa == Isa::Avx2) return &detail::kSmallDenseF64Avx2;
#endif
#if CHAINRULE_HAVE_NEON_ISA
  if (isa == Isa::Neon) return &detail::kSmallDenseF64Neon;
#endif
  return nullptr;
}

// ---- the scalar path: the kernels' element order, one element at a time ----

template <typename T>
void scalar_forward(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                    bool relu) {
  for (int64_t i = 0; i < B; ++i)
    for (int64_t o = 0; o < OC; ++o) {
      T acc = T(0);
      for (int64_t c = 0; c < C; ++c) acc += x[i * C + c] * weight[o * C + c];
      const T y = acc + (bias ? bias[o] : T(0));
      if (z) z[i * OC + o] = y;
      out[i * OC + o] = relu ? (y > T(0) ? y : T(0)) : y;
    }
}

template <typename T>
void scalar_weight_grad(T* dweight, const T* delta, const T* x, int64_t B, int64_t C, int64_t OC, bool accumulate) {
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t c = 0; c < C; ++c) {
      T acc = accumulate ? dweight[o * C + c] : T(0);
      for (int64_t b = 0; b < B; ++b) acc += delta[b * OC + o] * x[b * C + c];
      dweight[o * C + c] = acc;
    }
}

template <typename T>
void scalar_input_grad(T* dx, T* dbias, const T* delta, const T* weight, const T* relu_out, int64_t B, int64_t C,
                       int64_t OC) {
  for (int64_t i = 0; i < B; ++i)
    for (int64_t c = 0; c < C; ++c) {
      T acc = T(0);
      for (int64_t o = 0; o < OC; ++o) acc += delta[i * OC + o] * weight[o * C + c];
      if (relu_out && !(relu_out[i * C + c] > T(0))) acc = T(0);
      if (dbias) dbias[c] += acc;
      dx[i * C + c] = acc;
    }
}

// Multiply-adds above which the GEMM's blocking and threads pay for their overhead.
constexpr int64_t kSmallDenseMaxMacs = 1 << 18;
// Output features up to which the weight-gradient kernel beats the GEMM's tiles.
constexpr int64_t kSmallDenseMaxWeightGradOutputs = 8;

// A layer with one output (a regression head): rows as dot products, four at a time so four
// independent sums hide the add latency; a vector across one output would be all empty lanes.
// Each sum starts at 0 and adds x * w in increasing c, then the bias: the GEMM's plain-loop path
// for a one-column product does the same, so the fused chain and an unfused Linear agree bit for
// bit. z (or null) gets the sum, out its ReLU when relu is set. On AVX2 and AVX-512 the rows that
// fill whole vectors go a row per lane first (small_dense_kernels.h); this loop takes the rest.
template <typename T>
void single_output_forward(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C, bool relu) {
  const T b = bias ? bias[0] : T(0);
  const auto finish = [&](int64_t i, T sum) {
    const T y = sum + b;
    if (z) z[i] = y;
    out[i] = relu ? (y > T(0) ? y : T(0)) : y;
  };
  int64_t i = 0;
  for (; i + 4 <= B; i += 4) {
    T sum[4] = {T(0), T(0), T(0), T(0)};
    for (int64_t c = 0; c < C; ++c)
      for (int r = 0; r < 4; ++r) sum[r] += x[(i + r) * C + c] * weight[c];
    for (int r = 0; r < 4; ++r) finish(i + r, sum[r]);
  }
  for (; i < B; ++i) {
    T sum = T(0);
    for (int64_t c = 0; c < C; ++c) sum += x[i * C + c] * weight[c];
    finish(i, sum);
  }
}

}  // namespace

template <typename T>
bool small_linear_fits(int64_t B, int64_t C, int64_t OC) {
  if (C < 1 || OC < 1 || B < 0) return false;
  const int64_t widest = std::max(C, OC);
  if (widest > detail::kSmallDenseMaxFeatures || B * C * OC > kSmallDenseMaxMacs) return false;
  const detail::SmallDenseKernels<T>* k = small_dense_kernels<T>(active_isa());
  return !k || widest <= int64_t(k->lanes) * detail::kSmallDenseMaxVectors;
}

template <typename T>
bool small_linear_weight_grad_fits(int64_t B, int64_t C, int64_t OC) {
  return OC <= kSmallDenseMaxWeightGradOutputs && small_linear_fits<T>(B, C, OC);
}

template <typename T>
void small_linear_forward(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                          Activation act, double param, double param2) {
  const bool fused = act == Activation::Identity || act == Activation::Relu;
  const detail::SmallDenseKernels<T>* k = small_dense_kernels<T>(active_isa());
  T* z_now = fused ? z : nullptr;
  const bool relu = act == Activation::Relu;
  if (OC == 1) {
    const int64_t done =
        k && k->single_output_forward_rows ? k->single_output_forward_rows(out, z_now, x, weight, bias, B, C, relu) : 0;
    single_output_forward(out + done, z_now ? z_now + done : nullptr, x + done * C, weight, bias, B - done, C, relu);
  } else if (k)
    k->forward(out, z_now, x, weight, bias, B, C, OC, relu);
  else
    scalar_forward(out, z_now, x, weight, bias, B, C, OC, relu);
  if (!fused) bias_activation_forward<T>(out, z, nullptr, B, OC, act, param, param2);
}

template <typename T>
void small_linear_weight_grad(T* dweight, const T* delta, const T* x, int64_t B, int64_t C, int64_t OC,
                              bool accumulate) {
  if (const detail::SmallDenseKernels<T>* k = small_dense_kernels<T>(active_isa()))
    k->weight_grad(dweight, delta, x, B, C, OC, accumulate);
  else
    scalar_weight_grad(dweight, delta, x, B, C, OC, accumulate);
}

template <typename T>
void small_linear_input_grad(T* dx, T* dbias, const T* delta, const T* weight, const T* a, const T* z, int64_t B,
                             int64_t C, int64_t OC, Activation act, double param, double param2) {
  const bool fused = act == Activation::Identity || act == Activation::Relu;
  const T* relu_out = act == Activation::Relu ? a : nullptr;
  T* dbias_now = fused ? dbias : nullptr;
  if (const detail::SmallDenseKernels<T>* k = small_dense_kernels<T>(active_isa()))
    k->input_grad(dx, dbias_now, delta, weight, relu_out, B, C, OC);
  else
    scalar_input_grad(dx, dbias_now, delta, weight, relu_out, B, C, OC);
  if (!fused) activation_backward_bias_grad<T>(dx, dbias, a, z, B, C, act, param, true, param2);
}

template bool small_linear_fits<float>(int64_t, int64_t, int64_t);
template bool small_linear_fits<double>(int64_t, int64_t, int64_t);
template bool small_linear_weight_grad_fits<float>(int64_t, int64_t, int64_t);
template bool small_linear_weight_grad_fits<double>(int64_t, int64_t, int64_t);
template void small_linear_forward<float>(float*, float*, const float*, const float*, const float*, int64_t, int64_t,
                                          int64_t, Activation, double, double);
template void small_linear_forward<double>(double*, double*, const double*, const double*, const double*, int64_t,
                                           int64_t, int64_t, Activation, double, double);
template void small_linear_weight_grad<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool);
template void small_linear_weight_grad<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, bool);
template void small_linear_input_grad<float>(float*, float*, const float*, const float*, const float*, const float*,
                                             int64_t, int64_t, int64_t, Activation, double, double);
template void small_linear_input_grad<double>(double*, double*, const double*, const double*, const double*,
                                              const double*, int64_t, int64_t, int64_t, Activation, double, double);

}  // namespace chainrule::cpu
