// A chain of dense-network stages run as ONE op: Linear layers, BatchNorm1d (2-D input), LayerNorm
// (over the last dimension), Dropout, and Softmax / LogSoftmax over the features (each row of the
// (B, F) view), each followed by at most one activation, in any order. The
// forward is one call that keeps every stage's output, the backward is one graph node that runs the
// seed's delta recursion stage by stage and writes the parameter gradients.
//
// This is what nn.Sequential of built-in layers uses, so a training step costs a handful of
// Python -> C++ calls, and what the native fit loop runs without Python at all.
#pragma once

#include <initializer_list>
#include <mutex>
#include <vector>

#include "chainrule/autograd.h"
#include "chainrule/kernels.h"

namespace chainrule {

// What a stage does before its activation. Activation: nothing (an activation that follows a
// stage which already has one, or that starts the chain). Softmax, LogSoftmax: along each row.
enum class StageKind : uint8_t { Linear, BatchNorm, LayerNorm, Dropout, Activation, Softmax, LogSoftmax };

struct ChainStage {
  StageKind kind = StageKind::Linear;
  Tensor weight;  // Linear: (OC, C), a leaf (Parameter); BatchNorm/LayerNorm: gamma (F) or null
  Tensor bias;    // Linear: (OC); BatchNorm/LayerNorm: beta (F); or null
  cpu::Activation act = cpu::Activation::Identity;  // applied to the stage's output
  double act_param = 0, act_param2 = 0;             // see cpu::Activation
  // BatchNorm's running statistics (F) and its int64 0-d batch counter; all null when the module
  // does not track running statistics.
  Tensor running_mean, running_var, num_batches_tracked;
  double eps = 1e-5;      // BatchNorm, LayerNorm
  double momentum = 0.1;  // BatchNorm; negative: the cumulative average (PyTorch's momentum=None)
  double p = 0;           // Dropout's probability
  int64_t features = 0;   // BatchNorm, LayerNorm: the normalised width
  bool training = true;   // BatchNorm: batch statistics (and running updates); Dropout: drops

  bool is_identity() const {  // passes its input on unchanged (before the activation)
    return kind == StageKind::Activation || (kind == StageKind::Dropout && (!training || p == 0));
  }
};

// Reusable buffers: a slot is handed out again only when nothing else references its memory
// (the previous step's graph has been freed), so steady-state training allocates nothing and a
// tensor the caller still holds is never overwritten.
class Workspace {
 public:
  // A buffer of `shape` on `device` in `slot`, reused when nothing else refers to it.
  Tensor acquire(size_t slot, const Shape& shape, DType dtype, Device device = Device{}) {
    return acquire(slot, shape.data(), shape.size(), dtype, device);
  }
  // The same for a braced shape ({B, F}): compared in place, so a reused buffer costs no Shape
  // (a heap vector) per call; the small-network step makes a dozen of these calls.
  Tensor acquire(size_t slot, std::initializer_list<int64_t> shape, DType dtype, Device device = Device{}) {
    return acquire(slot, shape.begin(), shape.size(), dtype, device);
  }

 private:
  Tensor acquire(size_t slot, const int64_t* dims, size_t ndim, DType dtype, Device device);

  std::vector<Tensor> slots_;
};

// The chain's workspace slots, by name: each stage owns one slot per buffer kind, apart for the
// forward pass (the Python forward and the native loop's) and the backward pass.
struct ChainSlots {
  enum Buffer : size_t {
    kOutput,         // forward: the stage's output (B, F)
    kPreActivation,  // forward: the output before the activation, when its derivative needs it
    kStatistics,     // forward: BatchNorm (3, F) / LayerNorm (2, B) mean and rstd; Dropout's mask (B, F)
    kDelta,          // backward: dL/d(stage input) (B, C)
    kBuffersPerStage
  };
  enum Param : size_t { kWeight, kBias, kParamsPerStage };  // the gradient workspace
  static size_t buffer(size_t stage, Buffer b) { return stage * kBuffersPerStage + b; }
  static size_t param(size_t stage, Param p) { return stage * kParamsPerStage + p; }
};

class DenseChain : public std::enable_shared_from_this<DenseChain> {
 public:
  explicit DenseChain(std::vector<ChainStage> stages);

  // input (..., C0) -> output (..., OC_last). Records one node when a gradient is needed.
  Tensor forward(const Tensor& input);

  const std::vector<ChainStage>& stages() const { return stages_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // About how many floating-point operations the forward costs per input row (the backward twice that).
  int64_t flops_per_row() const { return flops_per_row_; }
  // Whether a forward or backward of `rows` rows runs on the calling thread alone: when every GEMM
  // and every elementwise pass is small, threads would open one short parallel region per layer,
  // each a chance to wait on a team thread that another process holds (cpu::SerialRegions).
  bool runs_serially(int64_t rows) const;
  // Whether a stage computes batch statistics, so a batch needs 2-D input of at least 2 rows.
  bool uses_batch_statistics() const;
  bool has_batch_norm() const { return has_batch_norm_; }
  // One flag per stage (read by BatchNorm and Dropout stages): the modules' training modes.
  void set_training(const std::vector<bool>& training);

  // For the native training loop: forward without recording into caller-managed buffers, and
  // the backward from dL/d(output), adding into or creating each parameter's .grad by the
  // gradient-ownership rule (chainrule::leaf_grad_destination).
  struct Activations {
    std::vector<Tensor> a;  // a[0] input (B, C0), a[s + 1] output of stage s
    std::vector<Tensor> z;  // z[s] stage s's output before its activation, or null when not needed
    // Per stage, or empty when the chain has no normalisation or Dropout stage: BatchNorm/LayerNorm
    // mean and rstd, Dropout's mask, or null; and whether a BatchNorm used the batch's statistics.
    std::vector<Tensor> stats;
    std::vector<bool> batch_statistics;
  };
  void forward_into(Activations& acts, const Tensor& input);
  // The same two passes on a device (the input's), through its kernel table: every Linear stage is
  // one dense_forward (GEMM, bias and activation), its backward one activation-derivative pass,
  // one bias-gradient reduction and the two gradient GEMMs of linear_backward.
  void forward_on_device(Activations& acts, const Tensor& input);
  void backward_on_device(const Activations& acts, const Tensor& dout, const Tensor& dinput);
  // dout (B, OC_last) is overwritten. dinput (B, C0) is written when not null.
  void backward_from(const Activations& acts, const Tensor& dout, const Tensor& dinput);

  void check_input(const Tensor& input) const;
  // ValueError (PyTorch's) when a BatchNorm stage is to use batch statistics of `rows` rows < 2.
  void check_batch_rows(int64_t rows, const Shape& shape) const;

  // Held by whoever uses the workspaces: a forward, a backward node, or the native fit loop
  // (which runs without the GIL, so another Python thread may call the model meanwhile).
  std::mutex& mutex() { return mutex_; }

 private:
  // The .grad a backward writes (accumulate false) or adds into (accumulate true), by the rule;
  // a fresh one comes from the gradient workspace.
  Tensor grad_target(size_t stage, ChainSlots::Param which, const Tensor& param, bool& accumulate);
  void update_running_stats(const ChainStage& stage, const Tensor& mean_var, int64_t rows);
  void update_running_stats_on_device(const ChainStage& stage, const Tensor& mean_var, int64_t rows);

  std::vector<ChainStage> stages_;
  int64_t in_features_ = 0, out_features_ = 0, flops_per_row_ = 0;
  // Per input row: the largest Linear stage's GEMM (2 C OC floating-point operations) and the
  // widest stage output.
  int64_t largest_gemm_flops_per_row_ = 0, widest_stage_ = 0;
  bool has_batch_norm_ = false;
  bool has_statistics_ = false;  // a normalisation or Dropout stage (Activations::stats is kept)
  Workspace workspace_;
  Workspace grad_workspace_;
  std::mutex mutex_;
};

}  // namespace chainrule
