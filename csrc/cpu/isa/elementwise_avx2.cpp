// Elementwise kernels for AVX2 + FMA: 8 floats / 4 doubles per ymm register.
// Compiled with -mavx2 -mfma only; entered after the run-time CPUID check (gemm.cpp).
#include <immintrin.h>

#include "elementwise_loops.h"

namespace chainrule::cpu::detail {
namespace {

struct Avx2F32 {
  using S = float;
  using V = float __attribute__((vector_size(32)));
  using I = int32_t __attribute__((vector_size(32)));
  using U = uint32_t __attribute__((vector_size(32)));
  using VD = double __attribute__((vector_size(64)));
  using ID = int64_t __attribute__((vector_size(64)));
  static constexpr int kLanes = 8;
  using Bytes = uint8_t __attribute__((vector_size(8)));  // one bool per lane
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static bool any(I mask) { return !_mm256_testz_si256(__m256i(mask), __m256i(mask)); }
};

struct Avx2F64 {
  using S = double;
  using V = double __attribute__((vector_size(32)));
  using I = int64_t __attribute__((vector_size(32)));
  using U = uint64_t __attribute__((vector_size(32)));
  using VD = V;
  using ID = I;
  static constexpr int kLanes = 4;
  using Bytes = uint8_t __attribute__((vector_size(4)));  // one bool per lane
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static bool any(I mask) { return !_mm256_testz_si256(__m256i(mask), __m256i(mask)); }
};

}  // namespace

const ElementwiseKernels<float> kElementwiseF32Avx2 = kernels_of<Avx2F32>();
const ElementwiseKernels<double> kElementwiseF64Avx2 = kernels_of<Avx2F64>();

}  // namespace chainrule::cpu::detail
