#pragma once
// Internal to the tiny-layer kernels (csrc/cpu/small_dense.cpp): a Linear layer whose in and out
// features fit in a few SIMD registers, forward and backward, in one call each. For such a layer a
// GEMM's per-call work (choosing the blocking, cutting tiles, the epilogue called per block with
// its activation switch) costs more than the arithmetic; here the weight, the bias and the running
// bias-gradient sums stay in registers (or L1) for the whole batch, and ReLU and its derivative
// are applied to the accumulators before they are stored.
//
// Every kernel computes each element as the GEMM's tiles do (gemm_kernels.h): a sum over the
// reduction index in increasing order by fused multiply-adds into one accumulator that starts at
// 0 (or at the gradient it adds to), then the bias; the bias gradient adds rows in row order. The
// results do not depend on the batch size, the row blocking or the thread count.
//
// The bodies are written once over GCC generic vectors and instantiated by each per-ISA file
// (small_dense_avx512.cpp, small_dense_avx2.cpp, small_dense_neon.cpp) with its own traits K:
//   K::S            the element type (float or double)
//   K::V            a vector of K::kLanes elements
//   K::fma(a, b, c) a * b + c with one rounding; K::broadcast(s) s in every lane
//   K::load_first(p, n) / K::store_first(p, v, n)   the first n < K::kLanes lanes only (the
//                   other lanes read as 0 / are not written): row tails without touching memory
//                   past the row, which may be the end of the buffer.
//   K::kSlowPartialLoads / K::kSlowPartialStores   whether those cost more than whole vectors.
// Everything here has internal linkage, so each ISA file keeps its own copy.
#include <cstdint>
#include <cstring>

namespace chainrule::cpu::detail {

// The largest in / out feature count the kernels take, and the most vectors a row may span.
constexpr int64_t kSmallDenseMaxFeatures = 32;
constexpr int kSmallDenseMaxVectors = 4;

template <typename T>
struct SmallDenseKernels {
  int lanes;  // elements per vector: rows of up to lanes * kSmallDenseMaxVectors features fit
  // out (B, OC) = x (B, C) weight^T + bias (OC, or null); z (B, OC, or null) gets that
  // pre-activation; out then gets relu(.) when relu is set.
  void (*forward)(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                  bool relu);
  // dweight (OC, C) = delta^T (OC, B) x (B, C): written, or added to when accumulate.
  void (*weight_grad)(T* dweight, const T* delta, const T* x, int64_t B, int64_t C, int64_t OC, bool accumulate);
  // dx (B, C) = delta (B, OC) weight (OC, C), zeroed where relu_out (B, C, or null: no activation)
  // is not positive (ReLU's derivative, read from its output); then dbias (C, or null) adds the
  // column sums of dx.
  void (*input_grad)(T* dx, T* dbias, const T* delta, const T* weight, const T* relu_out, int64_t B, int64_t C,
                     int64_t OC);
};

extern const SmallDenseKernels<float> kSmallDenseF32Avx512;
extern const SmallDenseKernels<double> kSmallDenseF64Avx512;
extern const SmallDenseKernels<float> kSmallDenseF32Avx2;
extern const SmallDenseKernels<double> kSmallDenseF64Avx2;
extern const SmallDenseKernels<float> kSmallDenseF32Neon;
extern const SmallDenseKernels<double> kSmallDenseF64Neon;

namespace {

template <class K>
inline typename K::V small_load(const typename K::S* p) {
  typename K::V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class K>
inline void small_store(typename K::S* p, typename K::V v) {
  std::memcpy(p, &v, sizeof v);
}

// Vector v of a row of `width` elements: whole, or the row's tail.
template <class K>
inline typename K::V small_load_part(const typename K::S* row, int v, int64_t width) {
  const int64_t left = width - int64_t(v) * K::kLanes;
  return left >= K::kLanes ? small_load<K>(row + v * K::kLanes) : K::load_first(row + v * K::kLanes, int(left));
}
template <class K>
inline void small_store_part(typename K::S* row, int v, int64_t width, typename K::V value) {
  const int64_t left = width - int64_t(v) * K::kLanes;
  if (left >= K::kLanes)
    small_store<K>(row + v * K::kLanes, value);
  else
    K::store_first(row + v * K::kLanes, value, int(left));
}

// The same for a row followed, up to `end`, by more rows of its matrix, on an ISA whose partial
// loads (K::kSlowPartialLoads) or stores (K::kSlowPartialStores) cost more than a whole vector's:
// AVX2's vmaskmov store is microcoded on AMD's Zen cores, NEON moves a tail lane by lane. A row
// tail is then loaded or stored whole. A load's extra lanes read the next row and only feed lanes
// that are never stored; a store's extra lanes land in later rows, which the kernel writes
// afterwards (rows go in increasing order). Only the last rows, where a whole vector would cross
// `end`, take the partial forms.
template <class K>
inline typename K::V small_load_row_part(const typename K::S* row, int v, int64_t width, const typename K::S* end) {
  const typename K::S* p = row + v * K::kLanes;
  const int64_t left = width - int64_t(v) * K::kLanes;
  return left >= K::kLanes || (K::kSlowPartialLoads && p + K::kLanes <= end) ? small_load<K>(p)
                                                                             : K::load_first(p, int(left));
}
template <class K>
inline void small_store_row_part(typename K::S* row, int v, int64_t width, typename K::V value,
                                 const typename K::S* end) {
  typename K::S* p = row + v * K::kLanes;
  const int64_t left = width - int64_t(v) * K::kLanes;
  if (left >= K::kLanes || (K::kSlowPartialStores && p + K::kLanes <= end))
    small_store<K>(p, value);
  else
    K::store_first(p, value, int(left));
}

// ReLU as act::relu has it: v > 0 ? v : 0 (NaN and -0 give +0).
template <class K>
inline typename K::V small_relu(typename K::V v) {
  return v > typename K::V{} ? v : typename K::V{};
}
// ReLU's derivative from its output: a > 0 ? d : 0.
template <class K>
inline typename K::V small_relu_backward(typename K::V d, typename K::V a) {
  return a > typename K::V{} ? d : typename K::V{};
}

// ---- forward: out (B, OC) = act(x (B, C) weight^T + bias), NV vectors across OC ----

// ROWS rows starting at x: each row's NV accumulators take C broadcasts of x times a row of wt.
template <class K, int NV, int ROWS>
inline void forward_rows(typename K::S* out, typename K::S* z, const typename K::S* x,
                         const typename K::S (*wt)[NV * K::kLanes], const typename K::S* bias, int64_t C, int64_t OC,
                         bool relu, const typename K::S* out_end, const typename K::S* z_end) {
  using V = typename K::V;
  constexpr int L = K::kLanes;
  V acc[ROWS][NV];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t c = 0; c < C; ++c) {
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const V xs = K::broadcast(x[r * C + c]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = K::fma(xs, small_load<K>(&wt[c][v * L]), acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V y = acc[r][v] + small_load<K>(bias + v * L);
      if (z) small_store_row_part<K>(z + r * OC, v, OC, y, z_end);
      if (relu) y = small_relu<K>(y);
      small_store_row_part<K>(out + r * OC, v, OC, y, out_end);
    }
  }
}

template <class K, int NV>
void forward_vectors(typename K::S* out, typename K::S* z, const typename K::S* x, const typename K::S* weight,
                     const typename K::S* bias, int64_t B, int64_t C, int64_t OC, bool relu) {
  using S = typename K::S;
  constexpr int L = K::kLanes;
  // wt (C, NV * L) = weight^T with zeros past OC; b likewise.
  alignas(64) S wt[kSmallDenseMaxFeatures][NV * L];
  alignas(64) S b[NV * L];
  std::memset(wt, 0, sizeof(S) * NV * L * C);
  std::memset(b, 0, sizeof b);
  for (int64_t o = 0; o < OC; ++o) {
    for (int64_t c = 0; c < C; ++c) wt[c][o] = weight[o * C + c];
    if (bias) b[o] = bias[o];
  }
  // Several rows at a time give independent chains of multiply-adds (8 accumulators: AVX2 has 16
  // registers), so the FMA latency is hidden and each load of wt serves them all.
  const S* out_end = out + B * OC;
  const S* z_end = z ? z + B * OC : nullptr;
  constexpr int kRows = 8 / NV;
  int64_t i = 0;
  for (; i + kRows <= B; i += kRows)
    forward_rows<K, NV, kRows>(out + i * OC, z ? z + i * OC : nullptr, x + i * C, wt, b, C, OC, relu, out_end, z_end);
  if constexpr (kRows > 2) {
    for (; i + 2 <= B; i += 2)
      forward_rows<K, NV, 2>(out + i * OC, z ? z + i * OC : nullptr, x + i * C, wt, b, C, OC, relu, out_end, z_end);
  }
  for (; i < B; ++i)
    forward_rows<K, NV, 1>(out + i * OC, z ? z + i * OC : nullptr, x + i * C, wt, b, C, OC, relu, out_end, z_end);
}

// ---- weight gradient: dweight (OC, C) = delta^T x, NV vectors across C ----

// OB rows of dweight from o0: each takes, per batch row, a broadcast of delta times that row of x.
template <class K, int NV, int OB>
inline void weight_grad_rows(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B,
                             int64_t C, int64_t OC, int64_t o0, bool accumulate) {
  const typename K::S* x_end = x + B * C;
  using V = typename K::V;
  V acc[OB][NV];
#pragma GCC unroll 8
  for (int o = 0; o < OB; ++o)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[o][v] = accumulate ? small_load_part<K>(dweight + (o0 + o) * C, v, C) : V{};
  for (int64_t b = 0; b < B; ++b) {
    V xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = small_load_row_part<K>(x + b * C, v, C, x_end);
#pragma GCC unroll 8
    for (int o = 0; o < OB; ++o) {
      const V d = K::broadcast(delta[b * OC + o0 + o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[o][v] = K::fma(d, xv[v], acc[o][v]);
    }
  }
#pragma GCC unroll 8
  for (int o = 0; o < OB; ++o)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) small_store_part<K>(dweight + (o0 + o) * C, v, C, acc[o][v]);
}

// The last OC % block rows of dweight: one block of exactly `left` rows (OB counts down to it).
template <class K, int NV, int OB>
inline void weight_grad_tail(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B,
                             int64_t C, int64_t OC, int64_t o0, bool accumulate) {
  if (OC - o0 == OB) return weight_grad_rows<K, NV, OB>(dweight, delta, x, B, C, OC, o0, accumulate);
  if constexpr (OB > 1) weight_grad_tail<K, NV, OB - 1>(dweight, delta, x, B, C, OC, o0, accumulate);
}

template <class K, int NV>
void weight_grad_vectors(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B,
                         int64_t C, int64_t OC, bool accumulate) {
  // Blocks of rows of dweight with at most 8 accumulators (AVX2 has 16 registers).
  constexpr int kBlock = NV == 1 ? 8 : NV == 2 ? 4 : 2;
  int64_t o0 = 0;
  for (; o0 + kBlock <= OC; o0 += kBlock) weight_grad_rows<K, NV, kBlock>(dweight, delta, x, B, C, OC, o0, accumulate);
  if constexpr (kBlock > 1)
    if (o0 < OC) weight_grad_tail<K, NV, kBlock - 1>(dweight, delta, x, B, C, OC, o0, accumulate);
}

// ---- input gradient: dx (B, C) = (delta W) * relu'(.), dbias += column sums, NV vectors across C ----

template <class K, int NV, int ROWS>
inline void input_grad_rows(typename K::S* dx, typename K::V* dbias_sums, const typename K::S* delta,
                            const typename K::S (*w)[NV * K::kLanes], const typename K::S* relu_out, int64_t C,
                            int64_t OC, const typename K::S* dx_end, const typename K::S* relu_end) {
  using V = typename K::V;
  constexpr int L = K::kLanes;
  V acc[ROWS][NV];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t o = 0; o < OC; ++o) {
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const V d = K::broadcast(delta[r * OC + o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = K::fma(d, small_load<K>(&w[o][v * L]), acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V g = acc[r][v];
      if (relu_out) g = small_relu_backward<K>(g, small_load_row_part<K>(relu_out + r * C, v, C, relu_end));
      if (dbias_sums) dbias_sums[v] += g;  // rows in order
      small_store_row_part<K>(dx + r * C, v, C, g, dx_end);
    }
  }
}

template <class K, int NV>
void input_grad_vectors(typename K::S* dx, typename K::S* dbias, const typename K::S* delta,
                        const typename K::S* weight, const typename K::S* relu_out, int64_t B, int64_t C, int64_t OC) {
  using S = typename K::S;
  using V = typename K::V;
  constexpr int L = K::kLanes;
  // w (OC, NV * L) = weight's rows with zeros past C.
  alignas(64) S w[kSmallDenseMaxFeatures][NV * L];
  std::memset(w, 0, sizeof(S) * NV * L * OC);
  for (int64_t o = 0; o < OC; ++o) std::memcpy(w[o], weight + o * C, sizeof(S) * C);
  V sums[NV];
  for (int v = 0; v < NV; ++v) sums[v] = dbias ? small_load_part<K>(dbias, v, C) : V{};
  V* dbias_sums = dbias ? sums : nullptr;
  const S* dx_end = dx + B * C;
  const S* relu_end = relu_out ? relu_out + B * C : nullptr;
  constexpr int kRows = 8 / NV;
  int64_t i = 0;
  for (; i + kRows <= B; i += kRows)
    input_grad_rows<K, NV, kRows>(dx + i * C, dbias_sums, delta + i * OC, w, relu_out ? relu_out + i * C : nullptr, C,
                                  OC, dx_end, relu_end);
  if constexpr (kRows > 2) {
    for (; i + 2 <= B; i += 2)
      input_grad_rows<K, NV, 2>(dx + i * C, dbias_sums, delta + i * OC, w, relu_out ? relu_out + i * C : nullptr, C, OC,
                                dx_end, relu_end);
  }
  for (; i < B; ++i)
    input_grad_rows<K, NV, 1>(dx + i * C, dbias_sums, delta + i * OC, w, relu_out ? relu_out + i * C : nullptr, C, OC,
                              dx_end, relu_end);
  if (dbias)
    for (int v = 0; v < NV; ++v) small_store_part<K>(dbias, v, C, sums[v]);
}

// ---- entry points: the number of vectors a row spans, chosen once per call ----

inline int small_vectors(int64_t width, int lanes) { return int((width + lanes - 1) / lanes); }

template <class K>
void small_forward(typename K::S* out, typename K::S* z, const typename K::S* x, const typename K::S* weight,
                   const typename K::S* bias, int64_t B, int64_t C, int64_t OC, bool relu) {
  switch (small_vectors(OC, K::kLanes)) {
    case 1: return forward_vectors<K, 1>(out, z, x, weight, bias, B, C, OC, relu);
    case 2: return forward_vectors<K, 2>(out, z, x, weight, bias, B, C, OC, relu);
    case 3: return forward_vectors<K, 3>(out, z, x, weight, bias, B, C, OC, relu);
    default: return forward_vectors<K, 4>(out, z, x, weight, bias, B, C, OC, relu);
  }
}

template <class K>
void small_weight_grad(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B, int64_t C,
                       int64_t OC, bool accumulate) {
  switch (small_vectors(C, K::kLanes)) {
    case 1: return weight_grad_vectors<K, 1>(dweight, delta, x, B, C, OC, accumulate);
    case 2: return weight_grad_vectors<K, 2>(dweight, delta, x, B, C, OC, accumulate);
    case 3: return weight_grad_vectors<K, 3>(dweight, delta, x, B, C, OC, accumulate);
    default: return weight_grad_vectors<K, 4>(dweight, delta, x, B, C, OC, accumulate);
  }
}

template <class K>
void small_input_grad(typename K::S* dx, typename K::S* dbias, const typename K::S* delta, const typename K::S* weight,
                      const typename K::S* relu_out, int64_t B, int64_t C, int64_t OC) {
  switch (small_vectors(C, K::kLanes)) {
    case 1: return input_grad_vectors<K, 1>(dx, dbias, delta, weight, relu_out, B, C, OC);
    case 2: return input_grad_vectors<K, 2>(dx, dbias, delta, weight, relu_out, B, C, OC);
    case 3: return input_grad_vectors<K, 3>(dx, dbias, delta, weight, relu_out, B, C, OC);
    default: return input_grad_vectors<K, 4>(dx, dbias, delta, weight, relu_out, B, C, OC);
  }
}

template <class K>
SmallDenseKernels<typename K::S> small_dense_kernels_of() {
  return {K::kLanes, small_forward<K>, small_weight_grad<K>, small_input_grad<K>};
}

}  // namespace
}  // namespace chainrule::cpu::detail
