// Loss kernels (the twins of csrc/cpu/loss.cpp). Formulas follow PyTorch's documentation of each
// loss, written as the CPU writes them.
#include <type_traits>

#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

namespace {
using namespace detail;

// BCELoss clamps each log term at -100 (PyTorch docs); its gradient divides by max(p (1 - p), 1e-12).
constexpr double kBceLogClamp = -100.0;
constexpr double kBceGradEps = 1e-12;

// std::max's semantics ((a < b) ? b : a; a NaN in `a` survives), unlike fmax, which drops NaNs.
template <typename T>
__device__ inline T max_like_std(T a, T b) {
  return a < b ? b : a;
}

template <typename T>
__device__ inline T loss_at(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE: {
      T d = p - t;
      return d * d;
    }
    case Loss::L1: return abs(p - t);
    case Loss::Huber: {
      T z = abs(p - t);
      return z < delta ? T(0.5) * z * z : delta * (z - T(0.5) * delta);
    }
    case Loss::BCE: {
      T log_p = max_like_std(log(p), T(kBceLogClamp));
      T log_1mp = max_like_std(log1p(-p), T(kBceLogClamp));
      return -(t * log_p + (T(1) - t) * log_1mp);
    }
    case Loss::BCEWithLogits: {
      // (1 - t) x + log(1 + exp(-x)), written with max(-x, 0) so neither exp overflows.
      T m = max_like_std(-p, T(0));
      return (T(1) - t) * p + m + log(exp(-m) + exp(-p - m));
    }
  }
  return T(0);
}

template <typename T>
__device__ inline T dloss_dpred(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE: return T(2) * (p - t);
    case Loss::L1: {
      T d = p - t;
      return d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
    }
    case Loss::Huber: {
      T d = p - t;
      return d < -delta ? -delta : (d > delta ? delta : d);
    }
    case Loss::BCE: return (p - t) / max_like_std((T(1) - p) * p, T(kBceGradEps));
    case Loss::BCEWithLogits: return T(1) / (T(1) + exp(-p)) - t;
  }
  return T(0);
}

template <typename T>
__device__ inline T dloss_dtarget(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE:
    case Loss::L1:
    case Loss::Huber: return -dloss_dpred(loss, p, t, delta);
    case Loss::BCEWithLogits: return -p;
    case Loss::BCE: return T(0);
  }
  return T(0);
}

template <typename T>
__global__ void loss_forward_kernel(T* out, const T* pred, const T* target, int64_t n, Loss loss, T delta) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = loss_at(loss, pred[i], target[i], delta);
}

template <typename T>
__global__ void loss_backward_kernel(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred,
                                     const T* target, int64_t n, Loss loss, T delta) {
  CHAINRULE_GRID_STRIDE(i, n) {
    const T g = dout_is_scalar ? dout[0] : dout[i];
    if (dpred) dpred[i] = g * dloss_dpred(loss, pred[i], target[i], delta);
    if (dtarget) dtarget[i] = g * dloss_dtarget(loss, pred[i], target[i], delta);
  }
}

// Float sums run in double, as the CPU's softmax does (acc_t in csrc/cpu/reduce.cpp).
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

// One thread per row: the CPU's loop (max, then the sum of exp(x - max) in row order, then
// (x - max) - log(s)), which keeps the sum's order, and so its rounding, the CPU's. Rows of many
// thousands of classes would want a block per row; dense nets' heads are small.
template <typename T>
__global__ void cross_entropy_forward_kernel(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N,
                                             int64_t C) {
  CHAINRULE_GRID_STRIDE(i, N) {
    const T* x = logits + i * C;
    T* lp = log_probs + i * C;
    T mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = max_like_std(mx, x[c]);
    acc_t<T> s = 0;
    for (int64_t c = 0; c < C; ++c) s += exp(x[c] - mx);
    const T log_s = static_cast<T>(log(s));
    for (int64_t c = 0; c < C; ++c) lp[c] = (x[c] - mx) - log_s;
    losses[i] = -lp[target[i]];
  }
}

template <typename T>
__global__ void cross_entropy_backward_kernel(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs,
                                              const int64_t* target, int64_t N, int64_t C) {
  CHAINRULE_GRID_STRIDE(k, N * C) {
    const int64_t i = k / C, c = k % C;
    const T g = dout_is_scalar ? dout[0] : dout[i];
    T v = g * exp(log_probs[k]);  // g * softmax
    if (c == target[i]) v -= g;   // - g * onehot
    dlogits[k] = v;
  }
}
}  // namespace

template <typename T>
void loss_forward(T* out, const T* pred, const T* target, int64_t n, Loss loss, double param, cudaStream_t stream) {
  if (n <= 0) return;
  loss_forward_kernel<T>
      <<<grid_for(n), kThreadsPerBlock, 0, stream>>>(out, pred, target, n, loss, static_cast<T>(param));
  CHAINRULE_CUDA_CHECK_LAUNCH("loss_forward_kernel");
}

template <typename T>
void loss_backward(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target, int64_t n,
                   Loss loss, double param, cudaStream_t stream) {
  if (n <= 0 || (!dpred && !dtarget)) return;
  loss_backward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, stream>>>(dpred, dtarget, dout, dout_is_scalar, pred,
                                                                        target, n, loss, static_cast<T>(param));
  CHAINRULE_CUDA_CHECK_LAUNCH("loss_backward_kernel");
}

template <typename T>
void cross_entropy_forward(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N, int64_t C,
                           cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  cross_entropy_forward_kernel<T>
      <<<grid_for(N), kThreadsPerBlock, 0, stream>>>(losses, log_probs, logits, target, N, C);
  CHAINRULE_CUDA_CHECK_LAUNCH("cross_entropy_forward_kernel");
}

template <typename T>
void cross_entropy_backward(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs, const int64_t* target,
                            int64_t N, int64_t C, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  cross_entropy_backward_kernel<T>
      <<<grid_for(N * C), kThreadsPerBlock, 0, stream>>>(dlogits, dout, dout_is_scalar, log_probs, target, N, C);
  CHAINRULE_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

#define CHAINRULE_CUDA_LOSS(T)                                                                                     \
  template void loss_forward<T>(T*, const T*, const T*, int64_t, Loss, double, cudaStream_t);                      \
  template void loss_backward<T>(T*, T*, const T*, bool, const T*, const T*, int64_t, Loss, double, cudaStream_t); \
  template void cross_entropy_forward<T>(T*, T*, const T*, const int64_t*, int64_t, int64_t, cudaStream_t);        \
  template void cross_entropy_backward<T>(T*, const T*, bool, const T*, const int64_t*, int64_t, int64_t, cudaStream_t);
CHAINRULE_CUDA_LOSS(float)
CHAINRULE_CUDA_LOSS(double)
#undef CHAINRULE_CUDA_LOSS

}  // namespace chainrule::cuda
