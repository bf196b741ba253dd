// Reverse-mode autograd: every differentiable op records a Node that knows how to turn the
// gradient of its output into gradients of its inputs (the seed's chain rule, one op at a time).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "chainrule/tensor.h"

namespace chainrule {

// Where a gradient flows next: into another op's node, into a leaf's .grad, or nowhere.
struct Edge {
  std::shared_ptr<Node> node;  // set when the input was produced by an op
  Tensor leaf;                 // set when the input is a leaf that requires grad
  bool active() const { return node || leaf; }
};

// A tensor a node keeps for its backward, with the version its memory had when it was saved.
// Reading it back checks that no in-place write happened in between and raises PyTorch's
// "modified by an inplace operation" error if one did, so a backward never computes with values
// (or a shape) other than the forward's.
//
// An op's input is kept itself, with its memory block pinned: `.data =`, the only way to move a
// tensor to other memory, bumps the old block's version, so one version check covers writes and
// replacements alike. The op's own output cannot be kept itself (output -> node -> output would be
// a reference cycle), so an alias of its memory without autograd history is kept instead.
class SavedTensor {
 public:
  SavedTensor() = default;
  static SavedTensor input(const Tensor& t);   // t must not hold the saving node
  static SavedTensor output(const Tensor& t);  // the node's own output
  // The checked tensor: RuntimeError if it was written (or replaced) since saving.
  const Tensor& get() const;
  bool unchanged() const;
  const Tensor& tensor() const { return tensor_; }  // unchecked, for messages
  const TensorImpl* operator->() const { return get().get(); }
  explicit operator bool() const { return static_cast<bool>(tensor_); }
  void reset() {
    tensor_.reset();
    memory_.reset();
  }

 private:
  Tensor tensor_;
  std::shared_ptr<Storage> memory_;  // the block tensor_ was over when saved
  uint64_t version_ = 0;
};

struct Node {
  std::vector<Edge> next;  // one per differentiable input, in the op's argument order
  bool released = false;   // saved tensors freed by a backward without retain_graph
  // The op's inputs themselves (with their autograd history), one per entry of `next`, for a
  // backward that is itself recorded (create_graph=True). Unlike the saved aliases a node keeps
  // for its kernels, these carry grad_fn, so the derivative's graph reaches back through them.
  std::vector<Tensor> inputs;
  // Recomputes the op's output from `inputs` with differentiable primitives; the fused ops
  // (linear, losses, the dense chain) differentiate through this when a graph is requested.
  std::function<Tensor(const std::vector<Tensor>&)> regraph;
  // Set by nodes whose fast backward writes some inputs' .grad itself (the fused dense chain): a
  // backward that must not touch .grad (autograd.grad) or must be recorded runs `regraph`.
  bool writes_leaf_grads = false;
  // A non-leaf output whose .grad backward() fills (Tensor.retain_grad()).
  std::weak_ptr<TensorImpl> retained_output;

  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // grad_output has the shape of the op's output. Returns one gradient per entry of `next`
  // (nullptr where the edge is inactive). The engine owns the returned gradients and adds into
  // them in place, so they must not share memory with each other; one of them may be (a view
  // of) grad_output itself, which the node receives as its only holder.
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  // About how many floating-point operations backward(grad_output) costs: the engine lets other
  // Python threads run through long ones (letting_others_run.h). Elementwise by default.
  virtual int64_t backward_flops(const Tensor& grad_output) const { return 4 * grad_output->numel; }
  // The same gradients built from differentiable ops while grad mode is on, so that they have a
  // graph of their own (create_graph=True: higher-order derivatives). The default
  // differentiates `regraph`; nodes without either raise.
  virtual std::vector<Tensor> backward_graph(const Tensor& grad_output);
  // Drop saved activations; called after a backward that did not ask to retain the graph.
  virtual void release_saved() {}
};

// The gradient-ownership rule (ARCHITECTURE.md, "Who owns what"), the one place it is decided: a
// backward pass adds a fresh gradient into a leaf's .grad when it holds one and creates .grad when
// it is None. A .grad of another shape or dtype than the leaf (left over from before the leaf was
// re-pointed with `.data =`) counts as none. Returns the .grad to add into (add == true), or
// installs make_grad() as the leaf's new .grad and returns it (add == false: the caller writes it,
// or has already). The engine, the fused dense chain and the native fit loop all call this.
struct LeafGradDestination {
  Tensor grad;
  bool add = false;
};
template <typename MakeGrad>  // Tensor make_grad(); a template, so a call costs no std::function
LeafGradDestination leaf_grad_destination(const Tensor& leaf, MakeGrad&& make_grad) {
  const Tensor& grad = leaf->grad;
  if (grad && same_shape(grad->shape, leaf->shape) && grad->dtype == leaf->dtype) return {grad, true};
  leaf->grad = make_grad();
  return {leaf->grad, false};
}

// Grad mode (thread-local, like PyTorch's): when disabled, ops record nothing.
bool grad_enabled();
void set_grad_enabled(bool enabled);

// True when the op's output should get a grad_fn: grad mode is on and some input needs grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
Edge edge_to(const Tensor& input);  // the edge a node uses to reach `input`
// Attach `node` (with its edges already filled) as the producer of `out`.
void set_history(const Tensor& out, std::shared_ptr<Node> node);

// One backward pass over the graph behind `roots`.
struct BackwardRequest {
  std::vector<Tensor> roots;
  std::vector<Tensor> grad_roots;  // one per root; null entries only for single-element roots
  // When not empty, gradients flow only towards these tensors (leaves or not) and the graph
  // upstream of them is not run; their gradients are returned in this order (null when unused).
  std::vector<Tensor> inputs;
  bool retain_graph = false;
  bool create_graph = false;  // record the backward itself (grad mode on while it runs)
  // True: add into the leaves' .grad (backward()); false: only return the inputs' gradients
  // (autograd.grad), touching no .grad.
  bool accumulate = true;
};
std::vector<Tensor> run_backward(const BackwardRequest& request);

// Runs the backward pass from `root`. `grad_root` may be null only when root is a scalar.
// Gradients are added into leaves' .grad (created on first use), as in PyTorch.
void run_backward(const Tensor& root, Tensor grad_root, bool retain_graph);

// Sums `g` over the dimensions along which `shape` was broadcast to g's shape (differentiable).
// The differentiable ops the engine uses when it records a backward (create_graph=True): gradient
// sums and the seed's cast must then be graph nodes themselves. They live in ops/, above the engine,
// which fills this table once at load time (ops/recording_ops.cpp), so core never includes ops.
struct RecordingOps {
  Tensor (*add)(const Tensor& a, const Tensor& b) = nullptr;
  Tensor (*cast)(const Tensor& x, DType dtype) = nullptr;
  Tensor (*clone)(const Tensor& x) = nullptr;
  Tensor (*detach)(const Tensor& x) = nullptr;
};
RecordingOps& recording_ops();

}  // namespace chainrule
