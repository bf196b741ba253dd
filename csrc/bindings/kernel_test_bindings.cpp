// Test-only entry points into the CPU kernels (tests/test_kernels.py, benchmarks/bench_gemm.py):
// the GEMM on NumPy arrays with a chosen ISA, so every variant can be checked against the
// reference in one process and timed with nothing but one call's overhead around it.
#include <string>

#include "bindings.h"
#include "chainrule/host_device.h"

namespace chainrule::bindings {

namespace {

// A 2-D array whose rows may be padded (a slice of a wider array): its leading dimension.
int64_t leading_dimension(const py::array& x, const char* arg) {
  if (x.ndim() != 2) throw ValueError(std::string("_gemm: ") + arg + " must be 2-D");
  const auto item = static_cast<py::ssize_t>(x.itemsize());
  if (x.size() == 0) return std::max<int64_t>(1, x.shape(1));  // NumPy gives empty arrays any strides
  if (x.shape(1) > 1 && x.strides(1) != item)
    throw ValueError(std::string("_gemm: ") + arg + "'s rows must be contiguous");
  if (x.shape(0) > 1 && (x.strides(0) % item != 0 || x.strides(0) < x.shape(1) * item))
    throw ValueError(std::string("_gemm: ") + arg + " has an unsupported row stride");
  return x.shape(0) > 1 ? x.strides(0) / item : std::max<int64_t>(1, x.shape(1));
}

}  // namespace

void bind_kernel_tests(py::module_& m) {
  m.def("_use_host_device_as_cuda", &ops::use_host_device_as_cuda, py::arg("device_count"),
        py::arg("capacity_bytes") = -1,
        "Registers the host-backed stand-in as the CUDA backend with that many devices (0 unregisters it); for tests.");
  m.def("_host_device_is_cuda", &ops::host_device_is_cuda);
  m.def("_host_device_raw_allocations", &ops::host_device_raw_allocations);
  m.def(
      "_gemm",
      [](const std::string& isa, bool ta, bool tb, py::array a, py::array b, py::array c, bool accumulate) {
        // C (M, N) writes (or, with accumulate, adds) op(A) op(B), with op = transpose when ta / tb.
        // isa picks the kernel for this call only; returns the ISA that ran (a lower one when the CPU
        // lacks the one asked for).
        if (!c.writeable()) throw ValueError("_gemm: C must be writable");
        const DType dtype = dtype_from_numpy(c.dtype(), "C");
        if (dtype_from_numpy(a.dtype(), "A") != dtype || dtype_from_numpy(b.dtype(), "B") != dtype ||
            !is_floating(dtype))
          throw TypeError("_gemm: A, B and C must all be float32 or all float64");
        const int64_t M = c.shape(0), N = c.shape(1), K = ta ? a.shape(0) : a.shape(1);
        if ((ta ? a.shape(1) : a.shape(0)) != M || (tb ? b.shape(1) : b.shape(0)) != K ||
            (tb ? b.shape(0) : b.shape(1)) != N)
          throw ValueError("_gemm: op(A) (M, K), op(B) (K, N) and C (M, N) do not agree");
        const std::string ran =
            ops::gemm_for_testing(isa, ta, tb, M, N, K, dtype, a.data(), leading_dimension(a, "A"), b.data(),
                                  leading_dimension(b, "B"), c.mutable_data(), leading_dimension(c, "C"), accumulate);
        return ran;
      },
      py::arg("isa"), py::arg("ta"), py::arg("tb"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("accumulate"));
  // The work (2 M N K flop) from which a GEMM of this dtype splits across threads, measured on
  // this machine at the first call that could split.
  m.def(
      "_gemm_parallel_min_flop",
      [](const py::dtype& dtype) {
        const DType type = dtype_from_numpy(dtype, "dtype");
        if (!is_floating(type)) throw TypeError("_gemm_parallel_min_flop: dtype must be float32 or float64");
        return ops::gemm_parallel_min_flop(type);
      },
      py::arg("dtype"));
  // Switches the kernel path of all later ops (tests of the elementwise kernels per ISA); returns
  // the path that runs, a lower one when the CPU lacks the one asked for.
  m.def("_set_isa", [](const std::string& isa) { return ops::select_isa_for_testing(isa); }, py::arg("isa"));
}

}  // namespace chainrule::bindings
