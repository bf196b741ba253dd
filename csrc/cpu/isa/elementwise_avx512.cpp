// Elementwise kernels for AVX-512 (F, BW, DQ, VL): 16 floats / 8 doubles per zmm register.
// Compiled with the AVX-512 flags only; entered after the run-time CPUID check (gemm.cpp).
#include <immintrin.h>

#include "elementwise_loops.h"

namespace chainrule::cpu::detail {
namespace {

struct Avx512F32 {
  using S = float;
  using V = float __attribute__((vector_size(64)));
  using I = int32_t __attribute__((vector_size(64)));
  using U = uint32_t __attribute__((vector_size(64)));
  using VD = double __attribute__((vector_size(128)));
  using ID = int64_t __attribute__((vector_size(128)));
  static constexpr int kLanes = 16;
  using Bytes = uint8_t __attribute__((vector_size(16)));  // one bool per lane
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static bool any(I mask) { return _mm512_test_epi32_mask(__m512i(mask), __m512i(mask)) != 0; }
};

struct Avx512F64 {
  using S = double;
  using V = double __attribute__((vector_size(64)));
  using I = int64_t __attribute__((vector_size(64)));
  using U = uint64_t __attribute__((vector_size(64)));
  using VD = V;
  using ID = I;
  static constexpr int kLanes = 8;
  using Bytes = uint8_t __attribute__((vector_size(8)));  // one bool per lane
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static bool any(I mask) { return _mm512_test_epi64_mask(__m512i(mask), __m512i(mask)) != 0; }
};

}  // namespace

const ElementwiseKernels<float> kElementwiseF32Avx512 = kernels_of<Avx512F32>();
const ElementwiseKernels<double> kElementwiseF64Avx512 = kernels_of<Avx512F64>();

}  // namespace chainrule::cpu::detail
