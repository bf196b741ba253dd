// The backward engine: a topological walk of the recorded graph from the loss to the leaves.
#include "chainrule/autograd.h"

#include <unordered_map>

#include "chainrule/ops.h"

namespace chainrule {

namespace {
thread_local bool g_grad_enabled = true;

// dst += src, elementwise, same shape and dtype (gradient accumulation).
void add_into(const Tensor& dst, const Tensor& src) { ops::add_(dst, src); }

// The nodes of one backward pass with their pending-consumer counts and gathered gradients.
// Graphs of a training step have a handful of nodes, so lookups scan a vector; a hash index is
// built only once a graph grows past kScanLimit nodes.
struct GraphTask {
  static constexpr size_t kScanLimit = 32;
  std::vector<Node*> nodes;
  std::vector<int> pending;
  std::vector<Tensor> grads;
  std::unordered_map<Node*, int> index;

  int find(Node* n) const {
    if (nodes.size() <= kScanLimit) {
      for (size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i] == n) return static_cast<int>(i);
      return -1;
    }
    auto it = index.find(n);
    return it == index.end() ? -1 : it->second;
  }
  int add(Node* n) {
    nodes.push_back(n);
    pending.push_back(0);
    grads.emplace_back();
    if (nodes.size() == kScanLimit + 1)
      for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i]] = static_cast<int>(i);
    else if (nodes.size() > kScanLimit + 1)
      index[n] = static_cast<int>(nodes.size() - 1);
    return static_cast<int>(nodes.size() - 1);
  }
};
}  // namespace

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t) return;
  tensor_ = alias(t, t->shape, 0);
  version_ = t->version();
}

const Tensor& SavedTensor::get() const {
  if (tensor_ && tensor_->version() != version_)
    throw RuntimeError("one of the variables needed for gradient computation has been modified by an inplace "
                       "operation: [" + std::string(dtype_name(tensor_->dtype)) + " " + shape_str(tensor_->shape) +
                       "] is at version " + std::to_string(tensor_->version()) + "; expected version " +
                       std::to_string(version_) + " instead. Modify it only after backward(), or use a copy "
                       "(.clone()) in the forward.");
  return tensor_;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && *t && (*t)->requires_grad) return true;
  return false;
}

Edge edge_to(const Tensor& input) {
  Edge e;
  if (!input || !input->requires_grad) return e;
  if (input->grad_fn) e.node = input->grad_fn;
  else e.leaf = input;
  return e;
}

void set_history(const Tensor& out, std::shared_ptr<Node> node) {
  out->requires_grad = true;
  out->grad_fn = std::move(node);
}

void run_backward(const Tensor& root, Tensor grad_root, bool retain_graph) {
  if (!root->requires_grad)
    throw RuntimeError("backward: the tensor does not require grad and has no grad_fn");
  if (!grad_root) {
    if (root->numel != 1)
      throw RuntimeError("backward: grad can be implicitly created only for scalar outputs; pass gradient= with shape " +
                         shape_str(root->shape));
    grad_root = full(root->shape, 1.0, root->dtype);
  } else {
    if (grad_root->shape != root->shape)
      throw ValueError("backward: gradient has shape " + shape_str(grad_root->shape) + " but the tensor has shape " +
                       shape_str(root->shape));
    // Our own copy: the engine accumulates into gradients in place.
    grad_root = cast_data(grad_root, root->dtype);
  }

  auto accumulate_leaf = [](const Tensor& leaf, const Tensor& g) {
    if (!leaf->grad) {
      // A fresh copy: the leaf's .grad must never alias another tensor's memory.
      leaf->grad = clone_data(g);
    } else {
      add_into(leaf->grad, g);
    }
  };

  if (!root->grad_fn) {  // backward on a leaf: its gradient is the seed itself
    accumulate_leaf(root, grad_root);
    return;
  }

  // Count, for every node, how many edges from other graph nodes point at it; a node runs
  // once all of its consumers have delivered their gradient.
  GraphTask task;
  std::vector<Node*> stack{root->grad_fn.get()};
  task.add(root->grad_fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (n->released)
      throw RuntimeError(
          "backward: trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed); pass retain_graph=True to the first backward() if you need to");
    for (const Edge& e : n->next) {
      if (!e.node) continue;
      const int at = task.find(e.node.get());
      if (at < 0) {
        task.pending[task.add(e.node.get())] = 1;
        stack.push_back(e.node.get());
      } else {
        task.pending[at] += 1;
      }
    }
  }

  task.grads[0] = grad_root;
  std::vector<std::shared_ptr<Node>> ready{root->grad_fn};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    Tensor g = std::move(task.grads[task.find(node.get())]);
    std::vector<Tensor> input_grads = node->backward(g);
    g.reset();
    for (size_t i = 0; i < node->next.size(); ++i) {
      const Edge& e = node->next[i];
      const Tensor& gi = input_grads[i];
      if (e.leaf) {
        if (gi) accumulate_leaf(e.leaf, gi);
      } else if (e.node) {
        const int at = task.find(e.node.get());
        if (gi) {
          if (!task.grads[at]) task.grads[at] = gi;
          else add_into(task.grads[at], gi);
        }
        if (--task.pending[at] == 0 && task.grads[at]) ready.push_back(e.node);
      }
    }
    if (!retain_graph) {
      node->release_saved();
      node->released = true;
    }
  }
}

}  // namespace chainrule
