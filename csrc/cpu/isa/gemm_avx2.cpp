// AVX2+FMA GEMM micro-kernels: a 6-row register tile, two ymm wide (6x16 float, 6x8 double).
// 12 accumulators + 2 B vectors + 1 broadcast fit the 16 ymm registers.
// Column edges use vmaskmov lane masks (AVX2 has no mask registers); row edges use a tile
// instantiated with fewer rows.
#include <immintrin.h>

#include <algorithm>

#include "gemm_kernels.h"

namespace chainrule::cpu::detail {
namespace {

template <typename T>
struct Ymm;

template <>
struct Ymm<float> {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm256_fmadd_ps(a, b, acc); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  // Lane i is on when i < n: compare the lane indices against n.
  static Mask first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

template <>
struct Ymm<double> {
  using Reg = __m256d;
  using Mask = __m256i;
  static constexpr int kLanes = 4;
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static Reg load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static Reg broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm256_fmadd_pd(a, b, acc); }
  static void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static void store(double* p, Reg v, Mask m) { _mm256_maskstore_pd(p, m, v); }
  static Mask first_lanes(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
};

constexpr int kTileRows = 6;
constexpr int kTileVectors = 2;

// Same contract and layout switches as the AVX-512 tile (see gemm_kernels.h and gemm_avx512.cpp).
template <typename T, int ROWS, int VECTORS, bool MASK_LAST, bool A_K_CONTIGUOUS>
void tile(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc, int cols,
          bool accumulate) {
  using V = Ymm<T>;
  constexpr int L = V::kLanes;
  const typename V::Mask last = V::first_lanes(MASK_LAST ? cols - (VECTORS - 1) * L : L);

  // Every loop over the tile is fully unrolled, the init and store loops included: with any of
  // them rolled, acc is indexed by a run-time row and GCC keeps it in memory, so each k-step
  // would store all 12 accumulators to the stack (one 256-bit store per cycle caps the kernel
  // at half of FMA peak). tests/test_gemm_codegen.py checks the compiled hot loops.
  typename V::Reg acc[ROWS][VECTORS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      const T* cp = c + r * ldc + v * L;
      if (!accumulate) {
        acc[r][v] = V::zero();
      } else if (MASK_LAST && v == VECTORS - 1) {
        acc[r][v] = V::load(cp, last);
      } else {
        acc[r][v] = V::load(cp);
      }
    }
  }

#pragma GCC unroll 2
  for (int64_t k = 0; k < k_len; ++k) {
    typename V::Reg bk[VECTORS];
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      bk[v] = (MASK_LAST && v == VECTORS - 1) ? V::load(b + v * L, last) : V::load(b + v * L);
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const typename V::Reg ar = V::broadcast(A_K_CONTIGUOUS ? a + r * a_stride + k : a + k * a_stride + r);
#pragma GCC unroll 4
      for (int v = 0; v < VECTORS; ++v) acc[r][v] = V::fma(ar, bk[v], acc[r][v]);
    }
    b += b_k_stride;
  }

#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < VECTORS; ++v) {
      T* cp = c + r * ldc + v * L;
      if (MASK_LAST && v == VECTORS - 1) {
        V::store(cp, acc[r][v], last);
      } else {
        V::store(cp, acc[r][v]);
      }
    }
  }
}

template <typename T, int ROWS, bool A_K_CONTIGUOUS>
void tile_for_cols(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc,
                   int cols, bool accumulate) {
  constexpr int L = Ymm<T>::kLanes;
  if (cols <= L) {
    return tile<T, ROWS, 1, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
  }
  if (cols == kTileVectors * L) {
    return tile<T, ROWS, 2, false, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
  }
  return tile<T, ROWS, 2, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
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

// In-register transposes. Rows in, columns out: after the call rows[k] holds column k.
// 8x8 float: interleave pairs of rows within 128-bit lanes, gather 4-row groups with shuffles,
// then swap 128-bit halves between the upper and lower four rows.
void transpose_square(__m256 rows[8]) {
  __m256 pairs[8], quads[8];
  for (int i = 0; i < 4; ++i) {
    pairs[2 * i] = _mm256_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
    pairs[2 * i + 1] = _mm256_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
  }
  // quads[4g + q], 128-bit lane L: rows 4g..4g+3 at column 4L + q.
  for (int g = 0; g < 2; ++g) {
    quads[4 * g + 0] = _mm256_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0x44);
    quads[4 * g + 1] = _mm256_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0xEE);
    quads[4 * g + 2] = _mm256_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0x44);
    quads[4 * g + 3] = _mm256_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0xEE);
  }
  for (int q = 0; q < 4; ++q) {
    rows[q] = _mm256_permute2f128_ps(quads[q], quads[4 + q], 0x20);
    rows[4 + q] = _mm256_permute2f128_ps(quads[q], quads[4 + q], 0x31);
  }
}

// 4x4 double: pairs of rows interleaved within 128-bit lanes, then the lanes exchanged.
void transpose_square(__m256d rows[4]) {
  const __m256d even01 = _mm256_unpacklo_pd(rows[0], rows[1]);  // r0[0] r1[0] | r0[2] r1[2]
  const __m256d odd01 = _mm256_unpackhi_pd(rows[0], rows[1]);   // r0[1] r1[1] | r0[3] r1[3]
  const __m256d even23 = _mm256_unpacklo_pd(rows[2], rows[3]);
  const __m256d odd23 = _mm256_unpackhi_pd(rows[2], rows[3]);
  rows[0] = _mm256_permute2f128_pd(even01, even23, 0x20);
  rows[1] = _mm256_permute2f128_pd(odd01, odd23, 0x20);
  rows[2] = _mm256_permute2f128_pd(even01, even23, 0x31);
  rows[3] = _mm256_permute2f128_pd(odd01, odd23, 0x31);
}

// Square L x L blocks: load up to L rows of B (L consecutive k each), transpose, store up to L
// rows of the panel. Each load reads a contiguous run of a B row, where the plain loop gathers
// one element per row per step. Partial blocks at the k and column edges go through lane masks.
template <typename T>
void pack_transposed(const T* b, int64_t ldb, int64_t k_len, int cols, T* out, int64_t out_k_stride) {
  using V = Ymm<T>;
  constexpr int L = V::kLanes;
  for (int j = 0; j < cols; j += L) {
    const int block_cols = std::min(L, cols - j);
    const typename V::Mask col_mask = V::first_lanes(block_cols);
    for (int64_t k = 0; k < k_len; k += L) {
      const int block_k = int(std::min<int64_t>(L, k_len - k));
      typename V::Reg block[L];
      if (block_k == L && block_cols == L) {
#pragma GCC unroll 8
        for (int r = 0; r < L; ++r) block[r] = V::load(b + (j + r) * ldb + k);
        transpose_square(block);
#pragma GCC unroll 8
        for (int r = 0; r < L; ++r) V::store(out + (k + r) * out_k_stride + j, block[r]);
        continue;
      }
      const typename V::Mask k_mask = V::first_lanes(block_k);
      for (int r = 0; r < L; ++r) block[r] = r < block_cols ? V::load(b + (j + r) * ldb + k, k_mask) : V::zero();
      transpose_square(block);
      for (int r = 0; r < block_k; ++r) V::store(out + (k + r) * out_k_stride + j, block[r], col_mask);
    }
  }
}

// One A micro-panel for op(A) = A, k-major: out[k * kTileRows + r] = a[r * lda + k] for r < rows.
// The rows are read along k in 8-float (4-double) runs and turned into k-major columns by the
// register transposes above, where a scalar gather would read one element per row per step. A short
// panel (rows < kTileRows, only at the bottom edge of C) takes the plain loop.
void pack_row_panel(const float* a, int64_t lda, int64_t k_len, int rows, float* out) {
  constexpr int L = Ymm<float>::kLanes;
  int64_t k = 0;
  if (rows == kTileRows) {
    for (; k + L <= k_len; k += L) {
      __m256 block[L];
#pragma GCC unroll 8
      for (int r = 0; r < L; ++r) block[r] = r < kTileRows ? _mm256_loadu_ps(a + r * lda + k) : _mm256_setzero_ps();
      transpose_square(block);
      // block[q] holds rows 0..5 of column k + q in lanes 0..5: store those six lanes as 4 + 2.
#pragma GCC unroll 8
      for (int q = 0; q < L; ++q) {
        float* dst = out + (k + q) * kTileRows;
        _mm_storeu_ps(dst, _mm256_castps256_ps128(block[q]));
        _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(block[q], 1));
      }
    }
  }
  for (; k < k_len; ++k)
    for (int r = 0; r < rows; ++r) out[k * kTileRows + r] = a[r * lda + k];
}

void pack_row_panel(const double* a, int64_t lda, int64_t k_len, int rows, double* out) {
  constexpr int L = Ymm<double>::kLanes;
  int64_t k = 0;
  if (rows == kTileRows) {
    for (; k + L <= k_len; k += L) {
      // Rows 0..3 in one 4x4 transpose, rows 4..5 (and two zero rows) in another.
      __m256d upper[L], lower[L];
#pragma GCC unroll 4
      for (int r = 0; r < L; ++r) {
        upper[r] = _mm256_loadu_pd(a + r * lda + k);
        lower[r] = r + L < kTileRows ? _mm256_loadu_pd(a + (r + L) * lda + k) : _mm256_setzero_pd();
      }
      transpose_square(upper);
      transpose_square(lower);
#pragma GCC unroll 4
      for (int q = 0; q < L; ++q) {
        double* dst = out + (k + q) * kTileRows;
        _mm256_storeu_pd(dst, upper[q]);
        _mm_storeu_pd(dst + L, _mm256_castpd256_pd128(lower[q]));
      }
    }
  }
  for (; k < k_len; ++k)
    for (int r = 0; r < rows; ++r) out[k * kTileRows + r] = a[r * lda + k];
}

}  // namespace

void pack_a_rows_f32__avx2(const float* a, int64_t lda, int64_t k_len, int rows, float* out) {
  pack_row_panel(a, lda, k_len, rows, out);
}

void pack_a_rows_f64__avx2(const double* a, int64_t lda, int64_t k_len, int rows, double* out) {
  pack_row_panel(a, lda, k_len, rows, out);
}

void pack_transposed_f32__avx2(const float* b, int64_t ldb, int64_t k_len, int cols, float* out, int64_t out_k_stride) {
  pack_transposed<float>(b, ldb, k_len, cols, out, out_k_stride);
}

void pack_transposed_f64__avx2(const double* b, int64_t ldb, int64_t k_len, int cols, double* out,
                               int64_t out_k_stride) {
  pack_transposed<double>(b, ldb, k_len, cols, out, out_k_stride);
}

static_assert(kAvx2F32Rows == kTileRows && kAvx2F32Cols == kTileVectors * Ymm<float>::kLanes);
static_assert(kAvx2F64Rows == kTileRows && kAvx2F64Cols == kTileVectors * Ymm<double>::kLanes);

void gemm_f32_6x16__avx2(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                         int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<float>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

void gemm_f64_6x8__avx2(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                        int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<double>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

}  // namespace chainrule::cpu::detail
