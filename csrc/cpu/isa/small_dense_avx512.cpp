// Tiny-layer kernels for AVX-512 (F, BW, DQ, VL): 16 floats / 8 doubles per zmm register, or a ymm
// register for rows that fit one; row tails by mask registers. Compiled with the AVX-512 flags
// only; entered after the run-time CPUID check.
#include <immintrin.h>

#include <cstring>

#include "small_dense_kernels.h"

namespace chainrule::cpu::detail {
namespace {

// The lanes of a ymm register summed by halves: 8 -> 4 -> 2 -> 1 (float), 4 -> 2 -> 1 (double).
inline float sum_lanes_f32(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
inline double sum_lanes_f64(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

struct Avx512F32 {
  using S = float;
  using V = float __attribute__((vector_size(64)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 16;
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V broadcast(float s) { return _mm512_set1_ps(s); }
  static float sum_lanes(V v) {  // 16 -> 8 lanes, then as the ymm halves
    __m256 half[2];
    std::memcpy(half, &v, sizeof half);
    return sum_lanes_f32(_mm256_add_ps(half[0], half[1]));
  }
  static __mmask16 first(int n) { return __mmask16((1u << n) - 1); }
  static V load_first(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, V v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
};

struct Avx512F64 {
  using S = double;
  using V = double __attribute__((vector_size(64)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 8;
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V broadcast(double s) { return _mm512_set1_pd(s); }
  static double sum_lanes(V v) {  // 8 -> 4 lanes, then as the ymm halves
    __m256d half[2];
    std::memcpy(half, &v, sizeof half);
    return sum_lanes_f64(_mm256_add_pd(half[0], half[1]));
  }
  static __mmask8 first(int n) { return __mmask8((1u << n) - 1); }
  static V load_first(const double* p, int n) { return _mm512_maskz_loadu_pd(first(n), p); }
  static void store_first(double* p, V v, int n) { _mm512_mask_storeu_pd(p, first(n), v); }
};

// The ymm halves, with AVX-512VL's mask registers for row tails: rows of up to 8 floats / 4
// doubles.
struct Avx512VlF32 {
  using S = float;
  using V = float __attribute__((vector_size(32)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 8;
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V broadcast(float s) { return _mm256_set1_ps(s); }
  static float sum_lanes(V v) { return sum_lanes_f32(v); }
  static __mmask8 first(int n) { return __mmask8((1u << n) - 1); }
  static V load_first(const float* p, int n) { return _mm256_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, V v, int n) { _mm256_mask_storeu_ps(p, first(n), v); }
};

struct Avx512VlF64 {
  using S = double;
  using V = double __attribute__((vector_size(32)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 4;
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V broadcast(double s) { return _mm256_set1_pd(s); }
  static double sum_lanes(V v) { return sum_lanes_f64(v); }
  static __mmask8 first(int n) { return __mmask8((1u << n) - 1); }
  static V load_first(const double* p, int n) { return _mm256_maskz_loadu_pd(first(n), p); }
  static void store_first(double* p, V v, int n) { _mm256_mask_storeu_pd(p, first(n), v); }
};

}  // namespace

const SmallDenseKernels<float> kSmallDenseF32Avx512 = small_dense_kernels_of_widths<Avx512VlF32, Avx512F32>();
const SmallDenseKernels<double> kSmallDenseF64Avx512 = small_dense_kernels_of_widths<Avx512VlF64, Avx512F64>();

}  // namespace chainrule::cpu::detail
