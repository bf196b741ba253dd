// Epilogue kernels of the fused dense chain: bias + activation after the forward GEMM, the
// activation derivative (and the bias gradient) after the input-gradient GEMM. Each exists as a
// separate pass too: the unfused reference, and the last layer's backward (no GEMM precedes it).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "chainrule/activation_math.h"
#include "chainrule/gemm.h"
#include "chainrule/kernels.h"
#include "cpu/isa/gelu_kernels.h"
#include "cpu/parallel.h"

#ifndef CHAINRULE_HAVE_X86_ISA  // as gemm.cpp decides it when the build does not say
#if defined(__x86_64__) || defined(_M_X64)
#define CHAINRULE_HAVE_X86_ISA 1
#else
#define CHAINRULE_HAVE_X86_ISA 0
#endif
#endif

namespace chainrule::cpu {

namespace {
// The vectorised float GELU of the CPU this runs on (cpu/isa/gelu_kernels.h), or nulls for the
// portable formula of activation_math.h.
struct GeluF32Kernels {
  void (*forward)(float* x, int64_t n) = nullptr;
  void (*backward)(float* d, const float* z, int64_t n) = nullptr;
};
GeluF32Kernels gelu_f32_kernels() {
#if CHAINRULE_HAVE_X86_ISA
  switch (active_isa()) {
    case Isa::Avx512: return {detail::gelu_f32__avx512, detail::gelu_backward_f32__avx512};
    case Isa::Avx2: return {detail::gelu_f32__avx2, detail::gelu_backward_f32__avx2};
    default: break;
  }
#endif
  return {};
}
}  // namespace

// Applies f to every element of a (rows, n) block with leading dimension ld.
template <typename T, typename F>
inline void map_block(T* c, int64_t ld, int64_t rows, int64_t n, F f) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = c + r * ld;
    for (int64_t o = 0; o < n; ++o) row[o] = f(row[o]);
  }
}

// A (rows, n) block of a Linear layer's output: c (ld) holds x W^T and becomes
// act(x W^T + bias); z (ldz, or null) writes the pre-activation. The one definition the separate
// pass and the GEMM epilogue share, so the fused and unfused paths agree bit for bit. It takes a
// whole block, with the activation chosen once, because the tiny layers of small networks call it
// with rows of one or two elements.
template <typename T>
inline void bias_activation_block(T* c, int64_t ld, T* z, int64_t ldz, const T* bias, int64_t rows, int64_t n,
                                  Activation act, T slope, T param2) {
  if (bias && n == 1) {  // a single output column (regression heads): one scalar bias
    const T b = bias[0];
    for (int64_t r = 0; r < rows; ++r) c[r * ld] += b;
  } else if (bias) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < n; ++o) c[r * ld + o] += bias[o];
  }
  if (z)
    for (int64_t r = 0; r < rows; ++r) std::memcpy(z + r * ldz, c + r * ld, sizeof(T) * n);
  if (ld == n) {  // a contiguous block is one long row for the activation
    n *= rows;
    rows = 1;
  }
  switch (act) {
    case Activation::Identity: break;
    case Activation::Relu: map_block(c, ld, rows, n, [](T v) { return act::relu(v); }); break;
    case Activation::Sigmoid: map_block(c, ld, rows, n, [](T v) { return act::sigmoid(v); }); break;
    case Activation::Tanh: map_block(c, ld, rows, n, [](T v) { return std::tanh(v); }); break;
    case Activation::LeakyRelu: map_block(c, ld, rows, n, [slope](T v) { return act::leaky_relu(v, slope); }); break;
    case Activation::Gelu:
      if constexpr (std::is_same_v<T, float>) {
        if (const auto forward = gelu_f32_kernels().forward) {
          for (int64_t r = 0; r < rows; ++r) forward(c + r * ld, n);
          break;
        }
      }
      map_block(c, ld, rows, n, [](T v) { return act::gelu(v); });
      break;
    case Activation::GeluTanh: map_block(c, ld, rows, n, [](T v) { return act::gelu_tanh(v); }); break;
    case Activation::Silu: map_block(c, ld, rows, n, [](T v) { return act::silu(v); }); break;
    case Activation::Elu: map_block(c, ld, rows, n, [slope](T v) { return act::elu(v, slope); }); break;
    case Activation::Selu:
      map_block(c, ld, rows, n, [](T v) { return T(act::kSeluScale) * act::elu(v, T(act::kSeluAlpha)); });
      break;
    case Activation::Celu: map_block(c, ld, rows, n, [slope](T v) { return act::celu(v, slope); }); break;
    case Activation::Softplus:
      map_block(c, ld, rows, n, [slope, param2](T v) { return act::softplus(v, slope, param2); });
      break;
    case Activation::Mish: map_block(c, ld, rows, n, [](T v) { return act::mish(v); }); break;
    case Activation::Hardtanh:
      map_block(c, ld, rows, n, [slope, param2](T v) { return act::hardtanh(v, slope, param2); });
      break;
    case Activation::Hardswish: map_block(c, ld, rows, n, [](T v) { return act::hardswish(v); }); break;
    case Activation::LogSigmoid: map_block(c, ld, rows, n, [](T v) { return act::log_sigmoid(v); }); break;
    case Activation::Softsign: map_block(c, ld, rows, n, [](T v) { return act::softsign(v); }); break;
  }
}

// A (rows, n) block of the activation backward: dz (ld_dz) holds dL/da and becomes dL/dz; a, z
// (ld) are the layer's output and pre-activation (z may be null, see
// activation_derivative_from_output). The activation is chosen once per block, as in the forward.
template <typename T, typename F>
inline void map_backward_block(T* dz, int64_t ld_dz, const T* a, const T* z, int64_t ld, int64_t rows, int64_t n, F f) {
  for (int64_t r = 0; r < rows; ++r) {
    T* d = dz + r * ld_dz;
    const T* ar = a + r * ld;
    const T* zr = z ? z + r * ld : nullptr;
    for (int64_t i = 0; i < n; ++i) d[i] = f(d[i], ar[i], zr ? zr[i] : T(0));
  }
}

template <typename T>
constexpr const T* kNoZ = nullptr;  // derivatives read from the output alone

template <typename T>
inline void activation_backward_block(T* dz, int64_t ld_dz, const T* a, const T* z, int64_t ld, int64_t rows, int64_t n,
                                      Activation act, T slope, T param2) {
  switch (act) {
    case Activation::Identity: return;
    case Activation::Relu:
      map_backward_block(dz, ld_dz, a, kNoZ<T>, ld, rows, n, [](T d, T av, T) { return act::relu_backward(d, av); });
      return;
    case Activation::Sigmoid:
      map_backward_block(dz, ld_dz, a, kNoZ<T>, ld, rows, n, [](T d, T av, T) { return act::sigmoid_backward(d, av); });
      return;
    case Activation::Tanh:
      map_backward_block(dz, ld_dz, a, kNoZ<T>, ld, rows, n, [](T d, T av, T) { return act::tanh_backward(d, av); });
      return;
    case Activation::LeakyRelu:
      // With slope > 0 the sign of a is the sign of z; otherwise z was kept.
      if (z)
        map_backward_block(dz, ld_dz, a, z, ld, rows, n,
                           [slope](T d, T, T zv) { return act::leaky_relu_backward(d, zv, slope); });
      else
        map_backward_block(dz, ld_dz, a, kNoZ<T>, ld, rows, n,
                           [slope](T d, T av, T) { return act::leaky_relu_backward(d, av, slope); });
      return;
    case Activation::Gelu:
      if constexpr (std::is_same_v<T, float>) {
        if (const auto backward = gelu_f32_kernels().backward) {
          for (int64_t r = 0; r < rows; ++r) backward(dz + r * ld_dz, z + r * ld, n);
          return;
        }
      }
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::gelu_backward(d, v); });
      return;
    case Activation::GeluTanh:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::gelu_tanh_backward(d, v); });
      return;
    case Activation::Silu:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::silu_backward(d, v); });
      return;
    case Activation::Elu:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [slope](T d, T, T v) { return act::elu_backward(d, v, slope); });
      return;
    case Activation::Selu:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n,
                         [](T d, T, T v) { return act::elu_backward(d * T(act::kSeluScale), v, T(act::kSeluAlpha)); });
      return;
    case Activation::Celu:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n,
                         [slope](T d, T, T v) { return act::celu_backward(d, v, slope); });
      return;
    case Activation::Softplus:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n,
                         [slope, param2](T d, T, T v) { return act::softplus_backward(d, v, slope, param2); });
      return;
    case Activation::Mish:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::mish_backward(d, v); });
      return;
    case Activation::Hardtanh:  // from the output, which lies strictly inside exactly when the input does
      map_backward_block(dz, ld_dz, a, kNoZ<T>, ld, rows, n,
                         [slope, param2](T d, T av, T) { return act::hardtanh_backward(d, av, slope, param2); });
      return;
    case Activation::Hardswish:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::hardswish_backward(d, v); });
      return;
    case Activation::LogSigmoid:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::log_sigmoid_backward(d, v); });
      return;
    case Activation::Softsign:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::softsign_backward(d, v); });
      return;
  }
}

template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param,
                             double param2) {
  constexpr int64_t kRowsPerTask = 16;
  const int64_t tasks = (B + kRowsPerTask - 1) / kRowsPerTask;
  parallel_for(tasks, B * OC > kParallelElements, [&](int64_t t) {
    const int64_t b0 = t * kRowsPerTask, rows = std::min(kRowsPerTask, B - b0);
    bias_activation_block(a + b0 * OC, OC, z ? z + b0 * OC : nullptr, OC, bias, rows, OC, act, static_cast<T>(param),
                          static_cast<T>(param2));
  });
}

template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param,
                                 double param2) {
  if (act == Activation::Identity) return;
  // Elementwise: chunks of a row-sized length keep each call's loop long and vectorisable.
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, n > kParallelElements, [&](int64_t c) {
    const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
    activation_backward_block(dz + i0, len, a + i0, z ? z + i0 : nullptr, len, 1, len, act, static_cast<T>(param),
                              static_cast<T>(param2));
  });
}

template <typename T>
void bias_activation_epilogue(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                              int64_t cols) {
  const auto& e = *static_cast<const BiasActivationEpilogue<T>*>(ctx);
  bias_activation_block(c, ldc, e.z ? e.z + row0 * e.ldz + col0 : nullptr, e.ldz, e.bias ? e.bias + col0 : nullptr,
                        rows, cols, e.act, static_cast<T>(e.param), static_cast<T>(e.param2));
}

// dst[o] += sum over rows of c[r * ldc + o], for a group of W < 16 columns: with W known at
// compile time the W running sums live in registers and advance side by side, each column still
// summed in row order (a column at a time, every add would wait for the previous one).
template <typename T, int W>
void add_column_sums(T* dst, const T* c, int64_t ldc, int64_t rows) {
  T sums[W];
  for (int o = 0; o < W; ++o) sums[o] = dst[o];
  for (int64_t r = 0; r < rows; ++r)
    for (int o = 0; o < W; ++o) sums[o] += c[r * ldc + o];
  for (int o = 0; o < W; ++o) dst[o] = sums[o];
}

template <typename T, int W = 1>
void add_column_sums_narrow(T* dst, const T* c, int64_t ldc, int64_t rows, int64_t width) {
  if constexpr (W < 16) {
    if (width == W) return add_column_sums<T, W>(dst, c, ldc, rows);
    return add_column_sums_narrow<T, W + 1>(dst, c, ldc, rows, width);
  }
}

template <typename T>
void activation_backward_epilogue(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                                  int64_t cols) {
  const auto& e = *static_cast<const ActivationBackwardEpilogue<T>*>(ctx);
  const int64_t at = row0 * e.ld + col0;
  activation_backward_block(c, ldc, e.a + at, e.z ? e.z + at : nullptr, e.ld, rows, cols, e.act,
                            static_cast<T>(e.param), static_cast<T>(e.param2));
  // Row after row, as bias_grad does: the caller guarantees increasing row order per column.
  // The running sums of a group of columns stay in registers across the rows (a sum kept in
  // memory would wait on its own store every row); the order of the additions is unchanged.
  if (e.dbias) {
    constexpr int64_t kGroup = 16;
    int64_t o0 = 0;
    for (; o0 + kGroup <= cols; o0 += kGroup) {  // whole groups: a fixed width the compiler keeps in registers
      T sums[kGroup];
      for (int64_t o = 0; o < kGroup; ++o) sums[o] = e.dbias[col0 + o0 + o];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < kGroup; ++o) sums[o] += c[r * ldc + o0 + o];
      for (int64_t o = 0; o < kGroup; ++o) e.dbias[col0 + o0 + o] = sums[o];
    }
    if (o0 < cols) add_column_sums_narrow(e.dbias + col0 + o0, c + o0, ldc, rows, cols - o0);
  }
}

template <typename T>
void activation_backward_bias_grad(T* dz, T* dbias, const T* a, const T* z, int64_t B, int64_t OC, Activation act,
                                   double param, bool accumulate, double param2) {
  if (dbias && !accumulate) std::memset(dbias, 0, sizeof(T) * OC);
  const ActivationBackwardEpilogue<T> e{a, z, OC, act, param, dbias, param2};
  // Threads take disjoint column slices and each walks all rows in order: the sums are those of
  // bias_grad for any thread count. A slice of 64 columns is whole cache lines of each row.
  constexpr int64_t kSliceCols = 64;
  const int64_t slices = (OC + kSliceCols - 1) / kSliceCols;
  parallel_for(slices, B * OC > kParallelElements, [&](int64_t s) {
    const int64_t col0 = s * kSliceCols, cols = std::min(kSliceCols, OC - col0);
    activation_backward_epilogue<T>(&e, dz + col0, OC, 0, col0, B, cols);
  });
}

template <typename T>
void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate) {
  // Row after row in a fixed order: the same sums as sum_dim_forward, for any thread count.
  if (!accumulate) std::memset(dbias, 0, sizeof(T) * OC);
  for (int64_t b = 0; b < B; ++b) {
    const T* row = dout + b * OC;
    for (int64_t o = 0; o < OC; ++o) dbias[o] += row[o];
  }
}

// ---- normalisation and dropout stages ------------------------------------------------------------
// Column statistics walk the rows in order inside a slice of columns, and threads take whole
// slices, so every sum (and every result) is the same for any thread count.
constexpr int64_t kNormSliceCols = 64;

template <typename T>
void batch_norm_forward(T* out, T* mean, T* rstd, T* batch_var, const T* x, const T* gamma, const T* beta,
                        const T* running_mean, const T* running_var, int64_t B, int64_t F, double eps,
                        bool use_batch_stats) {
  const int64_t slices = (F + kNormSliceCols - 1) / kNormSliceCols;
  parallel_for(slices, B * F > kParallelElements, [&](int64_t s) {
    const int64_t f0 = s * kNormSliceCols, n = std::min(F, f0 + kNormSliceCols) - f0;
    double var[kNormSliceCols];
    if (use_batch_stats) {
      // Two passes in double: the mean, then the biased variance around it.
      double sum[kNormSliceCols];
      for (int64_t f = 0; f < n; ++f) sum[f] = var[f] = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t f = 0; f < n; ++f) sum[f] += x[b * F + f0 + f];
      for (int64_t f = 0; f < n; ++f) mean[f0 + f] = static_cast<T>(sum[f] / static_cast<double>(B));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t f = 0; f < n; ++f) {
          const double d = static_cast<double>(x[b * F + f0 + f]) - static_cast<double>(mean[f0 + f]);
          var[f] += d * d;
        }
      for (int64_t f = 0; f < n; ++f) {
        var[f] /= static_cast<double>(B);
        if (batch_var) batch_var[f0 + f] = static_cast<T>(var[f]);
      }
    } else {
      for (int64_t f = 0; f < n; ++f) {
        mean[f0 + f] = running_mean[f0 + f];
        var[f] = static_cast<double>(running_var[f0 + f]);
      }
    }
    T scale[kNormSliceCols], shift[kNormSliceCols];
    for (int64_t f = 0; f < n; ++f) {
      rstd[f0 + f] = static_cast<T>(1.0 / std::sqrt(var[f] + eps));
      scale[f] = gamma ? rstd[f0 + f] * gamma[f0 + f] : rstd[f0 + f];
      shift[f] = beta ? beta[f0 + f] : T(0);
    }
    for (int64_t b = 0; b < B; ++b) {
      const T* xr = x + b * F + f0;
      T* o = out + b * F + f0;
      for (int64_t f = 0; f < n; ++f) o[f] = (xr[f] - mean[f0 + f]) * scale[f] + shift[f];
    }
  });
}

template <typename T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean, const T* rstd,
                         const T* gamma, int64_t B, int64_t F, bool use_batch_stats, bool accumulate) {
  const int64_t slices = (F + kNormSliceCols - 1) / kNormSliceCols;
  parallel_for(slices, B * F > kParallelElements, [&](int64_t s) {
    const int64_t f0 = s * kNormSliceCols, f1 = std::min(F, f0 + kNormSliceCols), n = f1 - f0;
    // sum_dy = sum_b dy, sum_dy_xhat = sum_b dy * xhat, per column, in row order and in double:
    // these sums largely cancel (the batch's dy is centred by the layers above), so float
    // accumulation would leave little of their value.
    double sums[2][kNormSliceCols];
    double (&sum_dy_d)[kNormSliceCols] = sums[0];
    double (&sum_dy_xhat_d)[kNormSliceCols] = sums[1];
    for (int64_t f = 0; f < n; ++f) sum_dy_d[f] = sum_dy_xhat_d[f] = 0;
    for (int64_t b = 0; b < B; ++b) {
      const T* d = dout + b * F + f0;
      const T* xr = x + b * F + f0;
      for (int64_t f = 0; f < n; ++f) {
        sum_dy_d[f] += static_cast<double>(d[f]);
        sum_dy_xhat_d[f] += static_cast<double>(d[f]) * static_cast<double>((xr[f] - mean[f0 + f]) * rstd[f0 + f]);
      }
    }
    T sum_dy[kNormSliceCols], sum_dy_xhat[kNormSliceCols];
    for (int64_t f = 0; f < n; ++f) {
      sum_dy[f] = static_cast<T>(sum_dy_d[f]);
      sum_dy_xhat[f] = static_cast<T>(sum_dy_xhat_d[f]);
      if (dgamma) dgamma[f0 + f] = (accumulate ? dgamma[f0 + f] : T(0)) + sum_dy_xhat[f];
      if (dbeta) dbeta[f0 + f] = (accumulate ? dbeta[f0 + f] : T(0)) + sum_dy[f];
    }
    if (!dx) return;
    // Train: dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)); eval: dx = g rstd dy.
    const T inv_b = T(1) / static_cast<T>(B);
    for (int64_t b = 0; b < B; ++b) {
      const T* d = dout + b * F + f0;
      const T* xr = x + b * F + f0;
      T* o = dx + b * F + f0;
      for (int64_t f = 0; f < n; ++f) {
        const T k = (gamma ? gamma[f0 + f] : T(1)) * rstd[f0 + f];
        if (use_batch_stats) {
          const T xhat = (xr[f] - mean[f0 + f]) * rstd[f0 + f];
          o[f] = k * (d[f] - sum_dy[f] * inv_b - xhat * (sum_dy_xhat[f] * inv_b));
        } else {
          o[f] = k * d[f];
        }
      }
    }
  });
}

// Sums of a row, in double and in eight interleaved partial sums (lanes i mod 8, then a fixed
// tree): the adds of one sum no longer wait on each other, and the order stays the same for any
// thread count. row_sum_squares sums (x - center)^2.
template <typename T>
double row_sum(const T* x, int64_t n) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lanes[j] += static_cast<double>(x[i + j]);
  for (int j = 0; i < n; ++i, ++j) lanes[j] += static_cast<double>(x[i]);
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

template <typename T>
double row_sum_squares(const T* x, double center, int64_t n) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double d = static_cast<double>(x[i + j]) - center;
      lanes[j] += d * d;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double d = static_cast<double>(x[i]) - center;
    lanes[j] += d * d;
  }
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

template <typename T>
void layer_norm_forward(T* out, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int64_t B, int64_t F,
                        double eps) {
  constexpr int64_t kRowsPerTask = 8;
  const int64_t tasks = (B + kRowsPerTask - 1) / kRowsPerTask;
  parallel_for(tasks, B * F > kParallelElements, [&](int64_t t) {
    for (int64_t b = t * kRowsPerTask; b < std::min(B, (t + 1) * kRowsPerTask); ++b) {
      const T* xr = x + b * F;
      T* o = out + b * F;
      const T m = static_cast<T>(row_sum(xr, F) / static_cast<double>(F));
      const double sq = row_sum_squares(xr, static_cast<double>(m), F);
      const T r = static_cast<T>(1.0 / std::sqrt(sq / static_cast<double>(F) + eps));
      mean[b] = m;
      rstd[b] = r;
      for (int64_t f = 0; f < F; ++f) {
        const T xhat = (xr[f] - m) * r;
        o[f] = gamma ? (beta ? xhat * gamma[f] + beta[f] : xhat * gamma[f]) : (beta ? xhat + beta[f] : xhat);
      }
    }
  });
}

template <typename T>
void layer_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean, const T* rstd,
                         const T* gamma, int64_t B, int64_t F, bool accumulate) {
  // The parameters' gradients: column sums in row order, threads over column slices.
  if (dgamma || dbeta) {
    const int64_t slices = (F + kNormSliceCols - 1) / kNormSliceCols;
    parallel_for(slices, B * F > kParallelElements, [&](int64_t s) {
      const int64_t f0 = s * kNormSliceCols, n = std::min(F, f0 + kNormSliceCols) - f0;
      double sum_dy[kNormSliceCols], sum_dy_xhat[kNormSliceCols];  // in double, as in batch_norm_backward
      for (int64_t f = 0; f < n; ++f) sum_dy[f] = sum_dy_xhat[f] = 0;
      for (int64_t b = 0; b < B; ++b) {
        const T* d = dout + b * F + f0;
        const T* xr = x + b * F + f0;
        for (int64_t f = 0; f < n; ++f) {
          sum_dy[f] += static_cast<double>(d[f]);
          sum_dy_xhat[f] += static_cast<double>(d[f]) * static_cast<double>((xr[f] - mean[b]) * rstd[b]);
        }
      }
      for (int64_t f = 0; f < n; ++f) {
        if (dgamma) dgamma[f0 + f] = (accumulate ? dgamma[f0 + f] : T(0)) + static_cast<T>(sum_dy_xhat[f]);
        if (dbeta) dbeta[f0 + f] = (accumulate ? dbeta[f0 + f] : T(0)) + static_cast<T>(sum_dy[f]);
      }
    });
  }
  if (!dx) return;
  // dx = rstd (g - mean(g) - xhat mean(g xhat)) per row, with g = dy * gamma.
  constexpr int64_t kRowsPerTask = 8;
  const int64_t tasks = (B + kRowsPerTask - 1) / kRowsPerTask;
  parallel_for(tasks, B * F > kParallelElements, [&](int64_t t) {
    for (int64_t b = t * kRowsPerTask; b < std::min(B, (t + 1) * kRowsPerTask); ++b) {
      const T* d = dout + b * F;
      const T* xr = x + b * F;
      T* o = dx + b * F;
      const T m = mean[b], r = rstd[b];
      // Two sums over the row, each in 16 interleaved partial sums (see row_sum).
      constexpr int kLanes = 16;
      T lanes_g[kLanes] = {}, lanes_gx[kLanes] = {};
      int64_t f = 0;
      for (; f + kLanes <= F; f += kLanes)
        for (int j = 0; j < kLanes; ++j) {
          const T g = gamma ? d[f + j] * gamma[f + j] : d[f + j];
          lanes_g[j] += g;
          lanes_gx[j] += g * ((xr[f + j] - m) * r);
        }
      for (int j = 0; f < F; ++f, ++j) {
        const T g = gamma ? d[f] * gamma[f] : d[f];
        lanes_g[j] += g;
        lanes_gx[j] += g * ((xr[f] - m) * r);
      }
      for (int width = kLanes / 2; width > 0; width /= 2)
        for (int j = 0; j < width; ++j) {
          lanes_g[j] += lanes_g[j + width];
          lanes_gx[j] += lanes_gx[j + width];
        }
      const T sum_g = lanes_g[0], sum_g_xhat = lanes_gx[0];
      const T inv_f = T(1) / static_cast<T>(F);
      const T mean_g = sum_g * inv_f, mean_g_xhat = sum_g_xhat * inv_f;
      for (int64_t k = 0; k < F; ++k) {
        const T g = gamma ? d[k] * gamma[k] : d[k];
        o[k] = r * (g - mean_g - ((xr[k] - m) * r) * mean_g_xhat);
      }
    }
  });
}

template <typename T>
void dropout_forward(T* out, T* mask, const T* x, int64_t n, double p) {
  // mask holds uniform [0, 1) draws on entry. The comparison and the scale are rounded to T, as
  // the unfused Dropout rounds them, so both keep the same elements with the same factor.
  const T keep_below = static_cast<T>(1.0 - p);
  const T scale = p >= 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
  for (int64_t i = 0; i < n; ++i) {
    mask[i] = (p < 1.0 && mask[i] < keep_below) ? scale : T(0);
    out[i] = x[i] * mask[i];
  }
}

template <typename T>
void dropout_backward(T* dx, const T* dout, const T* mask, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dout[i] * mask[i];
}

#define CHAINRULE_DENSE(T)                                                                                             \
  template void bias_activation_forward<T>(T*, T*, const T*, int64_t, int64_t, Activation, double, double);            \
  template void activation_backward_inplace<T>(T*, const T*, const T*, int64_t, Activation, double, double);           \
  template void bias_grad<T>(T*, const T*, int64_t, int64_t, bool);                                                    \
  template void bias_activation_epilogue<T>(const void*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);             \
  template void activation_backward_epilogue<T>(const void*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);         \
  template void activation_backward_bias_grad<T>(T*, T*, const T*, const T*, int64_t, int64_t, Activation, double,     \
                                                 bool, double);                                                        \
  template void batch_norm_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,       \
                                      int64_t, double, bool);                                                          \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                       bool, bool);                                                                    \
  template void layer_norm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, double);             \
  template void layer_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                       bool);                                                                          \
  template void dropout_forward<T>(T*, T*, const T*, int64_t, double);                                                 \
  template void dropout_backward<T>(T*, const T*, const T*, int64_t);
CHAINRULE_DENSE(float)
CHAINRULE_DENSE(double)
#undef CHAINRULE_DENSE

}  // namespace chainrule::cpu
