// A chain of dense layers (Linear, each followed by at most one activation) run as ONE op:
// the forward is one call that keeps every layer's activation, the backward is one graph node
// that runs the seed's delta recursion layer by layer and writes the parameter gradients.
//
// This is what nn.Sequential of built-in layers uses, so a training step costs a handful of
// Python -> C++ calls, and what the native fit loop runs without Python at all.
#pragma once

#include <mutex>
#include <vector>

#include "chainrule/autograd.h"
#include "chainrule/kernels.h"

namespace chainrule {

struct DenseLayer {
  Tensor weight;  // (OC, C), a leaf (Parameter)
  Tensor bias;    // (OC) or null
  cpu::Activation act = cpu::Activation::Identity;
  double act_param = 0;  // LeakyReLU's negative slope
};

// Reusable buffers: a slot is handed out again only when nothing else references its memory
// (the previous step's graph has been freed), so steady-state training allocates nothing and a
// tensor the caller still holds is never overwritten.
class Workspace {
 public:
  Tensor acquire(size_t slot, const Shape& shape, DType dtype);

 private:
  std::vector<Tensor> slots_;
};

class DenseChain : public std::enable_shared_from_this<DenseChain> {
 public:
  explicit DenseChain(std::vector<DenseLayer> layers);

  // input (..., C0) -> output (..., OC_last). Records one node when a gradient is needed.
  Tensor forward(const Tensor& input);

  // The parameters' current gradients are written (or added, when .grad exists) by the node.
  const std::vector<DenseLayer>& layers() const { return layers_; }
  int64_t in_features() const { return layers_.front().weight->shape[1]; }
  int64_t out_features() const { return layers_.back().weight->shape[0]; }

  // For the native training loop: forward without recording into caller-managed activations,
  // and the backward from dL/d(output), writing parameter gradients (never accumulating).
  struct Activations {
    std::vector<Tensor> a;  // a[0] input (B, C0), a[l + 1] output of layer l
    std::vector<Tensor> z;  // z[l] pre-activation of layer l, or null when not needed
  };
  void forward_into(Activations& acts, const Tensor& input, size_t slot_base);
  // dout (B, OC_last) is overwritten. dinput (B, C0) is written when not null.
  void backward_from(const Activations& acts, const Tensor& dout, const Tensor& dinput, bool accumulate_grads,
                     size_t slot_base);

  void check_input(const Tensor& input) const;

  // Held by whoever uses the workspaces: a forward, a backward node, or the native fit loop
  // (which runs without the GIL, so another Python thread may call the model meanwhile).
  std::mutex& mutex() { return mutex_; }

 private:
  // The .grad a backward writes into: the parameter's own when it has one (added to), else a
  // workspace buffer (slot 2 l for layer l's weight, 2 l + 1 for its bias) that is written.
  Tensor grad_target(size_t slot, const Tensor& param, bool& accumulate);

  std::vector<DenseLayer> layers_;
  Workspace workspace_;
  Workspace grad_workspace_;
  std::mutex mutex_;
};

}  // namespace chainrule
