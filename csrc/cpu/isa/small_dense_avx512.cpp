// Tiny-layer kernels for AVX-512 (F, BW, DQ, VL): 16 floats / 8 doubles per zmm register, or a ymm
// register for rows that fit one; row tails by mask registers. Compiled with the AVX-512 flags
// only; entered after the run-time CPUID check.
#include <immintrin.h>

#include "small_dense_kernels.h"

namespace chainrule::cpu::detail {
namespace {

struct Avx512F32 {
  using S = float;
  using V = float __attribute__((vector_size(64)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 16;
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V broadcast(float s) { return _mm512_set1_ps(s); }
  static __mmask16 first(int n) { return __mmask16((1u << n) - 1); }
  static V load_first(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, V v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  // p[lane * stride] in each lane (stride at most the 32 features a small layer takes); the masked
  // form with a zero source, as in small_dense_avx2.cpp.
  static V gather_rows(const float* p, int64_t stride) {
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xFFFF),
                                    _mm512_mullo_epi32(lanes, _mm512_set1_epi32(int(stride))), p, 4);
  }
};

struct Avx512F64 {
  using S = double;
  using V = double __attribute__((vector_size(64)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = false;
  static constexpr int kLanes = 8;
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V broadcast(double s) { return _mm512_set1_pd(s); }
  static __mmask8 first(int n) { return __mmask8((1u << n) - 1); }
  static V load_first(const double* p, int n) { return _mm512_maskz_loadu_pd(first(n), p); }
  static void store_first(double* p, V v, int n) { _mm512_mask_storeu_pd(p, first(n), v); }
  static V gather_rows(const double* p, int64_t stride) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm512_mask_i32gather_pd(_mm512_setzero_pd(), __mmask8(0xFF),
                                    _mm256_mullo_epi32(lanes, _mm256_set1_epi32(int(stride))), p, 8);
  }
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
  static __mmask8 first(int n) { return __mmask8((1u << n) - 1); }
  static V load_first(const double* p, int n) { return _mm256_maskz_loadu_pd(first(n), p); }
  static void store_first(double* p, V v, int n) { _mm256_mask_storeu_pd(p, first(n), v); }
};

}  // namespace

const SmallDenseKernels<float> kSmallDenseF32Avx512 = small_dense_kernels_of_widths<Avx512VlF32, Avx512F32>();
const SmallDenseKernels<double> kSmallDenseF64Avx512 = small_dense_kernels_of_widths<Avx512VlF64, Avx512F64>();

}  // namespace chainrule::cpu::detail
