// The native training loop: whole epochs of (gather minibatch, forward, loss, backward, update)
// over a DenseChain, in C++ with the GIL released. It calls the same kernels, in the same order,
// as the PyTorch-style Python loop over the same chain, so both give bitwise-identical weights.
#pragma once

#include <memory>
#include <vector>

#include "chainrule/dense_chain.h"
#include "chainrule/ops.h"

namespace chainrule {

// One optimizer parameter group's update from the parameters' .grad (a built-in optimizer).
struct OptimizerStep {
  virtual ~OptimizerStep() = default;
  virtual void step() = 0;
};

struct SgdGroupStep : OptimizerStep {
  std::vector<Tensor> params;
  std::vector<Tensor> momentum_buffers;  // filled on the first step when momentum != 0
  cpu::SgdOptions options;
  void step() override { ops::sgd_step(params, momentum_buffers, options); }
};

// Adam/AdamW, RMSprop or Adagrad over one group, holding the group's state between steps. The
// state lists are, per kind: Adam (exp_avg, exp_avg_sq, max_exp_avg_sq), RMSprop (square_avg,
// momentum_buffer, grad_avg), Adagrad (sum); entries are created by the first step when null.
struct StatefulGroupStep : OptimizerStep {
  enum class Kind { Adam, Rmsprop, Adagrad } kind = Kind::Adam;
  std::vector<Tensor> params;
  std::vector<std::vector<Tensor>> state;
  std::vector<int64_t> steps;  // per parameter, the number of steps taken
  cpu::AdamOptions adam;
  cpu::RmspropOptions rmsprop;
  cpu::AdagradOptions adagrad;
  double initial_accumulator_value = 0;
  void step() override {
    switch (kind) {
      case Kind::Adam: ops::adam_step(params, state[0], state[1], state[2], steps, adam); break;
      case Kind::Rmsprop: ops::rmsprop_step(params, state[0], state[1], state[2], steps, rmsprop); break;
      case Kind::Adagrad: ops::adagrad_step(params, state[0], steps, adagrad, initial_accumulator_value); break;
    }
  }
};

enum class FitLoss { MSE, L1, Huber, BCE, BCEWithLogits, CrossEntropy };

struct FitLossSpec {
  FitLoss kind = FitLoss::MSE;
  ops::Reduction reduction = ops::Reduction::Mean;
  double param = 0;  // Huber's delta
};

struct FitBatchResult {
  std::vector<double> losses;   // one per minibatch
  std::vector<int64_t> sizes;   // rows per minibatch
  int64_t correct = 0;          // argmax == label (cross-entropy with class labels only)
};

// Runs minibatches [first_batch, last_batch) of one epoch. X (N, C0); y (N, ...) targets
// (int64 class labels for cross-entropy); order (N) int64 row order or null for 0..N-1.
FitBatchResult fit_batches(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order,
                           int64_t batch_size, int64_t first_batch, int64_t last_batch, const FitLossSpec& loss,
                           const std::vector<std::shared_ptr<OptimizerStep>>& steps, bool count_correct);

}  // namespace chainrule
