// AVX2+FMA GEMM micro-kernels: a 6-row register tile, two ymm wide (6x16 float, 6x8 double).
// 12 accumulators + 2 B vectors + 1 broadcast fit the 16 ymm registers.
// Column edges use vmaskmov lane masks (AVX2 has no mask registers); row edges use a tile
// instantiated with fewer rows.
#include <immintrin.h>

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
    static Mask first_lanes(int n) {
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    }
};

constexpr int kTileRows = 6;
constexpr int kTileVectors = 2;

// Same contract and layout switches as the AVX-512 tile (see gemm_kernels.h and gemm_avx512.cpp).
template <typename T, int ROWS, int VECTORS, bool MASK_LAST, bool A_K_CONTIGUOUS>
void tile(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride, T* c,
          int64_t ldc, int cols, bool accumulate) {
    using V = Ymm<T>;
    constexpr int L = V::kLanes;
    const typename V::Mask last = V::first_lanes(MASK_LAST ? cols - (VECTORS - 1) * L : L);

    typename V::Reg acc[ROWS][VECTORS];
    for (int r = 0; r < ROWS; ++r) {
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
        for (int v = 0; v < VECTORS; ++v) {
            bk[v] = (MASK_LAST && v == VECTORS - 1) ? V::load(b + v * L, last) : V::load(b + v * L);
        }
        for (int r = 0; r < ROWS; ++r) {
            const typename V::Reg ar =
                V::broadcast(A_K_CONTIGUOUS ? a + r * a_stride + k : a + k * a_stride + r);
            for (int v = 0; v < VECTORS; ++v) acc[r][v] = V::fma(ar, bk[v], acc[r][v]);
        }
        b += b_k_stride;
    }

    for (int r = 0; r < ROWS; ++r) {
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
void tile_for_cols(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride,
                   T* c, int64_t ldc, int cols, bool accumulate) {
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
void tile_for_shape(int64_t k_len, const T* a, int64_t a_stride, const T* b, int64_t b_k_stride,
                    T* c, int64_t ldc, int rows, int cols, bool accumulate) {
    switch (rows) {
        case 1: return tile_for_cols<T, 1, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
        case 2: return tile_for_cols<T, 2, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
        case 3: return tile_for_cols<T, 3, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
        case 4: return tile_for_cols<T, 4, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
        case 5: return tile_for_cols<T, 5, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
        default: return tile_for_cols<T, kTileRows, A_K_CONTIGUOUS>(k_len, a, a_stride, b, b_k_stride, c, ldc, cols, accumulate);
    }
}

template <typename T>
void micro_tile(int64_t k_len, const T* a, int64_t a_row_stride, int64_t a_k_stride, const T* b,
                int64_t b_k_stride, T* c, int64_t ldc, int rows, int cols, bool accumulate) {
    if (a_k_stride == 1) {
        tile_for_shape<T, true>(k_len, a, a_row_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
    } else {
        tile_for_shape<T, false>(k_len, a, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
    }
}

}  // namespace

static_assert(kAvx2F32Rows == kTileRows && kAvx2F32Cols == kTileVectors * Ymm<float>::kLanes);
static_assert(kAvx2F64Rows == kTileRows && kAvx2F64Cols == kTileVectors * Ymm<double>::kLanes);

void gemm_f32_6x16__avx2(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride,
                         const float* b, int64_t b_k_stride, float* c, int64_t ldc, int rows,
                         int cols, bool accumulate) {
    micro_tile<float>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

void gemm_f64_6x8__avx2(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride,
                        const double* b, int64_t b_k_stride, double* c, int64_t ldc, int rows,
                        int cols, bool accumulate) {
    micro_tile<double>(k_len, a, a_row_stride, a_k_stride, b, b_k_stride, c, ldc, rows, cols, accumulate);
}

}  // namespace chainrule::cpu::detail
