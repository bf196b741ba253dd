// AVX-512 GEMM micro-kernels: a 6-row register tile, four zmm wide (6x64 float, 6x32 double).
// 24 accumulators + 4 B vectors + 1 broadcast fit the 32 zmm registers; per k the tile issues
// 4 loads and 6 broadcasts for 24 FMAs, well inside the two load ports of Zen 4 and recent Intel cores.
// Column edges use AVX-512 masks; row edges use a tile instantiated with fewer rows.
#include <immintrin.h>

#include <algorithm>

#include "gemm_kernels.h"

// GCC 12 flags the self-initialised _mm512_undefined_ps() inside the shuffle intrinsics as
// "maybe uninitialized" (a false positive in its own headers).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace chainrule::cpu::detail {
namespace {

template <typename T>
struct Zmm;

template <>
struct Zmm<float> {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm512_fmadd_ps(a, b, acc); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static Mask first_lanes(int n) { return static_cast<Mask>((1u << n) - 1u); }
};

template <>
struct Zmm<double> {
  using Reg = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static Reg load(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static Reg broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm512_fmadd_pd(a, b, acc); }
  static void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static void store(double* p, Reg v, Mask m) { _mm512_mask_storeu_pd(p, m, v); }
  static Mask first_lanes(int n) { return static_cast<Mask>((1u << n) - 1u); }
};

constexpr int kTileRows = 6;
constexpr int kTileVectors = 4;

// ROWS x VECTORS register tile. MASK_LAST: the last vector column is partial (cols not a multiple
// of the vector width), so its B loads and C loads/stores go through a lane mask.
// A_K_CONTIGUOUS: a(r, k) = a[r * a_stride + k] (op(A) = A, unpacked); otherwise
// a(r, k) = a[k * a_stride + r] (packed panel, or op(A) = A^T).
template <typename T, int ROWS, int VECTORS, bool MASK_LAST, bool A_K_CONTIGUOUS>
void tile(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc, int cols,
          bool accumulate) {
  using V = Zmm<T>;
  constexpr int L = V::kLanes;
  const typename V::Mask last = V::first_lanes(MASK_LAST ? cols - (VECTORS - 1) * L : L);

  // All loops over the tile fully unrolled, init and store included (see gemm_avx2.cpp): a
  // rolled one makes GCC keep acc in memory, and the masked edge tiles then spilled their
  // accumulators to the stack on every k-step.
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

// Picks the instantiation for a (rows, cols) edge. Only the full-width tile goes unmasked: a
// masked narrower tile costs the same and halves the number of instantiations.
template <typename T, int ROWS, bool A_K_CONTIGUOUS>
void tile_for_cols(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c, int64_t ldc,
                   int cols, bool accumulate) {
  constexpr int L = Zmm<T>::kLanes;
  switch ((cols + L - 1) / L) {
    case 1: return tile<T, ROWS, 1, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 2: return tile<T, ROWS, 2, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    case 3: return tile<T, ROWS, 3, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    default:
      if (cols == kTileVectors * L) {
        return tile<T, ROWS, 4, false, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
      }
      return tile<T, ROWS, 4, true, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
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
// 16x16 float: interleave pairs of rows within 128-bit lanes, then gather 4-row groups, then move
// whole 128-bit lanes in two shuffle_f32x4 rounds.
void transpose16x16(__m512 rows[16]) {
  __m512 pairs[16], quads[16];
  for (int i = 0; i < 8; ++i) {
    pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
    pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
  }
  // quads[4g + q], 128-bit lane L: rows 4g..4g+3 at column 4L + q.
  for (int g = 0; g < 4; ++g) {
    quads[4 * g + 0] = _mm512_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0x44);
    quads[4 * g + 1] = _mm512_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0xEE);
    quads[4 * g + 2] = _mm512_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0x44);
    quads[4 * g + 3] = _mm512_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0xEE);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 even_lo = _mm512_shuffle_f32x4(quads[q], quads[4 + q], 0x88);
    const __m512 odd_lo = _mm512_shuffle_f32x4(quads[q], quads[4 + q], 0xDD);
    const __m512 even_hi = _mm512_shuffle_f32x4(quads[8 + q], quads[12 + q], 0x88);
    const __m512 odd_hi = _mm512_shuffle_f32x4(quads[8 + q], quads[12 + q], 0xDD);
    rows[q] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
    rows[8 + q] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD);
    rows[4 + q] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
    rows[12 + q] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD);
  }
}

// 8x8 double: the same idea with 2-element pairs inside 128-bit lanes.
void transpose8x8(__m512d rows[8]) {
  __m512d pairs[8];
  for (int i = 0; i < 4; ++i) {
    pairs[2 * i] = _mm512_unpacklo_pd(rows[2 * i], rows[2 * i + 1]);
    pairs[2 * i + 1] = _mm512_unpackhi_pd(rows[2 * i], rows[2 * i + 1]);
  }
  // pairs[2i + h], 128-bit lane L: rows 2i, 2i+1 at column 2L + h.
  for (int h = 0; h < 2; ++h) {
    const __m512d even_lo = _mm512_shuffle_f64x2(pairs[h], pairs[2 + h], 0x88);
    const __m512d odd_lo = _mm512_shuffle_f64x2(pairs[h], pairs[2 + h], 0xDD);
    const __m512d even_hi = _mm512_shuffle_f64x2(pairs[4 + h], pairs[6 + h], 0x88);
    const __m512d odd_hi = _mm512_shuffle_f64x2(pairs[4 + h], pairs[6 + h], 0xDD);
    rows[h] = _mm512_shuffle_f64x2(even_lo, even_hi, 0x88);
    rows[4 + h] = _mm512_shuffle_f64x2(even_lo, even_hi, 0xDD);
    rows[2 + h] = _mm512_shuffle_f64x2(odd_lo, odd_hi, 0x88);
    rows[6 + h] = _mm512_shuffle_f64x2(odd_lo, odd_hi, 0xDD);
  }
}

void transpose_square(__m512 rows[16]) { transpose16x16(rows); }
void transpose_square(__m512d rows[8]) { transpose8x8(rows); }

// Square L x L blocks: load up to L rows of B (L consecutive k each), transpose, store up to L
// rows of the panel. Partial blocks at the k and column edges go through lane masks.
template <typename T>
void pack_transposed(const T* b, int64_t ldb, int64_t k_len, int cols, T* out, int64_t out_k_stride) {
  using V = Zmm<T>;
  constexpr int L = V::kLanes;
  for (int j = 0; j < cols; j += L) {
    const int block_cols = std::min(L, cols - j);
    const typename V::Mask col_mask = V::first_lanes(block_cols);
    for (int64_t k = 0; k < k_len; k += L) {
      const int block_k = int(std::min<int64_t>(L, k_len - k));
      const typename V::Mask k_mask = V::first_lanes(block_k);
      typename V::Reg block[L];
      for (int r = 0; r < L; ++r) {
        const T* src = b + (j + r) * ldb + k;
        if (r >= block_cols) {
          block[r] = V::zero();
        } else if (block_k == L) {
          block[r] = V::load(src);
        } else {
          block[r] = V::load(src, k_mask);
        }
      }
      transpose_square(block);
      for (int r = 0; r < block_k; ++r) {
        T* dst = out + (k + r) * out_k_stride + j;
        if (block_cols == L) {
          V::store(dst, block[r]);
        } else {
          V::store(dst, block[r], col_mask);
        }
      }
    }
  }
}

}  // namespace

void pack_transposed_f32__avx512(const float* b, int64_t ldb, int64_t k_len, int cols, float* out,
                                 int64_t out_k_stride) {
  pack_transposed<float>(b, ldb, k_len, cols, out, out_k_stride);
}

void pack_transposed_f64__avx512(const double* b, int64_t ldb, int64_t k_len, int cols, double* out,
                                 int64_t out_k_stride) {
  pack_transposed<double>(b, ldb, k_len, cols, out, out_k_stride);
}

static_assert(kAvx512F32Rows == kTileRows && kAvx512F32Cols == kTileVectors * Zmm<float>::kLanes);
static_assert(kAvx512F64Rows == kTileRows && kAvx512F64Cols == kTileVectors * Zmm<double>::kLanes);

void gemm_f32_6x64__avx512(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                           int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<float>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

void gemm_f64_6x32__avx512(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                           int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate) {
  micro_tile<double>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

}  // namespace chainrule::cpu::detail
