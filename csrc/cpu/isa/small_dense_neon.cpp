// Tiny-layer kernels for AArch64 Advanced SIMD: 4 floats / 2 doubles per q register; a row tail
// moves lane by lane. Built on AArch64 only.
#include <arm_neon.h>

#include "small_dense_kernels.h"

namespace chainrule::cpu::detail {
namespace {

// A row tail of n < lanes elements: NEON has no masked load or store.
template <typename V, typename S>
V load_first_lanes(const S* p, int n) {
  V v = {};
  for (int i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
template <typename V, typename S>
void store_first_lanes(S* p, V v, int n) {
  for (int i = 0; i < n; ++i) p[i] = v[i];
}

struct NeonF32 {
  using S = float;
  using V = float __attribute__((vector_size(16)));
  static constexpr bool kSlowPartialLoads = true, kSlowPartialStores = true;
  static constexpr int kLanes = 4;
  static V fma(V a, V b, V c) { return V(vfmaq_f32(float32x4_t(c), float32x4_t(a), float32x4_t(b))); }
  static V broadcast(float s) { return V(vdupq_n_f32(s)); }
  static V load_first(const float* p, int n) { return load_first_lanes<V>(p, n); }
  static void store_first(float* p, V v, int n) { store_first_lanes(p, v, n); }
};

struct NeonF64 {
  using S = double;
  using V = double __attribute__((vector_size(16)));
  static constexpr bool kSlowPartialLoads = true, kSlowPartialStores = true;
  static constexpr int kLanes = 2;
  static V fma(V a, V b, V c) { return V(vfmaq_f64(float64x2_t(c), float64x2_t(a), float64x2_t(b))); }
  static V broadcast(double s) { return V(vdupq_n_f64(s)); }
  static V load_first(const double* p, int n) { return load_first_lanes<V>(p, n); }
  static void store_first(double* p, V v, int n) { store_first_lanes(p, v, n); }
};

}  // namespace

const SmallDenseKernels<float> kSmallDenseF32Neon = small_dense_kernels_of<NeonF32>();
const SmallDenseKernels<double> kSmallDenseF64Neon = small_dense_kernels_of<NeonF64>();

}  // namespace chainrule::cpu::detail
