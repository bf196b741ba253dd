// Interim GEMM until the blocked one lands.
#include "chainrule/gemm.h"
#include <cstring>
namespace chainrule::cpu {
template <typename T> void gemm_reference(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K,
                                const T* A, int64_t lda, const T* B, int64_t ldb,
                                T* C, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!accumulate) for (int64_t j = 0; j < N; ++j) c[j] = 0;
    for (int64_t k = 0; k < K; ++k) {
      T a = ta == Trans::No ? A[i * lda + k] : A[k * lda + i];
      if (tb == Trans::No) { const T* b = B + k * ldb; for (int64_t j = 0; j < N; ++j) c[j] += a * b[j]; }
      else for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
    }
  }
}
template <typename T> void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K,
                                const T* A, int64_t lda, const T* B, int64_t ldb,
                                T* C, int64_t ldc, bool accumulate) { gemm_reference(ta,tb,M,N,K,A,lda,B,ldb,C,ldc,accumulate); }
template void gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);
template void gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*, int64_t, bool);
Isa active_isa() { return Isa::Scalar; }
const char* isa_name(Isa) { return "scalar"; }
}
