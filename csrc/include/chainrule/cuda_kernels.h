// CUDA kernels: the twins of the CPU kernels in kernels.h, with the same names, the same argument
// order and the same write/add contract, over DEVICE pointers. Built only into the optional module
// chainrule._cuda (csrc/cuda/); nothing in _core includes this header.
//
// Every function takes a trailing stream (default: the legacy default stream) and only enqueues
// work, except sum_all, which returns its value to the host and so waits for it. Launch and cuBLAS
// errors throw chainrule::RuntimeError naming the call (cuda_check.h); kernels themselves never throw.
// The enums and option structs are the CPU ones, so a caller picks an activation or a loss once for
// both backends.
//
// Status: compiled, NOT yet run on a GPU (README, "CUDA backend").
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "chainrule/device.h"
#include "chainrule/kernel_types.h"

namespace chainrule::cuda {

using cpu::Activation;
using cpu::AdamOptions;
using cpu::Loss;
using cpu::SgdOptions;
using cpu::Unary;

// ---- runtime --------------------------------------------------------------------------------------
// Number of visible devices; 0 (never an error) when there is no driver or no device.
int device_count();
void synchronize();  // cudaDeviceSynchronize, errors thrown

// ---- elementwise (elementwise.cu) -----------------------------------------------------------------
// out (n) writes f(x). `param` is LeakyRelu's negative slope (unused otherwise).
template <typename T>
void unary_forward(T* out, const T* x, int64_t n, Unary op, double param, cudaStream_t stream = nullptr);
// dx (n) writes dout * f'(x); y = f(x).
template <typename T>
void unary_backward(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, double param,
                    cudaStream_t stream = nullptr);

// ---- dense layer epilogues (dense.cu) -------------------------------------------------------------
// a (B, OC) holds x W^T on entry; adds bias (OC, or null), writes the pre-activation into z (B, OC)
// when z is not null, then writes act(.) into a.
template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param,
                             double param2 = 0.0, cudaStream_t stream = nullptr);
// dz (n) holds dL/da on entry and is overwritten by dL/dz = dL/da * act'(z). a is act(z); z may be
// null when cpu::activation_derivative_from_output(act, param) holds; otherwise a null z throws
// ValueError before anything is launched (the kernel would read through it).
template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param,
                                 double param2 = 0.0, cudaStream_t stream = nullptr);
// dbias (OC) writes (accumulate == false) or adds (accumulate == true) the column sums of dout (B, OC).
// Each column is summed in row order, as on the CPU, so the result is deterministic (and equal to
// the CPU's bit for bit).
template <typename T>
void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate, cudaStream_t stream = nullptr);

// ---- linear layer through cuBLASLt (linear.cu) ----------------------------------------------------
// What became of the cuBLASLt epilogue a GEMM asked for. cuBLASLt may refuse an epilogue for a type
// or a shape (float64 epilogues, for one, are not offered everywhere); the caller then runs our own
// epilogue kernels after a plain GEMM, which gives the same result by another route.
struct EpilogueRun {
  const char* epilogue = "none";  // "bias", "relu", "relu_bias", "gelu", "gelu_bias", "bgradb"; "none": not asked
  bool fused = false;             // cuBLASLt ran it inside the GEMM
  std::string refusal;            // when asked and not fused: cuBLASLt's status name, or "no algorithm"
};
// Every epilogue asked for since the last reset, by call site, epilogue and type: how often it was
// fused, how often it fell back, and the last refusal (chainrule.cuda.epilogue_paths()).
struct EpilogueTally {
  std::string site;  // "linear_forward", "dense_forward", "linear_backward"
  std::string epilogue;
  std::string dtype;  // "float32", "float64"
  int64_t fused = 0, fallback = 0;
  std::string last_refusal;
};
std::vector<EpilogueTally> epilogue_tally();
void reset_epilogue_tally();

// The activations' parameters: param is LeakyRelu's slope, Elu's and Celu's alpha, Softplus's beta or
// Hardtanh's min_val; param2 is Softplus's threshold or Hardtanh's max_val (cpu::Activation).
//
// out (B, OC) writes inp (B, C) weight^T + bias; weight is (OC, C), bias is (OC) or null. The bias
// rides the GEMM as a cuBLASLt epilogue where cuBLASLt offers one for the type.
template <typename T>
EpilogueRun linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                           cudaStream_t stream = nullptr);
// One layer of the fused dense chain: a (B, OC) writes act(inp weight^T + bias), z (B, OC, or null)
// the pre-activation. Bias + ReLU and bias + GELU(tanh) run as cuBLASLt epilogues when z is null and
// `lt_epilogue` is true; every other case (and any cuBLASLt refusal) runs a plain GEMM and then
// bias_activation_forward. lt_epilogue = false forces that reference path (tests compare the two).
// Returns which path ran.
template <typename T>
EpilogueRun dense_forward(T* a, T* z, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                          Activation act, double param, double param2 = 0.0, bool lt_epilogue = true,
                          cudaStream_t stream = nullptr);
// dinp (B, C) writes dout weight; dweight (OC, C) writes dout^T inp; dbias (OC) writes the column
// sums of dout (the cuBLASLt BGRADB epilogue of the dweight GEMM where offered, else bias_grad).
// Any of the three may be null. lt_epilogue = false forces bias_grad. Returns which path computed
// dbias (epilogue "none" when bias_grad was the only route asked for).
template <typename T>
EpilogueRun linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B,
                            int64_t C, int64_t OC, bool lt_epilogue = true, cudaStream_t stream = nullptr);

// out (M, N) writes a (M, K) @ b (K, N), all row-major (matmul_forward of kernels.h).
template <typename T>
void matmul_forward(T* out, const T* a, const T* b, int64_t M, int64_t K, int64_t N, cudaStream_t stream = nullptr);
// da (M, K) writes dout b^T, db (K, N) writes a^T dout; either may be null.
template <typename T>
void matmul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t M, int64_t K, int64_t N,
                     cudaStream_t stream = nullptr);

// ---- losses (loss.cu) -----------------------------------------------------------------------------
// out (n) writes the per-element loss l(pred, target). param: Huber's delta.
template <typename T>
void loss_forward(T* out, const T* pred, const T* target, int64_t n, Loss loss, double param,
                  cudaStream_t stream = nullptr);
// dpred / dtarget (n) write dout_i * dl/dpred_i (and dl/dtarget_i); dout has n elements, or 1 when
// dout_is_scalar. Either output may be null.
template <typename T>
void loss_backward(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target, int64_t n,
                   Loss loss, double param, cudaStream_t stream = nullptr);
// logits (N, C), target (N) in [0, C) (device int64); losses (N) writes -log_softmax[i, target[i]];
// log_probs (N, C) writes log_softmax(logits). Out-of-range targets are not checked here (the op checks).
template <typename T>
void cross_entropy_forward(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N, int64_t C,
                           cudaStream_t stream = nullptr);
// dlogits (N, C) writes dout_i * (softmax - onehot(target)); dout has N elements or 1 (scalar).
template <typename T>
void cross_entropy_backward(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs, const int64_t* target,
                            int64_t N, int64_t C, cudaStream_t stream = nullptr);

// ---- reductions (reduce.cu) -----------------------------------------------------------------------
// Sum of all n elements (float sums in double, as on the CPU), returned to the host. Two passes with
// a launch shape fixed by n alone, so the result is the same on every run (not necessarily equal to
// the CPU's, whose blocking differs).
template <typename T>
T sum_all(const T* x, int64_t n, cudaStream_t stream = nullptr);

// ---- optimizers (optim.cu) ------------------------------------------------------------------------
// PyTorch's SGD step, as cpu::sgd_update: param adds the update; momentum_buffer (n, or null when
// momentum == 0) is written on the first step and updated after.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdOptions& opt, bool first_step,
                cudaStream_t stream = nullptr);
// PyTorch's Adam/AdamW step number `step` (1 first), as cpu::adam_update: param, exp_avg, exp_avg_sq
// (n) and max_exp_avg_sq (n, null unless amsgrad) are updated in place.
template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamOptions& opt, int64_t step, cudaStream_t stream = nullptr);

// ---- multi-tensor optimizer steps (optim.cu) ----------------------------------------------------
// A group's tensors are stepped kGroupChunkTensors at a time, each chunk one launch whose pointers
// and sizes ride in the kernel's argument (well under the 4 KiB every architecture accepts).
constexpr int64_t kGroupChunkTensors = 32;
struct GroupChunk {
  int64_t first = 0, count = 0;  // tensors [first, first + count) of the group
  int64_t max_n = 0;             // the largest of them, which sizes the launch
};
// The chunks a group of tensors with these element counts is launched in.
std::vector<GroupChunk> chunk_group(const std::vector<int64_t>& sizes);
// sgd_update / adam_update on every tensor of the group (states as in device.h's TensorGroup).
template <typename T>
void sgd_update_group(const TensorGroup& group, const SgdOptions& opt, bool first_step, cudaStream_t stream = nullptr);
template <typename T>
void adam_update_group(const TensorGroup& group, const AdamOptions& opt, int64_t step, cudaStream_t stream = nullptr);

}  // namespace chainrule::cuda
