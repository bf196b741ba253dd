// Optimizer update kernels (the twins of csrc/cpu/optim.cpp): PyTorch's update rules, element by
// element, with the hyper-parameter arithmetic done once on the host in double and each scalar
// rounded to T once, exactly as the CPU kernels do (see the comment above adam_update there).
#include <algorithm>
#include <cmath>
#include <vector>

#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

namespace {
// ATen's lerp: the formula is picked by |weight| < 0.5 so the result is exact at both ends.
template <typename T>
__device__ inline T lerp(T self, T end, T weight) {
  return abs(weight) < T(0.5) ? self + weight * (end - self) : end - (end - self) * (T(1) - weight);
}

// torch.maximum propagates NaN.
template <typename T>
__device__ inline T maximum(T a, T b) {
  return (a != a || b != b) ? a + b : (a < b ? b : a);
}

template <typename T>
struct SgdScalars {
  T lr, wd, mom, one_minus_damp, sign;
  bool use_momentum, nesterov, first_step;
};

// One element of the SGD step (cpu::sgd_update's formula).
template <typename T>
__device__ inline void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t i, const SgdScalars<T>& s) {
  T g = s.sign * grad[i];
  if (s.wd != T(0)) g = g + s.wd * param[i];
  if (s.use_momentum) {
    T b = s.first_step ? g : s.mom * momentum_buffer[i] + s.one_minus_damp * g;
    momentum_buffer[i] = b;
    g = s.nesterov ? g + s.mom * b : b;
  }
  param[i] = param[i] - s.lr * g;
}

template <typename T>
__global__ void sgd_kernel(T* param, const T* grad, T* momentum_buffer, int64_t n, SgdScalars<T> s) {
  CHAINRULE_GRID_STRIDE(i, n) sgd_step(param, grad, momentum_buffer, i, s);
}

template <typename T>
struct AdamScalars {
  T neg_step_size, bias_correction2_sqrt, one_minus_beta1, beta2, one_minus_beta2, eps, wd, param_scale;
  bool decay, decoupled, amsgrad, maximize;
};

// One element of the Adam/AdamW step (cpu::adam_update's formula).
template <typename T>
__device__ inline void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t i,
                                 const AdamScalars<T>& s) {
  T g = s.maximize ? -grad[i] : grad[i];
  if (s.decay) {
    if (s.decoupled)
      param[i] = param[i] * s.param_scale;
    else
      g = g + s.wd * param[i];
  }
  exp_avg[i] = lerp(exp_avg[i], g, s.one_minus_beta1);
  exp_avg_sq[i] = exp_avg_sq[i] * s.beta2 + s.one_minus_beta2 * g * g;
  T second = exp_avg_sq[i];
  if (s.amsgrad) second = max_exp_avg_sq[i] = maximum(max_exp_avg_sq[i], second);
  const T denom = sqrt(second) / s.bias_correction2_sqrt + s.eps;
  param[i] = param[i] + s.neg_step_size * exp_avg[i] / denom;
}

template <typename T>
__global__ void adam_kernel(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                            AdamScalars<T> s) {
  CHAINRULE_GRID_STRIDE(i, n) adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, i, s);
}

// ---- multi-tensor steps ---------------------------------------------------------------------------
// The tensors of one launch travel as a kernel argument (no upload, nothing to keep alive until the
// kernel has run): block row y of the grid steps tensor y, its blocks striding over the elements.
template <typename T>
struct GroupChunkArgs {
  T* param[kGroupChunkTensors];
  const T* grad[kGroupChunkTensors];
  T* state[3][kGroupChunkTensors];
  int64_t n[kGroupChunkTensors];
};

template <typename T>
GroupChunkArgs<T> chunk_args(const TensorGroup& group, const GroupChunk& chunk) {
  GroupChunkArgs<T> args{};
  for (int64_t k = 0; k < chunk.count; ++k) {
    const size_t t = static_cast<size_t>(chunk.first + k);
    args.param[k] = static_cast<T*>(group.params[t]);
    args.grad[k] = static_cast<const T*>(group.grads[t]);
    for (size_t s = 0; s < group.states.size() && s < 3; ++s) args.state[s][k] = static_cast<T*>(group.states[s][t]);
    args.n[k] = group.n[t];
  }
  return args;
}

template <typename T>
__global__ void sgd_group_kernel(GroupChunkArgs<T> args, SgdScalars<T> s) {
  const int k = blockIdx.y;
  CHAINRULE_GRID_STRIDE(i, args.n[k]) sgd_step(args.param[k], args.grad[k], args.state[0][k], i, s);
}

template <typename T>
__global__ void adam_group_kernel(GroupChunkArgs<T> args, AdamScalars<T> s) {
  const int k = blockIdx.y;
  CHAINRULE_GRID_STRIDE(i, args.n[k])
  adam_step(args.param[k], args.grad[k], args.state[0][k], args.state[1][k], args.state[2][k], i, s);
}

template <typename T>
SgdScalars<T> sgd_scalars(const SgdOptions& opt, bool first_step) {
  return SgdScalars<T>{static_cast<T>(opt.lr),
                       static_cast<T>(opt.weight_decay),
                       static_cast<T>(opt.momentum),
                       static_cast<T>(1.0 - opt.dampening),
                       opt.maximize ? T(-1) : T(1),
                       opt.momentum != 0.0,
                       opt.nesterov,
                       first_step};
}

template <typename T>
AdamScalars<T> adam_scalars(const AdamOptions& opt, int64_t step) {
  const double bias_correction1 = 1.0 - std::pow(opt.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(opt.beta2, static_cast<double>(step));
  return AdamScalars<T>{static_cast<T>(-(opt.lr / bias_correction1)),
                        static_cast<T>(std::sqrt(bias_correction2)),
                        static_cast<T>(1.0 - opt.beta1),
                        static_cast<T>(opt.beta2),
                        static_cast<T>(1.0 - opt.beta2),
                        static_cast<T>(opt.eps),
                        static_cast<T>(opt.weight_decay),
                        static_cast<T>(1.0 - opt.lr * opt.weight_decay),
                        opt.weight_decay != 0.0,
                        opt.decoupled_weight_decay,
                        opt.amsgrad,
                        opt.maximize};
}

// Launches `kernel` once per chunk of the group (one launch for a group of up to
// kGroupChunkTensors tensors).
template <typename T, typename Scalars>
void launch_group(void (*kernel)(GroupChunkArgs<T>, Scalars), const TensorGroup& group, const Scalars& s,
                  const char* name, cudaStream_t stream) {
  for (const GroupChunk& chunk : chunk_group(group.n)) {
    if (chunk.max_n <= 0) continue;
    const dim3 grid(grid_for(chunk.max_n), static_cast<unsigned>(chunk.count));
    kernel<<<grid, kThreadsPerBlock, 0, stream>>>(chunk_args<T>(group, chunk), s);
    CHAINRULE_CUDA_CHECK_LAUNCH(name);
  }
}
}  // namespace

std::vector<GroupChunk> chunk_group(const std::vector<int64_t>& sizes) {
  std::vector<GroupChunk> chunks;
  const int64_t count = static_cast<int64_t>(sizes.size());
  for (int64_t first = 0; first < count; first += kGroupChunkTensors) {
    GroupChunk chunk{first, std::min<int64_t>(kGroupChunkTensors, count - first), 0};
    for (int64_t k = 0; k < chunk.count; ++k) chunk.max_n = std::max(chunk.max_n, sizes[first + k]);
    chunks.push_back(chunk);
  }
  return chunks;
}

template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdOptions& opt, bool first_step,
                cudaStream_t stream) {
  if (n <= 0) return;
  sgd_kernel<T>
      <<<grid_for(n), kThreadsPerBlock, 0, stream>>>(param, grad, momentum_buffer, n, sgd_scalars<T>(opt, first_step));
  CHAINRULE_CUDA_CHECK_LAUNCH("sgd_kernel");
}

template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamOptions& opt, int64_t step, cudaStream_t stream) {
  if (n <= 0) return;
  adam_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, stream>>>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n,
                                                               adam_scalars<T>(opt, step));
  CHAINRULE_CUDA_CHECK_LAUNCH("adam_kernel");
}

template <typename T>
void sgd_update_group(const TensorGroup& group, const SgdOptions& opt, bool first_step, cudaStream_t stream) {
  launch_group<T>(&sgd_group_kernel<T>, group, sgd_scalars<T>(opt, first_step), "sgd_group_kernel", stream);
}

template <typename T>
void adam_update_group(const TensorGroup& group, const AdamOptions& opt, int64_t step, cudaStream_t stream) {
  launch_group<T>(&adam_group_kernel<T>, group, adam_scalars<T>(opt, step), "adam_group_kernel", stream);
}

template void sgd_update<float>(float*, const float*, float*, int64_t, const SgdOptions&, bool, cudaStream_t);
template void sgd_update<double>(double*, const double*, double*, int64_t, const SgdOptions&, bool, cudaStream_t);
template void adam_update<float>(float*, const float*, float*, float*, float*, int64_t, const AdamOptions&, int64_t,
                                 cudaStream_t);
template void adam_update<double>(double*, const double*, double*, double*, double*, int64_t, const AdamOptions&,
                                  int64_t, cudaStream_t);
template void sgd_update_group<float>(const TensorGroup&, const SgdOptions&, bool, cudaStream_t);
template void sgd_update_group<double>(const TensorGroup&, const SgdOptions&, bool, cudaStream_t);
template void adam_update_group<float>(const TensorGroup&, const AdamOptions&, int64_t, cudaStream_t);
template void adam_update_group<double>(const TensorGroup&, const AdamOptions&, int64_t, cudaStream_t);

}  // namespace chainrule::cuda
