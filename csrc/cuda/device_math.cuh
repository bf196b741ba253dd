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

// act(v) for the fused chain's activations (cpu::bias_activation_block).
template <typename T>
__device__ inline T activate(cpu::Activation act, T v, T slope) {
  switch (act) {
    case cpu::Activation::Identity: return v;
    case cpu::Activation::Relu: return cpu::act::relu(v);
    case cpu::Activation::Sigmoid: return cpu::act::sigmoid(v);
    case cpu::Activation::Tanh: return tanh(v);
    case cpu::Activation::LeakyRelu: return cpu::act::leaky_relu(v, slope);
    case cpu::Activation::Gelu: return cpu::act::gelu(v);
    case cpu::Activation::GeluTanh: return cpu::act::gelu_tanh(v);
  }
  return v;
}

// dL/dz from dL/da = g, the output a and the pre-activation z (null-able, as in
// cpu::activation_backward_row).
template <typename T>
__device__ inline T activation_backward(cpu::Activation act, T g, T a, const T* z, int64_t i, T slope) {
  switch (act) {
    case cpu::Activation::Identity: return g;
    case cpu::Activation::Relu: return cpu::act::relu_backward(g, a);
    case cpu::Activation::Sigmoid: return cpu::act::sigmoid_backward(g, a);
    case cpu::Activation::Tanh: return cpu::act::tanh_backward(g, a);
    case cpu::Activation::LeakyRelu: return cpu::act::leaky_relu_backward(g, z ? z[i] : a, slope);
    case cpu::Activation::Gelu: return cpu::act::gelu_backward(g, z[i]);
    case cpu::Activation::GeluTanh: return cpu::act::gelu_tanh_backward(g, z[i]);
  }
  return g;
}

}  // namespace chainrule::cuda::detail
