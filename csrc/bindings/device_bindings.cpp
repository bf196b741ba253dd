// Devices other than the CPU: how a backend module registers itself with _core, and the caching
// allocator's figures behind chainrule.cuda.memory_allocated() and friends.
#include <string>

#include "bindings/bindings.h"
#include "chainrule/device_memory.h"

namespace chainrule::bindings {
namespace {
// What a backend module calls, through the capsule below, to register its backend.
using Registrar = void (*)(DeviceType, const DeviceBackend*);

DeviceType device_type_arg(const std::string& type) {
  if (type == "cuda") return DeviceType::CUDA;
  throw ValueError("device type must be 'cuda', got '" + type + "'");
}
}  // namespace

void bind_devices(py::module_& m) {
  // chainrule._cuda takes this capsule and calls the function in it with its backend (device.h).
  Registrar registrar = &register_device_backend;
  m.attr("_device_backend_registrar") =
      py::capsule(reinterpret_cast<void*>(registrar), "chainrule._core.device_backend_registrar");

  m.def(
      "_device_count",
      [](const std::string& type) {
        const DeviceBackend* backend = device_backend(device_type_arg(type));
        return backend ? backend->device_count() : -1;
      },
      py::arg("type"), "Devices the registered backend of `type` sees; -1 when no backend is registered.");
  m.def(
      "_device_synchronize",
      [](const std::string& type, int64_t index) {
        const Device d = parse_device(type, index);
        backend_for(d, "synchronize").synchronize(d.index);
      },
      py::arg("type"), py::arg("index"));
  m.def(
      "_device_memory_stats",
      [](const std::string& type, int64_t index) {
        const DeviceMemoryStats s = device_memory_stats(parse_device(type, index));
        py::dict d;
        d["allocated"] = s.allocated;
        d["peak_allocated"] = s.peak_allocated;
        d["reserved"] = s.reserved;
        d["backend_allocations"] = s.backend_allocations;
        return d;
      },
      py::arg("type"), py::arg("index"),
      "The caching allocator's byte counts for one device: allocated, peak_allocated, reserved, backend_allocations.");
  m.def(
      "_device_empty_cache",
      [](const std::string& type, int64_t index) { device_empty_cache(parse_device(type, index)); }, py::arg("type"),
      py::arg("index"));
  m.def(
      "_device_reset_peak",
      [](const std::string& type, int64_t index) { device_reset_peak(parse_device(type, index)); }, py::arg("type"),
      py::arg("index"));
}

}  // namespace chainrule::bindings
