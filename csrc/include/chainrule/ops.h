// Differentiable tensor operations: each validates its arguments (naming them in errors),
// allocates the output, calls a CPU kernel and, when a gradient is needed, records a Node whose
// backward calls the matching *_backward kernel.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chainrule/autograd.h"
#include "chainrule/kernels.h"
#include "chainrule/loss.h"

namespace chainrule::ops {

// elementwise (NumPy broadcasting; mixed dtypes promote int64 < float32 < float64)
Tensor binary(cpu::Binary op, const Tensor& a, const Tensor& b);
Tensor unary(cpu::Unary op, const Tensor& x, double param = 0.0);
Tensor scalar_like(double value, const Tensor& like);  // 0-d tensor of like's dtype
// Comparisons and logical ops: a bool tensor, never recorded.
Tensor compare(cpu::Compare op, const Tensor& a, const Tensor& b);
// t op s (s op t when scalar_first) for a Python number s on a floating tensor t, computed in t's
// dtype without building a 0-d tensor for s: the same values as binary() / compare() with
// scalar_like(s, t). binary_with_scalar covers add, sub, mul and div when nothing is recorded;
// both return null where they do not apply, and the caller falls back to the general op.
Tensor binary_with_scalar(cpu::Binary op, const Tensor& t, double s, bool scalar_first);
Tensor compare_with_scalar(cpu::Compare op, const Tensor& t, double s, bool scalar_first);
// x clamped to number bounds (each used only when has_lo / has_hi): a floating x keeps its dtype,
// NaN stays NaN, and the gradient passes where lo <= x <= hi (not at NaN), as in PyTorch.
Tensor clamp(const Tensor& x, double lo, double hi, bool has_lo, bool has_hi);
// condition ? a : b with the three broadcast together, a and b promoted as for binary(); condition
// must be bool.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// The dtype a binary op of a and b computes in (PyTorch's promotion, 0-d operands by category).
DType binary_result_dtype(const Tensor& a, const Tensor& b);
// x repeated along its size-1 (or missing leading) dimensions to `shape`; a copy.
Tensor expand(const Tensor& x, const Shape& shape);

// The broadcast of two operands' shapes; ValueError naming both when they do not broadcast.
cpu::Broadcast broadcast_shapes(const Shape& a, const Shape& b);

// in place, never recorded: dst += src (same shape and dtype).
void add_(const Tensor& dst, const Tensor& src);

// linear algebra
Tensor matmul(const Tensor& a, const Tensor& b);                               // (M,K)@(K,N), (K,)@(K,N), (M,K)@(K,)
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias);  // bias may be null
// The same from matmul, transpose and add: every step has a recordable backward.
Tensor linear_unfused(const Tensor& input, const Tensor& weight, const Tensor& bias);
// An activation of the fused chain as an elementwise op.
Tensor activation(const Tensor& x, cpu::Activation act, double param);

// shape
Tensor reshape(const Tensor& x, const Shape& shape);              // one -1 allowed; always a view
Tensor transpose(const Tensor& x);                                // 2-D (copy); 0-D and 1-D return x itself
Tensor slice_rows(const Tensor& x, int64_t start, int64_t stop);  // view of rows [start, stop)
Tensor select_row(const Tensor& x, int64_t index);                // view of row `index`, first dim dropped
Tensor index_rows(const Tensor& x, const Tensor& indices);        // gather rows (copy), int64 indices
Tensor cast(const Tensor& x, DType dtype);
// x on `device` (x itself when it is there); the gradient flows back to x's device.
Tensor to_device(const Tensor& x, Device device);
Tensor detach(const Tensor& x);
Tensor clone(const Tensor& x);
// g summed over the dimensions broadcasting added or stretched, back to `shape` (differentiable).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// reductions
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);  // empty dims = all
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim);

// softmax family
Tensor softmax(const Tensor& x, int64_t dim, bool log);

// losses
Tensor elementwise_loss(cpu::Loss loss, const Tensor& pred, const Tensor& target, Reduction reduction,
                        double param = 0.0);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction);

// kernel checks (kernel_checks.cpp): the ISA the GEMM runs ("avx2", ...), and C (M, N) writes
// (or adds) op(A) op(B) with the kernel of `isa` ("avx512", "avx2", "scalar", "reference" or ""
// for the active one) for this call only; returns the ISA that ran (a lower one when the CPU
// lacks the one asked for). Tests and benchmarks only.
std::string cpu_isa();
std::string gemm_for_testing(const std::string& isa, bool ta, bool tb, int64_t M, int64_t N, int64_t K, DType dtype,
                             const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc,
                             bool accumulate);
// The work (flop) from which a GEMM of dtype runs on more than one thread (measured once).
double gemm_parallel_min_flop(DType dtype);
// Makes `isa` ('avx512', 'avx2', 'neon', 'scalar') the kernel path of every later op (GEMM and
// elementwise), or the best the CPU has when it lacks that one; returns the path now active.
std::string select_isa_for_testing(const std::string& isa);

// helpers shared by the ops
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* arg);
void check_floating(const Tensor& t, const char* op, const char* arg);

}  // namespace chainrule::ops
