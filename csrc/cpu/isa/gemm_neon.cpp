// ARM64 Advanced SIMD (NEON) GEMM micro-kernels: an 8-row register tile, three q registers wide
// (8x12 float, 8x6 double). 24 accumulators + 3 B vectors + 2 A vectors fit the 32 v registers.
// With a packed or transposed A (rows contiguous per k), the 8 values of a column of the A panel
// are two vector loads and each FMA takes its multiplier from a lane (fmla by element); with
// op(A) = A read in place, each row's value is loaded and duplicated instead.
// NEON has no masked loads or stores: the last vector column of an edge tile moves lane by lane.
#include <arm_neon.h>

#include <utility>

#include "gemm_kernels.h"

namespace chainrule::cpu::detail {
namespace {

template <typename T>
struct Qreg;

template <>
struct Qreg<float> {
  using Reg = float32x4_t;
  static constexpr int kLanes = 4;
  static Reg zero() { return vdupq_n_f32(0.0f); }
  static Reg load(const float* p) { return vld1q_f32(p); }
  static Reg dup(const float* p) { return vld1q_dup_f32(p); }
  static Reg fma(Reg acc, Reg a, Reg b) { return vfmaq_f32(acc, a, b); }
  // acc + b * a[LANE]
  template <int LANE>
  static Reg fma_lane(Reg acc, Reg b, Reg a) {
    return vfmaq_laneq_f32(acc, b, a, LANE);
  }
  static void store(float* p, Reg v) { vst1q_f32(p, v); }
};

template <>
struct Qreg<double> {
  using Reg = float64x2_t;
  static constexpr int kLanes = 2;
  static Reg zero() { return vdupq_n_f64(0.0); }
  static Reg load(const double* p) { return vld1q_f64(p); }
  static Reg dup(const double* p) { return vld1q_dup_f64(p); }
  static Reg fma(Reg acc, Reg a, Reg b) { return vfmaq_f64(acc, a, b); }
  template <int LANE>
  static Reg fma_lane(Reg acc, Reg b, Reg a) {
    return vfmaq_laneq_f64(acc, b, a, LANE);
  }
  static void store(double* p, Reg v) { vst1q_f64(p, v); }
};

constexpr int kTileRows = 8;
constexpr int kTileVectors = 3;

// The first n (< kLanes) lanes of p, the others zero; and the matching partial store.
template <typename T>
typename Qreg<T>::Reg load_first(const T* p, int n) {
  T lanes[Qreg<T>::kLanes] = {};
  for (int i = 0; i < n; ++i) lanes[i] = p[i];
  return Qreg<T>::load(lanes);
}

template <typename T>
void store_first(T* p, typename Qreg<T>::Reg v, int n) {
  T lanes[Qreg<T>::kLanes];
  Qreg<T>::store(lanes, v);
  for (int i = 0; i < n; ++i) p[i] = lanes[i];
}

// One lane group of rank1_update: acc[row0 + LANE][v] += a_group[LANE] * bk[v] for every lane.
template <typename T, int ROWS, int VECTORS, int... LANE>
inline void fma_by_lane(typename Qreg<T>::Reg (&acc)[ROWS][VECTORS], const typename Qreg<T>::Reg (&bk)[VECTORS],
                        typename Qreg<T>::Reg a_group, int row0, std::integer_sequence<int, LANE...>) {
#pragma GCC unroll 4
  for (int v = 0; v < VECTORS; ++v)
    ((acc[row0 + LANE][v] = Qreg<T>::template fma_lane<LANE>(acc[row0 + LANE][v], bk[v], a_group)), ...);
}

// acc[r][v] += a(r, k) * bk[v] for the ROWS rows of one k. A_K_CONTIGUOUS: a(r, k) =
// a_k[r * a_stride], one duplicating load per row; otherwise a(r, k) = a_k[r], and whole groups
// of kLanes rows come from one vector load and lane-indexed FMAs.
template <typename T, int ROWS, int VECTORS, bool A_K_CONTIGUOUS>
inline void rank1_update(typename Qreg<T>::Reg (&acc)[ROWS][VECTORS], const typename Qreg<T>::Reg (&bk)[VECTORS],
                         const T* a_k, int64_t a_stride) {
  using V = Qreg<T>;
  constexpr int L = V::kLanes;
  constexpr int kGroupedRows = A_K_CONTIGUOUS ? 0 : ROWS / L * L;
#pragma GCC unroll 8
  for (int row0 = 0; row0 < kGroupedRows; row0 += L)
    fma_by_lane<T, ROWS, VECTORS>(acc, bk, V::load(a_k + row0), row0, std::make_integer_sequence<int, L>{});
#pragma GCC unroll 8
  for (int r = kGroupedRows; r < ROWS; ++r) {
    const typename V::Reg ar = V::dup(A_K_CONTIGUOUS ? a_k + r * a_stride : a_k + r);
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) acc[r][v] = V::fma(acc[r][v], ar, bk[v]);
  }
}

// Same contract and layout switches as the x86 tiles (gemm_kernels.h, gemm_avx512.cpp). Every
// loop over the tile is fully unrolled so the accumulators stay in registers.
template <typename T, int ROWS, int VECTORS, bool PARTIAL_LAST, bool A_K_CONTIGUOUS>
void tile(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc, int cols,
          bool accumulate) {
  using V = Qreg<T>;
  constexpr int L = V::kLanes;
  const int last_lanes = PARTIAL_LAST ? cols - (VECTORS - 1) * L : L;

  typename V::Reg acc[ROWS][VECTORS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      const T* cp = c + r * ldc + v * L;
      if (!accumulate) {
        acc[r][v] = V::zero();
      } else if (PARTIAL_LAST && v == VECTORS - 1) {
        acc[r][v] = load_first(cp, last_lanes);
      } else {
        acc[r][v] = V::load(cp);
      }
    }
  }

  const int64_t a_k_step = A_K_CONTIGUOUS ? 1 : a_stride;
  for (int64_t k = 0; k < k_len; ++k) {
    typename V::Reg bk[VECTORS];
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      bk[v] = (PARTIAL_LAST && v == VECTORS - 1) ? load_first(b + v * L, last_lanes) : V::load(b + v * L);
    }
    rank1_update<T, ROWS, VECTORS, A_K_CONTIGUOUS>(acc, bk, a + k * a_k_step, a_stride);
    b += b_k_stride;
  }

#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      T* cp = c + r * ldc + v * L;
      if (PARTIAL_LAST && v == VECTORS - 1) {
        store_first(cp, acc[r][v], last_lanes);
      } else {
        V::store(cp, acc[r][v]);
      }
    }
  }
}

template <typename T, int ROWS, bool A_K_CONTIGUOUS>
void tile_for_cols(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc,
                   int cols, bool accumulate) {
  constexpr int L = Qreg<T>::kLanes;
  const int vectors = (cols + L - 1) / L;
  const bool partial = cols % L != 0;
  switch (vectors) {
    case 1:
      if (partial)
        return tile<T, ROWS, 1, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
      return tile<T, ROWS, 1, false, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 2:
      if (partial)
        return tile<T, ROWS, 2, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
      return tile<T, ROWS, 2, false, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    default:
      if (partial)
        return tile<T, ROWS, 3, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
      return tile<T, ROWS, 3, false, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
  }
}

template <typename T, bool A_K_CONTIGUOUS>
void tile_for_shape(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc,
                    int rows, int cols, bool accumulate) {
  switch (rows) {
    case 1: return tile_for_cols<T, 1, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 2: return tile_for_cols<T, 2, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 3: return tile_for_cols<T, 3, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 4: return tile_for_cols<T, 4, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 5: return tile_for_cols<T, 5, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 6: return tile_for_cols<T, 6, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 7: return tile_for_cols<T, 7, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    default:
      return tile_for_cols<T, kTileRows, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
  }
}

template <typename T>
void micro_tile(int64_t k_len, const T* a, int64_t a_row_stride, int64_t a_k_stride, const T* b, int64_t b_k_stride,
                T* c, int64_t ldc, int rows, int cols, bool accumulate) {
  if (a_k_stride == 1) {
    tile_for_shape<T, true>(k_len, a, a_row_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
  } else {
    tile_for_shape<T, false>(k_len, a, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
  }
}

}  // namespace

static_assert(kNeonF32Rows == kTileRows && kNeonF32Cols == kTileVectors * Qreg<float>::kLanes);
static_assert(kNeonF64Rows == kTileRows && kNeonF64Cols == kTileVectors * Qreg<double>::kLanes);

void gemm_f32_8x12__neon(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                         int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<float>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

void gemm_f64_8x6__neon(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                        int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<double>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

}  // namespace chainrule::cpu::detail
