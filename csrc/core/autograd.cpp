// The backward engine: a topological walk of the recorded graph from the loss to the leaves.
#include "chainrule/autograd.h"

#include <climits>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "chainrule/kernels.h"
#include "chainrule/letting_others_run.h"

namespace chainrule {

namespace {
thread_local bool g_grad_enabled = true;

// dst += src, elementwise, same shape and dtype: the engine's own gradient accumulation.
void add_into(const Tensor& dst, const Tensor& src) {
  if (dst->shape != src->shape || dst->dtype != src->dtype)
    throw ValueError("add_: tensor has shape " + shape_str(dst->shape) + " " + dtype_name(dst->dtype) +
                     " but other has shape " + shape_str(src->shape) + " " + dtype_name(src->dtype));
  check_same_device("backward", {&dst, &src});
  mark_inplace_write(dst, "add_");
  cpu::Broadcast same;
  cpu::make_broadcast(dst->shape, src->shape, same);
  if (!dst->on_cpu()) {
    if (!is_floating(dst->dtype))
      throw NotImplementedError(std::string("backward: accumulating ") + dtype_name(dst->dtype) + " gradients on " +
                                device_str(dst->device()) + " is not supported");
    device_kernels(dst, "backward").binary_forward(dst->dtype, dst->data, dst->data, src->data, same, cpu::Binary::Add);
    return;
  }
  switch (dst->dtype) {
    case DType::Float32:
      cpu::binary_forward<float>(dst->ptr<float>(), dst->ptr<float>(), src->ptr<float>(), same, cpu::Binary::Add);
      break;
    case DType::Float64:
      cpu::binary_forward<double>(dst->ptr<double>(), dst->ptr<double>(), src->ptr<double>(), same, cpu::Binary::Add);
      break;
    case DType::Int64:
      cpu::binary_forward<int64_t>(dst->ptr<int64_t>(), dst->ptr<int64_t>(), src->ptr<int64_t>(), same,
                                   cpu::Binary::Add);
      break;
  }
}

// The nodes of one backward pass with their pending-consumer counts and gathered gradients.
// Graphs of a training step have a handful of nodes, so lookups scan a vector; a hash index is
// built only once a graph grows past kScanLimit nodes.
struct GraphTask {
  static constexpr size_t kScanLimit = 32;
  std::vector<Node*> nodes;
  std::vector<int> pending;
  std::vector<Tensor> grads;
  std::unordered_map<Node*, int> index;

  // A training step's graph fits without regrowing the vectors.
  GraphTask() {
    nodes.reserve(8);
    pending.reserve(8);
    grads.reserve(8);
  }

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
  void clear() {
    nodes.clear();
    pending.clear();
    grads.clear();
    index.clear();
  }
};

// The engine's working lists, kept per thread between backward passes so that a training step's
// backward allocates none of them (their allocations were a tenth of a small network's backward
// overhead). A backward started inside another one (from a hook or a Python-defined node) finds
// them in use and takes its own.
struct EngineScratch {
  GraphTask task;
  std::vector<Node*> stack;
  std::vector<char> runs;
  std::vector<int> ready;
  bool in_use = false;
};
thread_local EngineScratch t_engine_scratch;

// Claims this thread's scratch (or a fresh one when it is in use) and empties it on every exit,
// exceptions included, keeping its capacity and releasing the gradients it still holds.
class ScratchClaim {
 public:
  ScratchClaim() {
    if (t_engine_scratch.in_use) {
      own_ = std::make_unique<EngineScratch>();
      scratch_ = own_.get();
    } else {
      scratch_ = &t_engine_scratch;
    }
    scratch_->in_use = true;
  }
  ~ScratchClaim() {
    scratch_->task.clear();
    scratch_->stack.clear();
    scratch_->runs.clear();
    scratch_->ready.clear();
    scratch_->in_use = false;
  }
  ScratchClaim(const ScratchClaim&) = delete;
  ScratchClaim& operator=(const ScratchClaim&) = delete;
  EngineScratch& operator*() const { return *scratch_; }

 private:
  std::unique_ptr<EngineScratch> own_;
  EngineScratch* scratch_;
};
}  // namespace

SavedTensor SavedTensor::input(const Tensor& t) {
  SavedTensor saved;
  if (!t) return saved;
  saved.tensor_ = t;
  saved.memory_ = t->storage;
  saved.version_ = t->version();
  return saved;
}

SavedTensor SavedTensor::output(const Tensor& t) {
  SavedTensor saved;
  if (!t) return saved;
  saved.tensor_ = alias(t, t->shape, 0);
  saved.memory_ = t->storage;
  saved.version_ = t->version();
  return saved;
}

bool SavedTensor::unchanged() const { return !memory_ || memory_->version.load(std::memory_order_relaxed) == version_; }

const Tensor& SavedTensor::get() const {
  if (!unchanged()) {
    const uint64_t now = memory_->version.load(std::memory_order_relaxed);
    throw RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [" +
        std::string(dtype_name(tensor_->dtype)) + " " + shape_str(tensor_->shape) + "] is at version " +
        std::to_string(now) + "; expected version " + std::to_string(version_) +
        " instead. Modify it only after backward(), or use a copy "
        "(.clone()) in the forward.");
  }
  return tensor_;
}

InterpreterLock& interpreter_lock() {
  static InterpreterLock lock;
  return lock;
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
  if (input->grad_fn)
    e.node = input->grad_fn;
  else
    e.leaf = input;
  return e;
}

void set_history(const Tensor& out, std::shared_ptr<Node> node) {
  out->requires_grad = true;
  out->grad_fn = std::move(node);
}

namespace {
// Grad mode for the duration of a backward pass: on exactly when its graph is to be recorded.
struct GradModeGuard {
  bool previous;
  explicit GradModeGuard(bool enabled) : previous(g_grad_enabled) { g_grad_enabled = enabled; }
  ~GradModeGuard() { g_grad_enabled = previous; }
};

Tensor seed_gradient(const Tensor& root, Tensor grad_root) {
  if (!grad_root) {
    if (root->numel != 1)
      throw RuntimeError(
          "backward: grad can be implicitly created only for scalar outputs; pass gradient= with shape " +
          shape_str(root->shape));
    return full(root->shape, 1.0, root->dtype, root->device());
  }
  check_same_device("backward", {&root, &grad_root});
  if (grad_root->shape != root->shape)
    throw ValueError("backward: gradient has shape " + shape_str(grad_root->shape) + " but the tensor has shape " +
                     shape_str(root->shape));
  // Our own copy (the engine accumulates into gradients in place), unless the seed's own graph
  // is to be kept (create_graph): then it is used as given, through a differentiable cast.
  if (grad_enabled()) return recording_ops().cast(grad_root, root->dtype);
  return cast_data(grad_root, root->dtype);
}

// dst + src for gradient sums: in place when nothing is recorded, a new graph node otherwise.
Tensor accumulate(Tensor dst, const Tensor& src) {
  if (!dst) return src;
  if (grad_enabled()) return recording_ops().add(dst, src);
  add_into(dst, src);
  return dst;
}

void accumulate_leaf(const Tensor& leaf, const Tensor& g) {
  // create_graph: .grad keeps the gradient's graph (a fresh node, never the engine's tensor).
  // Otherwise a new .grad is a copy: the leaf's .grad must never alias another tensor's memory.
  const bool record = grad_enabled();
  const LeafGradDestination dest =
      leaf_grad_destination(leaf, [&] { return record ? recording_ops().clone(g) : clone_data(g); });
  if (!dest.add) return;
  if (record)
    leaf->grad = recording_ops().add(dest.grad, g);
  else if (dest.grad->grad_fn)  // a .grad with a graph (from create_graph) is replaced, not written
    leaf->grad = recording_ops().add(recording_ops().detach(dest.grad), g);
  else
    add_into(dest.grad, g);
}
}  // namespace

std::vector<Tensor> Node::backward_graph(const Tensor& g) {
  if (!regraph)
    throw RuntimeError(std::string("backward: ") + name() +
                       " cannot record its backward (create_graph=True is not supported through it)");
  const bool record = grad_enabled();
  Tensor out;
  {
    GradModeGuard on(true);
    out = regraph(inputs);
  }
  BackwardRequest inner;
  inner.roots = {out};
  inner.grad_roots = {g};
  std::vector<size_t> slot(next.size(), SIZE_MAX);
  for (size_t i = 0; i < next.size(); ++i)
    if (next[i].active() && inputs[i]) {
      slot[i] = inner.inputs.size();
      inner.inputs.push_back(inputs[i]);
    }
  inner.retain_graph = true;
  inner.create_graph = record;
  inner.accumulate = false;
  std::vector<Tensor> found = out->requires_grad ? run_backward(inner) : std::vector<Tensor>(inner.inputs.size());
  std::vector<Tensor> grads(next.size());
  for (size_t i = 0; i < next.size(); ++i)
    if (slot[i] != SIZE_MAX) grads[i] = found[slot[i]];
  return grads;
}

RecordingOps& recording_ops() {
  static RecordingOps table;
  return table;
}

std::vector<Tensor> run_backward(const BackwardRequest& req) {
  GradModeGuard mode(req.create_graph);
  const bool restricted = !req.inputs.empty();
  std::vector<Tensor> captured(req.inputs.size());
  // Where each input's gradient arrives: at its leaf, or at the node that produced it.
  auto input_index_of_leaf = [&](const TensorImpl* leaf) {
    for (size_t k = 0; k < req.inputs.size(); ++k)
      if (req.inputs[k].get() == leaf) return static_cast<int>(k);
    return -1;
  };
  auto input_index_of_node = [&](const Node* n) {
    for (size_t k = 0; k < req.inputs.size(); ++k)
      if (req.inputs[k] && req.inputs[k]->grad_fn.get() == n) return static_cast<int>(k);
    return -1;
  };
  auto deliver_to_leaf = [&](const Tensor& leaf, const Tensor& g) {
    const int k = input_index_of_leaf(leaf.get());
    if (k >= 0) captured[k] = accumulate(captured[k], g);
    if (req.accumulate && (!restricted || k >= 0)) accumulate_leaf(leaf, g);
  };

  const ScratchClaim claim;
  GraphTask& task = (*claim).task;
  std::vector<Node*>& stack = (*claim).stack;
  for (size_t r = 0; r < req.roots.size(); ++r) {
    const Tensor& root = req.roots[r];
    if (!root->requires_grad)
      throw RuntimeError("element " + std::to_string(r) +
                         " of tensors does not require grad and does not have a grad_fn");
    Tensor seed = seed_gradient(root, r < req.grad_roots.size() ? req.grad_roots[r] : nullptr);
    if (!root->grad_fn) {  // a leaf root: its gradient is the seed itself
      deliver_to_leaf(root, seed);
      continue;
    }
    Node* n = root->grad_fn.get();
    int at = task.find(n);
    if (at < 0) {
      at = task.add(n);
      stack.push_back(n);
    }
    task.grads[at] = accumulate(task.grads[at], seed);
  }
  // Count, for every node, how many edges from other graph nodes point at it; a node runs
  // once all of its consumers have delivered their gradient.
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

  // With inputs, a node runs only when one of them lies upstream of it: mark, in reverse
  // topological order, the nodes with an edge to an input or to a marked node.
  std::vector<char>& runs = (*claim).runs;
  runs.assign(task.nodes.size(), 1);
  if (restricted) {
    std::vector<int> pending = task.pending, order;
    std::vector<int> frontier;
    for (size_t i = 0; i < task.nodes.size(); ++i)
      if (pending[i] == 0) frontier.push_back(static_cast<int>(i));
    while (!frontier.empty()) {
      const int i = frontier.back();
      frontier.pop_back();
      order.push_back(i);
      for (const Edge& e : task.nodes[i]->next)
        if (e.node) {
          const int at = task.find(e.node.get());
          if (--pending[at] == 0) frontier.push_back(at);
        }
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = task.nodes[*it];
      bool needed = false;
      for (const Edge& e : n->next) {
        if (e.leaf && input_index_of_leaf(e.leaf.get()) >= 0) needed = true;
        if (e.node) {
          const int at = task.find(e.node.get());
          if (runs[at] || input_index_of_node(e.node.get()) >= 0) needed = true;
        }
      }
      runs[*it] = needed;
    }
  }

  std::vector<int>& ready = (*claim).ready;
  for (size_t i = 0; i < task.nodes.size(); ++i)
    if (task.pending[i] == 0) ready.push_back(static_cast<int>(i));
  while (!ready.empty()) {
    const int at_node = ready.back();
    ready.pop_back();
    Node* node = task.nodes[at_node];
    Tensor g = std::move(task.grads[at_node]);
    const int k = restricted ? input_index_of_node(node) : -1;
    if (k >= 0 && g) captured[k] = accumulate(captured[k], g);
    if (req.accumulate && g && !restricted) {
      if (Tensor kept = node->retained_output.lock()) accumulate_leaf(kept, g);
    }
    std::vector<Tensor> input_grads;
    if (g && runs[at_node]) {
      const bool graph_path = req.create_graph || (node->writes_leaf_grads && (restricted || !req.accumulate));
      LettingOthersRun others(!graph_path && node->backward_flops(g) > kLongCallFlops);
      input_grads = graph_path ? node->backward_graph(g) : node->backward(g);
      g.reset();
      if (!req.retain_graph) {
        node->release_saved();
        node->inputs.clear();
        node->regraph = nullptr;
        node->released = true;
      }
    }
    for (size_t i = 0; i < node->next.size(); ++i) {
      const Edge& e = node->next[i];
      const Tensor gi = i < input_grads.size() ? input_grads[i] : Tensor();
      if (e.leaf) {
        if (gi) deliver_to_leaf(e.leaf, gi);
      } else if (e.node) {
        const int at = task.find(e.node.get());
        if (gi) task.grads[at] = accumulate(task.grads[at], gi);
        if (--task.pending[at] == 0) ready.push_back(at);
      }
    }
  }
  return captured;
}

void run_backward(const Tensor& root, Tensor grad_root, bool retain_graph) {
  BackwardRequest req;
  req.roots = {root};
  req.grad_roots = {std::move(grad_root)};
  req.retain_graph = retain_graph;
  run_backward(req);
}

}  // namespace chainrule
