// The SIMD elementwise kernels (csrc/cpu/isa/elementwise_*.cpp) of every ISA the target CPU runs,
// without Python: exp, log, log1p, expm1, sin, cos, tanh and sigmoid within kMaxUlp of a long double
// reference over wide ranges (zeros, denormals, overflow edges, inf, NaN, huge sin/cos arguments),
// the SIMD paths bitwise equal to each other, and arithmetic, comparisons, clamp and where equal to
// plain loops at sizes around the vector width. Built and run by tests_native/run.sh (on x86-64:
// AVX-512 and AVX2; under qemu-aarch64: NEON). Exits non-zero on the first kind of failure.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu/isa/elementwise_kernels.h"

using chainrule::cpu::Binary;
using chainrule::cpu::Compare;
using chainrule::cpu::Unary;
using chainrule::cpu::detail::ElementwiseKernels;

namespace {

constexpr double kMaxUlp = 4.0;
int failures = 0;

struct Path {
  const char* name;
  const ElementwiseKernels<float>* f32;
  const ElementwiseKernels<double>* f64;
};

std::vector<Path> available_paths() {
  std::vector<Path> paths;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    paths.push_back(
        {"avx512", &chainrule::cpu::detail::kElementwiseF32Avx512, &chainrule::cpu::detail::kElementwiseF64Avx512});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    paths.push_back(
        {"avx2", &chainrule::cpu::detail::kElementwiseF32Avx2, &chainrule::cpu::detail::kElementwiseF64Avx2});
#elif defined(__aarch64__)
  paths.push_back({"neon", &chainrule::cpu::detail::kElementwiseF32Neon, &chainrule::cpu::detail::kElementwiseF64Neon});
#endif
  return paths;
}

struct Function {
  const char* name;
  Unary op;
  long double (*reference)(long double);
};

long double sigmoid_reference(long double x) {
  const long double e = expl(-fabsl(x));
  return (x >= 0 ? 1.0L : e) / (1.0L + e);
}

const Function kFunctions[] = {
    {"exp", Unary::Exp, [](long double x) { return expl(x); }},
    {"log", Unary::Log, [](long double x) { return logl(x); }},
    {"log1p", Unary::Log1p, [](long double x) { return log1pl(x); }},
    {"expm1", Unary::Expm1, [](long double x) { return expm1l(x); }},
    {"sin", Unary::Sin, [](long double x) { return sinl(x); }},
    {"cos", Unary::Cos, [](long double x) { return cosl(x); }},
    {"tanh", Unary::Tanh, [](long double x) { return tanhl(x); }},
    {"sigmoid", Unary::Sigmoid, sigmoid_reference},
};

template <typename T>
std::vector<T> inputs(Unary op) {
  using L = std::numeric_limits<T>;
  std::vector<T> x = {T(0),           -T(0),           L::infinity(),
                      -L::infinity(), L::quiet_NaN(),  L::min(),
                      -L::min(),      L::denorm_min(), -L::denorm_min(),
                      L::min() / 3,   L::max(),        -L::max(),
                      T(1),           T(-1),           T(0.5)};
  std::mt19937_64 rng(11);
  const double lo = std::log10(double(L::denorm_min())), hi = std::log10(double(L::max()));
  std::uniform_real_distribution<double> exponent(lo, hi), unit(-1, 1);
  for (int i = 0; i < 3000; ++i) {
    const T magnitude = T(std::pow(10.0, exponent(rng)));
    x.push_back(magnitude);
    x.push_back(-magnitude);
  }
  const double range = op == Unary::Exp || op == Unary::Expm1 || op == Unary::Sigmoid ? (sizeof(T) == 4 ? 120 : 800)
                       : op == Unary::Tanh                                            ? 25
                                                                                      : 10;
  for (int i = 0; i < 3000; ++i) x.push_back(T(unit(rng) * range));
  if (op == Unary::Sin || op == Unary::Cos)
    for (int k = 1; k < 3000; k += 7) x.push_back(T(k * 1.5707963267948966));
  return x;
}

template <typename T>
double ulp_error(T got, long double want) {
  const T rounded = T(want);
  if (std::isnan(rounded)) return std::isnan(got) ? 0 : INFINITY;
  if (std::isinf(rounded)) return got == rounded ? 0 : INFINITY;
  const T spacing = std::nextafter(std::fabs(rounded), std::numeric_limits<T>::infinity()) - std::fabs(rounded);
  return double(fabsl((long double)got - want) / spacing);
}

template <typename T>
const ElementwiseKernels<T>* kernels_of(const Path& p) {
  if constexpr (sizeof(T) == 4)
    return p.f32;
  else
    return p.f64;
}

template <typename T>
void check_functions(const std::vector<Path>& paths, const char* type) {
  for (const Function& f : kFunctions) {
    const std::vector<T> x = inputs<T>(f.op);
    std::vector<T> first;
    for (const Path& p : paths) {
      std::vector<T> y(x.size());
      kernels_of<T>(p)->unary(y.data(), x.data(), int64_t(x.size()), f.op);
      double worst = 0;
      T worst_x = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double e = ulp_error(y[i], f.reference((long double)x[i]));
        if (e > worst) worst = e, worst_x = x[i];
      }
      if (worst > kMaxUlp) {
        std::printf("FAIL %s %s on %s: %.2f ulp at %.9g\n", f.name, type, p.name, worst, double(worst_x));
        ++failures;
      }
      // Bitwise equal, NaNs aside: which NaN an operation returns depends on operand order.
      if (first.empty()) {
        first = y;
      } else {
        for (size_t i = 0; i < y.size(); ++i) {
          if (!(std::isnan(first[i]) && std::isnan(y[i])) && std::memcmp(&first[i], &y[i], sizeof(T)) != 0) {
            std::printf("FAIL %s %s(%.9g): %s differs from %s bitwise\n", f.name, type, double(x[i]), p.name,
                        paths[0].name);
            ++failures;
            break;
          }
        }
      }
    }
  }
}

template <typename T>
bool same(T a, T b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

template <typename T>
void check_arithmetic(const std::vector<Path>& paths, const char* type) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (const Path& p : paths) {
    const ElementwiseKernels<T>* k = kernels_of<T>(p);
    for (int64_t n = 0; n <= 70; ++n) {
      std::vector<T> a(n), b(n), out(n);
      std::vector<unsigned char> cond_bytes(n);
      for (int64_t i = 0; i < n; ++i) {
        a[i] = T(normal(rng));
        b[i] = i % 5 ? T(normal(rng)) : a[i];
        cond_bytes[i] = a[i] > b[i];
      }
      if (n > 3) a[3] = std::numeric_limits<T>::quiet_NaN();
      const T s = T(0.75);
      struct Case {
        Binary op;
        T (*ref)(T, T);
      };
      const Case cases[] = {{Binary::Add, [](T x, T y) { return x + y; }},
                            {Binary::Sub, [](T x, T y) { return x - y; }},
                            {Binary::Mul, [](T x, T y) { return x * y; }},
                            {Binary::Div, [](T x, T y) { return x / y; }},
                            {Binary::Maximum, [](T x, T y) { return std::isnan(x) || x > y ? x : y; }},
                            {Binary::Minimum, [](T x, T y) { return std::isnan(x) || x < y ? x : y; }}};
      for (const Case& c : cases) {
        k->binary(out.data(), a.data(), 1, b.data(), 1, n, c.op);
        for (int64_t i = 0; i < n; ++i)
          if (!same(out[i], c.ref(a[i], b[i]))) {
            std::printf("FAIL binary %s on %s n=%lld\n", type, p.name, (long long)n);
            ++failures;
            break;
          }
        k->binary(out.data(), &s, 0, b.data(), 1, n, c.op);
        for (int64_t i = 0; i < n; ++i)
          if (!same(out[i], c.ref(s, b[i]))) {
            std::printf("FAIL scalar-first binary %s on %s n=%lld\n", type, p.name, (long long)n);
            ++failures;
            break;
          }
      }
      std::unique_ptr<bool[]> flags(new bool[n + 1]);
      k->compare(flags.get(), a.data(), 1, &s, 0, n, Compare::Gt);
      for (int64_t i = 0; i < n; ++i)
        if (flags[i] != (a[i] > s)) {
          std::printf("FAIL compare %s on %s n=%lld\n", type, p.name, (long long)n);
          ++failures;
          break;
        }
      std::unique_ptr<bool[]> condition(new bool[n + 1]);
      for (int64_t i = 0; i < n; ++i) condition[i] = cond_bytes[i];
      k->where(out.data(), condition.get(), a.data(), b.data(), n);
      for (int64_t i = 0; i < n; ++i)
        if (!same(out[i], condition[i] ? a[i] : b[i])) {
          std::printf("FAIL where %s on %s n=%lld\n", type, p.name, (long long)n);
          ++failures;
          break;
        }
      k->clamp(out.data(), a.data(), n, T(-0.5), T(0.5), true, true);
      for (int64_t i = 0; i < n; ++i) {
        const T want = std::isnan(a[i]) ? a[i] : (a[i] < T(-0.5) ? T(-0.5) : (a[i] > T(0.5) ? T(0.5) : a[i]));
        if (!same(out[i], want)) {
          std::printf("FAIL clamp %s on %s n=%lld\n", type, p.name, (long long)n);
          ++failures;
          break;
        }
      }
    }
  }
}

}  // namespace

int main() {
  const std::vector<Path> paths = available_paths();
  if (paths.empty()) {
    std::printf("no SIMD elementwise path on this CPU; nothing to test\n");
    return 0;
  }
  std::string names;
  for (const Path& p : paths) names += std::string(" ") + p.name;
  check_functions<float>(paths, "float32");
  check_functions<double>(paths, "float64");
  check_arithmetic<float>(paths, "float32");
  check_arithmetic<double>(paths, "float64");
  std::printf("elementwise kernels on%s: %s\n", names.c_str(), failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
