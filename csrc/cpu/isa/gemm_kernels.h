#pragma once
// Internal to the GEMM: the per-ISA micro-kernels that csrc/cpu/gemm.cpp drives.
//
// A micro-kernel computes one register tile of C (at most MR x NR) over a run of k:
//   c[r][j] = (accumulate ? c[r][j] : 0) + sum_k a(r, k) * b(k, j)     r < rows, j < cols
// with the sum taken in increasing k by fused multiply-adds into one accumulator per element.
// Every tile shape (full or edge) does exactly that per element, so how the driver cuts C into
// tiles - and so how it splits C between threads - never changes a result bit.
//
// Operand layouts, chosen so one kernel serves packed panels and unpacked ("sup") operands:
//   a(r, k) = a[r * a_row_stride + k * a_k_stride], and exactly one of the two strides is 1:
//             packed A panels and op(A) = A^T have a_row_stride == 1; op(A) = A has a_k_stride == 1.
//   b(k, j) = b[k * b_k_stride + j]: a row of the B panel is contiguous (packed B, or op(B) = B).
#include <cstdint>

namespace chainrule::cpu::detail {

template <typename T>
using MicroTileFn = void (*)(int64_t k_len, const T* a, int64_t a_row_stride, int64_t a_k_stride, const T* b,
                             int64_t b_k_stride, T* c, int64_t ldc, int rows, int cols, bool accumulate);

// Register tiles (rows x cols). The name says ISA and tile, XNNPACK style.
constexpr int kAvx512F32Rows = 6, kAvx512F32Cols = 64;  // 24 zmm accumulators
constexpr int kAvx512F64Rows = 6, kAvx512F64Cols = 32;  // 24 zmm accumulators
constexpr int kAvx2F32Rows = 6, kAvx2F32Cols = 16;      // 12 ymm accumulators
constexpr int kAvx2F64Rows = 6, kAvx2F64Cols = 8;       // 12 ymm accumulators
constexpr int kNeonF32Rows = 8, kNeonF32Cols = 12;      // 24 q-register accumulators
constexpr int kNeonF64Rows = 8, kNeonF64Cols = 6;       // 24 q-register accumulators

void gemm_f32_6x64__avx512(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                           int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate);
void gemm_f64_6x32__avx512(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                           int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate);
void gemm_f32_6x16__avx2(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                         int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate);
void gemm_f64_6x8__avx2(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                        int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate);
void gemm_f32_8x12__neon(int64_t k_len, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b,
                         int64_t b_k_stride, float* c, int64_t ldc, int rows, int cols, bool accumulate);
void gemm_f64_8x6__neon(int64_t k_len, const double* a, int64_t a_row_stride, int64_t a_k_stride, const double* b,
                        int64_t b_k_stride, double* c, int64_t ldc, int rows, int cols, bool accumulate);

// Transposing pack of one B panel for op(B) = B^T: out[k * out_k_stride + j] = b[j * ldb + k] for
// j < cols, k < k_len. Register-block transposes read whole cache lines of B rows; the plain loop
// instead touches one element per row per step, and rows ldb apart alias in the L1 sets.
template <typename T>
using PackTransposedFn = void (*)(const T* b, int64_t ldb, int64_t k_len, int cols, T* out, int64_t out_k_stride);

void pack_transposed_f32__avx512(const float* b, int64_t ldb, int64_t k_len, int cols, float* out,
                                 int64_t out_k_stride);
void pack_transposed_f64__avx512(const double* b, int64_t ldb, int64_t k_len, int cols, double* out,
                                 int64_t out_k_stride);
void pack_transposed_f32__avx2(const float* b, int64_t ldb, int64_t k_len, int cols, float* out, int64_t out_k_stride);
void pack_transposed_f64__avx2(const double* b, int64_t ldb, int64_t k_len, int cols, double* out,
                               int64_t out_k_stride);

// Pack of one A micro-panel for op(A) = A (rows of A contiguous along k): out[k * MR + r] =
// a[r * lda + k] for r < rows, k < k_len, where MR is the kernel's full tile height.
template <typename T>
using PackRowsFn = void (*)(const T* a, int64_t lda, int64_t k_len, int rows, T* out);

void pack_a_rows_f32__avx2(const float* a, int64_t lda, int64_t k_len, int rows, float* out);
void pack_a_rows_f64__avx2(const double* a, int64_t lda, int64_t k_len, int rows, double* out);

}  // namespace chainrule::cpu::detail
