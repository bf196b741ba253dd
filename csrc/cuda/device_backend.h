// CUDA as a chainrule device (device.h): the backend that chainrule._cuda registers with _core when
// it is imported, and the host-side argument packing its kernels share.
#pragma once

#include <cstdint>
#include <vector>

#include "chainrule/device.h"

namespace chainrule::cuda {

// The process's CUDA backend: a static object, never destroyed (the module is never unloaded).
// Creating it touches no GPU, so the module imports (and registers) on a machine without one.
const DeviceBackend& the_cuda_backend();

// A NumPy broadcast of up to two operands over an output shape, packed into a fixed-size kernel
// argument: per output dimension its extent and each operand's stride (0 where broadcast).
constexpr int kMaxBroadcastDims = 8;
struct BroadcastArgs {
  int ndim = 0;
  int64_t numel = 0;
  int64_t shape[kMaxBroadcastDims] = {};
  int64_t a_stride[kMaxBroadcastDims] = {};
  int64_t b_stride[kMaxBroadcastDims] = {};
};
// Packs out_shape with the operands' strides (b_strides may be empty: a single operand). Throws
// RuntimeError naming `what` for more than kMaxBroadcastDims dimensions, ValueError when a stride
// list does not match the shape.
BroadcastArgs pack_broadcast(const Shape& out_shape, const std::vector<int64_t>& a_strides,
                             const std::vector<int64_t>& b_strides, const char* what);

}  // namespace chainrule::cuda
