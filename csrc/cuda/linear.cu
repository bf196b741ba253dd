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
#include <memory>
#include <mutex>
#include <type_traits>

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

template <typename T> struct LtTypes;
template <> struct LtTypes<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
};
template <> struct LtTypes<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_64F;
};

// Owning wrappers for cuBLASLt's descriptors.
struct MatmulDescDeleter { void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); } };
struct LayoutDeleter { void operator()(cublasLtMatrixLayoutOpaque_t* d) const { cublasLtMatrixLayoutDestroy(d); } };
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* d) const { cublasLtMatmulPreferenceDestroy(d); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, MatmulDescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

template <typename T> Layout make_layout(uint64_t rows, uint64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  CHAINRULE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&layout, LtTypes<T>::data, rows, cols, ld));
  return Layout(layout);
}

// Column-major D (m, n, ldd) = op(A) (m, k) . op(B) (k, n), then `epilogue` with `bias` (the bias
// added, or for BGRADA/BGRADB the bias gradient written). Returns false, having done nothing, when
// cuBLASLt offers no algorithm for this epilogue and type (the caller then runs its own epilogue);
// throws on any other failure.
template <typename T>
bool lt_matmul(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, const T* A, int64_t lda,
               const T* B, int64_t ldb, T* D, int64_t ldd, cublasLtEpilogue_t epilogue, const void* bias,
               cudaStream_t stream) {
  LtContext& ctx = lt_context();
  cublasLtMatmulDesc_t raw_desc = nullptr;
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescCreate(&raw_desc, LtTypes<T>::compute, LtTypes<T>::data));
  MatmulDesc desc(raw_desc);
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  CHAINRULE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  CHAINRULE_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  if (bias)
    CHAINRULE_CUDA_CHECK(
        cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));

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
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(ctx.handle, desc.get(), a_layout.get(), b_layout.get(), d_layout.get(),
                                     d_layout.get(), pref.get(), 1, &heuristic, &found);
  const bool fused = epilogue != CUBLASLT_EPILOGUE_DEFAULT;
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || found == 0) {
    if (fused) return false;
    CHAINRULE_CUDA_CHECK(status);
    throw_cuda_error("cublasLtMatmulAlgoGetHeuristic", "no algorithm for this GEMM", __FILE__, __LINE__);
  }
  CHAINRULE_CUDA_CHECK(status);

  const T alpha = T(1), beta = T(0);
  const cublasStatus_t run =
      cublasLtMatmul(ctx.handle, desc.get(), &alpha, A, a_layout.get(), B, b_layout.get(), &beta, D, d_layout.get(),
                     D, d_layout.get(), &heuristic.algo, ctx.workspace.get(), workspace_bytes, stream);
  if (run == CUBLAS_STATUS_NOT_SUPPORTED && fused) return false;
  CHAINRULE_CUDA_CHECK(run);
  return true;
}

template <typename T> void zero(T* p, int64_t n, cudaStream_t stream) {
  if (n > 0) CHAINRULE_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(T) * n, stream));
}

// out^T (OC, B) = W (OC, C) . inp^T (C, B), with `epilogue`; false when cuBLASLt refused the epilogue.
template <typename T>
bool forward_gemm(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                  cublasLtEpilogue_t epilogue, cudaStream_t stream) {
  return lt_matmul<T>(CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, weight, C, inp, C, out, OC, epilogue, bias, stream);
}

}  // namespace

template <typename T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                    cudaStream_t stream) {
  cuda::dense_forward<T>(out, nullptr, inp, weight, bias, B, C, OC, Activation::Identity, 0.0, true, stream);
}

template <typename T>
void dense_forward(T* a, T* z, const T* inp, const T* weight, const T* bias, int64_t B, int64_t C, int64_t OC,
                   Activation act, double param, bool lt_epilogue, cudaStream_t stream) {
  if (B <= 0 || OC <= 0) return;
  if (C <= 0) {  // an empty product: cuBLASLt refuses k = 0, and the answer is act(bias)
    zero(a, B * OC, stream);
    cuda::bias_activation_forward<T>(a, z, bias, B, OC, act, param, stream);
    return;
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
  if (epilogue != CUBLASLT_EPILOGUE_DEFAULT &&
      forward_gemm<T>(a, inp, weight, bias, B, C, OC, epilogue, stream)) {
    if (!fused_act) cuda::bias_activation_forward<T>(a, z, nullptr, B, OC, act, param, stream);  // bias already in
    return;
  }
  forward_gemm<T>(a, inp, weight, nullptr, B, C, OC, CUBLASLT_EPILOGUE_DEFAULT, stream);
  cuda::bias_activation_forward<T>(a, z, bias, B, OC, act, param, stream);
}

template <typename T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t B,
                     int64_t C, int64_t OC, bool lt_epilogue, cudaStream_t stream) {
  // dinp^T (C, B) = W^T (C, OC) . dout^T (OC, B)
  if (dinp && B > 0 && C > 0) {
    if (OC > 0) lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, weight, C, dout, OC, dinp, C,
                             CUBLASLT_EPILOGUE_DEFAULT, nullptr, stream);
    else zero(dinp, B * C, stream);
  }
  bool dbias_done = false;
  // dW^T (C, OC) = inp^T (C, B) . dout (B, OC); BGRADB sums op(B) = dout over k = B: the bias gradient.
  if (dweight && OC > 0 && C > 0) {
    if (B <= 0) {
      zero(dweight, OC * C, stream);
    } else if (dbias && lt_epilogue &&
               lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, inp, C, dout, OC, dweight, C,
                            CUBLASLT_EPILOGUE_BGRADB, dbias, stream)) {
      dbias_done = true;
    } else {
      lt_matmul<T>(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, inp, C, dout, OC, dweight, C, CUBLASLT_EPILOGUE_DEFAULT,
                   nullptr, stream);
    }
  }
  if (dbias && !dbias_done) cuda::bias_grad<T>(dbias, dout, B, OC, /*accumulate=*/false, stream);
}

#define CHAINRULE_CUDA_LINEAR(T)                                                                                 \
  template void linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);    \
  template void dense_forward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, Activation,    \
                                 double, bool, cudaStream_t);                                                    \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, bool,    \
                                   cudaStream_t);
CHAINRULE_CUDA_LINEAR(float)
CHAINRULE_CUDA_LINEAR(double)
#undef CHAINRULE_CUDA_LINEAR

}  // namespace chainrule::cuda
