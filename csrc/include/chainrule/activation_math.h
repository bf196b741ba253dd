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

template <typename T>
CHAINRULE_HOST_DEVICE inline T relu(T v) {
  return v > T(0) ? v : T(0);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T leaky_relu(T v, T slope) {
  return v > T(0) ? v : v * slope;
}
// PyTorch's GELU(approximate='none'): x * Phi(x) with the exact normal CDF.
template <typename T>
CHAINRULE_HOST_DEVICE inline T gelu(T v) {
  return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
}
// PyTorch's GELU(approximate='tanh').
template <typename T>
CHAINRULE_HOST_DEVICE inline T gelu_tanh(T v) {
  return T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v)));
}

// Backward: each returns d * act'(.) from what it needs (the output a, or the input v).
template <typename T>
CHAINRULE_HOST_DEVICE inline T relu_backward(T d, T a) {
  return a > T(0) ? d : T(0);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T sigmoid_backward(T d, T a) {
  return d * (T(1) - a) * a;
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T tanh_backward(T d, T a) {
  return d * (T(1) - a * a);
}
// `sign` is the input, or the output when the slope is positive (same sign then).
template <typename T>
CHAINRULE_HOST_DEVICE inline T leaky_relu_backward(T d, T sign, T slope) {
  return sign > T(0) ? d : d * slope;
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T gelu_backward(T d, T v) {
  const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
  return d * (cdf + v * pdf);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T gelu_tanh_backward(T d, T v) {
  const T t = std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v));
  const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluTanhCoef) * v * v);
  return d * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dinner);
}

// The activations of PyTorch's nn that have no Unary op of their own, with their derivatives
// (`v` the input). Formulas and branch points follow PyTorch's CPU kernels.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;  // Klambauer et al. (2017)
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <typename T>
CHAINRULE_HOST_DEVICE inline T silu(T v) {
  return v / (T(1) + std::exp(-v));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T silu_backward(T d, T v) {
  const T s = T(1) / (T(1) + std::exp(-v));
  return d * s * (T(1) + v * (T(1) - s));
}
// ELU with alpha; SELU is scale * elu(v, kSeluAlpha); CELU is elu with the input divided by alpha.
template <typename T>
CHAINRULE_HOST_DEVICE inline T elu(T v, T alpha) {
  return v > T(0) ? v : alpha * (std::exp(v) - T(1));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T elu_backward(T d, T v, T alpha) {
  return v > T(0) ? d : d * alpha * std::exp(v);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T celu(T v, T alpha) {
  return v > T(0) ? v : alpha * (std::exp(v / alpha) - T(1));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T celu_backward(T d, T v, T alpha) {
  return v > T(0) ? d : d * std::exp(v / alpha);
}
// log(1 + exp(beta v)) / beta, and v itself where beta v > threshold.
template <typename T>
CHAINRULE_HOST_DEVICE inline T softplus(T v, T beta, T threshold) {
  const T bv = v * beta;
  if (bv > threshold) return v;
  return (relu(bv) + std::log1p(std::exp(-std::fabs(bv)))) / beta;
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T softplus_backward(T d, T v, T beta, T threshold) {
  const T bv = v * beta;
  return bv > threshold ? d : d * sigmoid(bv);
}
// v * tanh(softplus(v)) (Misra 2019).
template <typename T>
CHAINRULE_HOST_DEVICE inline T mish(T v) {
  return v * std::tanh(softplus(v, T(1), T(20)));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T mish_backward(T d, T v) {
  const T t = std::tanh(std::log1p(std::exp(v)));
  return d * (t + v * sigmoid(v) * (T(1) - t * t));
}
// Clamp to [lo, hi]; the gradient passes strictly inside only. a is the input or the output:
// either lies strictly inside exactly when the other does.
template <typename T>
CHAINRULE_HOST_DEVICE inline T hardtanh(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T hardtanh_backward(T d, T a, T lo, T hi) {
  return (a <= lo || a >= hi) ? T(0) : d;
}
// v * relu6(v + 3) / 6 (Howard et al. 2019).
template <typename T>
CHAINRULE_HOST_DEVICE inline T hardswish(T v) {
  return v * hardtanh(v + T(3), T(0), T(6)) / T(6);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T hardswish_backward(T d, T v) {
  if (v < T(-3)) return T(0);
  return v <= T(3) ? d * (v / T(3) + T(0.5)) : d;
}
// log(sigmoid(v)) = min(v, 0) - log(1 + exp(-|v|)), finite for any v.
template <typename T>
CHAINRULE_HOST_DEVICE inline T log_sigmoid(T v) {
  return (v < T(0) ? v : T(0)) - std::log1p(std::exp(-std::fabs(v)));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T log_sigmoid_backward(T d, T v) {
  return d * sigmoid(-v);
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T softsign(T v) {
  return v / (T(1) + std::fabs(v));
}
template <typename T>
CHAINRULE_HOST_DEVICE inline T softsign_backward(T d, T v) {
  const T s = T(1) + std::fabs(v);
  return d / (s * s);
}

}  // namespace chainrule::cpu::act
