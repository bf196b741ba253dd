// CPU kernels: plain functions over raw pointers, outputs first, shapes beside each pointer.
// They never allocate tensors, never throw and never touch autograd; ops (csrc/ops) validate
// arguments, allocate outputs and record graph nodes, then call these.
//
// Every kernel says whether it writes or adds into its outputs: "writes" overwrites without
// reading, "adds" accumulates into what is there.
#pragma once

#include <cstdint>
#include <vector>

#include "chainrule/tensor.h"

namespace chainrule::cpu {

// ---- elementwise ------------------------------------------------------------------------------
enum class Unary : uint8_t { Neg, Exp, Log, Relu, Sigmoid, Tanh, Abs, Sqrt, LeakyRelu, Gelu, GeluTanh };
const char* unary_name(Unary op);

// out (n) writes f(x). `param` is LeakyRelu's negative slope (unused otherwise).
template <typename T> void unary_forward(T* out, const T* x, int64_t n, Unary op, double param);
// dx (n) writes dout * f'(x); y = f(x) is passed because some derivatives are cheaper from it.
template <typename T>
void unary_backward(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, double param);

enum class Binary : uint8_t { Add, Sub, Mul, Div, Pow };

// NumPy broadcasting of two operands: every operand gets per-dimension strides over the output
// shape, 0 where it is broadcast. Built once per op call by make_broadcast.
struct Broadcast {
  Shape out_shape;
  std::vector<int64_t> a_strides, b_strides;
  int64_t numel = 0;
  int64_t a_numel = 0, b_numel = 0;
  bool a_full = false, b_full = false;  // the operand already has the output's shape
};
// Throws ValueError naming both shapes when they do not broadcast.
Broadcast make_broadcast(const Shape& a, const Shape& b);
// Strides of a row-major tensor of shape `shape` seen through `out_shape` (0 on broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape);

// out (out_shape) writes a op b.
template <typename T> void binary_forward(T* out, const T* a, const T* b, const Broadcast& bc, Binary op);
// da / db (their own shapes) write the gradient of a op b; either may be null (not needed).
// For broadcast operands the gradient is summed over the broadcast dimensions.
template <typename T>
void binary_backward(T* da, T* db, const T* dout, const T* a, const T* b, const Broadcast& bc, Binary op);
// dst (reduced shape, given by dst_strides over out_shape) adds the sum of src (out_shape).
template <typename T>
void sum_to_broadcast(T* dst, const T* src, const Shape& out_shape, const std::vector<int64_t>& dst_strides);

// out (out_shape) writes x (shape given by x_strides over out_shape) repeated along its
// broadcast dimensions: the backward of a sum, and the forward of expand.
template <typename T>
void broadcast_to(T* out, const T* x, const Shape& out_shape, const std::vector<int64_t>& x_strides);

// ---- reductions -------------------------------------------------------------------------------
// x viewed as (outer, n, inner); out (outer, inner) writes the sum over n. The summation order
// is fixed by the shape alone, so the result does not depend on the thread count.
template <typename T> void sum_dim_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner);
// Sum of all n elements in a fixed, thread-count-independent blocked order.
template <typename T> T sum_all(const T* x, int64_t n);
// out (outer, inner) writes the index of the maximum over n (first one on ties).
template <typename T> void argmax_dim(int64_t* out, const T* x, int64_t outer, int64_t n, int64_t inner);

// ---- softmax over (outer, n, inner), normalised along n ---------------------------------------
template <typename T> void softmax_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, bool log);
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
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B,
                     int64_t C, int64_t OC);
// out (M, N) writes a (M, K) @ b (K, N).
template <typename T> void matmul_forward(T* out, const T* a, const T* b, int64_t M, int64_t K, int64_t N);
// da (M, K) writes dout b^T, db (K, N) writes a^T dout; either may be null.
template <typename T>
void matmul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t M, int64_t K, int64_t N);

// ---- losses -------------------------------------------------------------------------------------
enum class Loss : uint8_t { MSE, L1, Huber, BCE, BCEWithLogits };
// out (n) writes the per-element loss l(pred, target). param: Huber's delta.
template <typename T> void loss_forward(T* out, const T* pred, const T* target, int64_t n, Loss loss, double param);
// dpred / dtarget (n) write dout_i * dl/dpred_i (and dl/dtarget_i); dout has n elements, or 1
// element broadcast to all (reduced losses). Either output may be null.
template <typename T>
void loss_backward(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target,
                   int64_t n, Loss loss, double param);
// Cross-entropy with class indices. logits (N, C), target (N) in [0, C); losses (N) writes
// -log_softmax(logits)[i, target[i]]; log_probs (N, C) writes log_softmax(logits), saved for backward.
template <typename T>
void cross_entropy_forward(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N, int64_t C);
// dlogits (N, C) writes dout_i * (softmax - onehot(target)); dout has N elements or 1 (scalar).
template <typename T>
void cross_entropy_backward(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs,
                            const int64_t* target, int64_t N, int64_t C);

// ---- optimizers ----------------------------------------------------------------------------------
struct SgdOptions {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};
// One parameter's SGD step with PyTorch's rule. param adds the update; momentum_buffer (n or
// null when momentum == 0) is written on the first step and updated after.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdOptions& opt, bool first_step);

// ---- copy / cast ---------------------------------------------------------------------------------
// out (n) writes x converted to the output type.
template <typename To, typename From> void cast(To* out, const From* x, int64_t n);
// out (cols, rows) writes the transpose of x (rows, cols).
template <typename T> void transpose2d(T* out, const T* x, int64_t rows, int64_t cols);

}  // namespace chainrule::cpu
