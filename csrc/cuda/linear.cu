// The linear layer on cuBLASLt (the twin of csrc/cpu/linear.cpp), with cuBLASLt's epilogues fusing
// the bias, ReLU / GELU(tanh) and the bias gradient into the GEMM where it offers them, and our
// epilogue kernels (dense.cu) wherever it does not.
//
// cuBLAS is column-major; our matrices are row-major. A row-major (r, c) matrix is the column-major
// (c, r) matrix with the same memory, so each row-major product below is computed as its transpose:
//   out (B, OC) = inp W^T        <=>  out^T (OC, B)  = W (OC, C)   . inp^T (C, B)
//   dinp (B, C) = dout W         <=>  dinp^T (C, B)  = W^T (C, OC) . dout^T (OC, B)
//   dW (OC, C)  = dout^T inp     <=>  dW^T (C, OC)   = inp^T (C, B) . dout (B, OC)
// Float32 GEMMs compute in float32 (CUBLAS_COMPUTE_32F, no TF32), float64 in float64, so results
// agree with the CPU to rounding.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"

namespace chainrule::cuda {

namespace {

// cuBLASLt's handle and the workspace its algorithms may use: one per process, made on first use.
// (A multi-device caller would want one per device; nothing here picks a device yet.)
constexpr size_t kLtWorkspaceBytes = size_t(32) << 20;  // NVIDIA's advice for Hopper

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer<unsigned char> workspace;
};

LtContext& lt_context() {
  static LtContext* ctx = [] {
    auto* c = new LtContext;  // never freed: the CUDA context may be gone before static destructors run
    CHAINRULE_CUDA_CHECK(cublasLtCreate(&c->handle));
    c->workspace = DeviceBuffer<unsigned char>(static_cast<int64_t>(kLtWorkspaceBytes));
    return c;
  }();
  return *ctx;
}

template <typename T>
struct LtTypes;
template <>
struct LtTypes<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
};
template <>
struct LtTypes<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_64F;
};

// Owning wrappers for cuBLASLt's descriptors.
struct MatmulDescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* d) const { cublasLtMatrixLayoutDestroy(d); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* d) const { cublasLtMatmulPreferenceDestroy(d); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, MatmulDescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

template <typename T>
Layout make_layout(uint64_t rows, uint64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  CHAINRULE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&layout, LtTypes<T>::data, rows, cols, ld));
  return Layout(layout);
}

// The largest power of two, at most 256 bytes, that divides the address: cuBLASLt's minimum-
// alignment preferences default to 256 bytes, which excludes every algorithm for a pointer that is
// less aligned (a slice of a parameter arena, a sub-batch), so each call states its pointers' own.
uint32_t alignment_of(const void* p) {
  constexpr uintptr_t kMaxAlignment = 256;
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  if (address == 0) return kMaxAlignment;
  return static_cast<uint32_t>(std::min(address & (~address + 1), kMaxAlignment));  // lowest set bit
}

// Statuses with which cuBLASLt turns down a request before running anything: a fused epilogue
// refused so falls back to our own kernels. Any other failure (an execution or allocation failure,
// a lost context) is an error.
bool is_refusal(cublasStatus_t status) {
  return status == CUBLAS_STATUS_NOT_SUPPORTED || status == CUBLAS_STATUS_INVALID_VALUE ||
         status == CUBLAS_STATUS_ARCH_MISMATCH;
}

const char* epilogue_name(cublasLtEpilogue_t epilogue) {
  switch (epilogue) {
    case CUBLASLT_EPILOGUE_BIAS: return "bias";
    case CUBLASLT_EPILOGUE_RELU: return "relu";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "relu_bias";
    case CUBLASLT_EPILOGUE_GELU: return "gelu";
    case CUBLASLT_EPILOGUE_GELU_BIAS: return "gelu_bias";
    case CUBLASLT_EPILOGUE_BGRADB: return "bgradb";
    default: return "none";
  }
}

// The process-wide record behind epilogue_tally(): one entry per (site, epilogue, type).
struct TallyBook {
  std::mutex mutex;
  std::vector<EpilogueTally> entries;
};
TallyBook& tally_book() {
  static TallyBook* book = new TallyBook;  // never freed, like the cuBLASLt context
  return *book;
}

template <typename T>
EpilogueRun record(const char* site, EpilogueRun run) {
  if (std::string_view(run.epilogue) == "none") return run;
  const char* dtype = std::is_same_v<T, float> ? "float32" : "float64";
  TallyBook& book = tally_book();
  std::lock_guard<std::mutex> lock(book.mutex);
  auto it = std::find_if(book.entries.begin(), book.entries.end(), [&](const EpilogueTally& e) {
    return e.site == site && e.epilogue == run.epilogue && e.dtype == dtype;
  });
  if (it == book.entries.end()) it = book.entries.insert(book.entries.end(), EpilogueTally{site, run.epilogue, dtype});
  if (run.fused) {
    ++it->fused;
  } else {
    ++it->fallback;
    it->last_refusal = run.refusal;
  }
  return run;
}

// Column-major D (m, n, ldd) = op(A) (m, k) . op(B) (k, n), then `epilogue` with `bias` (the bias
// added, or for BGRADB the bias gradient written). With an epilogue, returns cuBLASLt's refusal
// (an is_refusal status, or "no algorithm"), having done nothing, so the caller can run its own;
// returns "" when the GEMM ran. Throws on any other failure, and on any failure of a plain GEMM.
template <typename T>
std::string lt_matmul(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, const T* A,
                      int64_t lda, const T* B, int64_t ldb, T* D, int64_t ldd, cublasLtEpilogue_t epilogue,
                      const void* bias, cudaStream_t stream) {
  LtContext& ctx = lt_context();
  const bool fused = epilogue != CUBLASLT_EPILOGUE_DEFAULT;
  cublasLtMatmulDesc_t raw_desc = nullptr;
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescCreate(&raw_desc, LtTypes<T>::compute, LtTypes<T>::data));
  MatmulDesc desc(raw_desc);
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  // Setting an epilogue or a bias pointer may itself be refused for this type.
  if (fused) {
    cublasStatus_t status =
        cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue));
    if (status == CUBLAS_STATUS_SUCCESS && bias)
      status = cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
    if (is_refusal(status)) return cublas_status_name(status);
    CHAINRULE_CUDA_CHECK(status);
  }

  // Stored shapes: op = T means the stored matrix is the transpose of the operand.
  Layout a_layout = ta == CUBLAS_OP_N ? make_layout<T>(m, k, lda) : make_layout<T>(k, m, lda);
  Layout b_layout = tb == CUBLAS_OP_N ? make_layout<T>(k, n, ldb) : make_layout<T>(n, k, ldb);
  Layout d_layout = make_layout<T>(m, n, ldd);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  CHAINRULE_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
  Preference pref(raw_pref);
  const size_t workspace_bytes = kLtWorkspaceBytes;
  CHAINRULE_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &workspace_bytes, sizeof(workspace_bytes)));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, A},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, B},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, D},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, D}};
  for (const auto& [attribute, pointer] : alignments) {
    const uint32_t bytes = alignment_of(pointer);
    CHAINRULE_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.get(), attribute, &bytes, sizeof(bytes)));
  }

  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(ctx.handle, desc.get(), a_layout.get(), b_layout.get(), d_layout.get(),
                                     d_layout.get(), pref.get(), 1, &heuristic, &found);
  if (fused && is_refusal(status)) return cublas_status_name(status);
  CHAINRULE_CUDA_CHECK(status);
  if (found == 0) {
    if (fused) return "no algorithm";
    throw_cuda_error("cublasLtMatmulAlgoGetHeuristic", "no algorithm for this GEMM", __FILE__, __LINE__);
  }

  const T alpha = T(1), beta = T(0);
  const cublasStatus_t run =
      cublasLtMatmul(ctx.handle, desc.get(), &alpha, A, a_layout.get(), B, b_layout.get(), &beta, D, d_layout.get(), D,
                     d_layout.get(), &heuristic.algo, ctx.workspace.get(), workspace_bytes, stream);
  if (fused && is_refusal(run)) return cublas_status_name(run);
  CHAINRULE_CUDA_CHECK(run);
  return {};
}

template <typename T>
void zero(T* p, int64_t n, cudaStream_t stream) {
  if (n > 0) CHAINRULE_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(T) * n, stream));
}

// A GEMM with `epilogue` (not DEFAULT): whether cuBLASLt ran it, and if not, why.
template <typename T, typename Gemm>
EpilogueRun try_epilogue(cublasLtEpilogue_t epilogue, Gemm gemm) {
  EpilogueRun run;
  run.epilogue = epilogue_name(epilogue);
  run.refusal = gemm(epilogue);
  run.fused = run.refusal.empty();
  return run;
}

// out^T (OC, B) = W (OC, C) . inp^T (C, B), with `epilogue`; "" or cuBLASLt's refusal (lt_matmul).
template <typename T>
std::string forward_gemm(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                         cublasLtEpilogue_t epilogue, cudaStream_t stream) {
  return lt_matmul<T>(CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, weight, C, inp, C, out, OC, epilogue, bias, stream);
}

// dense_forward, without recording the path it took.
template <typename T>
EpilogueRun dense_forward_untallied(T* a, T* z, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C,
                                    int64_t OC, Activation act, double param, double param2, bool lt_epilogue,
                                    cudaStream_t stream) {
  if (B <= 0 || OC <= 0) return {};
  if (C <= 0) {  // an empty product: cuBLASLt refuses k = 0, and the answer is act(bias)
    zero(a, B * OC, stream);
    cuda::bias_activation_forward<T>(a, z, bias, B, OC, act, param, param2, stream);
    return {};
  }
  // The epilogue cuBLASLt can fuse for this case, if any. Its GELU is the tanh approximation
  // (cuBLASLt docs, cublasLtEpilogue_t), so only GeluTanh maps to it. With z wanted, the
  // pre-activation has to be stored, which our kernel does.
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool fused_act = false;
  if (lt_epilogue && !z) {
    if (act == Activation::Relu) {
      epilogue = bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
      fused_act = true;
    } else if (act == Activation::GeluTanh) {
      epilogue = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
      fused_act = true;
    } else if (bias) {
      epilogue = CUBLASLT_EPILOGUE_BIAS;
    }
  } else if (lt_epilogue && bias) {
    epilogue = CUBLASLT_EPILOGUE_BIAS;
  }
  EpilogueRun run;
  if (epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    run = try_epilogue<T>(
        epilogue, [&](cublasLtEpilogue_t e) { return forward_gemm<T>(a, inp, weight, bias, B, C, OC, e, stream); });
    if (run.fused) {
      if (!fused_act)
        cuda::bias_activation_forward<T>(a, z, nullptr, B, OC, act, param, param2, stream);  // bias already in
      return run;
    }
  }
  forward_gemm<T>(a, inp, weight, nullptr, B, C, OC, CUBLASLT_EPILOGUE_DEFAULT, stream);
  cuda::bias_activation_forward<T>(a, z, bias, B, OC, act, param, param2, stream);
  return run;
}

}  // namespace

std::vector<EpilogueTally> epilogue_tally() {
  TallyBook& book = tally_book();
  std::lock_guard<std::mutex> lock(book.mutex);
  return book.entries;
}

void reset_epilogue_tally() {
  TallyBook& book = tally_book();
  std::lock_guard<std::mutex> lock(book.mutex);
  book.entries.clear();
}

template <typename T>
EpilogueRun linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                           cudaStream_t stream) {
  return record<T>("linear_forward", dense_forward_untallied<T>(out, nullptr, inp, weight, bias, B, C, OC,
                                                                Activation::Identity, 0.0, 0.0, true, stream));
}

template <typename T>
EpilogueRun dense_forward(T* a, T* z, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                          Activation act, double param, double param2, bool lt_epilogue, cudaStream_t stream) {
  return record<T>("dense_forward", dense_forward_untallied<T>(a, z, inp, weight, bias, B, C, OC, act, param, param2,
                                                               lt_epilogue, stream));
}

template <typename T>
EpilogueRun linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B,
                            int64_t C, int64_t OC, bool lt_epilogue, cudaStream_t stream) {
  // dinp^T (C, B) = W^T (C, OC) . dout^T (OC, B)
  if (dinp && B > 0 && C > 0) {
    if (OC > 0)
      lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, weight, C, dout, OC, dinp, C, CUBLASLT_EPILOGUE_DEFAULT, nullptr,
                   stream);
    else
      zero(dinp, B * C, stream);
  }
  EpilogueRun run;
  // dW^T (C, OC) = inp^T (C, B) . dout (B, OC); BGRADB sums op(B) = dout over k = B: the bias gradient.
  if (dweight && OC > 0 && C > 0) {
    if (B <= 0) {
      zero(dweight, OC * C, stream);
    } else {
      if (dbias && lt_epilogue)
        run = try_epilogue<T>(CUBLASLT_EPILOGUE_BGRADB, [&](cublasLtEpilogue_t e) {
          return lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, inp, C, dout, OC, dweight, C, e, dbias, stream);
        });
      if (!run.fused)
        lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, inp, C, dout, OC, dweight, C, CUBLASLT_EPILOGUE_DEFAULT,
                     nullptr, stream);
    }
  }
  if (dbias && !run.fused) cuda::bias_grad<T>(dbias, dout, B, OC, /*accumulate=*/false, stream);
  return record<T>("linear_backward", std::move(run));
}

// Row-major matrices are their column-major transposes, so out (M, N) = a b is out^T (N, M) = b^T a^T.
template <typename T>
void matmul_forward(T* out, const T* a, const T* b, int64_t M, int64_t K, int64_t N, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero(out, M * N, stream);  // an empty product; cuBLASLt refuses k = 0
  lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, b, N, a, K, out, N, CUBLASLT_EPILOGUE_DEFAULT, nullptr, stream);
}

template <typename T>
void matmul_backward(T* da, T* db, const T* dout, const T* a, const T* b, int64_t M, int64_t K, int64_t N,
                     cudaStream_t stream) {
  if (M <= 0 || K <= 0) da = nullptr;
  if (K <= 0 || N <= 0) db = nullptr;
  // da^T (K, M) = b (K, N) . dout^T (N, M)
  if (da) {
    if (N > 0)
      lt_matmul<T>(CUBLAS_OP_T, CUBLAS_OP_N, K, M, N, b, N, dout, N, da, K, CUBLASLT_EPILOGUE_DEFAULT, nullptr, stream);
    else
      zero(da, M * K, stream);
  }
  // db^T (N, K) = dout^T (N, M) . a (M, K)
  if (db) {
    if (M > 0)
      lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_T, N, K, M, dout, N, a, K, db, N, CUBLASLT_EPILOGUE_DEFAULT, nullptr, stream);
    else
      zero(db, K * N, stream);
  }
}

#define CHAINRULE_CUDA_LINEAR(T)                                                                                     \
  template EpilogueRun linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t); \
  template EpilogueRun dense_forward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, Activation, \
                                        double, double, bool, cudaStream_t);                                         \
  template EpilogueRun linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, bool, \
                                          cudaStream_t);                                                             \
  template void matmul_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);                  \
  template void matmul_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);
CHAINRULE_CUDA_LINEAR(float)
CHAINRULE_CUDA_LINEAR(double)
#undef CHAINRULE_CUDA_LINEAR

}  // namespace chainrule::cuda
