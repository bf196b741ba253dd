// Elementwise kernels: activations (unary) and arithmetic with NumPy broadcasting (binary).
//
// Floating-point ops with a SIMD kernel (isa/elementwise_kernels.h) run it on the ISA the GEMM
// dispatches to (CHAINRULE_ISA applies to both); the scalar loops here are the reference and the
// fallback, with the C library's exp, log, sin, ... Large tensors are cut into fixed chunks that
// threads share; every element's result depends only on its operands, so the thread count and
// the chunking never change a bit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "chainrule/activation_math.h"
#include "chainrule/gemm.h"
#include "chainrule/kernels.h"
#include "chainrule/numeric.h"
#include "cpu/isa_builds.h"
#include "cpu/parallel.h"
#include "isa/elementwise_kernels.h"

namespace chainrule::cpu {

namespace {
template <typename T, typename F>
void map_n(T* out, int64_t n, F f) {
  parallel_for(n, n > kParallelElements, [&](int64_t i) { out[i] = f(i); });
}

// The grain of parallel elementwise work: big enough to amortise a task, small enough to
// balance two threads on a megabyte tensor.
constexpr int64_t kChunkElements = 1 << 14;
// exp, sin, tanh, ... cost some 10x an add per element, so they go parallel on smaller tensors.
constexpr int64_t kParallelTranscendental = 1 << 13;

// f(begin, end) over [0, n) in chunks of kChunkElements, threads sharing the chunks when n
// exceeds `parallel_above`.
template <typename F>
void for_chunks(int64_t n, int64_t parallel_above, F f) {
  const int64_t chunks = (n + kChunkElements - 1) / kChunkElements;
  parallel_for(chunks, n > parallel_above, [&](int64_t c) {
    const int64_t begin = c * kChunkElements;
    f(begin, std::min(n, begin + kChunkElements));
  });
}

// The SIMD kernels of the active ISA, or null on the scalar path.
template <typename T>
const detail::ElementwiseKernels<T>* simd_kernels() {
  return nullptr;
}
template <>
const detail::ElementwiseKernels<float>* simd_kernels<float>() {
  switch (active_isa()) {
#if CHAINRULE_HAVE_X86_ISA
    case Isa::Avx512: return &detail::kElementwiseF32Avx512;
    case Isa::Avx2: return &detail::kElementwiseF32Avx2;
#endif
#if CHAINRULE_HAVE_NEON_ISA
    case Isa::Neon: return &detail::kElementwiseF32Neon;
#endif
    default: return nullptr;
  }
}
template <>
const detail::ElementwiseKernels<double>* simd_kernels<double>() {
  switch (active_isa()) {
#if CHAINRULE_HAVE_X86_ISA
    case Isa::Avx512: return &detail::kElementwiseF64Avx512;
    case Isa::Avx2: return &detail::kElementwiseF64Avx2;
#endif
#if CHAINRULE_HAVE_NEON_ISA
    case Isa::Neon: return &detail::kElementwiseF64Neon;
#endif
    default: return nullptr;
  }
}
}  // namespace

const char* unary_name(Unary op) {
  switch (op) {
    case Unary::Neg: return "neg";
    case Unary::Exp: return "exp";
    case Unary::Log: return "log";
    case Unary::Relu: return "relu";
    case Unary::Sigmoid: return "sigmoid";
    case Unary::Tanh: return "tanh";
    case Unary::Abs: return "abs";
    case Unary::Sqrt: return "sqrt";
    case Unary::LeakyRelu: return "leaky_relu";
    case Unary::Gelu: return "gelu";
    case Unary::GeluTanh: return "gelu_tanh";
    case Unary::Sin: return "sin";
    case Unary::Cos: return "cos";
    case Unary::Tan: return "tan";
    case Unary::Log1p: return "log1p";
    case Unary::Expm1: return "expm1";
    case Unary::Rsqrt: return "rsqrt";
    case Unary::Sign: return "sign";
    case Unary::Floor: return "floor";
    case Unary::Ceil: return "ceil";
    case Unary::Round: return "round";
    case Unary::Square: return "square";
    case Unary::Reciprocal: return "reciprocal";
    case Unary::Log2: return "log2";
    case Unary::Log10: return "log10";
    case Unary::Erf: return "erf";
  }
  return "?";
}

bool unary_keeps_integers(Unary op) {
  switch (op) {
    case Unary::Neg:
    case Unary::Abs:
    case Unary::Relu:
    case Unary::Sign:
    case Unary::Floor:
    case Unary::Ceil:
    case Unary::Round:
    case Unary::Square: return true;
    default: return false;
  }
}

bool unary_is_piecewise_constant(Unary op) {
  return op == Unary::Sign || op == Unary::Floor || op == Unary::Ceil || op == Unary::Round;
}

namespace {
template <typename T>
inline T sign_of(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (v != v) return v;  // sign(nan) is nan, as in PyTorch
  }
  return static_cast<T>((v > T(0)) - (v < T(0)));
}
}  // namespace

template <typename T>
void unary_forward(T* out, const T* x, int64_t n, Unary op, double param) {
  if constexpr (std::is_floating_point_v<T>) {
    const detail::ElementwiseKernels<T>* simd = simd_kernels<T>();
    if (simd && detail::unary_has_simd_kernel(op)) {
      const bool cheap = op == Unary::Neg || op == Unary::Abs || op == Unary::Relu || op == Unary::Square;
      for_chunks(n, cheap ? kParallelElements : kParallelTranscendental,
                 [&](int64_t begin, int64_t end) { simd->unary(out + begin, x + begin, end - begin, op); });
      return;
    }
  }
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case Unary::Neg: map_n(out, n, [&](int64_t i) { return static_cast<T>(-x[i]); }); break;
      case Unary::Abs: map_n(out, n, [&](int64_t i) { return x[i] < T(0) ? static_cast<T>(-x[i]) : x[i]; }); break;
      case Unary::Relu: map_n(out, n, [&](int64_t i) { return x[i] > T(0) ? x[i] : T(0); }); break;
      case Unary::Sign: map_n(out, n, [&](int64_t i) { return sign_of(x[i]); }); break;
      case Unary::Square: map_n(out, n, [&](int64_t i) { return static_cast<T>(x[i] * x[i]); }); break;
      default: map_n(out, n, [&](int64_t i) { return x[i]; }); break;  // floor, ceil, round of an integer
    }
    return;
  } else {
    const T slope = static_cast<T>(param);
    switch (op) {
      case Unary::Neg: map_n(out, n, [&](int64_t i) { return -x[i]; }); break;
      case Unary::Exp: map_n(out, n, [&](int64_t i) { return std::exp(x[i]); }); break;
      case Unary::Log: map_n(out, n, [&](int64_t i) { return std::log(x[i]); }); break;
      case Unary::Relu: map_n(out, n, [&](int64_t i) { return act::relu(x[i]); }); break;
      case Unary::Sigmoid:  // e^x / (1 + e^x) below 0: exact deep in the negative tail, where e^-x overflows
        map_n(out, n, [&](int64_t i) {
          const T e = std::exp(-std::abs(x[i]));
          return (x[i] >= T(0) ? T(1) : e) / (T(1) + e);
        });
        break;
      case Unary::Tanh: map_n(out, n, [&](int64_t i) { return std::tanh(x[i]); }); break;
      case Unary::Abs: map_n(out, n, [&](int64_t i) { return std::abs(x[i]); }); break;
      case Unary::Sqrt: map_n(out, n, [&](int64_t i) { return std::sqrt(x[i]); }); break;
      case Unary::LeakyRelu: map_n(out, n, [&](int64_t i) { return act::leaky_relu(x[i], slope); }); break;
      case Unary::Gelu: map_n(out, n, [&](int64_t i) { return act::gelu(x[i]); }); break;
      case Unary::GeluTanh: map_n(out, n, [&](int64_t i) { return act::gelu_tanh(x[i]); }); break;
      case Unary::Sin: map_n(out, n, [&](int64_t i) { return std::sin(x[i]); }); break;
      case Unary::Cos: map_n(out, n, [&](int64_t i) { return std::cos(x[i]); }); break;
      case Unary::Tan: map_n(out, n, [&](int64_t i) { return std::tan(x[i]); }); break;
      case Unary::Log1p: map_n(out, n, [&](int64_t i) { return std::log1p(x[i]); }); break;
      case Unary::Expm1: map_n(out, n, [&](int64_t i) { return std::expm1(x[i]); }); break;
      case Unary::Rsqrt: map_n(out, n, [&](int64_t i) { return T(1) / std::sqrt(x[i]); }); break;
      case Unary::Sign: map_n(out, n, [&](int64_t i) { return sign_of(x[i]); }); break;
      case Unary::Floor: map_n(out, n, [&](int64_t i) { return std::floor(x[i]); }); break;
      case Unary::Ceil: map_n(out, n, [&](int64_t i) { return std::ceil(x[i]); }); break;
      // Half to even, as PyTorch (and NumPy) round.
      case Unary::Round: map_n(out, n, [&](int64_t i) { return std::nearbyint(x[i]); }); break;
      case Unary::Square: map_n(out, n, [&](int64_t i) { return x[i] * x[i]; }); break;
      case Unary::Reciprocal: map_n(out, n, [&](int64_t i) { return T(1) / x[i]; }); break;
      case Unary::Log2: map_n(out, n, [&](int64_t i) { return std::log2(x[i]); }); break;
      case Unary::Log10: map_n(out, n, [&](int64_t i) { return std::log10(x[i]); }); break;
      case Unary::Erf: map_n(out, n, [&](int64_t i) { return std::erf(x[i]); }); break;
    }
  }
}

template <typename T>
void unary_backward(T* dx, const T* dout, const T* x, const T* y, int64_t n, Unary op, double param) {
  const T slope = static_cast<T>(param);
  // sin' = cos and cos' = -sin: the SIMD sin/cos into dx, then times dout (negated for cos).
  const detail::ElementwiseKernels<T>* simd = simd_kernels<T>();
  if (simd && (op == Unary::Sin || op == Unary::Cos)) {
    const T sign = op == Unary::Sin ? T(1) : T(-1);
    for_chunks(n, kParallelTranscendental, [&](int64_t begin, int64_t end) {
      simd->unary(dx + begin, x + begin, end - begin, op == Unary::Sin ? Unary::Cos : Unary::Sin);
      simd->binary(dx + begin, dx + begin, 1, dout + begin, 1, end - begin, Binary::Mul);
      if (sign < 0) simd->unary(dx + begin, dx + begin, end - begin, Unary::Neg);
    });
    return;
  }
  switch (op) {
    case Unary::Neg: map_n(dx, n, [&](int64_t i) { return -dout[i]; }); break;
    case Unary::Exp: map_n(dx, n, [&](int64_t i) { return dout[i] * y[i]; }); break;
    case Unary::Log: map_n(dx, n, [&](int64_t i) { return dout[i] / x[i]; }); break;
    case Unary::Relu: map_n(dx, n, [&](int64_t i) { return act::relu_backward(dout[i], x[i]); }); break;
    case Unary::Sigmoid: map_n(dx, n, [&](int64_t i) { return act::sigmoid_backward(dout[i], y[i]); }); break;
    case Unary::Tanh: map_n(dx, n, [&](int64_t i) { return act::tanh_backward(dout[i], y[i]); }); break;
    case Unary::Abs:
      map_n(dx, n, [&](int64_t i) { return x[i] > T(0) ? dout[i] : (x[i] < T(0) ? -dout[i] : T(0)); });
      break;
    case Unary::Sqrt: map_n(dx, n, [&](int64_t i) { return dout[i] / (T(2) * y[i]); }); break;
    case Unary::LeakyRelu:
      map_n(dx, n, [&](int64_t i) { return act::leaky_relu_backward(dout[i], x[i], slope); });
      break;
    case Unary::Gelu: map_n(dx, n, [&](int64_t i) { return act::gelu_backward(dout[i], x[i]); }); break;
    case Unary::GeluTanh: map_n(dx, n, [&](int64_t i) { return act::gelu_tanh_backward(dout[i], x[i]); }); break;
    case Unary::Sin: map_n(dx, n, [&](int64_t i) { return dout[i] * std::cos(x[i]); }); break;
    case Unary::Cos: map_n(dx, n, [&](int64_t i) { return -dout[i] * std::sin(x[i]); }); break;
    case Unary::Tan: map_n(dx, n, [&](int64_t i) { return dout[i] * (T(1) + y[i] * y[i]); }); break;
    case Unary::Log1p: map_n(dx, n, [&](int64_t i) { return dout[i] / (T(1) + x[i]); }); break;
    case Unary::Expm1: map_n(dx, n, [&](int64_t i) { return dout[i] * (y[i] + T(1)); }); break;
    case Unary::Rsqrt: map_n(dx, n, [&](int64_t i) { return T(-0.5) * dout[i] * y[i] * y[i] * y[i]; }); break;
    case Unary::Sign:
    case Unary::Floor:
    case Unary::Ceil:
    case Unary::Round: map_n(dx, n, [&](int64_t) { return T(0); }); break;
    case Unary::Square: map_n(dx, n, [&](int64_t i) { return T(2) * x[i] * dout[i]; }); break;
    case Unary::Reciprocal: map_n(dx, n, [&](int64_t i) { return -dout[i] * y[i] * y[i]; }); break;
    case Unary::Log2: map_n(dx, n, [&](int64_t i) { return dout[i] / (x[i] * T(0.69314718055994530942)); }); break;
    case Unary::Log10: map_n(dx, n, [&](int64_t i) { return dout[i] / (x[i] * T(2.30258509299404568402)); }); break;
    case Unary::Erf:
      map_n(dx, n, [&](int64_t i) { return dout[i] * T(1.12837916709551257390) * std::exp(-x[i] * x[i]); });
      break;
  }
}

// ---- broadcasting ------------------------------------------------------------------------------
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const size_t nd = out_shape.size(), offset = nd - shape.size();
  std::vector<int64_t> strides(nd, 0);
  int64_t stride = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    strides[k + offset] = shape[k] == 1 ? 0 : stride;
    stride *= shape[k];
  }
  return strides;
}

bool make_broadcast(const Shape& a, const Shape& b, Broadcast& bc, size_t* bad_dim) {
  auto numel = [](const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  };
  const size_t nd = std::max(a.size(), b.size());
  bc.out_shape.assign(nd, 1);
  for (size_t k = 0; k < nd; ++k) {
    int64_t da = k + a.size() >= nd ? a[k + a.size() - nd] : 1;
    int64_t db = k + b.size() >= nd ? b[k + b.size() - nd] : 1;
    if (da != db && da != 1 && db != 1) {
      if (bad_dim) *bad_dim = k;
      return false;
    }
    bc.out_shape[k] = da == 1 ? db : da;
  }
  bc.numel = numel(bc.out_shape);
  bc.a_numel = numel(a);
  bc.b_numel = numel(b);
  bc.a_strides = broadcast_strides(a, bc.out_shape);
  bc.b_strides = broadcast_strides(b, bc.out_shape);
  bc.a_full = bc.a_numel == bc.numel;
  bc.b_full = bc.b_numel == bc.numel;
  return true;
}

namespace {
// Visits the output in rows of its last dimension: f(out_offset, a_offset, b_offset, len,
// a_step, b_step). Rows are independent, so `parallel` may split them across threads when no
// operand is written through a broadcast (which would make rows collide).
template <typename F>
void for_each_row(const Shape& out_shape, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, bool parallel,
                  F f) {
  const int64_t nd = static_cast<int64_t>(out_shape.size());
  if (nd == 0) {
    f(0, 0, 0, 1, 0, 0);
    return;
  }
  const int64_t len = out_shape[nd - 1];
  if (len == 0) return;
  int64_t rows = 1;
  for (int64_t d : out_shape) rows *= d;
  rows /= len;
  const int64_t a_step = sa[nd - 1], b_step = sb[nd - 1];
  parallel_for(rows, parallel && rows * len > kParallelElements, [&](int64_t r) {
    int64_t rest = r, ao = 0, bo = 0;
    for (int64_t k = nd - 2; k >= 0; --k) {
      int64_t idx = rest % out_shape[k];
      rest /= out_shape[k];
      ao += idx * sa[k];
      bo += idx * sb[k];
    }
    f(r * len, ao, bo, len, a_step, b_step);
  });
}

// out[i] = f(a[i * a_step], b[i * b_step]) for steps of 0 or 1, one loop per step pattern so
// each vectorises.
template <typename T, typename R, typename F>
inline void zip(R* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, F f) {
  if (a_step && b_step) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (a_step) {
    const T y = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], y);
  } else if (b_step) {
    const T x = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b[i]);
  } else {
    const R v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

template <typename T>
inline T floor_div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return T(0);  // ops::binary refuses integer division by zero before we get here
    T q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return std::floor(a / b);
  }
}

template <typename T>
inline T remainder(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return T(0);
    T r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    T r = std::fmod(a, b);
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
    return r;
  }
}

template <typename T>
inline T apply(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add: return wrapping_add(a, b);
    case Binary::Sub: return wrapping_sub(a, b);
    case Binary::Mul: return wrapping_mul(a, b);
    case Binary::Div: return a / b;
    case Binary::FloorDiv: return floor_div(a, b);
    case Binary::Remainder: return remainder(a, b);
    case Binary::Maximum:
      if constexpr (std::is_floating_point_v<T>) {
        if (a != a || b != b) return a + b;  // NaN propagates
      }
      return a > b ? a : b;
    case Binary::Minimum:
      if constexpr (std::is_floating_point_v<T>) {
        if (a != a || b != b) return a + b;
      }
      return a < b ? a : b;
    case Binary::Pow:
      if constexpr (std::is_integral_v<T>) {
        // Exponentiation by squaring: O(log b) for any exponent, wrapping on overflow like
        // PyTorch. Negative exponents are refused by ops::binary before we get here.
        using U = std::make_unsigned_t<T>;
        U r = 1, base = static_cast<U>(a);
        for (T e = b; e > 0; e >>= 1) {
          if (e & 1) r *= base;
          base *= base;
        }
        return static_cast<T>(r);
      } else {
        return std::pow(a, b);
      }
  }
  return T(0);
}

template <typename T>
inline bool compare(Compare op, T a, T b) {
  switch (op) {
    case Compare::Eq: return a == b;
    case Compare::Ne: return a != b;
    case Compare::Lt: return a < b;
    case Compare::Le: return a <= b;
    case Compare::Gt: return a > b;
    case Compare::Ge: return a >= b;
    case Compare::And: return (a != T(0)) && (b != T(0));
    case Compare::Or: return (a != T(0)) || (b != T(0));
    case Compare::Xor: return (a != T(0)) != (b != T(0));
  }
  return false;
}

// out[i] = a[i * a_step] op b[i * b_step] (steps 0 or 1) on the scalar path, one loop per op.
template <typename T>
void binary_run(T* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Binary op) {
  switch (op) {
    case Binary::Add: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return wrapping_add(x, y); }); return;
    case Binary::Sub: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return wrapping_sub(x, y); }); return;
    case Binary::Mul: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return wrapping_mul(x, y); }); return;
    case Binary::Div: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x / y; }); return;
    case Binary::Maximum:
      zip(out, a, a_step, b, b_step, n, [](T x, T y) { return apply(Binary::Maximum, x, y); });
      return;
    case Binary::Minimum:
      zip(out, a, a_step, b, b_step, n, [](T x, T y) { return apply(Binary::Minimum, x, y); });
      return;
    default: zip(out, a, a_step, b, b_step, n, [op](T x, T y) { return apply(op, x, y); }); return;
  }
}

template <typename T>
void compare_run(bool* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Compare op) {
  switch (op) {
    case Compare::Eq: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x == y; }); return;
    case Compare::Ne: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x != y; }); return;
    case Compare::Lt: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x < y; }); return;
    case Compare::Le: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x <= y; }); return;
    case Compare::Gt: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x > y; }); return;
    case Compare::Ge: zip(out, a, a_step, b, b_step, n, [](T x, T y) { return x >= y; }); return;
    default: zip(out, a, a_step, b, b_step, n, [op](T x, T y) { return compare(op, x, y); }); return;
  }
}

// Runs kernel(out, a, a_step, b, b_step, len) over the broadcast of a and b: in chunks when the
// operands are whole tensors or one of them a single value, else row by row of the output.
template <typename T, typename R, typename Kernel>
void broadcast_run(R* out, const T* a, const T* b, const Broadcast& bc, Kernel kernel) {
  auto chunked = [&](int64_t a_step, int64_t b_step) {
    for_chunks(bc.numel, kParallelElements, [&](int64_t begin, int64_t end) {
      kernel(out + begin, a + begin * a_step, a_step, b + begin * b_step, b_step, end - begin);
    });
  };
  if (bc.a_full && bc.b_full) return chunked(1, 1);
  if (bc.a_full && bc.b_numel == 1) return chunked(1, 0);
  if (bc.b_full && bc.a_numel == 1) return chunked(0, 1);
  for_each_row(bc.out_shape, bc.a_strides, bc.b_strides, true,
               [&](int64_t o, int64_t ao, int64_t bo, int64_t len, int64_t as, int64_t bs) {
                 kernel(out + o, a + ao, as, b + bo, bs, len);
               });
}
}  // namespace

template <typename T>
void binary_forward(T* out, const T* a, const T* b, const Broadcast& bc, Binary op) {
  const detail::ElementwiseKernels<T>* simd = nullptr;
  if constexpr (std::is_floating_point_v<T>) simd = detail::binary_has_simd_kernel(op) ? simd_kernels<T>() : nullptr;
  broadcast_run(out, a, b, bc, [&](T* o, const T* x, int64_t xs, const T* y, int64_t ys, int64_t n) {
    if (simd)
      simd->binary(o, x, xs, y, ys, n, op);
    else
      binary_run(o, x, xs, y, ys, n, op);
  });
}

const char* binary_name(Binary op) {
  switch (op) {
    case Binary::Add: return "add";
    case Binary::Sub: return "sub";
    case Binary::Mul: return "mul";
    case Binary::Div: return "div";
    case Binary::Pow: return "pow";
    case Binary::FloorDiv: return "floor_divide";
    case Binary::Remainder: return "remainder";
    case Binary::Maximum: return "maximum";
    case Binary::Minimum: return "minimum";
  }
  return "?";
}

const char* compare_name(Compare op) {
  switch (op) {
    case Compare::Eq: return "eq";
    case Compare::Ne: return "ne";
    case Compare::Lt: return "lt";
    case Compare::Le: return "le";
    case Compare::Gt: return "gt";
    case Compare::Ge: return "ge";
    case Compare::And: return "logical_and";
    case Compare::Or: return "logical_or";
    case Compare::Xor: return "logical_xor";
  }
  return "?";
}

template <typename T>
void compare_forward(bool* out, const T* a, const T* b, const Broadcast& bc, Compare op) {
  const detail::ElementwiseKernels<T>* simd = nullptr;
  if constexpr (std::is_floating_point_v<T>) simd = simd_kernels<T>();
  broadcast_run(out, a, b, bc, [&](bool* o, const T* x, int64_t xs, const T* y, int64_t ys, int64_t n) {
    if (simd)
      simd->compare(o, x, xs, y, ys, n, op);
    else
      compare_run(o, x, xs, y, ys, n, op);
  });
}

template <typename T>
void binary_strided_forward(T* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Binary op) {
  const detail::ElementwiseKernels<T>* simd = nullptr;
  if constexpr (std::is_floating_point_v<T>) simd = detail::binary_has_simd_kernel(op) ? simd_kernels<T>() : nullptr;
  for_chunks(n, kParallelElements, [&](int64_t begin, int64_t end) {
    const T* a_chunk = a + begin * a_step;
    const T* b_chunk = b + begin * b_step;
    if (simd)
      simd->binary(out + begin, a_chunk, a_step, b_chunk, b_step, end - begin, op);
    else
      binary_run(out + begin, a_chunk, a_step, b_chunk, b_step, end - begin, op);
  });
}

template <typename T>
void compare_strided_forward(bool* out, const T* a, int64_t a_step, const T* b, int64_t b_step, int64_t n, Compare op) {
  const detail::ElementwiseKernels<T>* simd = nullptr;
  if constexpr (std::is_floating_point_v<T>) simd = simd_kernels<T>();
  for_chunks(n, kParallelElements, [&](int64_t begin, int64_t end) {
    const T* a_chunk = a + begin * a_step;
    const T* b_chunk = b + begin * b_step;
    if (simd)
      simd->compare(out + begin, a_chunk, a_step, b_chunk, b_step, end - begin, op);
    else
      compare_run(out + begin, a_chunk, a_step, b_chunk, b_step, end - begin, op);
  });
}

template <typename T>
void clamp_forward(T* out, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi) {
  const detail::ElementwiseKernels<T>* simd = simd_kernels<T>();
  for_chunks(n, kParallelElements, [&](int64_t begin, int64_t end) {
    if (simd) return simd->clamp(out + begin, x + begin, end - begin, lo, hi, has_lo, has_hi);
    for (int64_t i = begin; i < end; ++i) {
      T v = has_lo && x[i] < lo ? lo : x[i];
      out[i] = has_hi && v > hi ? hi : v;
    }
  });
}

template <typename T>
void clamp_backward(T* dx, const T* dout, const T* x, int64_t n, T lo, T hi, bool has_lo, bool has_hi) {
  for_chunks(n, kParallelElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T v = has_lo && x[i] < lo ? lo : x[i];                          // what the upper bound saw
      const bool passes = (!has_lo || x[i] >= lo) && (!has_hi || v <= hi);  // false at NaN, as in PyTorch
      dx[i] = passes ? dout[i] : T(0);
    }
  });
}

template <typename T>
void where_forward(T* out, const bool* condition, const T* a, const T* b, int64_t n) {
  const detail::ElementwiseKernels<T>* simd = simd_kernels<T>();
  for_chunks(n, kParallelElements, [&](int64_t begin, int64_t end) {
    if (simd) return simd->where(out + begin, condition + begin, a + begin, b + begin, end - begin);
    for (int64_t i = begin; i < end; ++i) {  // both read: a blend, not a branch per element
      const T x = a[i], y = b[i];
      out[i] = condition[i] ? x : y;
    }
  });
}

template <typename T>
void binary_backward(T* da, T* db, const T* dout, const T* a, const T* b, const Broadcast& bc, Binary op) {
  // Partial derivatives of a op b at one element, times the incoming gradient g.
  // Maximum/Minimum split the gradient evenly between equal operands, as PyTorch does.
  auto grad_a = [op](T g, T x, T y) -> T {
    switch (op) {
      case Binary::Add:
      case Binary::Sub:
      case Binary::Remainder: return g;
      case Binary::Mul: return g * y;
      case Binary::Div: return g / y;
      case Binary::FloorDiv: return T(0);
      case Binary::Maximum: return x > y ? g : (x == y ? g / T(2) : T(0));
      case Binary::Minimum: return x < y ? g : (x == y ? g / T(2) : T(0));
      case Binary::Pow:
        if constexpr (std::is_integral_v<T>)
          return T(0);
        else
          return y == T(0) ? T(0) : g * y * std::pow(x, y - T(1));
    }
    return T(0);
  };
  auto grad_b = [op](T g, T x, T y) -> T {
    switch (op) {
      case Binary::Add: return g;
      case Binary::Sub: return -g;
      case Binary::Mul: return g * x;
      case Binary::Div: return -g * x / (y * y);
      case Binary::FloorDiv: return T(0);
      case Binary::Remainder:
        if constexpr (std::is_integral_v<T>)
          return T(0);
        else
          return -g * std::floor(x / y);
      case Binary::Maximum: return y > x ? g : (x == y ? g / T(2) : T(0));
      case Binary::Minimum: return y < x ? g : (x == y ? g / T(2) : T(0));
      case Binary::Pow:
        // PyTorch masks 0 ** y (y >= 0), whose log would be -inf, to a zero gradient.
        if constexpr (std::is_integral_v<T>)
          return T(0);
        else
          return (x == T(0) && y >= T(0)) ? T(0) : g * std::pow(x, y) * std::log(x);
    }
    return T(0);
  };
  // An operand smaller than the output receives sums over its broadcast dimensions; those sums
  // run serially in output order so the result does not depend on the thread count.
  if (da && !bc.a_full) std::memset(da, 0, sizeof(T) * bc.a_numel);
  if (db && !bc.b_full) std::memset(db, 0, sizeof(T) * bc.b_numel);
  const bool parallel = (!da || bc.a_full) && (!db || bc.b_full);
  for_each_row(bc.out_shape, bc.a_strides, bc.b_strides, parallel,
               [&](int64_t o, int64_t ao, int64_t bo, int64_t len, int64_t as, int64_t bs) {
                 for (int64_t j = 0; j < len; ++j) {
                   const T g = dout[o + j], x = a[ao + j * as], y = b[bo + j * bs];
                   if (da) {
                     if (bc.a_full)
                       da[o + j] = grad_a(g, x, y);
                     else
                       da[ao + j * as] += grad_a(g, x, y);
                   }
                   if (db) {
                     if (bc.b_full)
                       db[o + j] = grad_b(g, x, y);
                     else
                       db[bo + j * bs] += grad_b(g, x, y);
                   }
                 }
               });
}

template <typename T>
void broadcast_to(T* out, const T* x, const Shape& out_shape, const std::vector<int64_t>& x_strides) {
  std::vector<int64_t> zero(out_shape.size(), 0);
  for_each_row(out_shape, x_strides, zero, true, [&](int64_t o, int64_t xo, int64_t, int64_t len, int64_t xs, int64_t) {
    for (int64_t j = 0; j < len; ++j) out[o + j] = x[xo + j * xs];
  });
}

namespace {
// Rows of a size known at compile time: each copy is a few moves instead of a call to memcpy,
// which for the rows of a small network's minibatch (a few floats) costs more than the copy.
template <size_t kRowBytes>
void gather_fixed_rows(char* dst, const char* src, const int64_t* rows, int64_t count) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * kRowBytes, src + rows[i] * kRowBytes, kRowBytes);
}

// Row sizes of 4 to 64 bytes in steps of 4 (1 to 16 floats, a label or a target) from kWords.
template <size_t kWords = 1>
bool gather_short_rows(char* dst, const char* src, const int64_t* rows, int64_t count, size_t row_bytes) {
  if constexpr (kWords > 16) {
    return false;
  } else {
    if (row_bytes == 4 * kWords) {
      gather_fixed_rows<4 * kWords>(dst, src, rows, count);
      return true;
    }
    return gather_short_rows<kWords + 1>(dst, src, rows, count, row_bytes);
  }
}
}  // namespace

void gather_rows(void* dst, const void* src, const int64_t* rows, int64_t count, size_t row_bytes) {
  char* out = static_cast<char*>(dst);
  const char* in = static_cast<const char*>(src);
  if (gather_short_rows(out, in, rows, count, row_bytes)) return;
  for (int64_t i = 0; i < count; ++i) std::memcpy(out + i * row_bytes, in + rows[i] * row_bytes, row_bytes);
}

template <typename To, typename From>
void cast(To* out, const From* x, int64_t n) {
  map_n(out, n, [&](int64_t i) { return convert_value<To>(x[i]); });
}

template <typename T>
void transpose2d(T* out, const T* x, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;  // a 32x32 tile of each side stays in L1
  const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
  parallel_for(row_blocks, rows * cols > kParallelElements, [&](int64_t rb) {
    const int64_t r0 = rb * kBlock;
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c) out[c * rows + r] = x[r * cols + c];
  });
}

#define CHAINRULE_FLOAT_ELEMENTWISE(T)                                                       \
  template void unary_backward<T>(T*, const T*, const T*, const T*, int64_t, Unary, double); \
  template void clamp_forward<T>(T*, const T*, int64_t, T, T, bool, bool);                   \
  template void clamp_backward<T>(T*, const T*, const T*, int64_t, T, T, bool, bool);
CHAINRULE_FLOAT_ELEMENTWISE(float)
CHAINRULE_FLOAT_ELEMENTWISE(double)
#undef CHAINRULE_FLOAT_ELEMENTWISE

#define CHAINRULE_NUMERIC_ELEMENTWISE(T)                                                              \
  template void unary_forward<T>(T*, const T*, int64_t, Unary, double);                               \
  template void binary_forward<T>(T*, const T*, const T*, const Broadcast&, Binary);                  \
  template void binary_backward<T>(T*, T*, const T*, const T*, const T*, const Broadcast&, Binary);   \
  template void compare_forward<T>(bool*, const T*, const T*, const Broadcast&, Compare);             \
  template void binary_strided_forward<T>(T*, const T*, int64_t, const T*, int64_t, int64_t, Binary); \
  template void compare_strided_forward<T>(bool*, const T*, int64_t, const T*, int64_t, int64_t, Compare);
CHAINRULE_NUMERIC_ELEMENTWISE(float)
CHAINRULE_NUMERIC_ELEMENTWISE(double)
CHAINRULE_NUMERIC_ELEMENTWISE(int64_t)
CHAINRULE_NUMERIC_ELEMENTWISE(int32_t)
#undef CHAINRULE_NUMERIC_ELEMENTWISE
template void compare_forward<bool>(bool*, const bool*, const bool*, const Broadcast&, Compare);
template void compare_strided_forward<bool>(bool*, const bool*, int64_t, const bool*, int64_t, int64_t, Compare);

#define CHAINRULE_ALL_ELEMENTWISE(T)                                                      \
  template void broadcast_to<T>(T*, const T*, const Shape&, const std::vector<int64_t>&); \
  template void where_forward<T>(T*, const bool*, const T*, const T*, int64_t);           \
  template void transpose2d<T>(T*, const T*, int64_t, int64_t);                           \
  template void cast<float, T>(float*, const T*, int64_t);                                \
  template void cast<double, T>(double*, const T*, int64_t);                              \
  template void cast<int64_t, T>(int64_t*, const T*, int64_t);                            \
  template void cast<int32_t, T>(int32_t*, const T*, int64_t);                            \
  template void cast<bool, T>(bool*, const T*, int64_t);
CHAINRULE_ALL_ELEMENTWISE(float)
CHAINRULE_ALL_ELEMENTWISE(double)
CHAINRULE_ALL_ELEMENTWISE(int64_t)
CHAINRULE_ALL_ELEMENTWISE(int32_t)
CHAINRULE_ALL_ELEMENTWISE(bool)
#undef CHAINRULE_ALL_ELEMENTWISE

}  // namespace chainrule::cpu
