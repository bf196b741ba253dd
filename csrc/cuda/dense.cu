// Epilogue kernels of the dense chain (the twins of csrc/cpu/dense.cpp): bias + activation after the
// forward GEMM, the activation derivative and the bias gradient after the backward GEMMs. linear.cu
// runs them when cuBLASLt has no fused epilogue for the case.
#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

namespace {
using namespace detail;

template <typename T>
__global__ void bias_activation_kernel(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, T param,
                                       T param2) {
  CHAINRULE_GRID_STRIDE(i, B * OC) {
    T v = a[i];
    if (bias) v += bias[i % OC];
    if (z) z[i] = v;
    a[i] = activate(act, v, param, param2);
  }
}

template <typename T>
__global__ void activation_backward_kernel(T* dz, const T* a, const T* z, int64_t n, Activation act, T param,
                                           T param2) {
  CHAINRULE_GRID_STRIDE(i, n) dz[i] = activation_backward(act, dz[i], a[i], z, i, param, param2);
}

// One thread per column, summing its rows in order: the CPU's order (bias_grad adds row after row),
// so the result is deterministic and matches the CPU. Adjacent threads read adjacent columns, so
// each row's loads are coalesced.
template <typename T>
__global__ void bias_grad_kernel(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate) {
  CHAINRULE_GRID_STRIDE(o, OC) {
    T s = accumulate ? dbias[o] : T(0);
    for (int64_t b = 0; b < B; ++b) s += dout[b * OC + o];
    dbias[o] = s;
  }
}
}  // namespace

template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param,
                             double param2, cudaStream_t stream) {
  if (B * OC <= 0) return;
  bias_activation_kernel<T><<<grid_for(B * OC), kThreadsPerBlock, 0, stream>>>(
      a, z, bias, B, OC, act, static_cast<T>(param), static_cast<T>(param2));
  CHAINRULE_CUDA_CHECK_LAUNCH("bias_activation_kernel");
}

template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param, double param2,
                                 cudaStream_t stream) {
  if (n <= 0 || act == Activation::Identity) return;
  // A kernel reading through a null z would fault and poison the CUDA context for the process.
  if (!z && !cpu::activation_derivative_from_output(act, param))
    throw ValueError("activation_backward_inplace: this activation's derivative needs the pre-activation z");
  activation_backward_kernel<T>
      <<<grid_for(n), kThreadsPerBlock, 0, stream>>>(dz, a, z, n, act, static_cast<T>(param), static_cast<T>(param2));
  CHAINRULE_CUDA_CHECK_LAUNCH("activation_backward_kernel");
}

template <typename T>
void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate, cudaStream_t stream) {
  if (OC <= 0) return;
  bias_grad_kernel<T><<<grid_for(OC), kThreadsPerBlock, 0, stream>>>(dbias, dout, B, OC, accumulate);
  CHAINRULE_CUDA_CHECK_LAUNCH("bias_grad_kernel");
}

#define CHAINRULE_CUDA_DENSE(T)                                                                             \
  template void bias_activation_forward<T>(T*, T*, const T*, int64_t, int64_t, Activation, double, double,  \
                                           cudaStream_t);                                                   \
  template void activation_backward_inplace<T>(T*, const T*, const T*, int64_t, Activation, double, double, \
                                               cudaStream_t);                                               \
  template void bias_grad<T>(T*, const T*, int64_t, int64_t, bool, cudaStream_t);
CHAINRULE_CUDA_DENSE(float)
CHAINRULE_CUDA_DENSE(double)
#undef CHAINRULE_CUDA_DENSE

}  // namespace chainrule::cuda
