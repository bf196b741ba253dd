// Device memory through a caching allocator: blocks a tensor gives back are kept and handed to
// the next allocation of a fitting size, so a training loop that allocates the same shapes every
// step asks the backend for memory only in its first steps (cudaMalloc synchronizes the device and
// costs far more than a kernel). Safe because every backend orders all work on one stream per
// device (device.h): a block freed now is only written by work enqueued after what last read it.
//
// Counts are in bytes of the blocks handed out (request sizes rounded up to kBlockGranularity).
#pragma once

#include <cstddef>
#include <cstdint>

#include "chainrule/device.h"

namespace chainrule {

constexpr size_t kBlockGranularity = 512;  // every block is a multiple of this, and so aligned to 256

struct DeviceMemoryStats {
  int64_t allocated = 0;            // bytes in blocks that tensors hold now
  int64_t peak_allocated = 0;       // the most `allocated` has been since the last reset_peak
  int64_t reserved = 0;             // bytes taken from the backend: allocated plus the cache
  int64_t backend_allocations = 0;  // raw_allocate calls so far (how often the cache missed)
};

// A block of at least `nbytes` on `device` (null for 0 bytes). When the backend is out of memory
// the cache is given back and the request tried once more; MemoryError if it still fails.
void* device_allocate(Device device, size_t nbytes);
// Returns a block to the cache of its device.
void device_release(Device device, void* block);
DeviceMemoryStats device_memory_stats(Device device);
// Gives every cached (unused) block of `device` back to the backend.
void device_empty_cache(Device device);
void device_reset_peak(Device device);

}  // namespace chainrule
