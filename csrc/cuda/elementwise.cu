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
    case Unary::Sigmoid: return cpu::act::sigmoid(x);
    case Unary::Tanh: return tanh(x);
    case Unary::Abs: return abs(x);
    case Unary::Sqrt: return sqrt(x);
    case Unary::LeakyRelu: return cpu::act::leaky_relu(x, slope);
    case Unary::Gelu: return cpu::act::gelu(x);
    case Unary::GeluTanh: return cpu::act::gelu_tanh(x);
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
  }
  return g;
}

template <typename T>
__global__ void unary_forward_kernel(T* out, const T* x, int64_t n, Unary op, T slope) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = unary_at(op, x[i], slope);
}

// y is only read by the ops whose derivative uses it (exp, sigmoid, tanh, sqrt); it may be null otherwise.
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
