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
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

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
  // forward for one output feature (OC = 1, weight of C values) over the rows that fill whole
  // vectors; returns how many rows it did (a multiple of lanes). The rest, and every row where the
  // ISA has no gather (null here: NEON), take the portable loop of small_dense.cpp, which sums in
  // the same order.
  int64_t (*single_output_forward_rows)(T* out, T* z, const T* x, const T* weight, const T* bias, int64_t B, int64_t C,
                                        bool relu);
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

// Vector v of a row of `width` elements: whole, or the row's tail. `whole` says that the row is
// followed by more rows of its matrix for at least a vector: then, on an ISA whose partial loads
// (K::kSlowPartialLoads) or stores (K::kSlowPartialStores) cost more than a whole vector's (AVX2's
// vmaskmov store is microcoded on AMD's Zen cores; NEON moves a tail lane by lane), the tail is
// loaded or stored whole. A load's extra lanes read the next row and feed only lanes that are
// never stored; a store's extra lanes land in later rows, which the kernels write afterwards (rows
// go in increasing order). The last rows of a matrix take the partial forms.
template <class K>
inline typename K::V small_load_part(const typename K::S* row, int v, int64_t width, bool whole = false) {
  const int64_t left = width - int64_t(v) * K::kLanes;
  return left >= K::kLanes || (K::kSlowPartialLoads && whole) ? small_load<K>(row + v * K::kLanes)
                                                              : K::load_first(row + v * K::kLanes, int(left));
}
template <class K>
inline void small_store_part(typename K::S* row, int v, int64_t width, typename K::V value, bool whole = false) {
  const int64_t left = width - int64_t(v) * K::kLanes;
  if (left >= K::kLanes || (K::kSlowPartialStores && whole))
    small_store<K>(row + v * K::kLanes, value);
  else
    K::store_first(row + v * K::kLanes, value, int(left));
}
// Whether every row of [row, row + rows) of a (B, width) matrix may be read or written as `span`
// elements from its start without passing the matrix's end.
inline bool small_rows_have_slack(int64_t row, int64_t rows, int64_t B, int64_t width, int64_t span) {
  return (row + rows - 1) * width + span <= B * width;
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

template <int N>
using SmallRows = std::integral_constant<int, N>;

// Calls body(SmallRows<ROWS>{}, i) for row blocks covering [0, B): blocks of kRows, then of two,
// then single rows, in increasing order.
template <int kRows, typename F>
inline void small_row_blocks(int64_t B, F&& body) {
  int64_t i = 0;
  for (; i + kRows <= B; i += kRows) body(SmallRows<kRows>{}, i);
  if constexpr (kRows > 2) {
    for (; i + 2 <= B; i += 2) body(SmallRows<2>{}, i);
  }
  for (; i < B; ++i) body(SmallRows<1>{}, i);
}

// ---- forward: out (B, OC) = act(x (B, C) weight^T + bias), NV vectors across OC ----

// acc[r] (NV vectors) = the sum over k < depth of a[r * lda + k] times row k of b, for ROWS rows
// of a: each term a broadcast times a row, in k order. The forward (x W^T) and the input gradient
// (delta W) both take their products this way.
template <class K, int NV, int ROWS>
inline void small_row_products(typename K::V (&acc)[ROWS][NV], const typename K::S* a, int64_t lda,
                               const typename K::S (*b)[NV * K::kLanes], int64_t depth) {
  using V = typename K::V;
  constexpr int L = K::kLanes;
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < depth; ++k) {
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const V s = K::broadcast(a[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = K::fma(s, small_load<K>(&b[k][v * L]), acc[r][v]);
    }
  }
}

// ROWS rows starting at x: each row's NV accumulators take C broadcasts of x times a row of wt.
template <class K, int NV, int ROWS, bool kZ, bool kRelu>
inline void forward_rows(typename K::S* out, typename K::S* z, const typename K::S* x,
                         const typename K::S (*wt)[NV * K::kLanes], const typename K::S* bias, int64_t C, int64_t OC,
                         bool whole) {
  using V = typename K::V;
  constexpr int L = K::kLanes;
  V acc[ROWS][NV];
  small_row_products<K, NV, ROWS>(acc, x, C, wt, C);
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V y = acc[r][v] + small_load<K>(bias + v * L);
      if constexpr (kZ) small_store_part<K>(z + r * OC, v, OC, y, whole);
      if constexpr (kRelu) y = small_relu<K>(y);
      small_store_part<K>(out + r * OC, v, OC, y, whole);
    }
  }
}

template <class K, int NV, bool kZ, bool kRelu>
void forward_vectors(typename K::S* out, typename K::S* z, const typename K::S* x, const typename K::S* weight,
                     const typename K::S* bias, int64_t B, int64_t C, int64_t OC) {
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
  small_row_blocks<8 / NV>(B, [&](auto rows, int64_t i) {
    constexpr int ROWS = decltype(rows)::value;
    const bool whole = small_rows_have_slack(i, ROWS, B, OC, NV * L);
    forward_rows<K, NV, ROWS, kZ, kRelu>(out + i * OC, kZ ? z + i * OC : nullptr, x + i * C, wt, b, C, OC, whole);
  });
}

// ---- weight gradient: dweight (OC, C) = delta^T x, NV vectors across C ----

// Rows [b0, b1) of the batch into OB rows of dweight from o0: a broadcast of delta times the row
// of x each.
template <class K, int NV, int OB>
inline void weight_grad_batch_rows(typename K::V (&acc)[OB][NV], const typename K::S* delta, const typename K::S* x,
                                   int64_t b0, int64_t b1, int64_t C, int64_t OC, int64_t o0, bool whole) {
  using V = typename K::V;
  for (int64_t b = b0; b < b1; ++b) {
    V xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = small_load_part<K>(x + b * C, v, C, whole);
#pragma GCC unroll 8
    for (int o = 0; o < OB; ++o) {
      const V d = K::broadcast(delta[b * OC + o0 + o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[o][v] = K::fma(d, xv[v], acc[o][v]);
    }
  }
}

template <class K, int NV, int OB>
inline void weight_grad_rows(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B,
                             int64_t C, int64_t OC, int64_t o0, bool accumulate) {
  using V = typename K::V;
  V acc[OB][NV];
#pragma GCC unroll 8
  for (int o = 0; o < OB; ++o)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[o][v] = accumulate ? small_load_part<K>(dweight + (o0 + o) * C, v, C) : V{};
  // The rows of x with a whole vector of x after them, then the last ones: the same b order.
  int64_t with_slack = 0;
  if (K::kSlowPartialLoads && B * C >= NV * K::kLanes) with_slack = (B * C - NV * K::kLanes) / C + 1;
  with_slack = std::min(with_slack, B);
  weight_grad_batch_rows<K, NV, OB>(acc, delta, x, 0, with_slack, C, OC, o0, true);
  weight_grad_batch_rows<K, NV, OB>(acc, delta, x, with_slack, B, C, OC, o0, false);
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
  // Blocks of rows of dweight with at most 12 accumulators: with the row of x and a broadcast they
  // fit AVX2's 16 registers, and most tiny layers take one pass over the batch.
  constexpr int kBlock = NV == 1 ? 12 : NV == 2 ? 6 : NV == 3 ? 3 : 2;
  int64_t o0 = 0;
  for (; o0 + kBlock <= OC; o0 += kBlock) weight_grad_rows<K, NV, kBlock>(dweight, delta, x, B, C, OC, o0, accumulate);
  if constexpr (kBlock > 1)
    if (o0 < OC) weight_grad_tail<K, NV, kBlock - 1>(dweight, delta, x, B, C, OC, o0, accumulate);
}

// ---- input gradient: dx (B, C) = (delta W) * relu'(.), dbias += column sums, NV vectors across C ----

template <class K, int NV, int ROWS, bool kRelu, bool kDbias>
inline void input_grad_rows(typename K::S* dx, typename K::V* dbias_sums, const typename K::S* delta,
                            const typename K::S (*w)[NV * K::kLanes], const typename K::S* relu_out, int64_t C,
                            int64_t OC, bool whole) {
  using V = typename K::V;
  V acc[ROWS][NV];
  small_row_products<K, NV, ROWS>(acc, delta, OC, w, OC);
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V g = acc[r][v];
      if constexpr (kRelu) g = small_relu_backward<K>(g, small_load_part<K>(relu_out + r * C, v, C, whole));
      if constexpr (kDbias) dbias_sums[v] += g;  // rows in order
      small_store_part<K>(dx + r * C, v, C, g, whole);
    }
  }
}

template <class K, int NV, bool kRelu, bool kDbias>
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
  for (int v = 0; v < NV; ++v) sums[v] = kDbias ? small_load_part<K>(dbias, v, C) : V{};
  small_row_blocks<8 / NV>(B, [&](auto rows, int64_t i) {
    constexpr int ROWS = decltype(rows)::value;
    const bool whole = small_rows_have_slack(i, ROWS, B, C, NV * L);
    input_grad_rows<K, NV, ROWS, kRelu, kDbias>(dx + i * C, sums, delta + i * OC, w, kRelu ? relu_out + i * C : nullptr,
                                                C, OC, whole);
  });
  if constexpr (kDbias)
    for (int v = 0; v < NV; ++v) small_store_part<K>(dbias, v, C, sums[v]);
}

// ---- entry points: the number of vectors a row spans and the options, chosen once per call ----

inline int small_vectors(int64_t width, int lanes) { return int((width + lanes - 1) / lanes); }

// The most vectors a row of `lanes`-wide vectors can need (rows have at most kSmallDenseMaxFeatures).
constexpr int small_max_vectors(int lanes) {
  return std::min(kSmallDenseMaxVectors, int((kSmallDenseMaxFeatures + lanes - 1) / lanes));
}

// Calls body(std::integral_constant<int, NV>{}) with NV the vectors `width` takes, instantiating
// only NV <= kMaxNV: a kernel set that never sees wider rows compiles no code for them.
template <int kMaxNV, typename F>
void small_with_vectors(int64_t width, int lanes, F&& body) {
  const int nv = small_vectors(width, lanes);
  if constexpr (kMaxNV >= 4)
    if (nv >= 4) return body(std::integral_constant<int, 4>{});
  if constexpr (kMaxNV >= 3)
    if (nv == 3) return body(std::integral_constant<int, 3>{});
  if constexpr (kMaxNV >= 2)
    if (nv == 2) return body(std::integral_constant<int, 2>{});
  body(std::integral_constant<int, 1>{});
}

template <class K, int kMaxNV, bool kZ, bool kRelu>
void small_forward_with(typename K::S* out, typename K::S* z, const typename K::S* x, const typename K::S* weight,
                        const typename K::S* bias, int64_t B, int64_t C, int64_t OC) {
  small_with_vectors<kMaxNV>(OC, K::kLanes, [&](auto nv) {
    forward_vectors<K, decltype(nv)::value, kZ, kRelu>(out, z, x, weight, bias, B, C, OC);
  });
}

template <class K, int kMaxNV = small_max_vectors(K::kLanes)>
void small_forward(typename K::S* out, typename K::S* z, const typename K::S* x, const typename K::S* weight,
                   const typename K::S* bias, int64_t B, int64_t C, int64_t OC, bool relu) {
  if (z && relu) return small_forward_with<K, kMaxNV, true, true>(out, z, x, weight, bias, B, C, OC);
  if (z) return small_forward_with<K, kMaxNV, true, false>(out, z, x, weight, bias, B, C, OC);
  if (relu) return small_forward_with<K, kMaxNV, false, true>(out, z, x, weight, bias, B, C, OC);
  small_forward_with<K, kMaxNV, false, false>(out, z, x, weight, bias, B, C, OC);
}

template <class K, int kMaxNV = small_max_vectors(K::kLanes)>
void small_weight_grad(typename K::S* dweight, const typename K::S* delta, const typename K::S* x, int64_t B, int64_t C,
                       int64_t OC, bool accumulate) {
  small_with_vectors<kMaxNV>(C, K::kLanes, [&](auto nv) {
    weight_grad_vectors<K, decltype(nv)::value>(dweight, delta, x, B, C, OC, accumulate);
  });
}

template <class K, int kMaxNV, bool kRelu, bool kDbias>
void small_input_grad_with(typename K::S* dx, typename K::S* dbias, const typename K::S* delta,
                           const typename K::S* weight, const typename K::S* relu_out, int64_t B, int64_t C,
                           int64_t OC) {
  small_with_vectors<kMaxNV>(C, K::kLanes, [&](auto nv) {
    input_grad_vectors<K, decltype(nv)::value, kRelu, kDbias>(dx, dbias, delta, weight, relu_out, B, C, OC);
  });
}

template <class K, int kMaxNV = small_max_vectors(K::kLanes)>
void small_input_grad(typename K::S* dx, typename K::S* dbias, const typename K::S* delta, const typename K::S* weight,
                      const typename K::S* relu_out, int64_t B, int64_t C, int64_t OC) {
  if (relu_out && dbias)
    return small_input_grad_with<K, kMaxNV, true, true>(dx, dbias, delta, weight, relu_out, B, C, OC);
  if (relu_out) return small_input_grad_with<K, kMaxNV, true, false>(dx, dbias, delta, weight, relu_out, B, C, OC);
  if (dbias) return small_input_grad_with<K, kMaxNV, false, true>(dx, dbias, delta, weight, relu_out, B, C, OC);
  small_input_grad_with<K, kMaxNV, false, false>(dx, dbias, delta, weight, relu_out, B, C, OC);
}

// ---- one output feature (a regression head): a lane per row ----
// out (B) = x (B, C) . weight (C) + bias, each row's sum in increasing c by a multiply and an add,
// not a fused multiply-add: the GEMM's plain loops for a one-column product (and the portable loop
// of small_dense.cpp) do the same, so the fused chain and an unfused Linear agree bit for bit
// (these files build with -ffp-contract=off). A vector across the one output would be all empty
// lanes; here each lane is a row, read with a strided gather (K::gather_rows). For the seed net's
// 5 -> 1 layer on a batch of 100 the scalar loop took about 3,000 instructions, 13% of a native
// fit step.
template <class K, class = void>
struct SmallHasGather : std::false_type {};
template <class K>
struct SmallHasGather<K, std::void_t<decltype(K::gather_rows(static_cast<const typename K::S*>(nullptr), int64_t(1)))>>
    : std::true_type {};

template <class K>
int64_t small_single_output_forward_rows(typename K::S* out, typename K::S* z, const typename K::S* x,
                                         const typename K::S* weight, const typename K::S* bias, int64_t B, int64_t C,
                                         bool relu) {
  using S = typename K::S;
  using V = typename K::V;
  constexpr int L = K::kLanes;
  const V b = K::broadcast(bias ? bias[0] : S(0));
  int64_t i = 0;
  for (; i + L <= B; i += L) {
    const S* rows = x + i * C;
    V sum = K::broadcast(S(0));
    for (int64_t c = 0; c < C; ++c) sum = sum + K::gather_rows(rows + c, C) * K::broadcast(weight[c]);
    const V y = sum + b;
    if (z) small_store<K>(z + i, y);
    small_store<K>(out + i, relu ? small_relu<K>(y) : y);
  }
  return i;
}

template <class K>
constexpr auto small_single_output_of() {
  using S = typename K::S;
  using Fn = int64_t (*)(S*, S*, const S*, const S*, const S*, int64_t, int64_t, bool);
  if constexpr (SmallHasGather<K>::value)
    return Fn(small_single_output_forward_rows<K>);
  else
    return Fn(nullptr);
}

template <class K>
SmallDenseKernels<typename K::S> small_dense_kernels_of() {
  return {K::kLanes, small_forward<K>, small_weight_grad<K>, small_input_grad<K>, small_single_output_of<K>()};
}

// Two vector widths of one ISA: rows that fit one Narrow vector take it, wider ones take Wide.
// (AVX-512 cores that split a 512-bit operation in two halves do a 5-wide row's FMA in a ymm
// register at twice the rate, and no work is lost on empty lanes.)
template <class Narrow, class Wide>
void small_forward_by_width(typename Wide::S* out, typename Wide::S* z, const typename Wide::S* x,
                            const typename Wide::S* weight, const typename Wide::S* bias, int64_t B, int64_t C,
                            int64_t OC, bool relu) {
  if (OC <= Narrow::kLanes) return small_forward<Narrow, 1>(out, z, x, weight, bias, B, C, OC, relu);
  small_forward<Wide>(out, z, x, weight, bias, B, C, OC, relu);
}
template <class Narrow, class Wide>
void small_weight_grad_by_width(typename Wide::S* dweight, const typename Wide::S* delta, const typename Wide::S* x,
                                int64_t B, int64_t C, int64_t OC, bool accumulate) {
  if (C <= Narrow::kLanes) return small_weight_grad<Narrow, 1>(dweight, delta, x, B, C, OC, accumulate);
  small_weight_grad<Wide>(dweight, delta, x, B, C, OC, accumulate);
}
template <class Narrow, class Wide>
void small_input_grad_by_width(typename Wide::S* dx, typename Wide::S* dbias, const typename Wide::S* delta,
                               const typename Wide::S* weight, const typename Wide::S* relu_out, int64_t B, int64_t C,
                               int64_t OC) {
  if (C <= Narrow::kLanes) return small_input_grad<Narrow, 1>(dx, dbias, delta, weight, relu_out, B, C, OC);
  small_input_grad<Wide>(dx, dbias, delta, weight, relu_out, B, C, OC);
}
template <class Narrow, class Wide>
SmallDenseKernels<typename Wide::S> small_dense_kernels_of_widths() {
  return {Wide::kLanes, small_forward_by_width<Narrow, Wide>, small_weight_grad_by_width<Narrow, Wide>,
          small_input_grad_by_width<Narrow, Wide>, small_single_output_of<Wide>()};
}

}  // namespace
}  // namespace chainrule::cpu::detail
