// Epilogue kernels of the fused dense chain: bias + activation after the forward GEMM, the
// activation derivative after the input-gradient GEMM, and the bias gradient.
#include <cmath>
#include <cstring>

#include "chainrule/kernels.h"
#include "cpu/parallel.h"

namespace chainrule::cpu {

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluTanhCoef = 0.044715;
}  // namespace

bool activation_derivative_from_output(Activation act, double param) {
  switch (act) {
    case Activation::Gelu: case Activation::GeluTanh: return false;
    // a > 0 tells z > 0 only when the negative side keeps its sign.
    case Activation::LeakyRelu: return param > 0;
    default: return true;
  }
}

template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param) {
  const T slope = static_cast<T>(param);
  parallel_for(B, B * OC > kParallelElements, [&](int64_t b) {
    T* row = a + b * OC;
    if (bias)
      for (int64_t o = 0; o < OC; ++o) row[o] += bias[o];
    if (z) std::memcpy(z + b * OC, row, sizeof(T) * OC);
    switch (act) {
      case Activation::Identity: break;
      case Activation::Relu:
        for (int64_t o = 0; o < OC; ++o) row[o] = row[o] > T(0) ? row[o] : T(0);
        break;
      case Activation::Sigmoid:
        for (int64_t o = 0; o < OC; ++o) row[o] = T(1) / (T(1) + std::exp(-row[o]));
        break;
      case Activation::Tanh:
        for (int64_t o = 0; o < OC; ++o) row[o] = std::tanh(row[o]);
        break;
      case Activation::LeakyRelu:
        for (int64_t o = 0; o < OC; ++o) row[o] = row[o] > T(0) ? row[o] : row[o] * slope;
        break;
      case Activation::Gelu:
        for (int64_t o = 0; o < OC; ++o) row[o] = T(0.5) * row[o] * (T(1) + std::erf(row[o] * T(kInvSqrt2)));
        break;
      case Activation::GeluTanh:
        for (int64_t o = 0; o < OC; ++o) {
          T v = row[o];
          row[o] = T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v)));
        }
        break;
    }
  });
}

template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param) {
  const T slope = static_cast<T>(param);
  switch (act) {
    case Activation::Identity: return;
    case Activation::Relu:
      parallel_for(n, n > kParallelElements, [&](int64_t i) { dz[i] = a[i] > T(0) ? dz[i] : T(0); });
      return;
    case Activation::Sigmoid:
      parallel_for(n, n > kParallelElements, [&](int64_t i) { dz[i] = dz[i] * (T(1) - a[i]) * a[i]; });
      return;
    case Activation::Tanh:
      parallel_for(n, n > kParallelElements, [&](int64_t i) { dz[i] = dz[i] * (T(1) - a[i] * a[i]); });
      return;
    case Activation::LeakyRelu:
      // With slope > 0 the sign of a is the sign of z; otherwise z was kept.
      parallel_for(n, n > kParallelElements, [&](int64_t i) { dz[i] = (z ? z[i] : a[i]) > T(0) ? dz[i] : dz[i] * slope; });
      return;
    case Activation::Gelu:
      parallel_for(n, n > kParallelElements, [&](int64_t i) {
        T v = z[i];
        T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
        T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
        dz[i] = dz[i] * (cdf + v * pdf);
      });
      return;
    case Activation::GeluTanh:
      parallel_for(n, n > kParallelElements, [&](int64_t i) {
        T v = z[i];
        T t = std::tanh(T(kSqrt2OverPi) * (v + T(kGeluTanhCoef) * v * v * v));
        T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluTanhCoef) * v * v);
        dz[i] = dz[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dinner);
      });
      return;
  }
}

template <typename T> void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate) {
  // Row after row in a fixed order: the same sums as sum_dim_forward, for any thread count.
  if (!accumulate) std::memset(dbias, 0, sizeof(T) * OC);
  for (int64_t b = 0; b < B; ++b) {
    const T* row = dout + b * OC;
    for (int64_t o = 0; o < OC; ++o) dbias[o] += row[o];
  }
}

#define CHAINRULE_DENSE(T)                                                                              \
  template void bias_activation_forward<T>(T*, T*, const T*, int64_t, int64_t, Activation, double);     \
  template void activation_backward_inplace<T>(T*, const T*, const T*, int64_t, Activation, double);    \
  template void bias_grad<T>(T*, const T*, int64_t, int64_t, bool);
CHAINRULE_DENSE(float)
CHAINRULE_DENSE(double)
#undef CHAINRULE_DENSE

}  // namespace chainrule::cpu
