// Per-element formulas shared by the CUDA kernels: the device twins of the lambdas in
// csrc/cpu/elementwise.cpp, dense.cpp and loss.cpp, written the same way so results agree with the
// CPU to rounding (nvcc may fuse a multiply and an add where the CPU compiler does not).
#pragma once

#include <cstdint>

#include "chainrule/kernels.h"

namespace chainrule::cuda::detail {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluTanhCoef = 0.044715;  // Hendrycks & Gimpel (2016), the tanh approximation

// Grid-stride loop over [0, n): each thread takes i, i + stride, ...
#define CHAINRULE_GRID_STRIDE(i, n)                                                              \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);          \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <typename T> __device__ inline T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }
template <typename T> __device__ inline T gelu(T v) { return T(0.5) * v * (T(1) + erf(v * T(kInvSqrt2))); }
template <typename T> __device__ inline T gelu_tanh(T v) {
  return T(0.5) * v * (T(1) + tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v)));
}
template <typename T> __device__ inline T dgelu(T v) {
  T cdf = T(0.5) * (T(1) + erf(v * T(kInvSqrt2)));
  T pdf = T(kInvSqrt2Pi) * exp(T(-0.5) * v * v);
  return cdf + v * pdf;
}
template <typename T> __device__ inline T dgelu_tanh(T v) {
  T t = tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v));
  T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluTanhCoef) * v * v);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dinner;
}

// act(v) for the fused chain's activations (cpu::bias_activation_block).
template <typename T> __device__ inline T activate(cpu::Activation act, T v, T slope) {
  switch (act) {
    case cpu::Activation::Identity: return v;
    case cpu::Activation::Relu: return v > T(0) ? v : T(0);
    case cpu::Activation::Sigmoid: return sigmoid(v);
    case cpu::Activation::Tanh: return tanh(v);
    case cpu::Activation::LeakyRelu: return v > T(0) ? v : v * slope;
    case cpu::Activation::Gelu: return gelu(v);
    case cpu::Activation::GeluTanh: return gelu_tanh(v);
  }
  return v;
}

// dL/dz from dL/da = g, the output a and the pre-activation z (null-able, as in
// cpu::activation_backward_row).
template <typename T>
__device__ inline T activation_backward(cpu::Activation act, T g, T a, const T* z, int64_t i, T slope) {
  switch (act) {
    case cpu::Activation::Identity: return g;
    case cpu::Activation::Relu: return a > T(0) ? g : T(0);
    case cpu::Activation::Sigmoid: return g * (T(1) - a) * a;
    case cpu::Activation::Tanh: return g * (T(1) - a * a);
    case cpu::Activation::LeakyRelu: return (z ? z[i] : a) > T(0) ? g : g * slope;
    case cpu::Activation::Gelu: return g * dgelu(z[i]);
    case cpu::Activation::GeluTanh: return g * dgelu_tanh(z[i]);
  }
  return g;
}

}  // namespace chainrule::cuda::detail
