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

// ---- devices -------------------------------------------------------------------------------------
// a and b brought to one device for a binary op: a 0-d CPU tensor (what a Python number becomes)
// joins the other operand's device, as PyTorch lets CPU scalars mix with tensors anywhere; any
// other mix raises PyTorch's "Expected all tensors to be on the same device" error.
inline void join_devices(const char* op, Tensor& a, Tensor& b) {
  if (a->device() == b->device()) return;
  if (a->on_cpu() && a->dim() == 0)
    a = ops::to_device(a, b->device());
  else if (b->on_cpu() && b->dim() == 0)
    b = ops::to_device(b, a->device());
  else
    check_same_device(op, {&a, &b});
}

// The device kernels for an op on x, whose tensors are not on the CPU; NotImplementedError unless
// the op supports x's dtype there (the device kernels take float32 and float64).
inline const DeviceKernels& float_kernels(const Tensor& x, const char* op) {
  if (!is_floating(x->dtype))
    throw NotImplementedError(std::string(op) + ": " + dtype_name(x->dtype) + " tensors on " + device_str(x->device()) +
                              " are not supported yet; only float32 and float64 are");
  return device_kernels(x, op);
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
