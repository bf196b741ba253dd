// The activation functions and their derivatives, one element at a time. Every kernel that
// applies an activation (the elementwise ops, the fused dense epilogues, and their CUDA twins in
// csrc/cuda) calls these, so all paths use one formula per activation.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define CHAINRULE_HOST_DEVICE __host__ __device__
#else
#define CHAINRULE_HOST_DEVICE
#endif

namespace chainrule::cpu::act {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluTanhCoef = 0.044715;  // Hendrycks & Gimpel (2016), the tanh approximation

template <typename T> CHAINRULE_HOST_DEVICE inline T relu(T v) { return v > T(0) ? v : T(0); }
template <typename T> CHAINRULE_HOST_DEVICE inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }
template <typename T> CHAINRULE_HOST_DEVICE inline T leaky_relu(T v, T slope) { return v > T(0) ? v : v * slope; }
// PyTorch's GELU(approximate='none'): x * Phi(x) with the exact normal CDF.
template <typename T> CHAINRULE_HOST_DEVICE inline T gelu(T v) { return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2))); }
// PyTorch's GELU(approximate='tanh').
template <typename T> CHAINRULE_HOST_DEVICE inline T gelu_tanh(T v) {
  return T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v)));
}

// Backward: each returns d * act'(.) from what it needs (the output a, or the input v).
template <typename T> CHAINRULE_HOST_DEVICE inline T relu_backward(T d, T a) { return a > T(0) ? d : T(0); }
template <typename T> CHAINRULE_HOST_DEVICE inline T sigmoid_backward(T d, T a) { return d * (T(1) - a) * a; }
template <typename T> CHAINRULE_HOST_DEVICE inline T tanh_backward(T d, T a) { return d * (T(1) - a * a); }
// `sign` is the input, or the output when the slope is positive (same sign then).
template <typename T> CHAINRULE_HOST_DEVICE inline T leaky_relu_backward(T d, T sign, T slope) { return sign > T(0) ? d : d * slope; }
template <typename T> CHAINRULE_HOST_DEVICE inline T gelu_backward(T d, T v) {
  const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
  return d * (cdf + v * pdf);
}
template <typename T> CHAINRULE_HOST_DEVICE inline T gelu_tanh_backward(T d, T v) {
  const T t = std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v));
  const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluTanhCoef) * v * v);
  return d * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dinner);
}

}  // namespace chainrule::cpu::act
