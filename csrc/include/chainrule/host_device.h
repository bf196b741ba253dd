// The host-backed stand-in device (ops/host_device.cpp): registered as CUDA by the tests, so every
// device path runs, on host memory behind addresses the CPU cannot read directly, without a GPU.
#pragma once

#include <cstdint>

namespace chainrule::ops {

// Registers the stand-in as CUDA with `device_count` devices of `capacity_bytes` each (negative:
// unlimited), or unregisters it with 0. RuntimeError when a real CUDA backend is registered.
void use_host_device_as_cuda(int device_count, int64_t capacity_bytes = -1);
bool host_device_is_cuda();
int64_t host_device_raw_allocations();  // raw_allocate calls that succeeded, ever

}  // namespace chainrule::ops
