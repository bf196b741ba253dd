// Per-element helpers of the CUDA kernels. The activation formulas are the CPU's own
// (include/chainrule/activation_math.h, compiled for the device too), so results agree with the CPU to
// rounding (nvcc may fuse a multiply and an add where the CPU compiler does not).
#pragma once

#include <cstdint>

#include "chainrule/activation_math.h"
#include "chainrule/kernel_types.h"

namespace chainrule::cuda::detail {

// Grid-stride loop over [0, n): each thread takes i, i + stride, ...
#define CHAINRULE_GRID_STRIDE(i, n)                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// act(v) for the fused chain's activations (cpu::bias_activation_block). param is the slope
// (LeakyRelu), alpha (Elu, Celu), beta (Softplus) or min_val (Hardtanh); param2 is Softplus's
// threshold or Hardtanh's max_val.
template <typename T>
__device__ inline T activate(cpu::Activation act, T v, T param, T param2 = T(0)) {
  switch (act) {
    case cpu::Activation::Identity: return v;
    case cpu::Activation::Relu: return cpu::act::relu(v);
    case cpu::Activation::Sigmoid: return cpu::act::sigmoid(v);
    case cpu::Activation::Tanh: return tanh(v);
    case cpu::Activation::LeakyRelu: return cpu::act::leaky_relu(v, param);
    case cpu::Activation::Gelu: return cpu::act::gelu(v);
    case cpu::Activation::GeluTanh: return cpu::act::gelu_tanh(v);
    case cpu::Activation::Silu: return cpu::act::silu(v);
    case cpu::Activation::Elu: return cpu::act::elu(v, param);
    case cpu::Activation::Selu: return T(cpu::act::kSeluScale) * cpu::act::elu(v, T(cpu::act::kSeluAlpha));
    case cpu::Activation::Celu: return cpu::act::celu(v, param);
    case cpu::Activation::Softplus: return cpu::act::softplus(v, param, param2);
    case cpu::Activation::Mish: return cpu::act::mish(v);
    case cpu::Activation::Hardtanh: return cpu::act::hardtanh(v, param, param2);
    case cpu::Activation::Hardswish: return cpu::act::hardswish(v);
    case cpu::Activation::LogSigmoid: return cpu::act::log_sigmoid(v);
    case cpu::Activation::Softsign: return cpu::act::softsign(v);
  }
  return v;
}

// dL/dz from dL/da = g, the output a and the pre-activation z (null-able, as in
// cpu::activation_backward_block; the host checks that z is there when the derivative needs it).
template <typename T>
__device__ inline T activation_backward(cpu::Activation act, T g, T a, const T* z, int64_t i, T param,
                                        T param2 = T(0)) {
  switch (act) {
    case cpu::Activation::Identity: return g;
    case cpu::Activation::Relu: return cpu::act::relu_backward(g, a);
    case cpu::Activation::Sigmoid: return cpu::act::sigmoid_backward(g, a);
    case cpu::Activation::Tanh: return cpu::act::tanh_backward(g, a);
    case cpu::Activation::LeakyRelu: return cpu::act::leaky_relu_backward(g, z ? z[i] : a, param);
    case cpu::Activation::Gelu: return cpu::act::gelu_backward(g, z[i]);
    case cpu::Activation::GeluTanh: return cpu::act::gelu_tanh_backward(g, z[i]);
    case cpu::Activation::Silu: return cpu::act::silu_backward(g, z[i]);
    case cpu::Activation::Elu: return cpu::act::elu_backward(g, z[i], param);
    case cpu::Activation::Selu:
      return cpu::act::elu_backward(g * T(cpu::act::kSeluScale), z[i], T(cpu::act::kSeluAlpha));
    case cpu::Activation::Celu: return cpu::act::celu_backward(g, z[i], param);
    case cpu::Activation::Softplus: return cpu::act::softplus_backward(g, z[i], param, param2);
    case cpu::Activation::Mish: return cpu::act::mish_backward(g, z[i]);
    // From the output, which lies strictly inside exactly when the input does.
    case cpu::Activation::Hardtanh: return cpu::act::hardtanh_backward(g, a, param, param2);
    case cpu::Activation::Hardswish: return cpu::act::hardswish_backward(g, z[i]);
    case cpu::Activation::LogSigmoid: return cpu::act::log_sigmoid_backward(g, z[i]);
    case cpu::Activation::Softsign: return cpu::act::softsign_backward(g, z[i]);
  }
  return g;
}

}  // namespace chainrule::cuda::detail
