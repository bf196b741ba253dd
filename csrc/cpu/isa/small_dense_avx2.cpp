// Tiny-layer kernels for AVX2 + FMA: 8 floats / 4 doubles per ymm register. Row tails load by
// vmaskmov lane masks and store whole into the next row where one follows (AMD's Zen cores
// microcode the vmaskmov store). Compiled with -mavx2 -mfma only; entered after the CPUID check.
#include <immintrin.h>

#include "small_dense_kernels.h"

namespace chainrule::cpu::detail {
namespace {

struct Avx2F32 {
  using S = float;
  using V = float __attribute__((vector_size(32)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = true;
  static constexpr int kLanes = 8;
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V broadcast(float s) { return _mm256_set1_ps(s); }
  // Lane i is on when i < n.
  static __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_first(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_first(float* p, V v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  // p[lane * stride] in each lane (stride at most the 32 features a small layer takes). The masked
  // form with a zero source and every lane on: the plain one leaves GCC 12 warning about its
  // undefined source vector.
  static V gather_rows(const float* p, int64_t stride) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, _mm256_mullo_epi32(lanes, _mm256_set1_epi32(int(stride))),
                                    all, 4);
  }
};

struct Avx2F64 {
  using S = double;
  using V = double __attribute__((vector_size(32)));
  static constexpr bool kSlowPartialLoads = false, kSlowPartialStores = true;
  static constexpr int kLanes = 4;
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V broadcast(double s) { return _mm256_set1_pd(s); }
  static __m256i first(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static V load_first(const double* p, int n) { return _mm256_maskload_pd(p, first(n)); }
  static void store_first(double* p, V v, int n) { _mm256_maskstore_pd(p, first(n), v); }
  static V gather_rows(const double* p, int64_t stride) {
    const __m128i lanes = _mm_setr_epi32(0, 1, 2, 3);
    const __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
    return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), p, _mm_mullo_epi32(lanes, _mm_set1_epi32(int(stride))), all,
                                    8);
  }
};

}  // namespace

const SmallDenseKernels<float> kSmallDenseF32Avx2 = small_dense_kernels_of<Avx2F32>();
const SmallDenseKernels<double> kSmallDenseF64Avx2 = small_dense_kernels_of<Avx2F64>();

}  // namespace chainrule::cpu::detail
