// The CUDA DeviceBackend (device.h): memory, copies and one stream per device, and DeviceKernels,
// the twins of the cpu:: kernels over device pointers. Each entry means exactly what the cpu::
// kernel of the same name means (kernels.h); where a kernel sums, it sums in the CPU's order with
// the CPU's accumulator type, one thread per sum and no atomics, so a result does not depend on the
// run and differs from the CPU's only by the device's libm and by contracted multiply-adds.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "chainrule/cuda_kernels.h"
#include "chainrule/errors.h"
#include "chainrule/numeric.h"
#include "cuda/cuda_check.h"
#include "cuda/device_backend.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

BroadcastArgs pack_broadcast(const Shape& out_shape, const std::vector<int64_t>& a_strides,
                             const std::vector<int64_t>& b_strides, const char* what) {
  const size_t ndim = out_shape.size();
  if (ndim > static_cast<size_t>(kMaxBroadcastDims))
    throw RuntimeError(std::string(what) + ": CUDA tensors support at most " + std::to_string(kMaxBroadcastDims) +
                       " dimensions here, got " + std::to_string(ndim));
  if (a_strides.size() != ndim || (!b_strides.empty() && b_strides.size() != ndim))
    throw ValueError(std::string(what) + ": the operands' strides do not match the output's " + std::to_string(ndim) +
                     " dimensions");
  BroadcastArgs args;
  args.ndim = static_cast<int>(ndim);
  args.numel = 1;
  for (size_t d = 0; d < ndim; ++d) {
    args.shape[d] = out_shape[d];
    args.a_stride[d] = a_strides[d];
    args.b_stride[d] = b_strides.empty() ? 0 : b_strides[d];
    args.numel *= out_shape[d];
  }
  return args;
}

namespace {
using namespace detail;

// Float sums accumulate in double, as on the CPU (acc_t in csrc/cpu/reduce.cpp).
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

// ---- which C++ type a dtype is ----------------------------------------------------------------
// Same-sized unsigned words for kernels that only move elements.
template <typename F>
void word_of_dtype(DType d, F f) {
  switch (d) {
    case DType::Float64:
    case DType::Int64: f(uint64_t{}); break;
    case DType::Float32:
    case DType::Int32: f(uint32_t{}); break;
    case DType::Bool: f(uint8_t{}); break;
  }
}

// ---- streams and the current device ------------------------------------------------------------
// The device this host thread last activated (-1: none yet); cudaSetDevice only when it changes.
thread_local int tls_current_device = -1;

struct Streams {
  std::mutex lock;
  std::vector<cudaStream_t> per_device;
};
Streams& streams() {
  static Streams* s = new Streams();  // never destroyed: streams stay valid until the process ends
  return *s;
}

void activate_device(int index) {
  if (index == tls_current_device) return;
  CHAINRULE_CUDA_CHECK(cudaSetDevice(index));
  tls_current_device = index;
}

// The stream of device `index`, created on first use. A blocking stream, so work the test entry
// points enqueue on the legacy default stream is ordered with it.
cudaStream_t stream_of(int index) {
  Streams& s = streams();
  std::lock_guard<std::mutex> guard(s.lock);
  if (s.per_device.size() <= static_cast<size_t>(index)) s.per_device.resize(index + 1, nullptr);
  cudaStream_t& stream = s.per_device[index];
  if (!stream) {
    activate_device(index);
    CHAINRULE_CUDA_CHECK(cudaStreamCreate(&stream));
  }
  return stream;
}

// The stream of the device activated last on this thread: where the kernels enqueue. Core
// activates a tensor's device (backend_for) before it calls a kernel.
cudaStream_t current_stream() {
  if (tls_current_device < 0) activate_device(0);
  return stream_of(tls_current_device);
}

void check_launch(const char* name) { CHAINRULE_CUDA_CHECK_LAUNCH(name); }

// ---- memory-shaped kernels ---------------------------------------------------------------------
// cpu::cast's conversion (convert_value in numeric.h): a float out of an integer's range, or NaN,
// becomes the integer's minimum; anything to bool is "nonzero".
template <typename To, typename From>
__device__ inline To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    constexpr To kMin = sizeof(To) == 8 ? static_cast<To>(INT64_MIN) : static_cast<To>(INT32_MIN);
    // -2^(bits-1) and 2^(bits-1) are exact in every floating type.
    const From lowest = sizeof(To) == 8 ? From(-9223372036854775808.0) : From(-2147483648.0);
    if (!(v >= lowest && v < -lowest)) return kMin;
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = value;
}

template <typename To, typename From>
__global__ void cast_kernel(To* out, const From* x, int64_t n) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = convert<To>(x[i]);
}

// dst row i = src row rows[i], moved in words W (row_words of them per row).
template <typename W>
__global__ void gather_rows_kernel(W* dst, const W* src, const int64_t* rows, int64_t count, int64_t row_words) {
  CHAINRULE_GRID_STRIDE(i, count * row_words) {
    const int64_t r = i / row_words, w = i % row_words;
    dst[i] = src[rows[r] * row_words + w];
  }
}

// out (cols, rows) = x (rows, cols)^T; one thread per output element, so writes are coalesced.
template <typename W>
__global__ void transpose2d_kernel(W* out, const W* x, int64_t rows, int64_t cols) {
  CHAINRULE_GRID_STRIDE(i, rows * cols) {
    const int64_t c = i / rows, r = i % rows;
    out[i] = x[r * cols + c];
  }
}

// The operands' element offsets of output element i.
__device__ inline void broadcast_offsets(const BroadcastArgs& bc, int64_t i, int64_t& a_offset, int64_t& b_offset) {
  a_offset = 0;
  b_offset = 0;
  for (int d = bc.ndim - 1; d >= 0; --d) {
    const int64_t c = i % bc.shape[d];
    i /= bc.shape[d];
    a_offset += c * bc.a_stride[d];
    b_offset += c * bc.b_stride[d];
  }
}

template <typename W>
__global__ void broadcast_to_kernel(W* out, const W* x, BroadcastArgs bc) {
  CHAINRULE_GRID_STRIDE(i, bc.numel) {
    int64_t xo, unused;
    broadcast_offsets(bc, i, xo, unused);
    out[i] = x[xo];
  }
}

// ---- elementwise -----------------------------------------------------------------------------
template <typename T>
__device__ inline T apply_binary(cpu::Binary op, T a, T b) {
  switch (op) {
    case cpu::Binary::Add: return a + b;
    case cpu::Binary::Sub: return a - b;
    case cpu::Binary::Mul: return a * b;
    case cpu::Binary::Div: return a / b;
    case cpu::Binary::Pow: return pow(a, b);
    case cpu::Binary::FloorDiv: return floor(a / b);
    case cpu::Binary::Remainder: {  // the divisor's sign, as Python
      T r = fmod(a, b);
      if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
      return r;
    }
    case cpu::Binary::Maximum:
      if (a != a || b != b) return a + b;  // NaN propagates
      return a > b ? a : b;
    case cpu::Binary::Minimum:
      if (a != a || b != b) return a + b;
      return a < b ? a : b;
  }
  return T(0);
}

// Partial derivatives of a op b times the incoming gradient g (cpu::binary_backward's).
template <typename T>
__device__ inline T binary_grad_a(cpu::Binary op, T g, T x, T y) {
  switch (op) {
    case cpu::Binary::Add:
    case cpu::Binary::Sub:
    case cpu::Binary::Remainder: return g;
    case cpu::Binary::Mul: return g * y;
    case cpu::Binary::Div: return g / y;
    case cpu::Binary::FloorDiv: return T(0);
    case cpu::Binary::Maximum: return x > y ? g : (x == y ? g / T(2) : T(0));
    case cpu::Binary::Minimum: return x < y ? g : (x == y ? g / T(2) : T(0));
    case cpu::Binary::Pow: return y == T(0) ? T(0) : g * y * pow(x, y - T(1));
  }
  return T(0);
}
template <typename T>
__device__ inline T binary_grad_b(cpu::Binary op, T g, T x, T y) {
  switch (op) {
    case cpu::Binary::Add: return g;
    case cpu::Binary::Sub: return -g;
    case cpu::Binary::Mul: return g * x;
    case cpu::Binary::Div: return -g * x / (y * y);
    case cpu::Binary::FloorDiv: return T(0);
    case cpu::Binary::Remainder: return -g * floor(x / y);
    case cpu::Binary::Maximum: return y > x ? g : (x == y ? g / T(2) : T(0));
    case cpu::Binary::Minimum: return y < x ? g : (x == y ? g / T(2) : T(0));
    // PyTorch masks 0 ** y (y >= 0), whose log would be -inf, to a zero gradient.
    case cpu::Binary::Pow: return (x == T(0) && y >= T(0)) ? T(0) : g * pow(x, y) * log(x);
  }
  return T(0);
}

template <typename T>
__global__ void binary_forward_kernel(T* out, const T* a, const T* b, BroadcastArgs bc, cpu::Binary op) {
  CHAINRULE_GRID_STRIDE(i, bc.numel) {
    int64_t ao, bo;
    broadcast_offsets(bc, i, ao, bo);
    out[i] = apply_binary(op, a[ao], b[bo]);
  }
}

// The gradient of an operand with the output's shape: one element per output element.
template <typename T>
__global__ void binary_backward_full_kernel(T* grad, bool of_a, const T* dout, const T* a, const T* b, BroadcastArgs bc,
                                            cpu::Binary op) {
  CHAINRULE_GRID_STRIDE(i, bc.numel) {
    int64_t ao, bo;
    broadcast_offsets(bc, i, ao, bo);
    grad[i] = of_a ? binary_grad_a(op, dout[i], a[ao], b[bo]) : binary_grad_b(op, dout[i], a[ao], b[bo]);
  }
}

// The gradient of a broadcast operand (a when of_a, else b; `own_stride` its strides, zero on the
// broadcast dimensions): one thread per element of the operand, summing its output elements in
// increasing output order from 0, as cpu::binary_backward adds them.
template <typename T>
__global__ void binary_backward_reduce_kernel(T* grad, int64_t grad_numel, bool of_a, const T* dout, const T* a,
                                              const T* b, BroadcastArgs bc, cpu::Binary op) {
  const int64_t* own_stride = of_a ? bc.a_stride : bc.b_stride;
  int64_t out_stride[kMaxBroadcastDims];
  int64_t broadcast_count = 1;
  int64_t stride = 1;
  for (int d = bc.ndim - 1; d >= 0; --d) {
    out_stride[d] = stride;
    stride *= bc.shape[d];
    if (own_stride[d] == 0) broadcast_count *= bc.shape[d];
  }
  CHAINRULE_GRID_STRIDE(j, grad_numel) {
    // The first output element that reads operand element j: j's own coordinates, 0 elsewhere.
    int64_t base = 0;
    for (int d = 0; d < bc.ndim; ++d)
      if (own_stride[d] != 0) base += (j / own_stride[d]) % bc.shape[d] * out_stride[d];
    T sum = T(0);
    for (int64_t r = 0; r < broadcast_count; ++r) {
      // The r-th combination of the broadcast dimensions' coordinates, the last dimension fastest.
      int64_t o = base, rest = r;
      for (int d = bc.ndim - 1; d >= 0; --d) {
        if (own_stride[d] != 0) continue;
        o += rest % bc.shape[d] * out_stride[d];
        rest /= bc.shape[d];
      }
      int64_t ao, bo;
      broadcast_offsets(bc, o, ao, bo);
      sum += of_a ? binary_grad_a(op, dout[o], a[ao], b[bo]) : binary_grad_b(op, dout[o], a[ao], b[bo]);
    }
    grad[j] = sum;
  }
}

template <typename T>
__device__ inline bool apply_compare(cpu::Compare op, T a, T b) {
  switch (op) {
    case cpu::Compare::Eq: return a == b;
    case cpu::Compare::Ne: return a != b;
    case cpu::Compare::Lt: return a < b;
    case cpu::Compare::Le: return a <= b;
    case cpu::Compare::Gt: return a > b;
    case cpu::Compare::Ge: return a >= b;
    case cpu::Compare::And: return (a != T(0)) && (b != T(0));
    case cpu::Compare::Or: return (a != T(0)) || (b != T(0));
    case cpu::Compare::Xor: return (a != T(0)) != (b != T(0));
  }
  return false;
}

template <typename T>
__global__ void compare_kernel(bool* out, const T* a, const T* b, BroadcastArgs bc, cpu::Compare op) {
  CHAINRULE_GRID_STRIDE(i, bc.numel) {
    int64_t ao, bo;
    broadcast_offsets(bc, i, ao, bo);
    out[i] = apply_compare(op, a[ao], b[bo]);
  }
}

template <typename T>
__global__ void where_kernel(T* out, const bool* condition, const T* a, const T* b, int64_t n) {
  CHAINRULE_GRID_STRIDE(i, n) out[i] = condition[i] ? a[i] : b[i];
}

// Lower bound first, so the upper wins when lo > hi; NaN stays NaN (no comparison holds).
template <typename T>
__global__ void clamp_forward_kernel(T* out, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi) {
  CHAINRULE_GRID_STRIDE(i, n) {
    const T v = has_lo && x[i] < lo ? lo : x[i];
    out[i] = has_hi && v > hi ? hi : v;
  }
}

template <typename T>
__global__ void clamp_backward_kernel(T* dx, const T* dout, const T* x, int64_t n, T lo, T hi, bool has_lo,
                                      bool has_hi) {
  CHAINRULE_GRID_STRIDE(i, n) {
    const T v = has_lo && x[i] < lo ? lo : x[i];                          // what the upper bound saw
    const bool passes = (!has_lo || x[i] >= lo) && (!has_hi || v <= hi);  // false at NaN
    dx[i] = passes ? dout[i] : T(0);
  }
}

// ---- reductions ------------------------------------------------------------------------------
// x viewed as (outer, n, inner); one thread per output element. Contiguous rows sum in acc_t, rows
// added into an output row sum in T: the CPU's two cases.
template <typename T>
__global__ void sum_dim_kernel(T* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  CHAINRULE_GRID_STRIDE(idx, outer * inner) {
    const int64_t o = idx / inner, k = idx % inner;
    const T* p = x + o * n * inner + k;
    if (inner == 1) {
      acc_t<T> s = 0;
      for (int64_t j = 0; j < n; ++j) s += p[j];
      out[idx] = static_cast<T>(s);
    } else {
      T s = 0;
      for (int64_t j = 0; j < n; ++j) s += p[j * inner];
      out[idx] = s;
    }
  }
}

// cpu::sum_all's order: partial sums over blocks of kSumBlock elements, then the partials in order.
// One block of kSumThreads threads: each round, thread t sums block (round * kSumThreads + t) into
// shared memory, and thread 0 adds the round's partials in order to the running total.
constexpr int64_t kSumBlock = 4096;
constexpr int kSumThreads = 256;
template <typename T>
__global__ void sum_all_kernel(T* out, const T* x, int64_t n) {
  using A = acc_t<T>;
  __shared__ A partial[kSumThreads];
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  A total = 0;
  for (int64_t first = 0; first < blocks; first += kSumThreads) {
    const int64_t bi = first + threadIdx.x;
    A s = 0;
    if (bi < blocks) {
      const int64_t end = min(n, (bi + 1) * kSumBlock);
      for (int64_t i = bi * kSumBlock; i < end; ++i) s += x[i];
    }
    partial[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
      const int64_t here = min(static_cast<int64_t>(kSumThreads), blocks - first);
      for (int64_t k = 0; k < here; ++k) total += partial[k];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<T>(total);
}

template <typename T>
__global__ void argmax_kernel(int64_t* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  CHAINRULE_GRID_STRIDE(idx, outer * inner) {
    const int64_t o = idx / inner, k = idx % inner;
    const T* p = x + o * n * inner + k;
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j) {
      const T v = p[j * inner], b = p[best * inner];
      if (v > b || (v != v && b == b)) best = j;  // the first maximum; the first NaN wins
    }
    out[idx] = best;
  }
}

// One thread per softmax row of (outer, n, inner), the CPU's loops.
template <typename T>
__global__ void softmax_forward_kernel(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, bool log_out) {
  CHAINRULE_GRID_STRIDE(row, outer * inner) {
    const int64_t o = row / inner, k = row % inner;
    const T* px = x + o * n * inner + k;
    T* py = out + o * n * inner + k;
    T mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) mx = mx < px[j * inner] ? px[j * inner] : mx;  // std::max's NaN handling
    acc_t<T> s = 0;
    for (int64_t j = 0; j < n; ++j) s += exp(px[j * inner] - mx);
    if (log_out) {
      const T log_s = static_cast<T>(log(s));
      for (int64_t j = 0; j < n; ++j) py[j * inner] = (px[j * inner] - mx) - log_s;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < n; ++j) py[j * inner] = exp(px[j * inner] - mx) * inv;
    }
  }
}

template <typename T>
__global__ void softmax_backward_kernel(T* dx, const T* dout, const T* y, int64_t outer, int64_t n, int64_t inner,
                                        bool log_out) {
  CHAINRULE_GRID_STRIDE(row, outer * inner) {
    const int64_t o = row / inner, k = row % inner;
    const int64_t base = o * n * inner + k;
    acc_t<T> s = 0;
    if (log_out) {  // dx = dout - softmax(x) * sum(dout)
      for (int64_t j = 0; j < n; ++j) s += dout[base + j * inner];
      for (int64_t j = 0; j < n; ++j)
        dx[base + j * inner] = dout[base + j * inner] - exp(y[base + j * inner]) * static_cast<T>(s);
    } else {  // dx = y * (dout - sum(dout * y))
      for (int64_t j = 0; j < n; ++j) s += dout[base + j * inner] * y[base + j * inner];
      for (int64_t j = 0; j < n; ++j)
        dx[base + j * inner] = y[base + j * inner] * (dout[base + j * inner] - static_cast<T>(s));
    }
  }
}

// ---- normalisation and dropout ---------------------------------------------------------------
// One thread per feature (column) of x (B, F): adjacent threads read adjacent columns of a row.
template <typename T>
__global__ void batch_norm_forward_kernel(T* out, T* mean, T* rstd, T* batch_var, const T* x, const T* gamma,
                                          const T* beta, const T* running_mean, const T* running_var, int64_t B,
                                          int64_t F, double eps, bool use_batch_stats) {
  CHAINRULE_GRID_STRIDE(f, F) {
    double var = 0;
    if (use_batch_stats) {
      double sum = 0;
      for (int64_t b = 0; b < B; ++b) sum += x[b * F + f];
      mean[f] = static_cast<T>(sum / static_cast<double>(B));
      for (int64_t b = 0; b < B; ++b) {
        const double d = static_cast<double>(x[b * F + f]) - static_cast<double>(mean[f]);
        var += d * d;
      }
      var /= static_cast<double>(B);
      if (batch_var) batch_var[f] = static_cast<T>(var);
    } else {
      mean[f] = running_mean[f];
      var = static_cast<double>(running_var[f]);
    }
    rstd[f] = static_cast<T>(1.0 / sqrt(var + eps));
    const T scale = gamma ? rstd[f] * gamma[f] : rstd[f];
    const T shift = beta ? beta[f] : T(0);
    const T m = mean[f];
    for (int64_t b = 0; b < B; ++b) out[b * F + f] = (x[b * F + f] - m) * scale + shift;
  }
}

template <typename T>
__global__ void batch_norm_backward_kernel(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean,
                                           const T* rstd, const T* gamma, int64_t B, int64_t F, bool use_batch_stats,
                                           bool accumulate) {
  CHAINRULE_GRID_STRIDE(f, F) {
    // In double and in row order: the sums largely cancel (cpu::batch_norm_backward).
    double sum_dy_d = 0, sum_dy_xhat_d = 0;
    const T m = mean[f], r = rstd[f];
    for (int64_t b = 0; b < B; ++b) {
      const T d = dout[b * F + f];
      sum_dy_d += static_cast<double>(d);
      sum_dy_xhat_d += static_cast<double>(d) * static_cast<double>((x[b * F + f] - m) * r);
    }
    const T sum_dy = static_cast<T>(sum_dy_d), sum_dy_xhat = static_cast<T>(sum_dy_xhat_d);
    if (dgamma) dgamma[f] = (accumulate ? dgamma[f] : T(0)) + sum_dy_xhat;
    if (dbeta) dbeta[f] = (accumulate ? dbeta[f] : T(0)) + sum_dy;
    if (!dx) continue;
    const T inv_b = T(1) / static_cast<T>(B);
    const T k = (gamma ? gamma[f] : T(1)) * r;
    for (int64_t b = 0; b < B; ++b) {
      const T d = dout[b * F + f];
      if (use_batch_stats) {
        const T xhat = (x[b * F + f] - m) * r;
        dx[b * F + f] = k * (d - sum_dy * inv_b - xhat * (sum_dy_xhat * inv_b));
      } else {
        dx[b * F + f] = k * d;
      }
    }
  }
}

// cpu::row_sum / row_sum_squares: eight interleaved partial sums in double, then a fixed tree.
template <typename T>
__device__ inline double row_sum(const T* x, int64_t n, bool squares, double center) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double v = static_cast<double>(x[i + j]);
      lanes[j] += squares ? (v - center) * (v - center) : v;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double v = static_cast<double>(x[i]);
    lanes[j] += squares ? (v - center) * (v - center) : v;
  }
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

// One thread per row of x (B, F).
template <typename T>
__global__ void layer_norm_forward_kernel(T* out, T* mean, T* rstd, const T* x, const T* gamma, const T* beta,
                                          int64_t B, int64_t F, double eps) {
  CHAINRULE_GRID_STRIDE(b, B) {
    const T* xr = x + b * F;
    T* o = out + b * F;
    const T m = static_cast<T>(row_sum(xr, F, false, 0.0) / static_cast<double>(F));
    const double sq = row_sum(xr, F, true, static_cast<double>(m));
    const T r = static_cast<T>(1.0 / sqrt(sq / static_cast<double>(F) + eps));
    mean[b] = m;
    rstd[b] = r;
    for (int64_t f = 0; f < F; ++f) {
      const T xhat = (xr[f] - m) * r;
      o[f] = gamma ? (beta ? xhat * gamma[f] + beta[f] : xhat * gamma[f]) : (beta ? xhat + beta[f] : xhat);
    }
  }
}

// dgamma, dbeta: one thread per feature, rows in order, in double.
template <typename T>
__global__ void layer_norm_param_grads_kernel(T* dgamma, T* dbeta, const T* dout, const T* x, const T* mean,
                                              const T* rstd, int64_t B, int64_t F, bool accumulate) {
  CHAINRULE_GRID_STRIDE(f, F) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t b = 0; b < B; ++b) {
      const T d = dout[b * F + f];
      sum_dy += static_cast<double>(d);
      sum_dy_xhat += static_cast<double>(d) * static_cast<double>((x[b * F + f] - mean[b]) * rstd[b]);
    }
    if (dgamma) dgamma[f] = (accumulate ? dgamma[f] : T(0)) + static_cast<T>(sum_dy_xhat);
    if (dbeta) dbeta[f] = (accumulate ? dbeta[f] : T(0)) + static_cast<T>(sum_dy);
  }
}

// dx = rstd (g - mean(g) - xhat mean(g xhat)) per row, g = dy * gamma; each sum in 16 interleaved
// partial sums and a halving tree, as on the CPU. One thread per row.
template <typename T>
__global__ void layer_norm_dx_kernel(T* dx, const T* dout, const T* x, const T* mean, const T* rstd, const T* gamma,
                                     int64_t B, int64_t F) {
  constexpr int kLanes = 16;
  CHAINRULE_GRID_STRIDE(b, B) {
    const T* d = dout + b * F;
    const T* xr = x + b * F;
    T* o = dx + b * F;
    const T m = mean[b], r = rstd[b];
    T lanes_g[kLanes], lanes_gx[kLanes];
    for (int j = 0; j < kLanes; ++j) lanes_g[j] = lanes_gx[j] = T(0);
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
    const T inv_f = T(1) / static_cast<T>(F);
    const T mean_g = lanes_g[0] * inv_f, mean_g_xhat = lanes_gx[0] * inv_f;
    for (int64_t k = 0; k < F; ++k) {
      const T g = gamma ? d[k] * gamma[k] : d[k];
      o[k] = r * (g - mean_g - ((xr[k] - m) * r) * mean_g_xhat);
    }
  }
}

// mask holds uniform [0, 1) draws on entry; the threshold and the scale are rounded to T as on the CPU.
template <typename T>
__global__ void dropout_forward_kernel(T* out, T* mask, const T* x, int64_t n, bool keep_any, T keep_below, T scale) {
  CHAINRULE_GRID_STRIDE(i, n) {
    mask[i] = (keep_any && mask[i] < keep_below) ? scale : T(0);
    out[i] = x[i] * mask[i];
  }
}

template <typename T>
__global__ void dropout_backward_kernel(T* dx, const T* dout, const T* mask, int64_t n) {
  CHAINRULE_GRID_STRIDE(i, n) dx[i] = dout[i] * mask[i];
}

// ---- the kernel table ------------------------------------------------------------------------
template <typename T>
T* as(void* p) {
  return static_cast<T*>(p);
}
template <typename T>
const T* as(const void* p) {
  return static_cast<const T*>(p);
}

struct CudaKernels final : DeviceKernels {
  void fill(DType dtype, void* out, int64_t n, double value) const override {
    if (n <= 0) return;
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      // As the CPU fills: anything nonzero is true; out-of-range values become an integer's minimum.
      T v;
      if constexpr (std::is_same_v<T, bool>)
        v = value != 0.0;
      else
        v = convert_value<T>(value);
      fill_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(as<T>(out), n, v);
    });
    check_launch("fill_kernel");
  }
  void cast(DType to, void* out, DType from, const void* x, int64_t n) const override {
    if (n <= 0) return;
    for_dtype(to, [&](auto o) {
      using To = decltype(o);
      for_dtype(from, [&](auto f) {
        using From = decltype(f);
        cast_kernel<To, From><<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(as<To>(out), as<From>(x), n);
      });
    });
    check_launch("cast_kernel");
  }
  void gather_rows(void* dst, const void* src, const int64_t* rows, int64_t count, size_t row_bytes) const override {
    if (count <= 0 || row_bytes == 0) return;
    const uintptr_t alignment = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | row_bytes;
    auto launch = [&](auto word) {
      using W = decltype(word);
      const int64_t row_words = static_cast<int64_t>(row_bytes / sizeof(W));
      gather_rows_kernel<W><<<grid_for(count * row_words), kThreadsPerBlock, 0, current_stream()>>>(
          as<W>(dst), as<W>(src), rows, count, row_words);
    };
    if (alignment % 8 == 0)
      launch(uint64_t{});
    else if (alignment % 4 == 0)
      launch(uint32_t{});
    else
      launch(uint8_t{});
    check_launch("gather_rows_kernel");
  }
  void transpose2d(DType dtype, void* out, const void* x, int64_t rows, int64_t cols) const override {
    if (rows * cols <= 0) return;
    word_of_dtype(dtype, [&](auto w) {
      using W = decltype(w);
      transpose2d_kernel<W>
          <<<grid_for(rows * cols), kThreadsPerBlock, 0, current_stream()>>>(as<W>(out), as<W>(x), rows, cols);
    });
    check_launch("transpose2d_kernel");
  }
  void broadcast_to(DType dtype, void* out, const void* x, const Shape& out_shape,
                    const std::vector<int64_t>& x_strides) const override {
    const BroadcastArgs bc = pack_broadcast(out_shape, x_strides, {}, "broadcast_to");
    if (bc.numel <= 0) return;
    word_of_dtype(dtype, [&](auto w) {
      using W = decltype(w);
      broadcast_to_kernel<W><<<grid_for(bc.numel), kThreadsPerBlock, 0, current_stream()>>>(as<W>(out), as<W>(x), bc);
    });
    check_launch("broadcast_to_kernel");
  }

  void unary_forward(DType dtype, void* out, const void* x, int64_t n, cpu::Unary op, double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::unary_forward<T>(as<T>(out), as<T>(x), n, op, param, current_stream());
    });
  }
  void unary_backward(DType dtype, void* dx, const void* dout, const void* x, const void* y, int64_t n, cpu::Unary op,
                      double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::unary_backward<T>(as<T>(dx), as<T>(dout), as<T>(x), as<T>(y), n, op, param, current_stream());
    });
  }
  void binary_forward(DType dtype, void* out, const void* a, const void* b, const cpu::Broadcast& bc,
                      cpu::Binary op) const override {
    const BroadcastArgs args = pack_broadcast(bc.out_shape, bc.a_strides, bc.b_strides, "binary_forward");
    if (args.numel <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      binary_forward_kernel<T>
          <<<grid_for(args.numel), kThreadsPerBlock, 0, current_stream()>>>(as<T>(out), as<T>(a), as<T>(b), args, op);
    });
    check_launch("binary_forward_kernel");
  }
  void binary_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b,
                       const cpu::Broadcast& bc, cpu::Binary op) const override {
    const BroadcastArgs args = pack_broadcast(bc.out_shape, bc.a_strides, bc.b_strides, "binary_backward");
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      const cudaStream_t stream = current_stream();
      auto one_side = [&](void* grad, bool of_a, bool full, int64_t grad_numel) {
        if (!grad || grad_numel <= 0) return;
        if (args.numel <= 0) {  // nothing flows back: a zero gradient
          CHAINRULE_CUDA_CHECK(cudaMemsetAsync(grad, 0, sizeof(T) * grad_numel, stream));
        } else if (full) {
          binary_backward_full_kernel<T><<<grid_for(args.numel), kThreadsPerBlock, 0, stream>>>(
              as<T>(grad), of_a, as<T>(dout), as<T>(a), as<T>(b), args, op);
        } else {
          binary_backward_reduce_kernel<T><<<grid_for(grad_numel), kThreadsPerBlock, 0, stream>>>(
              as<T>(grad), grad_numel, of_a, as<T>(dout), as<T>(a), as<T>(b), args, op);
        }
        check_launch("binary_backward");
      };
      one_side(da, true, bc.a_full, bc.a_numel);
      one_side(db, false, bc.b_full, bc.b_numel);
    });
  }
  void compare_forward(DType dtype, bool* out, const void* a, const void* b, const cpu::Broadcast& bc,
                       cpu::Compare op) const override {
    const BroadcastArgs args = pack_broadcast(bc.out_shape, bc.a_strides, bc.b_strides, "compare_forward");
    if (args.numel <= 0) return;
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      compare_kernel<T>
          <<<grid_for(args.numel), kThreadsPerBlock, 0, current_stream()>>>(out, as<T>(a), as<T>(b), args, op);
    });
    check_launch("compare_kernel");
  }
  void where_forward(DType dtype, void* out, const bool* condition, const void* a, const void* b,
                     int64_t n) const override {
    if (n <= 0) return;
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      where_kernel<T>
          <<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(as<T>(out), condition, as<T>(a), as<T>(b), n);
    });
    check_launch("where_kernel");
  }
  void clamp_forward(DType dtype, void* out, const void* x, int64_t n, double lo, double hi, bool has_lo,
                     bool has_hi) const override {
    if (n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      clamp_forward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(out), as<T>(x), n, static_cast<T>(lo), static_cast<T>(hi), has_lo, has_hi);
    });
    check_launch("clamp_forward_kernel");
  }
  void clamp_backward(DType dtype, void* dx, const void* dout, const void* x, int64_t n, double lo, double hi,
                      bool has_lo, bool has_hi) const override {
    if (n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      clamp_backward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(dx), as<T>(dout), as<T>(x), n, static_cast<T>(lo), static_cast<T>(hi), has_lo, has_hi);
    });
    check_launch("clamp_backward_kernel");
  }

  void sum_dim_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n, int64_t inner) const override {
    if (outer * inner <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      sum_dim_kernel<T>
          <<<grid_for(outer * inner), kThreadsPerBlock, 0, current_stream()>>>(as<T>(out), as<T>(x), outer, n, inner);
    });
    check_launch("sum_dim_kernel");
  }
  void sum_all(DType dtype, void* out, const void* x, int64_t n) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      sum_all_kernel<T><<<1, kSumThreads, 0, current_stream()>>>(as<T>(out), as<T>(x), n);
    });
    check_launch("sum_all_kernel");
  }
  void argmax_dim(DType dtype, int64_t* out, const void* x, int64_t outer, int64_t n, int64_t inner) const override {
    if (outer * inner <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      argmax_kernel<T>
          <<<grid_for(outer * inner), kThreadsPerBlock, 0, current_stream()>>>(out, as<T>(x), outer, n, inner);
    });
    check_launch("argmax_kernel");
  }
  void softmax_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n, int64_t inner,
                       bool log) const override {
    if (outer * inner <= 0 || n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      softmax_forward_kernel<T><<<grid_for(outer * inner), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(out), as<T>(x), outer, n, inner, log);
    });
    check_launch("softmax_forward_kernel");
  }
  void softmax_backward(DType dtype, void* dx, const void* dout, const void* y, int64_t outer, int64_t n, int64_t inner,
                        bool log) const override {
    if (outer * inner <= 0 || n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      softmax_backward_kernel<T><<<grid_for(outer * inner), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(dx), as<T>(dout), as<T>(y), outer, n, inner, log);
    });
    check_launch("softmax_backward_kernel");
  }

  void linear_forward(DType dtype, void* out, const void* inp, const void* weight, const void* bias, int64_t B,
                      int64_t C, int64_t OC) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::linear_forward<T>(as<T>(out), as<T>(inp), as<T>(weight), as<T>(bias), B, C, OC, current_stream());
    });
  }
  void linear_backward(DType dtype, void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                       const void* weight, int64_t B, int64_t C, int64_t OC) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::linear_backward<T>(as<T>(dinp), as<T>(dweight), as<T>(dbias), as<T>(dout), as<T>(inp), as<T>(weight), B, C,
                               OC, /*lt_epilogue=*/true, current_stream());
    });
  }
  void matmul_forward(DType dtype, void* out, const void* a, const void* b, int64_t M, int64_t K,
                      int64_t N) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::matmul_forward<T>(as<T>(out), as<T>(a), as<T>(b), M, K, N, current_stream());
    });
  }
  void matmul_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b, int64_t M,
                       int64_t K, int64_t N) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::matmul_backward<T>(as<T>(da), as<T>(db), as<T>(dout), as<T>(a), as<T>(b), M, K, N, current_stream());
    });
  }
  void dense_forward(DType dtype, void* a, void* z, const void* inp, const void* weight, const void* bias, int64_t B,
                     int64_t C, int64_t OC, cpu::Activation act, double param, double param2) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::dense_forward<T>(as<T>(a), as<T>(z), as<T>(inp), as<T>(weight), as<T>(bias), B, C, OC, act, param, param2,
                             /*lt_epilogue=*/true, current_stream());
    });
  }
  void activation_backward_inplace(DType dtype, void* dz, const void* a, const void* z, int64_t n, cpu::Activation act,
                                   double param, double param2) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::activation_backward_inplace<T>(as<T>(dz), as<T>(a), as<T>(z), n, act, param, param2, current_stream());
    });
  }
  void bias_grad(DType dtype, void* dbias, const void* dout, int64_t B, int64_t OC, bool accumulate) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::bias_grad<T>(as<T>(dbias), as<T>(dout), B, OC, accumulate, current_stream());
    });
  }
  void batch_norm_forward(DType dtype, void* out, void* mean, void* rstd, void* batch_var, const void* x,
                          const void* gamma, const void* beta, const void* running_mean, const void* running_var,
                          int64_t B, int64_t F, double eps, bool use_batch_stats) const override {
    if (F <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      batch_norm_forward_kernel<T><<<grid_for(F), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(out), as<T>(mean), as<T>(rstd), as<T>(batch_var), as<T>(x), as<T>(gamma), as<T>(beta),
          as<T>(running_mean), as<T>(running_var), B, F, eps, use_batch_stats);
    });
    check_launch("batch_norm_forward_kernel");
  }
  void batch_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                           const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                           bool use_batch_stats, bool accumulate) const override {
    if (F <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      batch_norm_backward_kernel<T><<<grid_for(F), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(dx), as<T>(dgamma), as<T>(dbeta), as<T>(dout), as<T>(x), as<T>(mean), as<T>(rstd), as<T>(gamma), B, F,
          use_batch_stats, accumulate);
    });
    check_launch("batch_norm_backward_kernel");
  }
  void layer_norm_forward(DType dtype, void* out, void* mean, void* rstd, const void* x, const void* gamma,
                          const void* beta, int64_t B, int64_t F, double eps) const override {
    if (B <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      layer_norm_forward_kernel<T><<<grid_for(B), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(out), as<T>(mean), as<T>(rstd), as<T>(x), as<T>(gamma), as<T>(beta), B, F, eps);
    });
    check_launch("layer_norm_forward_kernel");
  }
  void layer_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                           const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                           bool accumulate) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      const cudaStream_t stream = current_stream();
      if ((dgamma || dbeta) && F > 0) {
        layer_norm_param_grads_kernel<T><<<grid_for(F), kThreadsPerBlock, 0, stream>>>(
            as<T>(dgamma), as<T>(dbeta), as<T>(dout), as<T>(x), as<T>(mean), as<T>(rstd), B, F, accumulate);
        check_launch("layer_norm_param_grads_kernel");
      }
      if (dx && B > 0) {
        layer_norm_dx_kernel<T><<<grid_for(B), kThreadsPerBlock, 0, stream>>>(
            as<T>(dx), as<T>(dout), as<T>(x), as<T>(mean), as<T>(rstd), as<T>(gamma), B, F);
        check_launch("layer_norm_dx_kernel");
      }
    });
  }
  void dropout_forward(DType dtype, void* out, void* mask, const void* x, int64_t n, double p) const override {
    if (n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      const T keep_below = static_cast<T>(1.0 - p);
      const T scale = p >= 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
      dropout_forward_kernel<T><<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(
          as<T>(out), as<T>(mask), as<T>(x), n, p < 1.0, keep_below, scale);
    });
    check_launch("dropout_forward_kernel");
  }
  void dropout_backward(DType dtype, void* dx, const void* dout, const void* mask, int64_t n) const override {
    if (n <= 0) return;
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      dropout_backward_kernel<T>
          <<<grid_for(n), kThreadsPerBlock, 0, current_stream()>>>(as<T>(dx), as<T>(dout), as<T>(mask), n);
    });
    check_launch("dropout_backward_kernel");
  }

  void loss_forward(DType dtype, void* out, const void* pred, const void* target, int64_t n, cpu::Loss loss,
                    double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::loss_forward<T>(as<T>(out), as<T>(pred), as<T>(target), n, loss, param, current_stream());
    });
  }
  void loss_backward(DType dtype, void* dpred, void* dtarget, const void* dout, bool dout_is_scalar, const void* pred,
                     const void* target, int64_t n, cpu::Loss loss, double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::loss_backward<T>(as<T>(dpred), as<T>(dtarget), as<T>(dout), dout_is_scalar, as<T>(pred), as<T>(target), n,
                             loss, param, current_stream());
    });
  }
  void cross_entropy_forward(DType dtype, void* losses, void* log_probs, const void* logits, const int64_t* target,
                             int64_t N, int64_t C) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::cross_entropy_forward<T>(as<T>(losses), as<T>(log_probs), as<T>(logits), target, N, C, current_stream());
    });
  }
  void cross_entropy_backward(DType dtype, void* dlogits, const void* dout, bool dout_is_scalar, const void* log_probs,
                              const int64_t* target, int64_t N, int64_t C) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::cross_entropy_backward<T>(as<T>(dlogits), as<T>(dout), dout_is_scalar, as<T>(log_probs), target, N, C,
                                      current_stream());
    });
  }

  void sgd_update(DType dtype, const TensorGroup& group, const cpu::SgdOptions& opt, bool first_step) const override {
    check_group(group, opt.momentum != 0.0 ? 1 : 0, "sgd_update");
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::sgd_update_group<T>(group, opt, first_step, current_stream());
    });
  }
  void adam_update(DType dtype, const TensorGroup& group, const cpu::AdamOptions& opt, int64_t step) const override {
    check_group(group, opt.amsgrad ? 3 : 2, "adam_update");
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cuda::adam_update_group<T>(group, opt, step, current_stream());
    });
  }

 private:
  // A kernel would write through a missing state pointer and poison the context: refuse on the host.
  static void check_group(const TensorGroup& group, size_t states_needed, const char* what) {
    const size_t count = group.params.size();
    bool ok = group.grads.size() == count && group.n.size() == count && group.states.size() >= states_needed;
    for (size_t s = 0; ok && s < group.states.size(); ++s) ok = group.states[s].size() == count;
    for (size_t k = 0; ok && k < count; ++k) {
      ok = group.n[k] <= 0 || (group.params[k] && group.grads[k]);
      for (size_t s = 0; ok && s < states_needed; ++s) ok = group.n[k] <= 0 || group.states[s][k];
    }
    if (!ok)
      throw ValueError(std::string(what) +
                       ": the tensor group's params, grads, sizes and the states its options use must all be "
                       "given, one per tensor");
  }
};

// ---- the backend -------------------------------------------------------------------------------
struct CudaBackend final : DeviceBackend {
  CudaKernels kernel_table;

  DeviceType type() const override { return DeviceType::CUDA; }
  int device_count() const override { return cuda::device_count(); }
  void activate(int index) const override { activate_device(index); }

  void* raw_allocate(int index, size_t nbytes) const override {
    activate_device(index);
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, nbytes == 0 ? 1 : nbytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, so the next launch does not report it; the allocator retries
      return nullptr;
    }
    CHAINRULE_CUDA_CHECK(status);
    return p;
  }
  void raw_free(int index, void* p) const override {
    if (!p) return;
    activate_device(index);
    // No throw: frees run while tensors die, and a failure here (a poisoned context) has been, or
    // will be, reported by the call that caused it.
    if (cudaFree(p) != cudaSuccess) cudaGetLastError();
  }
  void copy_from_host(int index, void* device_dst, const void* host_src, size_t nbytes) const override {
    if (nbytes == 0) return;
    activate_device(index);
    CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, nbytes, cudaMemcpyHostToDevice, stream_of(index)));
  }
  void copy_to_host(int index, void* host_dst, const void* device_src, size_t nbytes) const override {
    if (nbytes == 0) return;
    activate_device(index);
    const cudaStream_t stream = stream_of(index);
    CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, nbytes, cudaMemcpyDeviceToHost, stream));
    CHAINRULE_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  void copy_on_device(int index, void* dst, const void* src, size_t nbytes) const override {
    if (nbytes == 0) return;
    activate_device(index);
    CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream_of(index)));
  }
  void synchronize(int index) const override {
    activate_device(index);
    CHAINRULE_CUDA_CHECK(cudaStreamSynchronize(stream_of(index)));
  }
  const DeviceKernels& kernels() const override { return kernel_table; }
};

}  // namespace

const DeviceBackend& the_cuda_backend() {
  static const CudaBackend* backend = new CudaBackend();  // never destroyed: tensors may be freed at exit
  return *backend;
}

}  // namespace chainrule::cuda
