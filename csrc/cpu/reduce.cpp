// Reductions and the softmax family. Every summation order is fixed by the shape alone, so
// results are bitwise identical for any thread count.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "chainrule/kernels.h"
#include "chainrule/numeric.h"
#include "cpu/parallel.h"

namespace chainrule::cpu {

namespace {
constexpr int64_t kSumBlock = 4096;  // sum_all's block: partial sums per block, then over blocks

// Accumulator type: float sums run in double, which keeps large float32 losses accurate; integer
// sums run unsigned, so an overflowing sum wraps (as in NumPy and PyTorch) instead of being
// undefined behaviour.
template <typename T>
struct accumulator {
  using type = T;
};
template <>
struct accumulator<float> {
  using type = double;
};
template <>
struct accumulator<int64_t> {
  using type = uint64_t;
};
template <typename T>
using acc_t = typename accumulator<T>::type;
}  // namespace

namespace {
// x[begin, end) summed in acc_t<T> by four running sums (element i into sum i % 4 of its group
// of four), combined as (s0 + s1) + (s2 + s3), then the tail in order. One running sum would wait
// out the adder's latency (4 cycles) at every element: a 100-value loss took 400 cycles.
template <typename T>
acc_t<T> sum_range(const T* x, int64_t begin, int64_t end) {
  using A = acc_t<T>;
  A s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  A s = (s0 + s1) + (s2 + s3);
  for (; i < end; ++i) s += x[i];
  return s;
}
}  // namespace

template <typename T>
T sum_all(const T* x, int64_t n) {
  using A = acc_t<T>;
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (blocks <= 1) return static_cast<T>(sum_range(x, 0, n));
  std::vector<A> partial(static_cast<size_t>(blocks));
  parallel_for(blocks, n > kParallelElements,
               [&](int64_t bi) { partial[bi] = sum_range(x, bi * kSumBlock, std::min(n, (bi + 1) * kSumBlock)); });
  A s = 0;
  for (A p : partial) s += p;
  return static_cast<T>(s);
}

template <typename T>
void sum_dim_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  using A = acc_t<T>;
  if (inner == 1) {  // reduce contiguous rows
    parallel_for(outer, outer * n > kParallelElements, [&](int64_t o) {
      A s = 0;
      const T* row = x + o * n;
      for (int64_t j = 0; j < n; ++j) s += row[j];
      out[o] = static_cast<T>(s);
    });
    return;
  }
  // reduce across rows: add row after row into the output, which keeps the loads contiguous.
  parallel_for(outer, outer * n * inner > kParallelElements, [&](int64_t o) {
    T* dst = out + o * inner;
    const T* src = x + o * n * inner;
    std::memset(dst, 0, sizeof(T) * inner);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < inner; ++k) dst[k] = wrapping_add(dst[k], src[j * inner + k]);
  });
}

template <typename T>
void argmax_dim(int64_t* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      const T* p = x + o * n * inner + k;
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j)
        if (p[j * inner] > p[best * inner] ||
            (std::isnan(static_cast<double>(p[j * inner])) && !std::isnan(static_cast<double>(p[best * inner]))))
          best = j;
      out[o * inner + k] = best;
    }
}

template <typename T>
void softmax_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  parallel_for(outer * inner, outer * n * inner > kParallelElements, [&](int64_t row) {
    const int64_t o = row / inner, k = row % inner;
    const T* px = x + o * n * inner + k;
    T* py = out + o * n * inner + k;
    // Subtracting the maximum keeps exp() from overflowing (the usual log-sum-exp shift).
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, px[j * inner]);
    acc_t<T> s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(px[j * inner] - mx);
    if (log) {
      // (x - max) - log(s), as PyTorch computes it: folding max + log(s) into one number first
      // would round log(s) away next to a large max (e.g. logits ~5000 in float32).
      const T log_s = static_cast<T>(std::log(s));
      for (int64_t j = 0; j < n; ++j) py[j * inner] = (px[j * inner] - mx) - log_s;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < n; ++j) py[j * inner] = std::exp(px[j * inner] - mx) * inv;
    }
  });
}

template <typename T>
void softmax_backward(T* dx, const T* dout, const T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  parallel_for(outer * inner, outer * n * inner > kParallelElements, [&](int64_t row) {
    const int64_t o = row / inner, k = row % inner;
    const int64_t base = o * n * inner + k;
    acc_t<T> s = 0;
    if (log) {
      // y = log_softmax(x): dx = dout - softmax(x) * sum(dout)
      for (int64_t j = 0; j < n; ++j) s += dout[base + j * inner];
      for (int64_t j = 0; j < n; ++j)
        dx[base + j * inner] = dout[base + j * inner] - std::exp(y[base + j * inner]) * static_cast<T>(s);
    } else {
      // y = softmax(x): dx = y * (dout - sum(dout * y))
      for (int64_t j = 0; j < n; ++j) s += dout[base + j * inner] * y[base + j * inner];
      for (int64_t j = 0; j < n; ++j)
        dx[base + j * inner] = y[base + j * inner] * (dout[base + j * inner] - static_cast<T>(s));
    }
  });
}

#define CHAINRULE_REDUCE(T)                                                  \
  template T sum_all<T>(const T*, int64_t);                                  \
  template void sum_dim_forward<T>(T*, const T*, int64_t, int64_t, int64_t); \
  template void argmax_dim<T>(int64_t*, const T*, int64_t, int64_t, int64_t);
CHAINRULE_REDUCE(float)
CHAINRULE_REDUCE(double)
CHAINRULE_REDUCE(int64_t)
CHAINRULE_REDUCE(int32_t)
#undef CHAINRULE_REDUCE
#define CHAINRULE_SOFTMAX(T)                                                       \
  template void softmax_forward<T>(T*, const T*, int64_t, int64_t, int64_t, bool); \
  template void softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool);
CHAINRULE_SOFTMAX(float)
CHAINRULE_SOFTMAX(double)
#undef CHAINRULE_SOFTMAX

}  // namespace chainrule::cpu
