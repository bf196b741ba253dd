// Element types and shapes: what kernels and tensors both speak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chainrule {

// ---- dtypes -------------------------------------------------------------------------------
enum class DType : uint8_t { Float32 = 0, Float64 = 1, Int64 = 2, Int32 = 3, Bool = 4 };

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Bool: return 1;
    default: return 8;
  }
}
inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }
inline bool is_integral(DType d) { return d == DType::Int64 || d == DType::Int32; }
// "float32", "float64", "int64", "int32", "bool".
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
    case DType::Bool: return "bool";
  }
  return "?";
}
// PyTorch's type categories: bool < integer < floating. A 0-d operand (or a Python number)
// beside a dimensioned tensor only decides the result dtype when its category is higher.
inline int dtype_category(DType d) { return d == DType::Bool ? 0 : (is_integral(d) ? 1 : 2); }
// The type both operands of a binary op are promoted to: bool < int32 < int64 < float32 < float64.
inline int promotion_rank(DType d) {
  switch (d) {
    case DType::Bool: return 0;
    case DType::Int32: return 1;
    case DType::Int64: return 2;
    case DType::Float32: return 3;
    default: return 4;
  }
}
inline DType promote(DType a, DType b) { return promotion_rank(a) >= promotion_rank(b) ? a : b; }

using Shape = std::vector<int64_t>;

// Whether a shape equals dims[0, ndim): a loop over the few extents. (Shape's operator== calls
// memcmp, a library call that costs more than the compare on the per-step paths of a small
// network: workspace reuse, gradient checks.)
inline bool same_shape(const Shape& shape, const int64_t* dims, size_t ndim) {
  if (shape.size() != ndim) return false;
  for (size_t d = 0; d < ndim; ++d)
    if (shape[d] != dims[d]) return false;
  return true;
}
inline bool same_shape(const Shape& a, const Shape& b) { return same_shape(a, b.data(), b.size()); }

// f(T{}) with T the C++ type of dtype d: for code that picks a typed kernel by a run-time dtype.
template <typename F>
void for_dtype(DType d, F f) {
  switch (d) {
    case DType::Float32: f(float{}); break;
    case DType::Float64: f(double{}); break;
    case DType::Int64: f(int64_t{}); break;
    case DType::Int32: f(int32_t{}); break;
    case DType::Bool: f(bool{}); break;
  }
}
// f(T{}) for the floating dtypes only (float64: double, otherwise float), for callers that checked
// the dtype is floating before, as the device kernels' callers do (device.h).
template <typename F>
void for_float_dtype(DType d, F f) {
  if (d == DType::Float64)
    f(double{});
  else
    f(float{});
}

}  // namespace chainrule
