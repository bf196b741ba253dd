// sum, mean, argmax and the softmax family.
#include <algorithm>

#include "op_utils.h"

namespace chainrule::ops {

namespace {
// Gradient of a sum: the output gradient repeated along the reduced dimensions.
struct SumNode : Node {
  Shape input_shape, kept_shape;  // kept_shape: the output shape with reduced dims kept as 1
  const char* name() const override { return "SumBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = empty(input_shape, g->dtype, g->device());
    auto strides = cpu::broadcast_strides(kept_shape, input_shape);
    if (!g->on_cpu()) {
      float_kernels(g, "sum backward").broadcast_to(g->dtype, dx->data, g->data, input_shape, strides);
      return {dx};
    }
    dispatch_floating(g->dtype, "sum backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::broadcast_to<T>(dx->ptr<T>(), g->ptr<T>(), input_shape, strides);
    });
    return {dx};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {expand(reshape(g, kept_shape), input_shape)}; }
};

struct SoftmaxNode : Node {
  SavedTensor y;
  int64_t dim = 0, outer = 0, n = 0, inner = 0;
  bool log = false;
  const char* name() const override { return log ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = empty_like(y.get());
    if (!dx->on_cpu()) {
      float_kernels(g, "softmax backward").softmax_backward(g->dtype, dx->data, g->data, y->data, outer, n, inner, log);
      return {dx};
    }
    dispatch_floating(g->dtype, "softmax backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::softmax_backward<T>(dx->ptr<T>(), g->ptr<T>(), y->ptr<T>(), outer, n, inner, log);
    });
    return {dx};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    // softmax: y (g - sum(g y)); log_softmax: g - softmax(x) sum(g), along dim.
    Tensor out = softmax(inputs[0], dim, false);
    if (log) return {binary(cpu::Binary::Sub, g, binary(cpu::Binary::Mul, out, sum(g, {dim}, true)))};
    Tensor gy = sum(binary(cpu::Binary::Mul, g, out), {dim}, true);
    return {binary(cpu::Binary::Mul, out, binary(cpu::Binary::Sub, g, gy))};
  }
  void release_saved() override { y.reset(); }
};

// (outer, n, inner) view of a shape around dimension d.
void split_at(const Shape& s, int64_t d, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= s[k];
  n = s.empty() ? 1 : s[d];
  for (size_t k = d + 1; k < s.size(); ++k) inner *= s[k];
}
}  // namespace

Tensor sum(const Tensor& x_in, const std::vector<int64_t>& dims_in, bool keepdim) {
  // Sums of bool and int32 tensors count in int64, as in PyTorch.
  const Tensor x = (x_in->dtype == DType::Bool || x_in->dtype == DType::Int32) ? cast_data(x_in, DType::Int64) : x_in;
  const int64_t nd = x->dim();
  std::vector<bool> reduce(std::max<int64_t>(nd, 1), dims_in.empty());
  for (int64_t d : dims_in) {
    int64_t k = normalize_dim(d, nd, "sum: dim");
    if (reduce[k] && !dims_in.empty())
      throw ValueError("sum: dim " + std::to_string(d) + " appears more than once in the list of dims");
    reduce[k] = true;
  }
  Shape kept_shape, out_shape;
  for (int64_t k = 0; k < nd; ++k) {
    kept_shape.push_back(reduce[k] ? 1 : x->shape[k]);
    if (!reduce[k] || keepdim) out_shape.push_back(reduce[k] ? 1 : x->shape[k]);
  }
  Tensor out = empty(out_shape, x->dtype, x->device());
  if (!x->on_cpu()) {
    const DeviceKernels& k = float_kernels(x, "sum");
    if (dims_in.empty() || std::all_of(reduce.begin(), reduce.end(), [](bool r) { return r; })) {
      k.sum_all(x->dtype, out->data, x->data, x->numel);
    } else {
      // One dimension at a time, last first, as on the CPU; the last step writes the output.
      Tensor cur = x;
      Shape cur_shape = x->shape;
      int64_t first_reduced = 0;
      while (!reduce[first_reduced]) ++first_reduced;
      for (int64_t k_dim = nd - 1; k_dim >= 0; --k_dim) {
        if (!reduce[k_dim]) continue;
        int64_t outer, n, inner;
        split_at(cur_shape, k_dim, outer, n, inner);
        cur_shape[k_dim] = 1;
        Tensor next = k_dim == first_reduced ? out : empty(cur_shape, x->dtype, x->device());
        k.sum_dim_forward(x->dtype, next->data, cur->data, outer, n, inner);
        cur = next;
      }
    }
  } else {
    dispatch_all(x->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (dims_in.empty() || std::all_of(reduce.begin(), reduce.end(), [](bool r) { return r; })) {
        out->ptr<T>()[0] = cpu::sum_all<T>(x->ptr<T>(), x->numel);
        return;
      }
      // Reduce one dimension at a time, last first, through temporaries.
      Tensor cur = x;
      Shape cur_shape = x->shape;
      for (int64_t k = nd - 1; k >= 0; --k) {
        if (!reduce[k]) continue;
        int64_t outer, n, inner;
        split_at(cur_shape, k, outer, n, inner);
        cur_shape[k] = 1;
        Tensor next = empty(cur_shape, x->dtype);
        cpu::sum_dim_forward<T>(next->ptr<T>(), cur->ptr<T>(), outer, n, inner);
        cur = next;
      }
      std::copy(cur->ptr<T>(), cur->ptr<T>() + cur->numel, out->ptr<T>());
    });
  }
  if (needs_grad({&x})) {
    auto node = make_node<SumNode>({&x});
    node->input_shape = x->shape;
    node->kept_shape = kept_shape;
    set_history(out, node);
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_floating(x, "mean", "input");
  // Validated here too so that errors name mean, not the sum it is built on.
  std::vector<bool> seen(std::max<int64_t>(x->dim(), 1), false);
  for (int64_t d : dims) {
    const int64_t k = normalize_dim(d, x->dim(), "mean: dim");
    if (seen[k]) throw ValueError("mean: dim " + std::to_string(d) + " appears more than once in the list of dims");
    seen[k] = true;
  }
  Tensor s = sum(x, dims, keepdim);
  const int64_t count = s->numel ? x->numel / s->numel : 0;
  return binary(cpu::Binary::Mul, s, scalar_like(1.0 / static_cast<double>(count), s));
}

Tensor argmax(const Tensor& x_in, std::optional<int64_t> dim, bool keepdim) {
  const Tensor x = x_in->dtype == DType::Bool ? cast_data(x_in, DType::Int64) : x_in;
  if (x->numel == 0) throw ValueError("argmax: expected a non-empty tensor");
  // The result's shape and the (outer, n, inner) view of x around the reduced dimension; without
  // a dim, x is one run of numel values.
  int64_t outer = 1, n = x->numel, inner = 1;
  Shape shape = keepdim ? Shape(x->dim(), 1) : Shape{};
  if (dim) {
    const int64_t d = normalize_dim(*dim, x->dim(), "argmax: dim");
    split_at(x->shape, d, outer, n, inner);
    shape = x->shape;
    if (!shape.empty()) {
      if (keepdim)
        shape[d] = 1;
      else
        shape.erase(shape.begin() + d);
    }
  }
  Tensor out = empty(shape, DType::Int64, x->device());
  if (!x->on_cpu()) {
    float_kernels(x, "argmax").argmax_dim(x->dtype, out->device_ptr<int64_t>(), x->data, outer, n, inner);
    return out;
  }
  dispatch_all(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::argmax_dim<T>(out->ptr<int64_t>(), x->ptr<T>(), outer, n, inner);
  });
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  const int64_t d = normalize_dim(dim, x->dim(), log ? "log_softmax: dim" : "softmax: dim");
  int64_t outer, n, inner;
  split_at(x->shape, d, outer, n, inner);
  Tensor out = empty_like(x);
  if (!x->on_cpu()) {
    float_kernels(x, name).softmax_forward(x->dtype, out->data, x->data, outer, n, inner, log);
  } else {
    dispatch_floating(x->dtype, name, "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::softmax_forward<T>(out->ptr<T>(), x->ptr<T>(), outer, n, inner, log);
    });
  }
  if (needs_grad({&x})) {
    auto node = make_node<SoftmaxNode>({&x});
    node->y = saved_output(out);
    node->inputs = {x};
    node->dim = d;
    node->outer = outer;
    node->n = n;
    node->inner = inner;
    node->log = log;
    set_history(out, node);
  }
  return out;
}

}  // namespace chainrule::ops
