// GELU over float arrays in 8 double lanes, compiled with this file's ISA flags (see gelu_kernels.h).
#include "gelu_kernels.h"

namespace chainrule::cpu::detail {

void gelu_f32__avx512(float* x, int64_t n) { gelu_lanes::gelu<8>(x, n); }

void gelu_backward_f32__avx512(float* d, const float* z, int64_t n) { gelu_lanes::gelu_backward<8>(d, z, n); }

}  // namespace chainrule::cpu::detail
