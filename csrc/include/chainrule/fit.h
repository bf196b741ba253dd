// The native training loop: whole epochs of (gather minibatch, forward, loss, backward, update)
// over a DenseChain, in C++ with the GIL released. It calls the same kernels, in the same order,
// as the PyTorch-style Python loop over the same chain, so both give bitwise-identical weights.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "chainrule/dense_chain.h"
#include "chainrule/ops.h"
#include "chainrule/optim.h"

namespace chainrule {

struct FitBatchResult {
  std::vector<double> losses;  // one per minibatch
  std::vector<int64_t> sizes;  // rows per minibatch
  int64_t correct = 0;         // argmax == label (cross-entropy with class labels only)
};

// Runs minibatches [first_batch, last_batch) of one epoch. X (N, C0); y (N, ...) targets
// (int64 class labels for cross-entropy); order (N) int64 row order (checked) or null for
// 0..N-1. With order_seed the row order is random_permutation(N, *order_seed) instead, drawn
// here after the other arguments are checked (and itself needing no check).
FitBatchResult fit_batches(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order, int64_t batch_size,
                           int64_t first_batch, int64_t last_batch, const ops::LossSpec& loss,
                           const std::vector<std::shared_ptr<optim::GroupStep>>& steps, bool count_correct,
                           std::optional<uint64_t> order_seed = std::nullopt);

}  // namespace chainrule
