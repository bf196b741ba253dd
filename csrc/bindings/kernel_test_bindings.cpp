// Test-only entry points into the CPU kernels (tests/test_kernels.py, benchmarks/bench_gemm.py):
// the GEMM on NumPy arrays with a chosen ISA, so every variant can be checked against the
// reference in one process and timed with nothing but one call's overhead around it.
#include <string>

#include "bindings.h"
#include "chainrule/gemm.h"

namespace chainrule::bindings {

namespace {

cpu::Isa parse_isa(const std::string& name) {
  if (name == "avx512") return cpu::Isa::Avx512;
  if (name == "avx2") return cpu::Isa::Avx2;
  if (name == "neon") return cpu::Isa::Neon;
  if (name == "scalar") return cpu::Isa::Scalar;
  throw ValueError("_gemm: isa must be 'avx512', 'avx2', 'neon', 'scalar', 'reference' or '' (the active one), got '" +
                   name + "'");
}

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

template <typename T>
void run_gemm(const std::string& isa, bool ta, bool tb, const py::array& a, const py::array& b, py::array& c,
              bool accumulate) {
  const int64_t M = c.shape(0), N = c.shape(1), K = ta ? a.shape(0) : a.shape(1);
  if ((ta ? a.shape(1) : a.shape(0)) != M || (tb ? b.shape(1) : b.shape(0)) != K || (tb ? b.shape(0) : b.shape(1)) != N)
    throw ValueError("_gemm: op(A) (M, K), op(B) (K, N) and C (M, N) do not agree");
  const int64_t lda = leading_dimension(a, "A"), ldb = leading_dimension(b, "B"), ldc = leading_dimension(c, "C");
  const auto Ta = cpu::Trans(ta), Tb = cpu::Trans(tb);
  const T* A = static_cast<const T*>(a.data());
  const T* B = static_cast<const T*>(b.data());
  T* C = static_cast<T*>(c.mutable_data());
  if (isa == "reference") {
    cpu::gemm_reference<T>(Ta, Tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  } else {
    cpu::gemm<T>(Ta, Tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  }
}

}  // namespace

void bind_kernel_tests(py::module_& m) {
  m.def("_gemm", [](const std::string& isa, bool ta, bool tb, py::array a, py::array b, py::array c, bool accumulate) {
    // C (M, N) writes (or, with accumulate, adds) op(A) op(B), with op = transpose when ta / tb.
    // isa picks the kernel for this call only; returns the ISA that ran (a lower one when the CPU
    // lacks the one asked for).
    if (!c.writeable()) throw ValueError("_gemm: C must be writable");
    const DType dtype = dtype_from_numpy(c.dtype(), "C");
    if (dtype_from_numpy(a.dtype(), "A") != dtype || dtype_from_numpy(b.dtype(), "B") != dtype || !is_floating(dtype))
      throw TypeError("_gemm: A, B and C must all be float32 or all float64");
    const cpu::Isa previous = cpu::active_isa();
    std::string ran = isa;
    if (isa != "reference" && !isa.empty()) {
      cpu::set_isa_for_testing(parse_isa(isa));
      ran = cpu::isa_name(cpu::active_isa());
    } else if (isa.empty()) {
      ran = cpu::isa_name(previous);
    }
    try {
      if (dtype == DType::Float32) run_gemm<float>(isa, ta, tb, a, b, c, accumulate);
      else run_gemm<double>(isa, ta, tb, a, b, c, accumulate);
    } catch (...) {
      cpu::set_isa_for_testing(previous);
      throw;
    }
    cpu::set_isa_for_testing(previous);
    return ran;
  }, py::arg("isa"), py::arg("ta"), py::arg("tb"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("accumulate"));
}

}  // namespace chainrule::bindings
