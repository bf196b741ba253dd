// Helpers shared by the op implementations: dtype dispatch and saved-tensor handling.
#pragma once

#include <string>
#include <type_traits>

#include "chainrule/ops.h"

namespace chainrule::ops {

template <typename T>
struct type_tag {
  using type = T;
};

// Calls f(type_tag<T>{}) with T = float or double; int64 gets a TypeError naming op and arg.
template <typename F>
auto dispatch_floating(DType d, const char* op, const char* arg, F f) {
  switch (d) {
    case DType::Float32: return f(type_tag<float>{});
    case DType::Float64: return f(type_tag<double>{});
    default: break;
  }
  throw TypeError(std::string(op) + ": " + arg + " must be a floating point tensor, got " + dtype_name(d));
}

// Calls f(type_tag<T>{}) for the numeric dtypes (no bool: arithmetic kernels are not built for it).
template <typename F>
auto dispatch_all(DType d, F f) {
  switch (d) {
    case DType::Float32: return f(type_tag<float>{});
    case DType::Float64: return f(type_tag<double>{});
    case DType::Int32: return f(type_tag<int32_t>{});
    case DType::Bool:
      throw TypeError("bool tensors are not supported by this operation; convert with .long() or .float()");
    case DType::Int64: break;
  }
  return f(type_tag<int64_t>{});
}

// Every dtype, bool included (copies, comparisons).
template <typename F>
auto dispatch_any(DType d, F f) {
  if (d == DType::Bool) return f(type_tag<bool>{});
  return dispatch_all(d, f);
}

// Tensors a node keeps for its backward (see SavedTensor): backward reads them back through
// get() / ->, which raises if an in-place write changed them after the forward.
inline SavedTensor saved_input(const Tensor& t) { return SavedTensor::input(t); }
inline SavedTensor saved_output(const Tensor& t) { return SavedTensor::output(t); }

// The output of an op, with a node attached when a gradient is needed.
template <typename NodeT>
std::shared_ptr<NodeT> make_node(std::initializer_list<const Tensor*> inputs) {
  auto node = std::make_shared<NodeT>();
  for (const Tensor* t : inputs) node->next.push_back(t ? edge_to(*t) : Edge{});
  return node;
}

inline bool wants(const Node& n, size_t i) { return i < n.next.size() && n.next[i].active(); }

}  // namespace chainrule::ops
