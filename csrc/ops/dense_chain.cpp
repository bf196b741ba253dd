// The fused dense chain: forward with bias+activation epilogues, backward as one node whose
// input-gradient GEMMs apply the previous layer's activation derivative and bias gradient in
// their epilogue. The separate passes (csrc/cpu/dense.cpp) stay as the reference.
#include "chainrule/dense_chain.h"

#include <cstring>

#include "chainrule/gemm.h"
#include "op_utils.h"

namespace chainrule {

using cpu::Activation;
using cpu::Trans;

namespace {
// Outputs up to this many elements stay in cache between the GEMM and its finishing pass, so
// their epilogue runs once over the whole matrix instead of once per strip of rows: on a small
// network the per-strip calls cost more than the arithmetic they do. The same function visits the
// same elements in the same row order, so the results are the same bits either way.
constexpr int64_t kFinishOnceElements = 1 << 14;

template <typename T>
void gemm_and_finish(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                     int64_t ldb, T* C, int64_t ldc, const cpu::GemmEpilogue<T>& epilogue) {
  if (epilogue.apply && M * N <= kFinishOnceElements) {
    cpu::gemm<T>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, false);
    epilogue.apply(epilogue.ctx, C, ldc, 0, 0, M, N);
  } else {
    cpu::gemm<T>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, false, epilogue);
  }
}
}  // namespace

Tensor Workspace::acquire(size_t slot, const Shape& shape, DType dtype) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  Tensor& t = slots_[slot];
  // use_count == 1: only this workspace refers to the block (no saved graph, no user view).
  if (t && t->dtype == dtype && t->shape == shape && t.use_count() == 1 && t->storage.use_count() == 1) return t;
  t = empty(shape, dtype);
  return t;
}

DenseChain::DenseChain(std::vector<DenseLayer> layers) : layers_(std::move(layers)) {
  if (layers_.empty()) throw ValueError("DenseChain: layers must not be empty");
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayer& L = layers_[l];
    if (!L.weight || L.weight->dim() != 2)
      throw ValueError("DenseChain: layer " + std::to_string(l) + " weight must be 2-D");
    if (l > 0 && L.weight->shape[1] != layers_[l - 1].weight->shape[0])
      throw ValueError("DenseChain: layer " + std::to_string(l) + " takes " + std::to_string(L.weight->shape[1]) +
                       " features but layer " + std::to_string(l - 1) + " gives " +
                       std::to_string(layers_[l - 1].weight->shape[0]));
  }
}

void DenseChain::check_input(const Tensor& input) const {
  // Parameters are read at every call: they may have been re-pointed (.data =) or converted.
  const DType dtype = layers_.front().weight->dtype;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayer& L = layers_[l];
    if (L.weight->dtype != dtype || (L.bias && L.bias->dtype != dtype))
      throw TypeError("Sequential: all layers must have one dtype; layer " + std::to_string(l) + " is " +
                      dtype_name(L.weight->dtype) + " but layer 0 is " + dtype_name(dtype));
    if (L.weight->dim() != 2 || (l > 0 && L.weight->shape[1] != layers_[l - 1].weight->shape[0]) ||
        (L.bias && (L.bias->dim() != 1 || L.bias->shape[0] != L.weight->shape[0])))
      throw ValueError("Sequential: the shape of layer " + std::to_string(l) + "'s parameters changed to " +
                       shape_str(L.weight->shape) + " and no longer chains with its neighbours");
  }
  const int64_t C = in_features();
  if (input->dim() < 1 || input->shape.back() != C)
    throw ValueError("linear: input has shape " + shape_str(input->shape) + " but weight has shape " +
                     shape_str(layers_.front().weight->shape) +
                     "; the input's last dimension must be in_features=" + std::to_string(C));
  if (input->dtype != dtype)
    throw TypeError(std::string("linear: input is ") + dtype_name(input->dtype) + " but weight is " + dtype_name(dtype) +
                    "; convert one with .to(dtype)");
}

void DenseChain::forward_into(Activations& acts, const Tensor& input, size_t slot_base) {
  const size_t L = layers_.size();
  const DType dtype = input->dtype;
  const int64_t B = input->shape[0];  // input is (B, C0); C0 may be 0
  acts.a.assign(L + 1, nullptr);
  acts.z.assign(L, nullptr);
  acts.a[0] = input;
  ops::dispatch_floating(dtype, "Sequential", "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t l = 0; l < L; ++l) {
      const DenseLayer& layer = layers_[l];
      const int64_t C = layer.weight->shape[1], OC = layer.weight->shape[0];
      Tensor out = workspace_.acquire(slot_base + 2 * l, {B, OC}, dtype);
      Tensor z;
      if (!cpu::activation_derivative_from_output(layer.act, layer.act_param))
        z = workspace_.acquire(slot_base + 2 * l + 1, {B, OC}, dtype);
      // out (B, OC) = act(a (B, C) W^T + bias), with z = the pre-activation when it is kept: bias,
      // copy and activation run in the GEMM's epilogue on each strip of out while it is in cache.
      const cpu::BiasActivationEpilogue<T> finish{layer.bias ? layer.bias->ptr<T>() : nullptr,
                                                  z ? z->ptr<T>() : nullptr, OC, layer.act, layer.act_param};
      cpu::GemmEpilogue<T> epilogue;
      if (finish.bias || finish.z || finish.act != Activation::Identity) {
        epilogue.apply = cpu::bias_activation_epilogue<T>;
        epilogue.ctx = &finish;
      }
      gemm_and_finish<T>(Trans::No, Trans::Yes, B, OC, C, acts.a[l]->ptr<T>(), C, layer.weight->ptr<T>(), C,
                         out->ptr<T>(), OC, epilogue);
      acts.a[l + 1] = out;
      acts.z[l] = z;
    }
  });
}

Tensor DenseChain::grad_target(size_t slot, const Tensor& param, bool& accumulate) {
  if (param->grad && param->grad->shape == param->shape && param->grad->dtype == param->dtype) {
    accumulate = true;
    return param->grad;
  }
  accumulate = false;
  // A gradient that zero_grad() dropped comes back from the workspace: no allocation per step,
  // and for big layers no fresh pages to fault in. One still referenced elsewhere (a NumPy view,
  // a name the caller kept) is never handed out again.
  param->grad = grad_workspace_.acquire(slot, param->shape, param->dtype);
  return param->grad;
}

void DenseChain::backward_from(const Activations& acts, const Tensor& dout, const Tensor& dinput,
                               bool accumulate_grads, size_t slot_base) {
  const size_t L = layers_.size();
  const DType dtype = dout->dtype;
  const int64_t B = acts.a[0]->shape[0];
  ops::dispatch_floating(dtype, "Sequential backward", "grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Where layer l's bias gradient goes: null when it is not wanted; acc says write or add.
    auto bias_grad_target = [&](size_t l, bool& acc) -> T* {
      acc = false;
      const DenseLayer& layer = layers_[l];
      if (!layer.bias || !layer.bias->requires_grad) return nullptr;
      Tensor db = accumulate_grads ? grad_target(2 * l + 1, layer.bias, acc) : layer.bias->grad;
      mark_inplace_write(db, "Sequential backward");
      return db->ptr<T>();
    };
    // The seed's delta(L-1) = dL/da(L-1) * sigma'(z(L-1)) and dL/db(L-1), in one pass over dout.
    {
      const DenseLayer& last = layers_[L - 1];
      bool acc = false;
      T* db = bias_grad_target(L - 1, acc);
      if (db || last.act != Activation::Identity)
        cpu::activation_backward_bias_grad<T>(dout->ptr<T>(), db, acts.a[L]->ptr<T>(),
                                              acts.z[L - 1] ? acts.z[L - 1]->ptr<T>() : nullptr, B,
                                              last.weight->shape[0], last.act, last.act_param, acc);
    }
    Tensor delta = dout;  // (B, OC_l): dL/dz of layer l; its bias gradient is already done
    for (size_t l = L; l-- > 0;) {
      const DenseLayer& layer = layers_[l];
      const int64_t C = layer.weight->shape[1], OC = layer.weight->shape[0];
      // dL/dW(l) = delta(l)^T a(l-1)
      if (layer.weight->requires_grad) {
        bool acc = false;
        Tensor dW = accumulate_grads ? grad_target(2 * l, layer.weight, acc) : layer.weight->grad;
        mark_inplace_write(dW, "Sequential backward");
        cpu::gemm<T>(Trans::Yes, Trans::No, OC, C, B, delta->ptr<T>(), OC, acts.a[l]->ptr<T>(), C, dW->ptr<T>(), C, acc);
      }
      if (l > 0) {
        // delta(l-1) = (delta(l) W(l)) * sigma'(z(l-1)) and dL/db(l-1) = its column sums: the
        // derivative and the sums run in the epilogue of the GEMM that makes dL/da(l-1).
        const DenseLayer& prev = layers_[l - 1];
        bool acc = false;
        T* db = bias_grad_target(l - 1, acc);
        if (db && !acc) std::memset(db, 0, sizeof(T) * C);
        const cpu::ActivationBackwardEpilogue<T> finish{acts.a[l]->ptr<T>(), acts.z[l - 1] ? acts.z[l - 1]->ptr<T>() : nullptr,
                                                        C, prev.act, prev.act_param, db};
        cpu::GemmEpilogue<T> epilogue;
        if (db || prev.act != Activation::Identity) {
          epilogue.apply = cpu::activation_backward_epilogue<T>;
          epilogue.ctx = &finish;
          epilogue.sums_over_rows = db != nullptr;
        }
        Tensor next = workspace_.acquire(slot_base + l, {B, C}, dtype);
        gemm_and_finish<T>(Trans::No, Trans::No, B, C, OC, delta->ptr<T>(), OC, layer.weight->ptr<T>(), C,
                           next->ptr<T>(), C, epilogue);
        delta = next;
      } else if (dinput) {
        // dL/dx = delta(0) W(0)
        cpu::gemm<T>(Trans::No, Trans::No, B, C, OC, delta->ptr<T>(), OC, layer.weight->ptr<T>(), C,
                     dinput->ptr<T>(), C, false);
      }
    }
  });
}

namespace {
// Workspace slot ranges: forward activations, then backward deltas.
constexpr size_t kForwardSlots = 0;
constexpr size_t kBackwardSlots = 1 << 10;

// The layers' rows of (B, C) views: the product of every dimension but the last, which may be 0.
int64_t leading_rows(const Shape& shape) { return shape_numel(Shape(shape.begin(), shape.end() - 1)); }

struct DenseChainNode : Node {
  std::shared_ptr<DenseChain> chain;
  DenseChain::Activations acts;  // aliases of the workspace buffers, released after backward
  Shape input_shape, output_shape;
  // The input, the output the caller holds and every parameter as the forward saw them: the
  // backward reads the chain's parameters, so each must still be the same memory, of the same
  // shape, with no in-place write since (an optimizer step, fill_, `.data =`).
  std::vector<SavedTensor> inputs_and_params;
  std::vector<Tensor> params;  // the live parameters, in the order of inputs_and_params[2:]

  const char* name() const override { return "DenseChainBackward"; }
  // Raises unless the input, the output and every parameter are as the forward saw them.
  void check_unchanged() const {
    for (size_t i = 0; i < inputs_and_params.size(); ++i) {
      const Tensor& was = inputs_and_params[i].get();  // raises after an in-place write
      if (i < 2) continue;
      const Tensor& now = params[i - 2];
      if (now->storage != was->storage || now->data != was->data || now->shape != was->shape ||
          now->dtype != was->dtype)
        throw RuntimeError("one of the variables needed for gradient computation has been modified by an inplace "
                           "operation: a parameter of the Sequential (" + std::string(dtype_name(was->dtype)) + " " +
                           shape_str(was->shape) + " in the forward) was replaced before backward()");
    }
  }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::lock_guard<std::mutex> lock(chain->mutex());
    check_unchanged();
    const int64_t B = leading_rows(input_shape);
    Tensor dout = alias(g, {B, chain->out_features()}, 0);
    Tensor dinput = ops::wants(*this, 0) ? empty(input_shape, g->dtype) : nullptr;
    chain->backward_from(acts, dout, dinput, /*accumulate_grads=*/true, kBackwardSlots);
    return {dinput};
  }
  // The chain again from unfused, recordable ops (linear, then the activation), differentiated
  // by the engine: gradients for the input and every parameter, each with a graph when recording.
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    check_unchanged();
    std::vector<Tensor> params_in_order;
    for (const DenseLayer& l : chain->layers()) {
      params_in_order.push_back(l.weight);
      params_in_order.push_back(l.bias);
    }
    const std::vector<DenseLayer>& layers = chain->layers();
    regraph = [&layers](const std::vector<Tensor>& in) {
      Tensor x = in[0];
      for (size_t l = 0; l < layers.size(); ++l)
        x = ops::activation(ops::linear_unfused(x, in[1 + 2 * l], in[2 + 2 * l]), layers[l].act, layers[l].act_param);
      return x;
    };
    std::vector<Tensor> saved_inputs = inputs;
    inputs.insert(inputs.end(), params_in_order.begin(), params_in_order.end());
    std::vector<Tensor> grads = Node::backward_graph(g);
    inputs = std::move(saved_inputs);
    regraph = nullptr;
    return grads;
  }
  void release_saved() override {
    acts = {};
    inputs_and_params.clear();
    params.clear();
  }
};

bool any_param_requires_grad(const std::vector<DenseLayer>& layers) {
  for (const DenseLayer& l : layers)
    if (l.weight->requires_grad || (l.bias && l.bias->requires_grad)) return true;
  return false;
}
}  // namespace

Tensor DenseChain::forward(const Tensor& input) {
  check_input(input);
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t B = leading_rows(input->shape);
  Activations acts;
  forward_into(acts, alias(input, {B, in_features()}, 0), kForwardSlots);
  Shape out_shape = input->shape;
  out_shape.back() = out_features();
  // The caller gets its own TensorImpl over the workspace block; while it is alive the workspace
  // sees the block in use and hands out a new one, so a later call never overwrites it.
  Tensor out = alias(acts.a.back(), out_shape, 0);
  if (grad_enabled() && (input->requires_grad || any_param_requires_grad(layers_))) {
    // Edges to the parameters too, though the fast backward writes their .grad itself (and
    // returns null for them): a recorded backward, or autograd.grad, goes through backward_graph.
    auto node = std::make_shared<DenseChainNode>();
    node->next.reserve(1 + 2 * layers_.size());
    node->next.push_back(edge_to(input));
    for (const DenseLayer& l : layers_) {
      node->next.push_back(edge_to(l.weight));
      node->next.push_back(l.bias ? edge_to(l.bias) : Edge{});
    }
    node->inputs = {input};
    node->writes_leaf_grads = true;
    node->chain = shared_from_this();
    node->input_shape = input->shape;
    node->output_shape = out_shape;
    node->inputs_and_params.emplace_back(input);
    node->inputs_and_params.emplace_back(out);
    for (const DenseLayer& layer : layers_) {
      for (const Tensor* p : {&layer.weight, &layer.bias}) {
        if (!*p) continue;
        node->inputs_and_params.emplace_back(*p);
        node->params.push_back(*p);
      }
    }
    node->acts = std::move(acts);  // the node now holds the activations until its backward
    set_history(out, node);
  }
  return out;
}

}  // namespace chainrule
