// The linear layer and matmul, both on top of the blocked GEMM (gemm.h).
#include <cstring>

#include "chainrule/gemm.h"
#include "chainrule/kernels.h"

namespace chainrule::cpu {

template <typename T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC) {
  // out (B, OC) = inp (B, C) @ weight^T (C, OC): the transpose is absorbed by the GEMM's packing.
  gemm<T>(Trans::No, Trans::Yes, B, OC, C, inp, C, weight, C, out, OC, false);
  if (bias) bias_activation_forward<T>(out, nullptr, bias, B, OC, Activation::Identity, 0.0);
}

template <typename T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B, int64_t C,
                     int64_t OC) {
  // dinp (B, C) = dout (B, OC) @ weight (OC, C)
  if (dinp) gemm<T>(Trans::No, Trans::No, B, C, OC, dout, OC, weight, C, dinp, C, false);
  // dweight (OC, C) = dout^T (OC, B) @ inp (B, C): the seed's delta a^T summed over the batch
  if (dweight) gemm<T>(Trans::Yes, Trans::No, OC, C, B, dout, OC, inp, C, dweight, C, false);
  // dbias (OC) = column sums of dout
  if (dbias) bias_grad<T>(dbias, dout, B, OC, /*accumulate=*/false);
}

template <typename T>
void matmul_forward(T* out, const T* a, const T* b, int64_t M, int64_t K, int64_t N) {
  gemm<T>(Trans::No, Trans::No, M, N, K, a, K, b, N, out, N, false);
}

template <typename T>
void matmul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t M, int64_t K, int64_t N) {
  if (da) gemm<T>(Trans::No, Trans::Yes, M, K, N, dout, N, b, N, da, K, false);  // dout (M,N) b^T (N,K)
  if (db) gemm<T>(Trans::Yes, Trans::No, K, N, M, a, K, dout, N, db, N, false);  // a^T (K,M) dout (M,N)
}

#define CHAINRULE_LINEAR(T)                                                                              \
  template void linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);          \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void matmul_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);                    \
  template void matmul_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);
CHAINRULE_LINEAR(float)
CHAINRULE_LINEAR(double)
#undef CHAINRULE_LINEAR

}  // namespace chainrule::cpu
