// Entry points that reach one kernel directly, for tests and benchmarks (ops.h, "kernel checks").
#include <string>

#include "chainrule/gemm.h"
#include "chainrule/ops.h"

namespace chainrule::ops {

namespace {
cpu::Isa parse_isa(const std::string& name) {
  if (name == "avx512") return cpu::Isa::Avx512;
  if (name == "neon") return cpu::Isa::Neon;
  if (name == "avx2") return cpu::Isa::Avx2;
  if (name == "scalar") return cpu::Isa::Scalar;
  throw ValueError("_gemm: isa must be 'avx512', 'avx2', 'neon', 'scalar', 'reference' or '' (the active one), got '" +
                   name + "'");
}

template <typename T>
void run_gemm(const std::string& isa, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void* a, int64_t lda,
              const void* b, int64_t ldb, void* c, int64_t ldc, bool accumulate) {
  const auto Ta = cpu::Trans(ta), Tb = cpu::Trans(tb);
  const T* A = static_cast<const T*>(a);
  const T* B = static_cast<const T*>(b);
  T* C = static_cast<T*>(c);
  if (isa == "reference") {
    cpu::gemm_reference<T>(Ta, Tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  } else {
    cpu::gemm<T>(Ta, Tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  }
}
}  // namespace

std::string cpu_isa() { return cpu::isa_name(cpu::active_isa()); }

std::string gemm_for_testing(const std::string& isa, bool ta, bool tb, int64_t M, int64_t N, int64_t K, DType dtype,
                             const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc,
                             bool accumulate) {
  const cpu::Isa previous = cpu::active_isa();
  std::string ran = isa;
  if (isa != "reference" && !isa.empty()) {
    cpu::set_isa_for_testing(parse_isa(isa));
    ran = cpu::isa_name(cpu::active_isa());
  } else if (isa.empty()) {
    ran = cpu::isa_name(previous);
  }
  try {
    if (dtype == DType::Float32)
      run_gemm<float>(isa, ta, tb, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
    else
      run_gemm<double>(isa, ta, tb, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
  } catch (...) {
    cpu::set_isa_for_testing(previous);
    throw;
  }
  cpu::set_isa_for_testing(previous);
  return ran;
}

double gemm_parallel_min_flop(DType dtype) {
  return dtype == DType::Float32 ? cpu::gemm_parallel_min_flop<float>() : cpu::gemm_parallel_min_flop<double>();
}

std::string select_isa_for_testing(const std::string& isa) {
  cpu::set_isa_for_testing(parse_isa(isa));
  return cpu::isa_name(cpu::active_isa());
}

}  // namespace chainrule::ops
