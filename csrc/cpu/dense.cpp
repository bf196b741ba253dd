// Epilogue kernels of the fused dense chain: bias + activation after the forward GEMM, the
// activation derivative (and the bias gradient) after the input-gradient GEMM. Each exists as a
// separate pass too: the unfused reference, and the last layer's backward (no GEMM precedes it).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "chainrule/kernels.h"
#include "chainrule/activation_math.h"
#include "cpu/parallel.h"

namespace chainrule::cpu {

// Applies f to every element of a (rows, n) block with leading dimension ld.
template <typename T, typename F> inline void map_block(T* c, int64_t ld, int64_t rows, int64_t n, F f) {
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
                                  Activation act, T slope) {
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
    case Activation::Gelu: map_block(c, ld, rows, n, [](T v) { return act::gelu(v); }); break;
    case Activation::GeluTanh: map_block(c, ld, rows, n, [](T v) { return act::gelu_tanh(v); }); break;
  }
}

// A (rows, n) block of the activation backward: dz (ld_dz) holds dL/da and becomes dL/dz; a, z
// (ld) are the layer's output and pre-activation (z may be null, see
// activation_derivative_from_output). The activation is chosen once per block, as in the forward.
template <typename T, typename F>
inline void map_backward_block(T* dz, int64_t ld_dz, const T* a, const T* z, int64_t ld, int64_t rows, int64_t n,
                               F f) {
  for (int64_t r = 0; r < rows; ++r) {
    T* d = dz + r * ld_dz;
    const T* ar = a + r * ld;
    const T* zr = z ? z + r * ld : nullptr;
    for (int64_t i = 0; i < n; ++i) d[i] = f(d[i], ar[i], zr ? zr[i] : T(0));
  }
}

template <typename T> constexpr const T* kNoZ = nullptr;  // derivatives read from the output alone

template <typename T>
inline void activation_backward_block(T* dz, int64_t ld_dz, const T* a, const T* z, int64_t ld, int64_t rows,
                                      int64_t n, Activation act, T slope) {
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
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::gelu_backward(d, v); });
      return;
    case Activation::GeluTanh:
      map_backward_block(dz, ld_dz, a, z, ld, rows, n, [](T d, T, T v) { return act::gelu_tanh_backward(d, v); });
      return;
  }
}

template <typename T>
void bias_activation_forward(T* a, T* z, const T* bias, int64_t B, int64_t OC, Activation act, double param) {
  constexpr int64_t kRowsPerTask = 16;
  const int64_t tasks = (B + kRowsPerTask - 1) / kRowsPerTask;
  parallel_for(tasks, B * OC > kParallelElements, [&](int64_t t) {
    const int64_t b0 = t * kRowsPerTask, rows = std::min(kRowsPerTask, B - b0);
    bias_activation_block(a + b0 * OC, OC, z ? z + b0 * OC : nullptr, OC, bias, rows, OC, act, static_cast<T>(param));
  });
}

template <typename T>
void activation_backward_inplace(T* dz, const T* a, const T* z, int64_t n, Activation act, double param) {
  if (act == Activation::Identity) return;
  // Elementwise: chunks of a row-sized length keep each call's loop long and vectorisable.
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, n > kParallelElements, [&](int64_t c) {
    const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
    activation_backward_block(dz + i0, len, a + i0, z ? z + i0 : nullptr, len, 1, len, act, static_cast<T>(param));
  });
}

template <typename T>
void bias_activation_epilogue(const void* ctx, T* c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                              int64_t cols) {
  const auto& e = *static_cast<const BiasActivationEpilogue<T>*>(ctx);
  bias_activation_block(c, ldc, e.z ? e.z + row0 * e.ldz + col0 : nullptr, e.ldz, e.bias ? e.bias + col0 : nullptr,
                        rows, cols, e.act, static_cast<T>(e.param));
}

// dst[o] += sum over rows of c[r * ldc + o], for a group of W < 16 columns: with W known at
// compile time the W running sums live in registers and advance side by side, each column still
// summed in row order (a column at a time, every add would wait for the previous one).
template <typename T, int W> void add_column_sums(T* dst, const T* c, int64_t ldc, int64_t rows) {
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
                            static_cast<T>(e.param));
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
                                   double param, bool accumulate) {
  if (dbias && !accumulate) std::memset(dbias, 0, sizeof(T) * OC);
  const ActivationBackwardEpilogue<T> e{a, z, OC, act, param, dbias};
  // Threads take disjoint column slices and each walks all rows in order: the sums are those of
  // bias_grad for any thread count. A slice of 64 columns is whole cache lines of each row.
  constexpr int64_t kSliceCols = 64;
  const int64_t slices = (OC + kSliceCols - 1) / kSliceCols;
  parallel_for(slices, B * OC > kParallelElements, [&](int64_t s) {
    const int64_t col0 = s * kSliceCols, cols = std::min(kSliceCols, OC - col0);
    activation_backward_epilogue<T>(&e, dz + col0, OC, 0, col0, B, cols);
  });
}

template <typename T> void bias_grad(T* dbias, const T* dout, int64_t B, int64_t OC, bool accumulate) {
  // Row after row in a fixed order: the same sums as sum_dim_forward, for any thread count.
  if (!accumulate) std::memset(dbias, 0, sizeof(T) * OC);
  for (int64_t b = 0; b < B; ++b) {
    const T* row = dout + b * OC;
    for (int64_t o = 0; o < OC; ++o) dbias[o] += row[o];
  }
}

#define CHAINRULE_DENSE(T)                                                                              \
  template void bias_activation_forward<T>(T*, T*, const T*, int64_t, int64_t, Activation, double);     \
  template void activation_backward_inplace<T>(T*, const T*, const T*, int64_t, Activation, double);    \
  template void bias_grad<T>(T*, const T*, int64_t, int64_t, bool);                                     \
  template void bias_activation_epilogue<T>(const void*, T*, int64_t, int64_t, int64_t, int64_t, int64_t); \
  template void activation_backward_epilogue<T>(const void*, T*, int64_t, int64_t, int64_t, int64_t,      \
                                                int64_t);                                               \
  template void activation_backward_bias_grad<T>(T*, T*, const T*, const T*, int64_t, int64_t, Activation, \
                                                 double, bool);
CHAINRULE_DENSE(float)
CHAINRULE_DENSE(double)
#undef CHAINRULE_DENSE

}  // namespace chainrule::cpu
