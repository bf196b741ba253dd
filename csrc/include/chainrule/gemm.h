#pragma once
#include <cstdint>
namespace chainrule::cpu {
enum class Trans : bool { No = false, Yes = true };
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

// Work done on a block of C once it holds its final value, while it is still in cache (the
// fused bias + activation of a Linear forward, the activation derivative of a backward).
//   apply(ctx, c, ldc, row0, col0, rows, cols): c points at C(row0, col0); the call updates
//   C[row0 : row0 + rows, col0 : col0 + cols] in place, and may read anything ctx points to.
// It is called exactly once for every element of C, on rectangular blocks (a strip of one
// register tile of rows, or all of C for a tiny problem); an element's result must depend only on its own value and
// position, so how the GEMM cuts C into blocks (and between threads) never changes a bit. sums_over_rows: apply also
// reduces down the columns (a bias gradient). The GEMM then gives each column to one thread and calls apply for a
// column's blocks in increasing row order, so the reduction runs in row order 0, 1, ..., M-1 for any thread count.
template <typename T>
struct GemmEpilogue {
  void (*apply)(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows, int64_t cols) = nullptr;
  const void* ctx = nullptr;
  bool sums_over_rows = false;
};

// C (M, N) = op(A) (M, K) op(B) (K, N), row-major with leading dimensions lda, ldb, ldc. Writes C
// (accumulate == false) or adds to it (accumulate == true). Results are bitwise independent of
// the thread count.
template <typename T>
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate);
// The same, then epilogue.apply on every finished block of C (see GemmEpilogue).
template <typename T>
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate, const GemmEpilogue<T>& epilogue);
// The oracle every fast path is tested against (a plain triple loop in wider precision).
template <typename T>
void gemm_reference(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                    int64_t ldb, T* C, int64_t ldc, bool accumulate);
// The work (2 M N K flop) from which a GEMM of T splits across threads. Measured once per type, on
// the first call that could split (a fork/join and the micro-kernel's rate, see gemm.cpp).
template <typename T>
double gemm_parallel_min_flop();
Isa active_isa();
const char* isa_name(Isa);
void set_isa_for_testing(Isa);
}  // namespace chainrule::cpu
