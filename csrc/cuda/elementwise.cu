// Elementwise kernels (the twins of csrc/cpu/elementwise.cpp's unary_forward / unary_backward).
#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

namespace {
using namespace detail;

template <typename T>
__device__ inline T unary_at(Unary op, T x, T slope) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Exp: return exp(x);
    case Unary::Log: return log(x);
    case Unary::Relu: return cpu::act::relu(x);
    case Unary::Sigmoid: {  // e^x / (1 + e^x) below 0, as the CPU: exact deep in the negative tail
      const T e = exp(-abs(x));
      return (x >= T(0) ? T(1) : e) / (T(1) + e);
    }
    case Unary::Tanh: return tanh(x);
    case Unary::Abs: return abs(x);
    case Unary::Sqrt: return sqrt(x);
    case Unary::LeakyRelu: return cpu::act::leaky_relu(x, slope);
    case Unary::Gelu: return cpu::act::gelu(x);
    case Unary::GeluTanh: return cpu::act::gelu_tanh(x);
    case Unary::Sin: return sin(x);
    case Unary::Cos: return cos(x);
    case Unary::Tan: return tan(x);
    case Unary::Log1p: return log1p(x);
    case Unary::Expm1: return expm1(x);
    case Unary::Rsqrt: return T(1) / sqrt(x);  // as the CPU rounds it, not rsqrt()'s approximation
    case Unary::Sign: return x != x ? x : static_cast<T>((x > T(0)) - (x < T(0)));  // sign(nan) is nan
    case Unary::Floor: return floor(x);
    case Unary::Ceil: return ceil(x);
    case Unary::Round: return nearbyint(x);  // half to even, as std::nearbyint in the default mode
    case Unary::Square: return x * x;
    case Unary::Reciprocal: return T(1) / x;
    case Unary::Log2: return log2(x);
    case Unary::Log10: return log10(x);
    case Unary::Erf: return erf(x);
  }
  return x;
}

template <typename T>
__device__ inline T dunary_at(Unary op, T g, T x, T y, T slope) {
  switch (op) {
    case Unary::Neg: return -g;
    case Unary::Exp: return g * y;
    case Unary::Log: return g / x;
    case Unary::Relu: return cpu::act::relu_backward(g, x);
    case Unary::Sigmoid: return cpu::act::sigmoid_backward(g, y);
    case Unary::Tanh: return cpu::act::tanh_backward(g, y);
    case Unary::Abs: return x > T(0) ? g : (x < T(0) ? -g : T(0));
    case Unary::Sqrt: return g / (T(2) * y);
    case Unary::LeakyRelu: return cpu::act::leaky_relu_backward(g, x, slope);
    case Unary::Gelu: return cpu::act::gelu_backward(g, x);
    case Unary::GeluTanh: return cpu::act::gelu_tanh_backward(g, x);
    case Unary::Sin: return g * cos(x);
    case Unary::Cos: return -g * sin(x);
    case Unary::Tan: return g * (T(1) + y * y);
    case Unary::Log1p: return g / (T(1) + x);
    case Unary::Expm1: return g * (y + T(1));
    case Unary::Rsqrt: return T(-0.5) * g * y * y * y;
    case Unary::Sign:
    case Unary::Floor:
    case Unary::Ceil:
    case Unary::Round: return T(0);
    case Unary::Square: return T(2) * x * g;
    case Unary::Reciprocal: return -g * y * y;
    case Unary::Log2: return g / (x * T(0.69314718055994530942));
    case Unary::Log10: return g / (x * T(2.30258509299404568402));
    case Unary::Erf: return g * T(1.12837916709551257390) * exp(-x * x);
  }
  return g;
}

template <typename T>
__global__ void unary_forward_kernel(T* out, const T* x, int64_t n, Unary op, T slope) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = unary_at(op, x[i], slope);
}

// y is only read by the ops whose derivative uses it (exp, sigmoid, tanh, sqrt, tan, expm1, rsqrt,
// reciprocal); it may be null otherwise.
template <typename T>
__global__ void unary_backward_kernel(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, T slope) {
  CHAINRULE_GRID_STRIDE(i, n) dx[i] = dunary_at(op, dout[i], x ? x[i] : T(0), y ? y[i] : T(0), slope);
}
}  // namespace

template <typename T>
void unary_forward(T* out, const T* x, int64_t n, Unary op, double param, cudaStream_t stream) {
  if (n <= 0) return;
  unary_forward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, stream>>>(out, x, n, op, static_cast<T>(param));
  CHAINRULE_CUDA_CHECK_LAUNCH("unary_forward_kernel");
}

template <typename T>
void unary_backward(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, double param,
                    cudaStream_t stream) {
  if (n <= 0) return;
  unary_backward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, stream>>>(dx, dout, x, y, n, op, static_cast<T>(param));
  CHAINRULE_CUDA_CHECK_LAUNCH("unary_backward_kernel");
}

#define CHAINRULE_CUDA_UNARY(T)                                                       \
  template void unary_forward<T>(T*, const T*, int64_t, Unary, double, cudaStream_t); \
  template void unary_backward<T>(T*, const T*, const T*, const T*, int64_t, Unary, double, cudaStream_t);
CHAINRULE_CUDA_UNARY(float)
CHAINRULE_CUDA_UNARY(double)
#undef CHAINRULE_CUDA_UNARY

}  // namespace chainrule::cuda
