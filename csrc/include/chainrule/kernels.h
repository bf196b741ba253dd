// CPU kernels: plain functions over raw pointers, outputs first, shapes beside each pointer.
// They never allocate tensors, never throw and never touch autograd; ops (csrc/ops) validate
// arguments, allocate outputs and record graph nodes, then call these.
//
// Every kernel says whether it writes or adds into its outputs: "writes" overwrites without
// reading, "adds" accumulates into what is there.
#pragma once

#include <cstdint>
#include <vector>

#include "chainrule/kernel_types.h"
#include "chainrule/types.h"

namespace chainrule::cpu {

// ---- elementwise ------------------------------------------------------------------------------
const char* unary_name(Unary op);
const char* binary_name(Binary op);
const char* compare_name(Compare op);
// Ops that also run on integer tensors and keep their dtype (neg, abs, relu, sign, floor, ceil,
// round, square); every other unary op computes in floating point.
bool unary_keeps_integers(Unary op);
// Ops whose derivative is zero wherever it exists (sign, floor, ceil, round).
bool unary_is_piecewise_constant(Unary op);

// out (n) writes f(x). `param` is LeakyRelu's negative slope (unused otherwise). For integer T
// only the ops of unary_keeps_integers are valid.
template <typename T>
void unary_forward(T* out, const T* x, int64_t n, Unary op, double param);
// dx (n) writes dout * f'(x); y = f(x) is passed because some derivatives are cheaper from it.
template <typename T>
void unary_backward(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, double param);

// Fills `out` for operands of shapes a and b; false (out unspecified) when they do not
// broadcast, with *bad_dim the output dimension where they disagree.
bool make_broadcast(const Shape& a, const Shape& b, Broadcast& out, size_t* bad_dim = nullptr);
// Strides of a row-major tensor of shape `shape` seen through `out_shape` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape);

// out (out_shape) writes a op b.
template <typename T>
void binary_forward(T* out, const T* a, const T* b, const Broadcast& bc, Binary op);
// da / db (their own shapes) write the gradient of a op b; either may be null (not needed).
// For broadcast operands the gradient is summed over the broadcast dimensions.
template <typename T>
void binary_backward(T* da, T* db, const T* dout, const T* a, const T* b, const Broadcast& bc, Binary op);

// out (out_shape) writes a `op` b as bool.
template <typename T>
void compare_forward(bool* out, const T* a, const T* b, const Broadcast& bc, Compare op);

// out (n) writes a[i * a_step] op b[i * b_step] for steps of 0 (one value for every element) or 1:
// two operands of one shape, or a tensor and a scalar on either side, without a Broadcast.
template <typename T>
void binary_strided_forward(T* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Binary op);
// out (n) writes a[i * a_step] `op` b[i * b_step] as bool, steps as above.
template <typename T>
void compare_strided_forward(bool* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Compare op);

// out (n) writes x clamped to [lo, hi] (each bound only when has_lo / has_hi; lo first, so hi
// wins when lo > hi); NaN stays NaN.
template <typename T>
void clamp_forward(T* out, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi);
// dx (n) writes dout where the clamp passed x through (lo <= x <= hi), else 0 (also at NaN).
template <typename T>
void clamp_backward(T* dx, const T* dout, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi);
// out (n) writes condition ? a : b, all three of n elements.
template <typename T>
void where_forward(T* out, const bool* condition, const T* a, const T* b, int64_t n);

// out (out_shape) writes x (shape given by x_strides over out_shape) repeated along its
// broadcast dimensions: the backward of a sum, and the forward of expand.
template <typename T>
void broadcast_to(T* out, const T* x, const Shape& out_shape, const std::vector<int64_t>& x_strides);

// ---- reductions -------------------------------------------------------------------------------
// x viewed as (outer, n, inner); out (outer, inner) writes the sum over n. The summation order
// is fixed by the shape alone, so the result does not depend on the thread count.
template <typename T>
void sum_dim_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner);
// Sum of all n elements in a fixed, thread-count-independent blocked order.
template <typename T>
T sum_all(const T* x, int64_t n);
// out (outer, inner) writes the index of the maximum over n (first one on ties).
template <typename T>
void argmax_dim(int64_t* out, const T* x, int64_t outer, int64_t n, int64_t inner);

// ---- softmax over (outer, n, inner), normalised along n ---------------------------------------
template <typename T>
void softmax_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, bool log);
// y is the forward output (softmax or log-softmax); dx writes.
template <typename T>
void softmax_backward(T* dx, const T* dout, const T* y, int64_t outer, int64_t n, int64_t inner, bool log);

// ---- linear layer: out = inp weight^T + bias -------------------------------------------------
// out is (B, OC), inp is (B, C), weight is (OC, C), bias is (OC) or null. Writes out.
template <typename T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC);
// dinp (B, C) writes dout weight; dweight (OC, C) writes dout^T inp; dbias (OC) writes the
// column sums of dout. Any of the three may be null when that gradient is not needed.
template <typename T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B, int64_t C,
                     int64_t OC);
// out (M, N) writes a (M, K) @ b (K, N).
template <typename T>
void matmul_forward(T* out, const T* a, const T* b, int64_t M, int64_t K, int64_t N);
// da (M, K) writes dout b^T, db (K, N) writes a^T dout; either may be null.
template <typename T>
void matmul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t M, int64_t K, int64_t N);

// ---- dense layer epilogues (the fused multi-layer path, csrc/ops/dense_chain.cpp) --------------
// a (B, OC) holds x W^T on entry; adds bias (OC, or null), keeps a copy of the pre-activation in
// z (B, OC) when z is not null, then writes act(.) into a.
template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param,
                             double param2 = 0);
// dz (n) holds dL/da on entry and is overwritten by dL/dz = dL/da * act'(z). a is act(z); z may be
// null when activation_derivative_from_output(act) holds.
template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param,
                                 double param2 = 0);
// dbias (OC) writes (accumulate == false) or adds (accumulate == true) the column sums of dout (B, OC).
template <typename T>
void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate);
// The two in one pass over dz (B, OC): activation_backward_inplace, then dbias (OC, or null)
// writes/adds the column sums of the resulting dL/dz, summed in row order like bias_grad.
template <typename T>
void activation_backward_bias_grad(T* dz, T* dbias, const T* a, const T* z, int64_t B, int64_t OC, Activation act,
                                   double param, bool accumulate, double param2 = 0);

// GEMM epilogues (GemmEpilogue in gemm.h; ctx points at the struct named with each). They apply
// the passes above to a finished block C[row0 : row0 + rows, col0 : col0 + cols] of a GEMM.
// Forward, on out = x W^T (B, OC): adds bias (OC, or null), writes the pre-activation into z
// (B, OC, row stride ldz, or null), then writes act(.) into the block.
template <typename T>
struct BiasActivationEpilogue {
  const T* bias;
  T* z;
  int64_t ldz;
  Activation act;
  double param;
  double param2 = 0;  // the activation's second parameter (Softplus' threshold, Hardtanh's max_val)
};
template <typename T>
void bias_activation_epilogue(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                              int64_t cols);
// Backward, on dL/da (B, OC) of a layer: overwrites it with dL/dz using the layer's output a and
// pre-activation z (both (B, OC), row stride ld; z may be null), then adds each block's column
// sums of dL/dz into dbias (OC, or null; zeroed by the caller first when it is to be written).
// With dbias, the GEMM must run with sums_over_rows so every column sums in row order.
template <typename T>
struct ActivationBackwardEpilogue {
  const T* a;
  const T* z;
  int64_t ld;
  Activation act;
  double param;
  T* dbias;
  double param2 = 0;
};
template <typename T>
void activation_backward_epilogue(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                                  int64_t cols);

// ---- tiny Linear layers (csrc/cpu/small_dense.cpp) --------------------------------------------
// A layer of a few features (a 10-5-1 network's) as one call per pass, with the weight, the bias and
// the bias-gradient sums held in SIMD registers across the batch: for such layers a GEMM's per-call
// decisions and per-block epilogue calls cost more than the arithmetic. Each element is summed in
// the GEMM's order (increasing reduction index, one accumulator from 0, then the bias; bias
// gradients in row order), on one thread, so results do not depend on the thread count.
// Whether the kernels take (B, C) -> (B, OC): in and out features at most 32 and a few vectors of
// the active ISA, and a batch small enough that the GEMM would run on one thread as well.
template <typename T>
bool small_linear_fits(int64_t B, int64_t C, int64_t OC);
// Whether small_linear_weight_grad pays too: it makes one pass over x per block of a few output
// features, so from 16 outputs on the GEMM's tiles are faster (measured, AVX2 and AVX-512).
template <typename T>
bool small_linear_weight_grad_fits(int64_t B, int64_t C, int64_t OC);
// out (B, OC) writes act(x (B, C) weight^T + bias); weight is (OC, C), bias (OC) or null; z (B, OC,
// or null) writes the pre-activation.
template <typename T>
void small_linear_forward(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                          Activation act, double param, double param2 = 0);
// dweight (OC, C) writes (accumulate == false) or adds (accumulate == true) delta^T x, for delta (B, OC), x (B, C).
template <typename T>
void small_linear_weight_grad(T* dweight, const T* delta, const T* x, int64_t B, int64_t C, int64_t OC,
                              bool accumulate);
// dx (B, C) writes (delta (B, OC) weight) * act'(z), where a = act(z) is the previous layer's output
// (B, C) and z its pre-activation (null when activation_derivative_from_output(act)); dbias (C, or
// null; zeroed by the caller when it is to be written) adds the column sums of dx in row order.
template <typename T>
void small_linear_input_grad(T* dx, T* dbias, const T* delta, const T* weight, const T* a, const T* z, int64_t B,
                             int64_t C, int64_t OC, Activation act, double param, double param2 = 0);

// ---- normalisation and dropout stages of the fused chain ------------------------------------------
// BatchNorm over the rows of x (B, F), per column: out = (x - mean) * rstd * gamma + beta (gamma,
// beta (F) or null). With use_batch_stats, mean and rstd (F) are written from the batch (biased
// variance, also written into batch_var (F) when not null); otherwise from running_mean/var.
template <typename T>
void batch_norm_forward(T* out, T* mean, T* rstd, T* batch_var, const T* x, const T* gamma, const T* beta,
                        const T* running_mean, const T* running_var, int64_t B, int64_t F, double eps,
                        bool use_batch_stats);
// dx (B, F, or null) writes dL/dx; dgamma, dbeta (F, or null) write (accumulate == false) or add.
template <typename T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean, const T* rstd,
                         const T* gamma, int64_t B, int64_t F, bool use_batch_stats, bool accumulate);
// LayerNorm over each row of x (B, F): mean and rstd (B) are written; gamma, beta (F) or null.
template <typename T>
void layer_norm_forward(T* out, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int64_t B, int64_t F,
                        double eps);
template <typename T>
void layer_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean, const T* rstd,
                         const T* gamma, int64_t B, int64_t F, bool accumulate);
// mask (n) holds uniform [0, 1) draws on entry and becomes 1 / (1 - p) where kept, 0 where dropped;
// out (n) writes x * mask.
template <typename T>
void dropout_forward(T* out, T* mask, const T* x, int64_t n, double p);
template <typename T>
void dropout_backward(T* dx, const T* dout, const T* mask, int64_t n);

// ---- losses -------------------------------------------------------------------------------------
// out (n) writes the per-element loss l(pred, target). param: Huber's delta.
template <typename T>
void loss_forward(T* out, const T* pred, const T* target, int64_t n, Loss loss, double param);
// dpred / dtarget (n) write dout_i * dl/dpred_i (and dl/dtarget_i); dout has n elements, or 1
// element broadcast to all (reduced losses). Either output may be null.
template <typename T>
void loss_backward(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target, int64_t n,
                   Loss loss, double param);
// Cross-entropy with class indices. logits (N, C), target (N) in [0, C); losses (N) writes
// -log_softmax(logits)[i, target[i]]; log_probs (N, C) writes log_softmax(logits), saved for backward.
template <typename T>
void cross_entropy_forward(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N, int64_t C);
// dlogits (N, C) writes dout_i * (softmax - onehot(target)); dout has N elements or 1 (scalar).
template <typename T>
void cross_entropy_backward(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs, const int64_t* target,
                            int64_t N, int64_t C);

// ---- optimizers ----------------------------------------------------------------------------------
// One parameter's SGD step with PyTorch's rule. param adds the update; momentum_buffer (n or
// null when momentum == 0) is written on the first step and updated after.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdOptions& opt, bool first_step);

// One parameter's Adam/AdamW step number `step` (1 on the first call). param, exp_avg and
// exp_avg_sq (n) are updated in place; max_exp_avg_sq (n, null unless amsgrad) is updated in place.
template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamOptions& opt, int64_t step);

// One parameter's NAdam step number `step` with `factors` (the caller keeps mu_product), RAdam
// step and Adamax step; options as Adam's (amsgrad unused; Adamax has no decoupled decay). param
// and the two state arrays (n) are updated in place.
template <typename T>
void nadam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamOptions& opt, int64_t step,
                  const NadamFactors& factors);
template <typename T>
void radam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamOptions& opt, int64_t step);
template <typename T>
void adamax_update(T* param, const T* grad, T* exp_avg, T* exp_inf, int64_t n, const AdamOptions& opt, int64_t step);

// One parameter's RMSprop step. param and square_avg (n) are updated in place, as are
// momentum_buffer (n, null unless momentum > 0) and grad_avg (n, null unless centered).
template <typename T>
void rmsprop_update(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg, int64_t n,
                    const RmspropOptions& opt);

// One parameter's Adagrad step number `step` (1 on the first call). param and sum (n) are
// updated in place.
template <typename T>
void adagrad_update(T* param, const T* grad, T* sum, int64_t n, const AdagradOptions& opt, int64_t step);

// ---- copy / cast ---------------------------------------------------------------------------------
// dst (count rows of row_bytes) writes the rows src[rows[i]] (a gather of minibatch rows).
void gather_rows(void* dst, const void* src, const int64_t* rows, int64_t count, size_t row_bytes);
// out (n) writes x converted to the output type.
template <typename To, typename From>
void cast(To* out, const From* x, int64_t n);
// out (cols, rows) writes the transpose of x (rows, cols).
template <typename T>
void transpose2d(T* out, const T* x, int64_t rows, int64_t cols);

}  // namespace chainrule::cpu
