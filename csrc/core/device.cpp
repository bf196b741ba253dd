// Devices: the registry of backends, the caching allocator over their raw memory, and device
// names (device.h, device_memory.h).
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "chainrule/device_memory.h"
#include "chainrule/errors.h"

namespace chainrule {

std::string device_str(Device d) {
  if (d.is_cpu()) return "cpu";
  return std::string(device_type_name(d.type)) + ":" + std::to_string(d.index);
}

// ---- the registry ------------------------------------------------------------------------------
namespace {
constexpr size_t kDeviceTypes = 2;
std::array<std::atomic<const DeviceBackend*>, kDeviceTypes> g_backends{};
}  // namespace

const DeviceBackend* device_backend(DeviceType type) {
  const size_t i = static_cast<size_t>(type);
  return i < kDeviceTypes ? g_backends[i].load(std::memory_order_acquire) : nullptr;
}

void register_device_backend(DeviceType type, const DeviceBackend* backend) {
  if (type == DeviceType::CPU || static_cast<size_t>(type) >= kDeviceTypes)
    throw ValueError("register_device_backend: the CPU is built in and cannot be replaced");
  g_backends[static_cast<size_t>(type)].store(backend, std::memory_order_release);
}

const DeviceBackend& backend_for(Device d, const char* what) {
  const DeviceBackend* backend = device_backend(d.type);
  if (!backend)
    throw RuntimeError(std::string(what) + ": no " + device_type_name(d.type) +
                       " backend is loaded (import chainrule.cuda, on a build with the CUDA backend)");
  if (d.index < 0 || d.index >= backend->device_count())
    throw RuntimeError(std::string(what) + ": invalid device " + device_str(d) + ": " +
                       std::to_string(backend->device_count()) + " " + device_type_name(d.type) +
                       " device(s) are available");
  backend->activate(d.index);
  return *backend;
}

// ---- the caching allocator ---------------------------------------------------------------------
namespace {
struct DeviceCache {
  std::mutex lock;
  const DeviceBackend* backend = nullptr;    // the one the blocks came from
  std::multimap<size_t, void*> free_blocks;  // cached, by size
  std::unordered_map<void*, size_t> held;    // handed out: block -> size
  DeviceMemoryStats stats;

  void give_back_cache(int index) {
    for (auto& [size, block] : free_blocks) {
      backend->raw_free(index, block);
      stats.reserved -= static_cast<int64_t>(size);
    }
    free_blocks.clear();
  }
};

// One cache per device; created on first use and kept for the process (blocks may be released
// from destructors that run late).
DeviceCache& cache_of(Device d) {
  static std::mutex caches_lock;
  static std::map<std::pair<int, int>, DeviceCache*> caches;
  std::lock_guard<std::mutex> guard(caches_lock);
  DeviceCache*& cache = caches[{static_cast<int>(d.type), d.index}];
  if (!cache) cache = new DeviceCache();  // never freed: see above
  return *cache;
}

size_t rounded(size_t nbytes) { return (nbytes + kBlockGranularity - 1) / kBlockGranularity * kBlockGranularity; }
}  // namespace

void* device_allocate(Device device, size_t nbytes) {
  if (nbytes == 0) return nullptr;
  if (nbytes > SIZE_MAX - kBlockGranularity)
    throw MemoryError("out of memory: cannot allocate " + std::to_string(nbytes) + " bytes on " + device_str(device));
  const size_t size = rounded(nbytes);
  const DeviceBackend& backend = backend_for(device, "allocate");
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> guard(cache.lock);
  cache.backend = &backend;
  void* block = nullptr;
  size_t block_size = size;
  // The smallest cached block that fits, unless it would waste more than half of itself.
  auto it = cache.free_blocks.lower_bound(size);
  if (it != cache.free_blocks.end() && it->first / 2 <= size) {
    block = it->second;
    block_size = it->first;
    cache.free_blocks.erase(it);
  } else {
    block = backend.raw_allocate(device.index, size);
    if (!block && !cache.free_blocks.empty()) {
      cache.give_back_cache(device.index);
      block = backend.raw_allocate(device.index, size);
    }
    if (!block)
      throw MemoryError(std::string(device_type_name(device.type)) + " out of memory: tried to allocate " +
                        std::to_string(size) + " bytes on " + device_str(device) + " (" +
                        std::to_string(cache.stats.allocated) + " bytes held by tensors)");
    cache.stats.reserved += static_cast<int64_t>(size);
    ++cache.stats.backend_allocations;
  }
  cache.held.emplace(block, block_size);
  cache.stats.allocated += static_cast<int64_t>(block_size);
  if (cache.stats.allocated > cache.stats.peak_allocated) cache.stats.peak_allocated = cache.stats.allocated;
  return block;
}

void device_release(Device device, void* block) {
  if (!block) return;
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> guard(cache.lock);
  auto it = cache.held.find(block);
  if (it == cache.held.end()) return;  // not ours: nothing to give back
  cache.stats.allocated -= static_cast<int64_t>(it->second);
  cache.free_blocks.emplace(it->second, block);
  cache.held.erase(it);
}

DeviceMemoryStats device_memory_stats(Device device) {
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> guard(cache.lock);
  return cache.stats;
}

void device_empty_cache(Device device) {
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> guard(cache.lock);
  if (cache.backend) cache.give_back_cache(device.index);
}

void device_reset_peak(Device device) {
  DeviceCache& cache = cache_of(device);
  std::lock_guard<std::mutex> guard(cache.lock);
  cache.stats.peak_allocated = cache.stats.allocated;
}

}  // namespace chainrule
