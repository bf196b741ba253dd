// Views, copies and casts: reshape, transpose, first-dimension slicing and gathering.
#include <cstring>
#include <limits>

#include "op_utils.h"

namespace chainrule::ops {

namespace {
// Gradient flows through a view unchanged except for its shape.
struct ReshapeNode : Node {
  Shape input_shape;
  const char* name() const override { return "ReshapeBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {alias(g, input_shape, 0)}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {reshape(g, input_shape)}; }
};

struct ExpandNode : Node {
  Shape input_shape;
  const char* name() const override { return "ExpandBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {clone_data(sum_to_shape(g, input_shape))}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {sum_to_shape(g, input_shape)}; }
};

struct TransposeNode : Node {
  const char* name() const override { return "TransposeBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {transpose(detach(g))}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {transpose(g)}; }
};

// Backward of taking rows [start, start + rows) of x: zeros elsewhere.
struct SliceRowsNode : Node {
  Shape input_shape;
  int64_t start = 0;
  const char* name() const override { return "SliceBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = zeros(input_shape, g->dtype, g->device());
    const int64_t row = input_shape.empty() ? 1 : shape_numel(input_shape) / std::max<int64_t>(input_shape[0], 1);
    copy_data(alias(dx, g->shape, start * row), g);  // g's rows into place, on whatever device they live
    return {dx};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override;
};

// The backward of slice_rows as an op of its own (g placed at rows [start, ...) of zeros), so a
// recorded backward can be differentiated again: its own gradient slices the rows back out.
struct PadRowsNode : Node {
  int64_t start = 0, rows = 0;
  const char* name() const override { return "SliceBackwardBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {clone_data(slice_rows(detach(g), start, start + rows))};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {slice_rows(g, start, start + rows)}; }
};

std::vector<Tensor> SliceRowsNode::backward_graph(const Tensor& g) {
  Tensor dx = backward(detach(g))[0];
  if (needs_grad({&g})) {
    auto node = make_node<PadRowsNode>({&g});
    node->start = start;
    node->rows = g->dim() ? g->shape[0] : 1;
    set_history(dx, node);
  }
  return {dx};
}

struct IndexRowsNode : Node {
  Shape input_shape;
  Tensor indices;
  const char* name() const override { return "IndexBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = zeros(input_shape, g->dtype);
    const int64_t row = shape_numel(input_shape) / std::max<int64_t>(input_shape[0], 1);
    const int64_t* idx = indices->ptr<int64_t>();
    dispatch_floating(g->dtype, "backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      // Serial scatter-add: repeated indices accumulate in a fixed order.
      for (int64_t i = 0; i < indices->numel; ++i) {
        T* dst = dx->ptr<T>() + idx[i] * row;
        const T* src = g->ptr<T>() + i * row;
        for (int64_t j = 0; j < row; ++j) dst[j] += src[j];
      }
    });
    return {dx};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override;
  void release_saved() override { indices.reset(); }
};

// The scatter-add backward of index_rows as an op: its own gradient gathers the rows again.
struct ScatterRowsNode : Node {
  Tensor indices;
  const char* name() const override { return "IndexBackwardBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {index_rows(detach(g), indices)}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {index_rows(g, indices)}; }
};

std::vector<Tensor> IndexRowsNode::backward_graph(const Tensor& g) {
  Tensor dx = backward(detach(g))[0];
  if (needs_grad({&g})) {
    auto node = make_node<ScatterRowsNode>({&g});
    node->indices = indices;
    set_history(dx, node);
  }
  return {dx};
}

struct CastNode : Node {
  DType input_dtype;
  const char* name() const override { return "CastBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {cast_data(g, input_dtype)}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {cast(g, input_dtype)}; }
};

struct ToDeviceNode : Node {
  Device input_device;
  const char* name() const override { return "ToCopyBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {chainrule::to_device(g, input_device)}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {ops::to_device(g, input_device)}; }
};

struct CloneNode : Node {
  const char* name() const override { return "CloneBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g}; }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {g}; }
};
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  Shape shape = shape_in;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw ValueError("reshape: shape " + shape_str(shape_in) + " has more than one -1");
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      throw ValueError("reshape: shape " + shape_str(shape_in) + " has a negative dimension");
    } else if (shape[i] != 0 && known > std::numeric_limits<int64_t>::max() / shape[i]) {
      // The product overflows int64, so it cannot equal the input's element count (and
      // multiplying on would wrap around to a count that might).
      throw ValueError("reshape: shape " + shape_str(shape_in) + " is invalid for input of size " +
                       std::to_string(x->numel));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x->numel % known != 0)
      throw ValueError("reshape: shape " + shape_str(shape_in) + " is invalid for input of size " +
                       std::to_string(x->numel));
    shape[infer] = x->numel / known;
  }
  if (shape_numel(shape) != x->numel)
    throw ValueError("reshape: shape " + shape_str(shape_in) + " is invalid for input of shape " + shape_str(x->shape) +
                     " (" + std::to_string(x->numel) + " elements)");
  Tensor out = alias(x, shape, 0);
  if (needs_grad({&x})) {
    auto node = make_node<ReshapeNode>({&x});
    node->input_shape = x->shape;
    set_history(out, node);
  }
  return out;
}

Tensor transpose(const Tensor& x) {
  if (x->dim() < 2) return x;
  if (x->dim() != 2)
    throw ValueError("transpose: .T is supported for tensors of at most 2 dimensions, got shape " +
                     shape_str(x->shape));
  const int64_t rows = x->shape[0], cols = x->shape[1];
  Tensor out = empty({cols, rows}, x->dtype, x->device());
  if (!x->on_cpu()) {
    device_kernels(x, "transpose").transpose2d(x->dtype, out->data, x->data, rows, cols);
  } else {
    dispatch_any(x->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::transpose2d<T>(out->ptr<T>(), x->ptr<T>(), rows, cols);
    });
  }
  if (needs_grad({&x})) set_history(out, make_node<TransposeNode>({&x}));
  return out;
}

Tensor slice_rows(const Tensor& x, int64_t start, int64_t stop) {
  if (x->dim() == 0) throw IndexError("slice: cannot slice a 0-d tensor");
  const int64_t n = x->shape[0];
  start = std::clamp<int64_t>(start, 0, n);
  stop = std::clamp<int64_t>(stop, start, n);
  Shape shape = x->shape;
  shape[0] = stop - start;
  const int64_t row = n ? x->numel / n : 0;
  Tensor out = alias(x, shape, start * row);
  if (needs_grad({&x})) {
    auto node = make_node<SliceRowsNode>({&x});
    node->input_shape = x->shape;
    node->start = start;
    set_history(out, node);
  }
  return out;
}

namespace {
// A row number in [-n, n) as an offset in [0, n), as Python indexing counts.
int64_t normalize_row_index(int64_t index, int64_t n) {
  if (index < -n || index >= n)
    throw IndexError("index " + std::to_string(index) + " is out of bounds for dimension 0 with size " +
                     std::to_string(n));
  return index < 0 ? index + n : index;
}
}  // namespace

Tensor select_row(const Tensor& x, int64_t index) {
  if (x->dim() == 0) throw IndexError("index: invalid index of a 0-d tensor");
  index = normalize_row_index(index, x->shape[0]);
  Tensor rows = slice_rows(x, index, index + 1);
  return reshape(rows, Shape(x->shape.begin() + 1, x->shape.end()));
}

Tensor index_rows(const Tensor& x, const Tensor& indices_in) {
  if (indices_in->dtype != DType::Int64)
    throw TypeError(std::string("index: tensors used as indices must be int64, got ") + dtype_name(indices_in->dtype));
  if (indices_in->dim() != 1)
    throw ValueError("index: index tensors must be 1-D, got shape " + shape_str(indices_in->shape));
  if (x->dim() == 0) throw IndexError("index: cannot index a 0-d tensor");
  const int64_t n = x->shape[0], count = indices_in->numel;
  const int64_t row = n ? x->numel / n : 0;
  Tensor indices = clone_data(chainrule::to_device(indices_in, Device{}));  // checked (and normalised) on the host
  int64_t* idx = indices->ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) idx[i] = normalize_row_index(idx[i], n);
  Shape shape = x->shape;
  shape[0] = count;
  Tensor out = empty(shape, x->dtype, x->device());
  if (!x->on_cpu()) {
    const Tensor rows_on_device = chainrule::to_device(indices, x->device());
    device_kernels(x, "index")
        .gather_rows(out->data, x->data, rows_on_device->device_ptr<int64_t>(), count,
                     static_cast<size_t>(row) * itemsize(x->dtype));
  } else {
    cpu::gather_rows(out->data, x->data, idx, count, static_cast<size_t>(row) * itemsize(x->dtype));
  }
  if (needs_grad({&x})) {
    auto node = make_node<IndexRowsNode>({&x});
    node->input_shape = x->shape;
    node->indices = indices;
    set_history(out, node);
  }
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x->dtype == dtype) return x;
  Tensor out = cast_data(x, dtype);
  // Gradients flow only between floating types (an int64 result cannot require grad).
  if (is_floating(dtype) && needs_grad({&x})) {
    auto node = make_node<CastNode>({&x});
    node->input_dtype = x->dtype;
    set_history(out, node);
  }
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  if (x->device() == device) return x;
  Tensor out = chainrule::to_device(x, device);
  if (needs_grad({&x})) {
    auto node = make_node<ToDeviceNode>({&x});
    node->input_device = x->device();
    set_history(out, node);
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  if (static_cast<size_t>(x->dim()) > shape.size())
    throw ValueError("expand: the number of sizes provided (" + std::to_string(shape.size()) +
                     ") must be greater or equal to the number of dimensions in the tensor (" +
                     std::to_string(x->dim()) + ")");
  Shape target = shape;
  const size_t lead = shape.size() - x->shape.size();
  for (size_t k = 0; k < shape.size(); ++k) {
    const int64_t have = k >= lead ? x->shape[k - lead] : 1;
    if (target[k] == -1) {
      if (k < lead)
        throw ValueError("expand: -1 is not allowed in a leading, non-existing dimension " + std::to_string(k));
      target[k] = have;
    }
    if (target[k] < 0) throw ValueError("expand: size " + shape_str(shape) + " has a negative dimension");
    if (have != target[k] && have != 1)
      throw ValueError("expand: the expanded size of the tensor (" + std::to_string(target[k]) +
                       ") must match the existing size (" + std::to_string(have) + ") at non-singleton dimension " +
                       std::to_string(k) + ".  Target sizes: " + shape_str(shape) +
                       ".  Tensor sizes: " + shape_str(x->shape));
  }
  if (target == x->shape) return x;
  check_shape(target, x->dtype, "expand: size");
  Tensor out = empty(target, x->dtype, x->device());
  auto strides = cpu::broadcast_strides(x->shape, target);
  if (!x->on_cpu()) {
    device_kernels(x, "expand").broadcast_to(x->dtype, out->data, x->data, target, strides);
  } else {
    dispatch_any(x->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::broadcast_to<T>(out->ptr<T>(), x->ptr<T>(), target, strides);
    });
  }
  if (is_floating(x->dtype) && needs_grad({&x})) {
    auto node = make_node<ExpandNode>({&x});
    node->input_shape = x->shape;
    set_history(out, node);
  }
  return out;
}

Tensor detach(const Tensor& x) { return alias(x, x->shape, 0); }

Tensor clone(const Tensor& x) {
  Tensor out = clone_data(x);
  if (needs_grad({&x})) set_history(out, make_node<CloneNode>({&x}));
  return out;
}

}  // namespace chainrule::ops
