// GELU (approximate='none') over float arrays, vectorised. The portable path calls erff and expf
// per element, which the baseline x86-64 build cannot vectorise, and in a LayerNorm + GELU network
// those calls cost more than the GEMMs. Here the normal CDF is evaluated in double, W lanes at a
// time (GCC/Clang vector extensions), from two polynomial fits and one exp: about 1e-9 relative to
// the CDF, far below float's rounding. One definition, compiled once per ISA file (gelu_avx2.cpp:
// 4 lanes, gelu_avx512.cpp: 8 lanes) and entered after the CPUID check, as the GEMM kernels are.
// Every element, the tail's included, goes through the same lanes, so a result never depends on
// where a block starts (the thread count).
#pragma once

#include <cstdint>
#include <cstring>

namespace chainrule::cpu::detail {

// x (n) becomes gelu(x). d (n) holds dL/da and becomes dL/dz, with z (n) the GELU's input.
void gelu_f32__avx2(float* x, int64_t n);
void gelu_backward_f32__avx2(float* d, const float* z, int64_t n);
void gelu_f32__avx512(float* x, int64_t n);
void gelu_backward_f32__avx512(float* d, const float* z, int64_t n);

namespace gelu_lanes {
template <int W>
struct Lanes {
  typedef double D __attribute__((vector_size(8 * W)));
  typedef int64_t I __attribute__((vector_size(8 * W)));
  typedef float F __attribute__((vector_size(4 * W)));
};

template <int W, size_t N>
inline typename Lanes<W>::D horner(const double (&c)[N], typename Lanes<W>::D x) {
  typename Lanes<W>::D sum = typename Lanes<W>::D{} + c[N - 1];
  for (size_t k = N - 1; k-- > 0;) sum = sum * x + c[k];
  return sum;
}

// exp(y) for -700 <= y <= 0 (callers cap their arguments): y = n ln2 + r with |r| <= ln2 / 2, exp(r)
// by its Taylor polynomial of degree 11 (truncation below 1e-14), times 2^n built in the exponent
// bits; n is rounded by adding 1.5 * 2^52, which also leaves it in the low bits of the sum.
template <int W>
inline typename Lanes<W>::D exp_nonpositive(typename Lanes<W>::D y) {
  using D = typename Lanes<W>::D;
  using I = typename Lanes<W>::I;
  const D round = D{} + 6755399441055744.0;  // 1.5 * 2^52
  const D shifted = y * 1.4426950408889634 + round;
  const D n = shifted - round;
  const D r = (y - n * 0.693147180369123816490) - n * 1.90821492927058770002e-10;  // ln 2 in two parts
  // sum_k r^k / k! for k <= 11, by Horner's rule: one multiply-add per term.
  constexpr double kInverseFactorials[12] = {1.0,         1.0,          1.0 / 2,       1.0 / 6,
                                             1.0 / 24,    1.0 / 120,    1.0 / 720,     1.0 / 5040,
                                             1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800};
  const D p = horner<W>(kInverseFactorials, r);
  const I exponent = (((I)shifted) - ((I)round) + 1023) << 52;
  return p * ((D)exponent);
}

// The two least-squares Chebyshev fits behind Phi (made for this kernel, written out as power
// series): erf(x) / x as a polynomial of degree 12 in x^2 on |x| <= 2 (erf's error below 2e-11), and
// erfc(x) x exp(x^2) as a polynomial of degree 10 in 1/x for |x| > 2 (relative error below 5e-9).
constexpr double kErfOverX[13] = {1.128379167087809,       -0.37612638867693077,    0.1128379126624408,
                                  -0.02686615054386534,    0.005223923206069939,    -0.0008547424531269442,
                                  0.00012045520480447786,  -1.4852806603992184e-05, 1.608440169427755e-06,
                                  -1.4984982934670964e-07, 1.1254450057746636e-08,  -5.927331344298338e-10,
                                  1.590273182200404e-11};
constexpr double kScaledErfc[11] = {0.5641895810454712,   6.811556313906508e-07, -0.2821405226873056,
                                    0.001323671692946881, 0.40265150023639235,   0.1879670747889504,
                                    -2.1229458556668024,  3.662464675762439,     -2.858539499756468,
                                    0.7967102486059512,   0.10192218739954076};

// Phi from erfc(|x|), x = v / sqrt(2): 1 - erfc / 2 above zero, erfc / 2 below.
template <int W>
inline typename Lanes<W>::D cdf_from_erfc(typename Lanes<W>::D x, typename Lanes<W>::D erfc_abs) {
  using D = typename Lanes<W>::D;
  const D half = 0.5 * erfc_abs;
  return x >= D{} ? 1.0 - half : half;
}

// Whether every lane has |x| <= 2 (false when one is NaN): the whole group then takes the central
// fit, and the exp, the division and the tail's fit are skipped. Each such lane computes exactly the
// expressions normal_cdf's selects would keep for it, so a result never depends on its neighbours.
template <int W>
inline bool all_central(typename Lanes<W>::D ax) {
  const typename Lanes<W>::I central = ax <= 2.0;
  int64_t all = -1;
  for (int k = 0; k < W; ++k) all &= central[k];
  return all != 0;
}

// Phi(v), the standard normal CDF, with x = v / sqrt(2), and (when density is not null) its
// density phi(v), which shares the exp. Beyond |x| = 26 erfc is below 1e-295: 0, so
// Phi(-inf) = 0 and Phi(inf) = 1. Layer outputs rarely leave |v| <= 2 sqrt(2), so most groups take
// the central fit alone.
template <int W>
inline typename Lanes<W>::D normal_cdf(typename Lanes<W>::D v, typename Lanes<W>::D* density) {
  using D = typename Lanes<W>::D;
  using I = typename Lanes<W>::I;
  const D x = v * 0.70710678118654752440;
  const I magnitude_bits = ((I)x) & INT64_MAX;
  const D ax = (D)magnitude_bits;
  const D two = D{} + 2.0, cap = D{} + 26.0, zero = D{};
  if (all_central<W>(ax)) {
    if (density) *density = 0.39894228040143267794 * exp_nonpositive<W>(-(ax * ax));
    const D erf_central = ax * horner<W>(kErfOverX, ax * ax);
    return cdf_from_erfc<W>(x, 1.0 - erf_central);
  }
  const D small = ax < two ? ax : two;
  const D erf_small = small * horner<W>(kErfOverX, small * small);
  const D capped = ax < cap ? ax : cap;
  const D gauss = exp_nonpositive<W>(-(capped * capped));  // exp(-x^2), also the density's factor
  if (density) *density = 0.39894228040143267794 * gauss;  // exp(-v^2 / 2) / sqrt(2 pi)
  const D large = capped > two ? capped : two, inverse = 1.0 / large;
  const D tail = gauss * inverse * horner<W>(kScaledErfc, inverse);
  const D erfc_large = ax < cap ? tail : zero;
  const D erfc_abs = ax <= two ? 1.0 - erf_small : erfc_large;
  return cdf_from_erfc<W>(x, erfc_abs);
}

// One group of W elements (len <= W of them real; the rest of the lanes are zeros and dropped).
template <int W>
inline void gelu_group(float* x, int64_t len) {
  using D = typename Lanes<W>::D;
  using F = typename Lanes<W>::F;
  F lanes = F{};
  std::memcpy(&lanes, x, sizeof(float) * len);
  const D v = __builtin_convertvector(lanes, D);
  const F out = __builtin_convertvector(v * normal_cdf<W>(v, nullptr), F);
  std::memcpy(x, &out, sizeof(float) * len);
}

template <int W>
inline void gelu_backward_group(float* d, const float* z, int64_t len) {
  using D = typename Lanes<W>::D;
  using F = typename Lanes<W>::F;
  F d_lanes = F{}, z_lanes = F{};
  std::memcpy(&d_lanes, d, sizeof(float) * len);
  std::memcpy(&z_lanes, z, sizeof(float) * len);
  const D dv = __builtin_convertvector(d_lanes, D), v = __builtin_convertvector(z_lanes, D);
  D pdf;  // past |v| = 36.8 (|x| = 26) it stays at exp(-676) / sqrt(2 pi), which no float result notices
  const D cdf = normal_cdf<W>(v, &pdf);
  // (v - v) is 0, or NaN for an infinite v: the derivative there is NaN, as erf's formula gives.
  const F out = __builtin_convertvector(dv * (cdf + v * pdf + (v - v)), F);
  std::memcpy(d, &out, sizeof(float) * len);
}

// Whole groups with a constant length (plain vector loads and stores), then the tail.
template <int W>
inline void gelu(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) gelu_group<W>(x + i, W);
  if (i < n) gelu_group<W>(x + i, n - i);
}

template <int W>
inline void gelu_backward(float* d, const float* z, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) gelu_backward_group<W>(d + i, z + i, W);
  if (i < n) gelu_backward_group<W>(d + i, z + i, n - i);
}
}  // namespace gelu_lanes

}  // namespace chainrule::cpu::detail
