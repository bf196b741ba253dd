// Elementwise kernels for AArch64 Advanced SIMD: 4 floats / 2 doubles per q register.
// Built on AArch64 only, where NEON is part of the base architecture.
#include <arm_neon.h>

#include "elementwise_loops.h"

namespace chainrule::cpu::detail {
namespace {

struct NeonF32 {
  using S = float;
  using V = float __attribute__((vector_size(16)));
  using I = int32_t __attribute__((vector_size(16)));
  using U = uint32_t __attribute__((vector_size(16)));
  using VD = double __attribute__((vector_size(32)));
  using ID = int64_t __attribute__((vector_size(32)));
  static constexpr int kLanes = 4;
  using Bytes = uint8_t __attribute__((vector_size(4)));  // one bool per lane
  static V fma(V a, V b, V c) { return V(vfmaq_f32(float32x4_t(c), float32x4_t(a), float32x4_t(b))); }
  static bool any(I mask) { return vmaxvq_u32(uint32x4_t(mask)) != 0; }
};

struct NeonF64 {
  using S = double;
  using V = double __attribute__((vector_size(16)));
  using I = int64_t __attribute__((vector_size(16)));
  using U = uint64_t __attribute__((vector_size(16)));
  using VD = V;
  using ID = I;
  static constexpr int kLanes = 2;
  using Bytes = uint8_t __attribute__((vector_size(2)));  // one bool per lane
  static V fma(V a, V b, V c) { return V(vfmaq_f64(float64x2_t(c), float64x2_t(a), float64x2_t(b))); }
  static bool any(I mask) { return vmaxvq_u32(uint32x4_t(mask)) != 0; }
};

}  // namespace

const ElementwiseKernels<float> kElementwiseF32Neon = kernels_of<NeonF32>();
const ElementwiseKernels<double> kElementwiseF64Neon = kernels_of<NeonF64>();

}  // namespace chainrule::cpu::detail
