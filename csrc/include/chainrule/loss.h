// The built-in losses over one batch, forward and backward on raw buffers: the one implementation
// behind both the autograd loss ops (loss_ops.cpp) and the native fit loop (fit.cpp), so the two
// compute the same bits. Arguments are validated by the callers.
#pragma once

#include <cstdint>

#include "chainrule/kernels.h"

namespace chainrule::ops {

// How a loss reduces its per-element (or per-sample) values; crosses to Python as
// chainrule._core.Reduction (mean, sum, none).
enum class Reduction : uint8_t { None, Mean, Sum };

// A built-in loss: the elementwise ones of cpu::Loss, cross-entropy over class indices, and the
// negative log-likelihood of class indices given log-probabilities (nn.NLLLoss without class
// weights or ignore_index). Crosses to Python as chainrule._core.LossKind.
enum class LossKind : uint8_t { MSE, L1, Huber, BCE, BCEWithLogits, CrossEntropy, NLL };

inline bool takes_class_indices(LossKind kind) { return kind == LossKind::CrossEntropy || kind == LossKind::NLL; }

struct LossSpec {
  LossKind kind = LossKind::MSE;
  Reduction reduction = Reduction::Mean;
  double param = 0;  // Huber's delta
};

// The shapes a loss sees: pred (N, C). Elementwise losses read N * C values (any pred shape,
// flattened: N = numel, C = 1) and give one value each; cross-entropy and NLL read (N, C) logits
// or log-probabilities and int64 targets (N) and give one value per sample.
inline int64_t loss_value_count(const LossSpec& spec, int64_t N, int64_t C) {
  return takes_class_indices(spec.kind) ? N : N * C;
}

// values (loss_value_count) writes the unreduced losses; for cross-entropy log_probs (N, C) writes
// log_softmax(pred), which loss_grad needs. target is T (elementwise) or int64 (cross-entropy).
template <typename T>
void loss_values(const LossSpec& spec, T* values, T* log_probs, const T* pred, const void* target, int64_t N,
                 int64_t C);

// The reduced loss of `count` values: their sum, or the sum divided by count for the mean.
template <typename T>
T reduce_loss(const T* values, int64_t count, Reduction reduction);
// The reduced loss of `spec`: reduce_loss, except NLL's mean, which nn.NLLLoss computes as the sum
// times the reciprocal of the targets' total weight (count here), rounded to T.
template <typename T>
T reduce_loss(const LossSpec& spec, const T* values, int64_t count);

// dpred (N, C) writes d(loss)/d(pred) and dtarget (elementwise losses only; may be null)
// d(loss)/d(target), given dout: d(objective)/d(loss), one element when the loss is reduced
// (the mean's 1/count is applied here, as reduce_loss(spec, ...) applies it), else one per value.
template <typename T>
void loss_grad(const LossSpec& spec, T* dpred, T* dtarget, const T* dout, const T* pred, const T* log_probs,
               const void* target, int64_t N, int64_t C);

}  // namespace chainrule::ops
