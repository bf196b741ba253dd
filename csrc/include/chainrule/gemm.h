#pragma once
#include <cstdint>
namespace chainrule::cpu {
enum class Trans : bool { No = false, Yes = true };
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };
template <typename T> void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K,
                                const T* A, int64_t lda, const T* B, int64_t ldb,
                                T* C, int64_t ldc, bool accumulate);
template <typename T> void gemm_reference(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K,
                                const T* A, int64_t lda, const T* B, int64_t ldb,
                                T* C, int64_t ldc, bool accumulate);
Isa active_isa();
const char* isa_name(Isa);
void set_isa_for_testing(Isa);
}
