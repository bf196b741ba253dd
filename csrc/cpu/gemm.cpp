// GEMM driver: ISA dispatch, Goto/BLIS-style blocking and packing, threading, and the naive
// reference every fast path is tested against.
//
// Loop nest for one thread's rectangle of C (see run_rectangle):
//   ic  rows of C in blocks of mc        A block (mc x kc) packed once per (ic, pc); L3
//   pc  the reduction in blocks of kc    never split across threads: results stay bitwise
//                                        independent of the thread count
//   jc  columns in blocks of nc          B block (kc x nc) packed to stay resident in L2
//   ir  one A micro-panel (mr x kc)      stays in L1 while the jr loop streams B from L2
//   jr  one micro-tile                   the ISA micro-kernel (csrc/cpu/isa/)
// Small problems skip packing where the operand can be read in place (the "sup" path of BLIS).
// Tiny vector-like problems (N or K of 1) skip the tiles altogether (run_direct).
// An optional epilogue (GemmEpilogue) runs on each strip of C right after its last K block.
#include "chainrule/gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <type_traits>

#include "cpu/isa_builds.h"
#include "isa/gemm_kernels.h"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace chainrule::cpu {
namespace {

using detail::MicroTileFn;

// ---------------------------------------------------------------- ISA selection

Isa best_supported_isa() {
#if CHAINRULE_HAVE_X86_ISA
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma")) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
#if CHAINRULE_HAVE_NEON_ISA
  return Isa::Neon;
#endif
  return Isa::Scalar;
}

bool supported(Isa isa, Isa best) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return best == Isa::Avx2 || best == Isa::Avx512;  // AVX-512 machines have AVX2
    case Isa::Avx512: return best == Isa::Avx512;
    case Isa::Neon: return best == Isa::Neon;
  }
  return false;
}

Isa clamp_to_supported(Isa wanted) {
  static const Isa best = best_supported_isa();
  return supported(wanted, best) ? wanted : best;
}

// CHAINRULE_ISA=avx512|avx2|neon|scalar forces a path for testing; one the CPU lacks falls back
// to the best it has.
Isa isa_at_startup() {
  Isa wanted = best_supported_isa();
  if (const char* env = std::getenv("CHAINRULE_ISA")) {
    std::string name(env);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "scalar") wanted = Isa::Scalar;
    if (name == "avx2") wanted = Isa::Avx2;
    if (name == "avx512") wanted = Isa::Avx512;
    if (name == "neon") wanted = Isa::Neon;
  }
  return clamp_to_supported(wanted);
}

std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{static_cast<int>(isa_at_startup())};
  return slot;
}

// ---------------------------------------------------------------- micro-kernels

// Portable tile for the scalar path, with the same per-element contract as the ISA kernels
// (gemm_kernels.h). Baseline x86-64 has no FMA, so each step is a rounded multiply then add.
constexpr int kScalarRows = 4, kScalarCols = 8;

template <typename T>
void scalar_tile(int64_t k_len, const T* a, int64_t a_row_stride, int64_t a_k_stride, const T* b, int64_t b_k_stride,
                 T* c, int64_t ldc, int rows, int cols, bool accumulate) {
  T acc[kScalarRows][kScalarCols] = {};
  if (accumulate) {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) acc[r][j] = c[r * ldc + j];
  }
  for (int64_t k = 0; k < k_len; ++k) {
    const T* bk = b + k * b_k_stride;
    for (int r = 0; r < rows; ++r) {
      const T ar = a[r * a_row_stride + k * a_k_stride];
      for (int j = 0; j < cols; ++j) acc[r][j] += ar * bk[j];
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = acc[r][j];
}

template <typename T>
struct MicroKernel {
  MicroTileFn<T> tile;
  int mr;                                       // rows of the register tile
  int nr;                                       // columns of the register tile
  detail::PackTransposedFn<T> pack_transposed;  // null: the portable loop in pack_b_block
  detail::PackRowsFn<T> pack_rows;              // null: the portable loop in pack_a_block
};

template <typename T>
MicroKernel<T> micro_kernel_for(Isa isa);

template <>
MicroKernel<float> micro_kernel_for<float>(Isa isa) {
#if CHAINRULE_HAVE_X86_ISA
  if (isa == Isa::Avx512)
    return {detail::gemm_f32_6x64__avx512, detail::kAvx512F32Rows, detail::kAvx512F32Cols,
            detail::pack_transposed_f32__avx512, nullptr};
  if (isa == Isa::Avx2)
    return {detail::gemm_f32_6x16__avx2, detail::kAvx2F32Rows, detail::kAvx2F32Cols, detail::pack_transposed_f32__avx2,
            detail::pack_a_rows_f32__avx2};
#endif
#if CHAINRULE_HAVE_NEON_ISA
  if (isa == Isa::Neon)
    return {detail::gemm_f32_8x12__neon, detail::kNeonF32Rows, detail::kNeonF32Cols, nullptr, nullptr};
#endif
  return {scalar_tile<float>, kScalarRows, kScalarCols, nullptr, nullptr};
}

template <>
MicroKernel<double> micro_kernel_for<double>(Isa isa) {
#if CHAINRULE_HAVE_X86_ISA
  if (isa == Isa::Avx512)
    return {detail::gemm_f64_6x32__avx512, detail::kAvx512F64Rows, detail::kAvx512F64Cols,
            detail::pack_transposed_f64__avx512, nullptr};
  if (isa == Isa::Avx2)
    return {detail::gemm_f64_6x8__avx2, detail::kAvx2F64Rows, detail::kAvx2F64Cols, detail::pack_transposed_f64__avx2,
            detail::pack_a_rows_f64__avx2};
#endif
#if CHAINRULE_HAVE_NEON_ISA
  if (isa == Isa::Neon)
    return {detail::gemm_f64_8x6__neon, detail::kNeonF64Rows, detail::kNeonF64Cols, nullptr, nullptr};
#endif
  return {scalar_tile<double>, kScalarRows, kScalarCols, nullptr, nullptr};
}

// ---------------------------------------------------------------- problem and blocking

template <typename T>
struct Problem {
  Trans ta, tb;
  int64_t M, N, K;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T* C;
  int64_t ldc;
  bool accumulate;
  GemmEpilogue<T> epilogue;

  // op(A)(i, k) = A[i * a_row_stride() + k * a_k_stride()]
  int64_t a_row_stride() const { return ta == Trans::No ? lda : 1; }
  int64_t a_k_stride() const { return ta == Trans::No ? 1 : lda; }
};

// ---------------------------------------------------------------- cache budgets

// Per-core data cache sizes in bytes, as the OS reports them (sysconf, else sysfs, else macOS's
// sysctl); a level it does not report gets a size typical of current CPUs.
struct CacheSizes {
  int64_t l1d = 32 * 1024, l2 = 512 * 1024, l3 = 8 * 1024 * 1024;
};

int64_t sysfs_cache_size(int level) {
#if defined(__linux__)
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
    int found_level = 0;
    std::string type, size;
    if (!(level_file >> found_level) || !(type_file >> type) || !(size_file >> size)) continue;
    if (found_level != level || type == "Instruction" || size.empty()) continue;
    int64_t bytes = std::atoll(size.c_str());
    const char unit = size.back();
    if (unit == 'K') bytes *= 1024;
    if (unit == 'M') bytes *= 1024 * 1024;
    return bytes;
  }
#endif
  (void)level;
  return 0;
}

CacheSizes query_cache_sizes() {
  CacheSizes sizes;
  int64_t reported[3] = {0, 0, 0};
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  reported[0] = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  reported[1] = sysconf(_SC_LEVEL2_CACHE_SIZE);
  reported[2] = sysconf(_SC_LEVEL3_CACHE_SIZE);
#elif defined(__APPLE__)
  const char* names[3] = {"hw.l1dcachesize", "hw.l2cachesize", "hw.l3cachesize"};
  for (int i = 0; i < 3; ++i) {
    int64_t value = 0;
    size_t length = sizeof(value);
    if (sysctlbyname(names[i], &value, &length, nullptr, 0) == 0) reported[i] = value;
  }
#endif
  for (int level = 1; level <= 3; ++level)
    if (reported[level - 1] <= 0) reported[level - 1] = sysfs_cache_size(level);
  // Reject nonsense (some hypervisors report 0 or absurd values) rather than block for it.
  if (reported[0] >= 8 * 1024 && reported[0] <= 1024 * 1024) sizes.l1d = reported[0];
  if (reported[1] >= 64 * 1024 && reported[1] <= 64 * 1024 * 1024) sizes.l2 = reported[1];
  if (reported[2] >= 1024 * 1024 && reported[2] <= 4096ll * 1024 * 1024) sizes.l3 = reported[2];
  return sizes;
}

const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = query_cache_sizes();
  return sizes;
}

// Blocking from the cache sizes (the Goto/BLIS rules):
//   kc  the A micro-panel (mr x kc) stays in L1 while B panels stream past it: at most half of
//       L1 (kc_max), and aimed at a third (kc_target), since each B panel (kc x nr) passes
//       through L1 too and evicts A's lines once the two exceed it. At most 512 (C is re-read
//       K / kc times; 512 measured 2-5% faster than 256 on the large shapes with a 48 KiB L1)
//       and at least 128. With a 48 KiB L1 only float64 aims lower (336 instead of 512; a 24 KiB
//       A panel beside a 32 KiB B panel): on a Xeon, one thread, the float64 shapes of
//       bench_gemm.py with K of 1024 and 4096 gained 4-10% on both the AVX2 and the AVX-512 path,
//       the others stayed within 2% (interleaved A/B runs).
//   B block (kc x nc) in half of L2, the rest of L2 for the A panel, C and the prefetch stream.
//   A block (mc x kc) in a slice of the shared L3 (1/16: the cores and the B blocks share it).
// The machines these were measured on: L1d 48 KiB / L2 1 MiB (AVX-512 EPYC) and L1d 32 KiB /
// L2 512 KiB (AVX2 EPYC), so kc is 512 for float on both, and the B block 512 or 256 KiB.
template <typename T>
int64_t kc_max(int mr) {
  const int64_t from_l1 = cache_sizes().l1d / 2 / (int64_t(mr) * int64_t(sizeof(T)));
  return std::clamp<int64_t>(from_l1 / 16 * 16, 128, 512);
}
template <typename T>
int64_t kc_target(int mr) {
  const int64_t from_l1 = cache_sizes().l1d / 3 / (int64_t(mr) * int64_t(sizeof(T)));
  return std::clamp<int64_t>(from_l1 / 16 * 16, 128, 512);
}
int64_t b_block_bytes() { return cache_sizes().l2 / 2; }
// Capped at 2 MiB: A is read from L3 once per B block whatever its size, and a larger block only
// grows every thread's packing buffer.
int64_t a_block_bytes() { return std::clamp<int64_t>(cache_sizes().l3 / 16, cache_sizes().l2, 2 * 1024 * 1024); }

constexpr double kSupMaxFlop = 8.0e6;  // below this, packing overhead would dominate
constexpr int64_t kPackAMinN = 1024;   // columns that amortise packing A (see below)
// The largest op(A) a thread team packs once and shares (gemm_dispatch), a bound on that buffer:
// the dW shapes of bench_gemm.py that are cut by columns hold at most 1 MiB (512 x 256 float64).
constexpr int64_t kSharedPackAMaxBytes = 8ll << 20;
// Multiply-adds below which a vector-like problem (N or K of 1) runs as plain loops: there a
// register tile is mostly masked lanes, and the per-tile and packing overheads (about 0.3-0.5 us
// for the seed net's (100, 1, 5) and (100, 5, 1)) exceed the arithmetic.
constexpr int64_t kDirectMaxMacs = 1 << 14;

struct Blocking {
  int64_t kc, nc, mc;
  bool pack_a, pack_b;
};

template <typename T>
Blocking choose_blocking(const Problem<T>& p, const MicroKernel<T>& kern) {
  Blocking bl{};
  // Equal-sized k blocks, so a K just above kc_max does not leave a sliver block. Depends on K
  // only: the thread count must never change how the reduction is cut.
  // The number of blocks is K / kc_target rounded to the nearest (K = 784 stays two blocks of
  // 392 rather than three of 262, which measured 2-4% slower), but never blocks above kc_max.
  const int64_t kc_limit = kc_max<T>(kern.mr), kc_aim = kc_target<T>(kern.mr);
  const int64_t k_blocks = std::max({int64_t(1), (p.K + kc_limit - 1) / kc_limit, (p.K + kc_aim / 2) / kc_aim});
  bl.kc = std::max<int64_t>(1, (p.K + k_blocks - 1) / k_blocks);
  const int64_t nc_from_cache = b_block_bytes() / (bl.kc * int64_t(sizeof(T)));
  bl.nc = std::max<int64_t>(kern.nr, nc_from_cache / kern.nr * kern.nr);
  const int64_t mc_from_cache = a_block_bytes() / (bl.kc * int64_t(sizeof(T)));
  bl.mc = std::max<int64_t>(kern.mr, mc_from_cache / kern.mr * kern.mr);

  const double flop = 2.0 * double(p.M) * double(p.N) * double(p.K);
  const bool small = flop < kSupMaxFlop;
  // The kernel can read op(A) in place (a broadcast per row and k, either layout), and a packed
  // A block only pays for itself when many B panels sweep it. With the wide AVX-512 tiles,
  // op(A) = A is read in place: its mr rows are mr sequential streams, and packing them lost
  // 0-15% on every Linear shape (CPU time, one thread; worst at dX, K = 4096, where each thread
  // re-packed all of A).
  // op(A) = A^T is packed once N is large: read in place its panel is one line per k at a
  // stride of lda, which for a power-of-two lda maps every k to a few L1/L2 sets (the dW shapes
  // lost 10-15% without it). Below kPackAMinN columns too few B panels sweep the copy.
  // A narrow register tile (at most one cache line of C per row: AVX2's 6x16 float and 6x8
  // double, NEON, scalar) sweeps each A panel with several times more B panels, so op(A) = A^T
  // is packed at any N: on an AVX2 machine the dW shapes with N < 1024 gained up to 2x in
  // float64 (CPU time, one thread).
  // op(A) = A is packed for the narrow tile when its rows lie a page or more apart (lda of 4 KiB
  // and up): read in place, each of the mr rows is then its own page and, for a power-of-two
  // lda, its own conflict in the same L1 set. With a vectorised row-panel pack (kern.pack_rows)
  // that gained 2-5% in float32 and 4-9% in float64 on the fwd and dX shapes of bench_gemm.py
  // (AVX2 path, Zen 4, CPU time, one thread); with closer rows it measured within noise.
  const bool narrow_tile = int64_t(kern.nr) * int64_t(sizeof(T)) <= 64;
  const bool rows_a_page_apart = p.lda * int64_t(sizeof(T)) >= 4096;
  bl.pack_a = !small && (p.ta == Trans::Yes ? narrow_tile || p.N >= kPackAMinN
                                            : narrow_tile && kern.pack_rows != nullptr && rows_a_page_apart);
  // op(B) = B^T must be packed (the kernel wants rows of op(B) contiguous). op(B) = B is read in
  // place only when small: a B block read in place is kc row runs ldb apart, which thrash L2
  // sets and the TLB for a power-of-two ldb; the packed copy is one contiguous run.
  bl.pack_b = p.tb == Trans::Yes || !small;
  return bl;
}

// ---------------------------------------------------------------- packing buffers

// One grow-only, 64-byte aligned buffer per thread and operand, reused across calls, so the
// steady state allocates nothing. OpenMP keeps its worker threads alive, so these persist.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  template <typename T>
  T* reserve(int64_t count) {
    const size_t bytes = size_t(count) * sizeof(T);
    if (bytes > capacity_) {
      release();
      capacity_ = std::max(bytes, 2 * capacity_);
      data_ = ::operator new(capacity_, std::align_val_t(kAlignment));
    }
    return static_cast<T*>(data_);
  }

 private:
  static constexpr size_t kAlignment = 64;
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(kAlignment));
    data_ = nullptr;
    capacity_ = 0;
  }
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

struct PackWorkspace {
  AlignedBuffer a, b;
  AlignedBuffer shared_a;  // all of op(A), packed once for the whole team (gemm_dispatch)
};

PackWorkspace& thread_workspace() {
  thread_local PackWorkspace workspace;
  return workspace;
}

// op(A) = A^T: for each k, the mr values of a panel are contiguous in A row k. Walk k in the
// outer loop over a chunk of panels, so A is read row by row (whole cache lines, consecutive
// addresses) and the chunk's output lines stay in L1 while they fill. Walking a panel at a time
// instead reads one line per k at a stride of lda: for a power-of-two lda every k maps to the same
// L1 and L2 sets, and each line is refetched from L3 by every panel that shares it.
template <typename T>
void pack_a_block_transposed(const Problem<T>& p, int64_t i0, int64_t m, int64_t k0, int64_t kc, int mr, T* dst) {
  constexpr int64_t kChunkPanels = 32;  // output lines touched per k: a few KiB of L1
  for (int64_t chunk = 0; chunk < m; chunk += kChunkPanels * mr) {
    const int64_t chunk_end = std::min(m, chunk + kChunkPanels * mr);
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = p.A + (k0 + k) * p.lda + i0;
      for (int64_t panel = chunk; panel < chunk_end; panel += mr) {
        const int64_t rows = std::min<int64_t>(mr, m - panel);
        T* out = dst + panel * kc + k * mr;
        if (rows == 6) {  // the AVX tiles: a fixed-size copy the compiler inlines
          std::memcpy(out, src + panel, 6 * sizeof(T));
        } else if (rows == 8) {  // the NEON tiles
          std::memcpy(out, src + panel, 8 * sizeof(T));
        } else {
          for (int64_t r = 0; r < rows; ++r) out[r] = src[panel + r];
        }
      }
    }
  }
}

// Packs op(A)[i0 : i0+m, k0 : k0+kc] as micro-panels of mr rows, each k-major (mr values per k),
// so the kernel broadcasts consecutive addresses. A short last panel is not padded: the kernel
// reads only the rows it is told about.
template <typename T>
void pack_a_block(const Problem<T>& p, const MicroKernel<T>& kern, int64_t i0, int64_t m, int64_t k0, int64_t kc,
                  T* dst) {
  const int mr = kern.mr;
  if (p.ta == Trans::Yes) return pack_a_block_transposed(p, i0, m, k0, kc, mr, dst);
  for (int64_t panel = 0; panel < m; panel += mr) {
    const int rows = int(std::min<int64_t>(mr, m - panel));
    T* out = dst + panel * kc;
    if (kern.pack_rows) {
      kern.pack_rows(p.A + (i0 + panel) * p.lda + k0, p.lda, kc, rows, out);
      continue;
    }
    // op(A) rows are A rows: read each row along k, scatter into the panel.
    for (int r = 0; r < rows; ++r) {
      const T* src = p.A + (i0 + panel + r) * p.lda + k0;
      for (int64_t k = 0; k < kc; ++k) out[k * mr + r] = src[k];
    }
  }
}

// out[k * nr + j] = src[k * ldb + j] for k < kc, j < cols. A full panel copies a compile-time
// number of bytes per k, which the compiler turns into a few vector moves; a memcpy of a run-time
// size is a library call per k, which cost the float64 dX shapes (8-column panels) about 10%.
template <int NR, typename T>
void copy_full_panel(const T* src, int64_t ldb, int64_t kc, T* out) {
  for (int64_t k = 0; k < kc; ++k) std::memcpy(out + k * NR, src + k * ldb, NR * sizeof(T));
}

template <typename T>
void copy_panel_rows(const T* src, int64_t ldb, int64_t kc, int cols, int nr, T* out) {
  if (cols == nr) {
    switch (nr) {  // the register tiles' widths (micro_kernel_for)
      case 6: return copy_full_panel<6>(src, ldb, kc, out);
      case 8: return copy_full_panel<8>(src, ldb, kc, out);
      case 12: return copy_full_panel<12>(src, ldb, kc, out);
      case 16: return copy_full_panel<16>(src, ldb, kc, out);
      case 32: return copy_full_panel<32>(src, ldb, kc, out);
      case 64: return copy_full_panel<64>(src, ldb, kc, out);
      default: break;
    }
  }
  for (int64_t k = 0; k < kc; ++k) std::memcpy(out + k * nr, src + k * ldb, cols * sizeof(T));
}

// op(B) = B into panels of NR columns, walking k in the outer loop: row k of the block is one
// contiguous run of n values, cut into the panels' k-th rows. Panel by panel instead, a panel
// of a narrow tile (one cache line per k) reads one line per k at a stride of ldb, each from its
// own page and, for a power-of-two ldb, all in the same L1 set; the row walk reads whole rows
// that the hardware prefetcher follows (AVX2 path, Zen 4, CPU time, one thread: the float32 dX
// shape 512x4096x4096 went from 0.94-0.95x to 0.96-0.98x OpenBLAS's Haswell kernels, the float64
// dX shapes gained 0-4%, the others measured within noise). The values and their places are the
// same as the panel-by-panel copy's, so no result changes.
//
// prefetch_rows (the rows come from beyond L2): the row kPackPrefetchRows ahead is requested
// while this one is copied. The rows lie ldb apart, each on its own page for the 4096-wide
// layers, a stride the hardware prefetcher follows late; the float32 dX and dW shapes with
// 4096-wide B gained 1-4% (AVX2 path, Zen 4 with a 1 MiB L2, one thread, interleaved A/B runs),
// while B blocks from L2 lost about 1%, so they go without. On a Xeon with a 2 MiB L2 the same
// prefetch cost 4% (float64 dX and dW 512x4096x4096, float32 dX), so it is used only where L2
// is at most 1 MiB.
constexpr int64_t kPackPrefetchRows = 4;

template <int NR, typename T>
void pack_b_rows_across_panels(const T* src, int64_t ldb, int64_t kc, int64_t n, T* dst, bool prefetch_rows) {
  const int64_t full = n / NR * NR;
  for (int64_t k = 0; k < kc; ++k) {
    const T* row = src + k * ldb;
    if (prefetch_rows && k + kPackPrefetchRows < kc) {
      const T* ahead = row + kPackPrefetchRows * ldb;
      for (int64_t j = 0; j < n; j += 64 / int64_t(sizeof(T))) __builtin_prefetch(ahead + j, 0, 0);
    }
    T* out = dst + k * NR;  // panel j starts at dst + j * kc
    for (int64_t j = 0; j < full; j += NR) std::memcpy(out + j * kc, row + j, NR * sizeof(T));
    for (int64_t j = full; j < n; ++j) out[full * kc + (j - full)] = row[j];
  }
}

// Packs op(B)[k0 : k0+kc, j0 : j0+n] as panels of nr columns, each a kc x nr row-major block.
// A short last panel keeps the nr stride and is not padded (the kernel masks its columns).
template <typename T>
void pack_b_block(const Problem<T>& p, const MicroKernel<T>& kern, int64_t k0, int64_t kc, int64_t j0, int64_t n,
                  T* dst) {
  const int nr = kern.nr;
  // Narrow tiles (a panel row of at most one cache line) take the row walk when the block spans
  // several panels; wider panels already read several lines of a row per k.
  if (p.tb == Trans::No && n > nr) {
    const T* src = p.B + k0 * p.ldb + j0;
    // B spans several L2s: its rows come from L3 or memory.
    const bool prefetch_rows =
        cache_sizes().l2 <= (int64_t(1) << 20) && p.K * p.ldb * int64_t(sizeof(T)) > 4 * cache_sizes().l2;
    if (nr * sizeof(T) == 64) {
      if constexpr (sizeof(T) == 4) return pack_b_rows_across_panels<16>(src, p.ldb, kc, n, dst, prefetch_rows);
      if constexpr (sizeof(T) == 8) return pack_b_rows_across_panels<8>(src, p.ldb, kc, n, dst, prefetch_rows);
    }
  }
  for (int64_t panel = 0; panel < n; panel += nr) {
    const int cols = int(std::min<int64_t>(nr, n - panel));
    T* out = dst + panel * kc;
    if (p.tb == Trans::Yes && kern.pack_transposed) {
      kern.pack_transposed(p.B + (j0 + panel) * p.ldb + k0, p.ldb, kc, cols, out, nr);
    } else if (p.tb == Trans::No) {
      copy_panel_rows(p.B + k0 * p.ldb + (j0 + panel), p.ldb, kc, cols, nr, out);
    } else {
      // op(B) = B^T: each column of the panel is a contiguous run of a B row.
      for (int j = 0; j < cols; ++j) {
        const T* src = p.B + (j0 + panel + j) * p.ldb + k0;
        for (int64_t k = 0; k < kc; ++k) out[k * nr + j] = src[k];
      }
    }
  }
}

// ---------------------------------------------------------------- thread threshold

// The work below which a GEMM stays on one thread, measured once per element type on the machine
// it runs on instead of fixed for one. Cutting W flop over T threads saves W / rate * (1 - 1/T)
// and costs one fork/join, so the split pays from W = fork_join * rate * T / (T - 1); twice that is
// used, as a split never scales perfectly (each thread packs its own part of B, the threads share
// L3 and memory bandwidth) and a barrier waits for the slower thread. Both inputs are timed at the
// first GEMM that could split:
//   fork_join  an empty parallel region of the team, the fastest of several after a warm-up (the
//              first region starts the threads), so a try that the OS preempted does not count;
//   rate       the micro-kernel on an L1-resident tile (packed A panel, B panel, C tile), one thread.
// On the machines this was tuned on (Zen 4, 2 cores: fork/join 1-2 us, about 110 GFLOP/s float and
// 55 double per core) that gives 0.25-0.5 MFLOP in double and twice that in float. The result is
// clamped to [kParallelMinFlopFloor, kParallelMinFlopCeiling]: a measurement taken while another
// process holds a core reads a long fork/join, and the ceiling keeps that from disabling threads
// for the process's lifetime. The thread count never changes a result bit (see gemm_dispatch), so
// neither does this threshold.
constexpr double kParallelMinFlopFloor = 0.25e6;
constexpr double kParallelMinFlopCeiling = 8.0e6;

double fork_join_seconds(int threads) {
  using Clock = std::chrono::steady_clock;
  std::atomic<int> sink{0};
  double fastest = 1.0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const auto start = Clock::now();
#pragma omp parallel num_threads(threads)
    sink.fetch_add(1, std::memory_order_relaxed);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (attempt >= 2) fastest = std::min(fastest, seconds);  // the first two start and wake the team
  }
  return fastest;
}

template <typename T>
double micro_kernel_flop_per_second(const MicroKernel<T>& kern) {
  using Clock = std::chrono::steady_clock;
  constexpr int64_t kDepth = 256;  // A panel + B panel + C tile: at most 6 * 256 + 256 * 64 + 6 * 64 values
  AlignedBuffer a_buffer, b_buffer, c_buffer;
  T* a = a_buffer.reserve<T>(int64_t(kern.mr) * kDepth);
  T* b = b_buffer.reserve<T>(kDepth * int64_t(kern.nr));
  T* c = c_buffer.reserve<T>(int64_t(kern.mr) * kern.nr);
  std::fill(a, a + int64_t(kern.mr) * kDepth, T(0.5));
  std::fill(b, b + kDepth * int64_t(kern.nr), T(0.25));
  std::fill(c, c + int64_t(kern.mr) * kern.nr, T(0));
  double fastest = 1.0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    constexpr int kCalls = 8;
    const auto start = Clock::now();
    for (int call = 0; call < kCalls; ++call)
      kern.tile(kDepth, a, 1, kern.mr, b, kern.nr, c, kern.nr, kern.mr, kern.nr, call > 0);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / kCalls;
    if (attempt >= 1) fastest = std::min(fastest, seconds);  // the first one warms caches and the clock
  }
  return 2.0 * double(kern.mr) * double(kern.nr) * double(kDepth) / std::max(fastest, 1e-9);
}

template <typename T>
double measure_parallel_min_flop(const MicroKernel<T>& kern, int threads) {
  const double split_pays_from =
      fork_join_seconds(threads) * micro_kernel_flop_per_second(kern) * double(threads) / double(threads - 1);
  return std::clamp(2.0 * split_pays_from, kParallelMinFlopFloor, kParallelMinFlopCeiling);
}

// Measured at the first call with more than one thread available, with the team size of that
// call; kept for the process (the kernel and the fork/join cost change little with the team).
template <typename T>
double parallel_min_flop(const MicroKernel<T>& kern, int threads) {
  static const double measured = measure_parallel_min_flop(kern, std::max(threads, 2));
  return measured;
}

// ---------------------------------------------------------------- the blocked driver

// Panels keep their full mr / nr stride even when short, so packed extents are rounded up.
constexpr int64_t round_up(int64_t x, int64_t unit) { return (x + unit - 1) / unit * unit; }

// Where block (ic, pc) of op(A) lies in a copy of all of op(A) packed ahead (prepack_a_rows):
// the ic blocks one after another, each its k blocks one after another (m rows rounded up to
// mr, times kc). mc is a multiple of mr, so the ic blocks before row ic hold ic * K values.
int64_t prepacked_a_offset(int64_t ic, int64_t m, int64_t pc, int64_t K, int mr) {
  return ic * K + round_up(m, mr) * pc;
}

// Packs the panels of op(A) rows [r0, r1) (multiples of mr, or M) of every (ic, pc) block
// into `dst`, laid out as prepacked_a_offset says. The threads of a team each call it for their
// own rows; the copy is the same whoever packs which panel.
template <typename T>
void prepack_a_rows(const Problem<T>& p, const MicroKernel<T>& kern, const Blocking& bl, int64_t r0, int64_t r1,
                    T* dst) {
  for (int64_t ic = 0; ic < p.M; ic += bl.mc) {
    const int64_t m = std::min(bl.mc, p.M - ic);
    const int64_t lo = std::max(r0, ic), hi = std::min(r1, ic + m);
    if (lo >= hi) continue;
    for (int64_t pc = 0; pc < p.K; pc += bl.kc) {
      const int64_t kc = std::min(bl.kc, p.K - pc);
      T* block = dst + prepacked_a_offset(ic, m, pc, p.K, kern.mr);
      pack_a_block(p, kern, lo, hi - lo, pc, kc, block + (lo - ic) * kc);
    }
  }
}

// Computes C[m0:m1, n0:n1] completely (all of K), so threads that own disjoint rectangles never
// touch each other's output. prepacked_a (or null): all of op(A), packed by prepack_a_rows, for
// rectangles that span every row (m0 == 0, m1 == M).
template <typename T>
void run_rectangle(const Problem<T>& p, const MicroKernel<T>& kern, const Blocking& bl, int64_t m0, int64_t m1,
                   int64_t n0, int64_t n1, const T* prepacked_a = nullptr) {
  PackWorkspace& ws = thread_workspace();
  const int mr = kern.mr, nr = kern.nr;
  T* packed_a = bl.pack_a && !prepacked_a ? ws.a.reserve<T>(round_up(std::min(bl.mc, m1 - m0), mr) * bl.kc) : nullptr;
  T* packed_b = bl.pack_b ? ws.b.reserve<T>(round_up(std::min(bl.nc, n1 - n0), nr) * bl.kc) : nullptr;

  for (int64_t ic = m0; ic < m1; ic += bl.mc) {
    const int64_t m = std::min(bl.mc, m1 - ic);
    for (int64_t pc = 0; pc < p.K; pc += bl.kc) {
      const int64_t kc = std::min(bl.kc, p.K - pc);
      const bool accumulate = p.accumulate || pc > 0;
      const bool last_k_block = pc + kc >= p.K;

      const T* a_block;
      int64_t a_row_stride, a_k_stride;
      if (prepacked_a) {
        a_block = prepacked_a + prepacked_a_offset(ic, m, pc, p.K, mr);
        a_row_stride = 1;
        a_k_stride = mr;
      } else if (bl.pack_a) {
        pack_a_block(p, kern, ic, m, pc, kc, packed_a);
        a_block = packed_a;
        a_row_stride = 1;
        a_k_stride = mr;
      } else {
        a_row_stride = p.a_row_stride();
        a_k_stride = p.a_k_stride();
        a_block = p.A + ic * a_row_stride + pc * a_k_stride;
      }
      // Distance between consecutive mr-row panels of A.
      const int64_t a_panel_step = bl.pack_a ? int64_t(mr) * kc : int64_t(mr) * a_row_stride;

      for (int64_t jc = n0; jc < n1; jc += bl.nc) {
        const int64_t n = std::min(bl.nc, n1 - jc);
        const T* b_block;
        int64_t b_k_stride, b_panel_step;
        if (bl.pack_b) {
          pack_b_block(p, kern, pc, kc, jc, n, packed_b);
          b_block = packed_b;
          b_k_stride = nr;
          b_panel_step = int64_t(nr) * kc;
        } else {
          b_block = p.B + pc * p.ldb + jc;
          b_k_stride = p.ldb;
          b_panel_step = nr;
        }

        for (int64_t ir = 0; ir < m; ir += mr) {
          const int rows = int(std::min<int64_t>(mr, m - ir));
          const T* a_panel = a_block + (ir / mr) * a_panel_step;
          T* c_row = p.C + (ic + ir) * p.ldc + jc;
          for (int64_t jr = 0; jr < n; jr += nr) {
            const int cols = int(std::min<int64_t>(nr, n - jr));
            kern.tile(kc, a_panel, a_row_stride, a_k_stride, b_block + (jr / nr) * b_panel_step, b_k_stride, c_row + jr,
                      p.ldc, rows, cols, accumulate);
          }
          // The strip (rows x n, at most mr x nc: tens of KiB) was just written: finish
          // it while it is in L1/L2 instead of in a later pass over all of C.
          if (last_k_block && p.epilogue.apply) p.epilogue.apply(p.epilogue.ctx, c_row, p.ldc, ic + ir, jc, rows, n);
        }
      }
    }
  }
}

// Splits C into a grid of tn x tm rectangles for `threads` threads: columns first (each thread
// then packs only its own part of B, and A is read in place), rows only when the columns run out.
// rows_first (A is packed and M >= N, the dW shapes): rows first, so each thread packs only its
// rows of A and the duplicated copy is the smaller operand, B (dW 4096x1024x512: +5-10%). A rectangle is a whole
// number of micro-tiles, so no thread count changes how C is tiled in a way that matters.
struct Grid {
  int tn, tm;
};

// split_rows == false keeps every column on one thread (an epilogue that sums over rows).
Grid choose_grid(int64_t M, int64_t N, int mr, int nr, int threads, bool split_rows, bool rows_first) {
  auto fitting = [](int64_t tiles, int want) {
    int t = int(std::max<int64_t>(1, std::min<int64_t>(want, tiles)));
    while (want % t != 0) --t;
    return t;
  };
  // A column slice narrower than two register tiles wastes the A packing it repeats.
  if (split_rows && rows_first) {
    const int tm = fitting(M / (2 * int64_t(mr)), threads);
    return {fitting(N / (2 * int64_t(nr)), threads / tm), tm};
  }
  const int tn = fitting(N / (2 * int64_t(nr)), threads);
  const int tm = split_rows ? fitting(M / (2 * int64_t(mr)), threads / tn) : 1;
  return {tn, tm};
}

// The [begin, end) share of `part` out of `parts` for a length cut at multiples of `unit`.
void share(int64_t length, int64_t unit, int part, int parts, int64_t& begin, int64_t& end) {
  const int64_t units = (length + unit - 1) / unit;
  begin = std::min(length, units * part / parts * unit);
  end = std::min(length, units * (part + 1) / parts * unit);
}

// Plain loops for tiny vector-like problems, with the same per-element contract as the tiles:
// each C(i, j) starts at 0 (or C) and adds op(A)(i, k) * op(B)(k, j) in increasing k.
// Single-threaded and independent of the ISA, so as deterministic as the tiled path.
//   N == 1: dot products, four rows at a time so four independent sums hide the add latency.
//   K == 1: an outer product, one row of C at a time.
// (M == 1 stays on the tiles: there one tile row already vectorises along N.)
template <typename T>
void run_direct(const Problem<T>& p) {
  const int64_t a_row_stride = p.a_row_stride(), a_k_stride = p.a_k_stride();
  const int64_t b_k_stride = p.tb == Trans::No ? p.ldb : 1;  // op(B)(k, j) = B[k * b_k_stride + j * b_j_stride]
  const int64_t b_j_stride = p.tb == Trans::No ? 1 : p.ldb;
  const T* __restrict b = p.B;
  if (p.N == 1) {
    constexpr int kRows = 4;
    int64_t i = 0;
    for (; i + kRows <= p.M; i += kRows) {
      T sum[kRows];
      for (int r = 0; r < kRows; ++r) sum[r] = p.accumulate ? p.C[(i + r) * p.ldc] : T(0);
      const T* __restrict a = p.A + i * a_row_stride;
      for (int64_t k = 0; k < p.K; ++k) {
        const T bk = b[k * b_k_stride];
        for (int r = 0; r < kRows; ++r) sum[r] += a[r * a_row_stride + k * a_k_stride] * bk;
      }
      for (int r = 0; r < kRows; ++r) p.C[(i + r) * p.ldc] = sum[r];
    }
    for (; i < p.M; ++i) {
      T sum = p.accumulate ? p.C[i * p.ldc] : T(0);
      const T* __restrict a = p.A + i * a_row_stride;
      for (int64_t k = 0; k < p.K; ++k) sum += a[k * a_k_stride] * b[k * b_k_stride];
      p.C[i * p.ldc] = sum;
    }
  } else {  // K == 1
    for (int64_t i = 0; i < p.M; ++i) {
      const T a = p.A[i * a_row_stride];
      T* __restrict c = p.C + i * p.ldc;
      if (p.accumulate) {
        for (int64_t j = 0; j < p.N; ++j) c[j] += a * b[j * b_j_stride];
      } else {
        for (int64_t j = 0; j < p.N; ++j) c[j] = T(0) + a * b[j * b_j_stride];
      }
    }
  }
  if (p.epilogue.apply) p.epilogue.apply(p.epilogue.ctx, p.C, p.ldc, 0, 0, p.M, p.N);
}

template <typename T>
void gemm_dispatch(const Problem<T>& p) {
  if (p.M <= 0 || p.N <= 0) return;
  if (p.K <= 0) {
    if (!p.accumulate) {
      for (int64_t i = 0; i < p.M; ++i) std::fill(p.C + i * p.ldc, p.C + i * p.ldc + p.N, T(0));
    }
    if (p.epilogue.apply) p.epilogue.apply(p.epilogue.ctx, p.C, p.ldc, 0, 0, p.M, p.N);
    return;
  }
  if ((p.N == 1 || p.K == 1) && p.M * p.N * p.K <= kDirectMaxMacs) {
    run_direct(p);
    return;
  }
  const MicroKernel<T> kern = micro_kernel_for<T>(active_isa());
  Blocking bl = choose_blocking(p, kern);

  const double flop = 2.0 * double(p.M) * double(p.N) * double(p.K);
  const int available_threads = omp_get_max_threads();
  // The floor test first: the seed-sized calls never wait for the one-time measurement.
  const bool worth_splitting =
      available_threads > 1 && flop >= kParallelMinFlopFloor && flop >= parallel_min_flop(kern, available_threads);
  const int max_threads = worth_splitting ? available_threads : 1;
  const bool split_rows = !p.epilogue.sums_over_rows;
  const bool rows_first = bl.pack_a && p.M >= p.N;
  const Grid grid = choose_grid(p.M, p.N, kern.mr, kern.nr, max_threads, split_rows, rows_first);
  const int threads = grid.tn * grid.tm;
  if (threads <= 1) {
    run_rectangle(p, kern, bl, 0, p.M, 0, p.N);
    return;
  }
  // op(A) = A^T (the dW products) cut by columns only: every piece spans all rows and would
  // pack all of op(A) again, for dW 512x784x256 eight copies of its 512 KiB. Instead the team
  // packs it once, each thread a share of its panels, into one buffer every piece then reads:
  // dW 512x784x256 gained 14-17% and dW 256x784x128 7-10%, float32 and float64 (AVX2 path,
  // Xeon, two threads, interleaved A/B runs). The copy holds the values and places the
  // per-piece packs held, so no result bit changes. Bounded by kSharedPackAMaxBytes.
  // op(A) = A is packed (choose_blocking) only to keep its rows out of each other's L1 sets, a
  // gain of a few percent that a re-pack per piece more than spends, so the pieces read it in
  // place; a shared pack of it measured -5% to +4% across the fwd and dX shapes, so it is not used.
  const bool cut_rows = split_rows && rows_first;
  if (p.ta == Trans::No && !cut_rows) bl.pack_a = false;
  const int64_t shared_a_values = round_up(p.M, kern.mr) * p.K;  // all of op(A), panels rounded up
  const bool share_packed_a = bl.pack_a && p.ta == Trans::Yes && !cut_rows && grid.tm == 1 &&
                              shared_a_values * int64_t(sizeof(T)) <= kSharedPackAMaxBytes;
  T* shared_a = share_packed_a ? thread_workspace().shared_a.reserve<T>(shared_a_values) : nullptr;
  // Dynamic schedule: the grid's cut along its split dimension is refined into
  // kChunksPerThread pieces per thread, and the threads take rectangles from a shared counter.
  // On this shared two-core machine another tenant often holds one core for milliseconds; with
  // a static split the whole call then waits for the preempted thread, while here the other
  // thread takes over its remaining pieces. A piece is a whole number of register tiles and
  // computes all of K, so the schedule changes no result bit (gemm_kernels.h). Cutting N costs
  // nothing extra (A is read in place, each B column is packed once); cutting M (rows_first,
  // A packed) re-packs B once per piece, a few percent at most for the shapes that choose it.
  std::atomic<int> next_piece{0};
#pragma omp parallel num_threads(threads)
  {
    // The runtime may grant fewer threads than asked (nested regions): re-cut for the team.
    const int team = omp_get_num_threads();
    const Grid g = team == threads ? grid : choose_grid(p.M, p.N, kern.mr, kern.nr, team, split_rows, rows_first);
    constexpr int64_t kChunksPerThread = 4;
    // A team smaller than asked may have re-cut its rows (g.tm > 1): then every piece packs its own.
    const T* team_a = shared_a && g.tm == 1 ? shared_a : nullptr;
    if (team_a) {
      int64_t r0, r1;
      share(p.M, kern.mr, omp_get_thread_num(), team, r0, r1);
      prepack_a_rows(p, kern, bl, r0, r1, shared_a);
#pragma omp barrier  // team_a is the same for every thread of the team, so all of them meet here
    }
    int64_t pieces_n = g.tn, pieces_m = g.tm;
    if (cut_rows) {
      pieces_m = std::max<int64_t>(g.tm, std::min<int64_t>(g.tm * kChunksPerThread, p.M / (2 * kern.mr)));
    } else {
      pieces_n = std::max<int64_t>(g.tn, std::min<int64_t>(g.tn * kChunksPerThread, p.N / (2 * kern.nr)));
    }
    const int pieces = int(pieces_n * pieces_m);
    if (omp_get_thread_num() < g.tn * g.tm) {
      for (int piece = next_piece.fetch_add(1, std::memory_order_relaxed); piece < pieces;
           piece = next_piece.fetch_add(1, std::memory_order_relaxed)) {
        int64_t n0, n1, m0, m1;
        share(p.N, kern.nr, int(piece % pieces_n), int(pieces_n), n0, n1);
        share(p.M, kern.mr, int(piece / pieces_n), int(pieces_m), m0, m1);
        if (n0 < n1 && m0 < m1) run_rectangle(p, kern, bl, m0, m1, n0, n1, team_a);
      }
    }
  }
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(isa_slot().load(std::memory_order_relaxed)); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Neon: return "neon";
    case Isa::Scalar: return "scalar";
  }
  return "unknown";
}

void set_isa_for_testing(Isa isa) { isa_slot().store(static_cast<int>(clamp_to_supported(isa))); }

template <typename T>
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate) {
  gemm_dispatch(Problem<T>{ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate, GemmEpilogue<T>{}});
}

template <typename T>
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate, const GemmEpilogue<T>& epilogue) {
  gemm_dispatch(Problem<T>{ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate, epilogue});
}

template <typename T>
double gemm_parallel_min_flop() {
  return parallel_min_flop(micro_kernel_for<T>(active_isa()), omp_get_max_threads());
}

// The oracle: a plain triple loop, summed in double (long double for double) so that it is more
// accurate than any path it checks.
template <typename T>
void gemm_reference(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                    int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  using Wide = std::conditional_t<std::is_same_v<T, float>, double, long double>;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      Wide sum = accumulate ? Wide(C[i * ldc + j]) : Wide(0);
      for (int64_t k = 0; k < K; ++k) {
        const T a = ta == Trans::No ? A[i * lda + k] : A[k * lda + i];
        const T b = tb == Trans::No ? B[k * ldb + j] : B[j * ldb + k];
        sum += Wide(a) * Wide(b);
      }
      C[i * ldc + j] = T(sum);
    }
  }
}

template void gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                          int64_t, bool);
template void gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                           double*, int64_t, bool);
template void gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                          int64_t, bool, const GemmEpilogue<float>&);
template void gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                           double*, int64_t, bool, const GemmEpilogue<double>&);
template double gemm_parallel_min_flop<float>();
template double gemm_parallel_min_flop<double>();
template void gemm_reference<float>(Trans, Trans, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                    int64_t, float*, int64_t, bool);
template void gemm_reference<double>(Trans, Trans, int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                     int64_t, double*, int64_t, bool);

}  // namespace chainrule::cpu
