#pragma once
// Internal to the elementwise kernels: exp, log, log1p, expm1, sin, cos, tanh and sigmoid on whole
// SIMD vectors, written once over GCC/Clang generic vectors and instantiated by each per-ISA file
// (elementwise_avx512.cpp, elementwise_avx2.cpp, elementwise_neon.cpp) with its own traits K:
//
//   K::S    the element type (float or double)
//   K::V    a vector of K::kLanes elements; K::I / K::U the signed / unsigned integers of the same
//           width and lanes (comparisons of V give I lanes of all ones or zeros)
//   K::VD   K::kLanes doubles (V itself for double); K::ID their int64 lanes
//   K::Bytes  K::kLanes bytes (bool masks in memory)
//   K::fma(a, b, c)  a * b + c with one rounding (the ISA's FMA instruction)
//   K::any(mask)     whether any lane of a comparison result is set
//
// The ISA files compile with -ffp-contract=off, so every multiply-add fuses exactly where K::fma
// says and every ISA computes the same bits. The approximations are our own: Cody-Waite argument
// reduction and truncated Taylor series (the truncation error of each is bounded below), plus the
// usual identities for the functions built on them. Accuracy over the whole input range, including
// inf, NaN, denormals and huge arguments, is checked by tests/test_elementwise_math.py.
//
// Everything here has internal linkage: each ISA file gets its own copy compiled with its own
// instruction set, so no instantiation built for AVX-512 can be picked by the linker for AVX2.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace chainrule::cpu::detail {
namespace {

template <typename To, typename From>
inline To bits_as(From v) {
  static_assert(sizeof(To) == sizeof(From), "bits_as reinterprets vectors of the same size");
  To out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

// The constants of each element type. kRoundMagic (1.5 * 2^mantissa_bits) rounds a value below
// 2^(mantissa_bits - 1) in magnitude to the nearest integer when added and subtracted, and its
// low bits then hold that integer: no float-to-int conversion is needed (AVX2 has none for int64).
template <typename S>
struct MathConstants;
template <>
struct MathConstants<float> {
  static constexpr int kMantissaBits = 23;
  static constexpr int32_t kExponentBias = 127;
  static constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23
  static constexpr float kMinNormal = 1.17549435e-38f;
  static constexpr float kDenormalScale = 16777216.0f;  // 2^24
  static constexpr int32_t kDenormalScaleLog2 = 24;
  // exp(x) is inf above exp_hi and rounds to 0 below exp_lo; exp is evaluated on the clamped x.
  static constexpr float kExpHi = 89.0f, kExpLo = -104.0f;
  // expm1(x) is -1 (rounded) below expm1_lo; above expm1_hi it equals exp(x) (the -1 is lost).
  static constexpr float kExpm1Hi = 80.0f, kExpm1Lo = -30.0f;
  // tanh(|x|) rounds to 1 above this.
  static constexpr float kTanhOne = 10.0f;
  static constexpr int32_t kSqrtHalfBits = 0x3f3504f3;  // sqrt(1/2), where log's mantissa range starts
};
template <>
struct MathConstants<double> {
  static constexpr int kMantissaBits = 52;
  static constexpr int64_t kExponentBias = 1023;
  static constexpr double kRoundMagic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double kMinNormal = 2.2250738585072014e-308;
  static constexpr double kDenormalScale = 18014398509481984.0;  // 2^54
  static constexpr int64_t kDenormalScaleLog2 = 54;
  static constexpr double kExpHi = 710.0, kExpLo = -746.0;
  static constexpr double kExpm1Hi = 700.0, kExpm1Lo = -40.0;
  static constexpr double kTanhOne = 20.0;
  static constexpr int64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdLL;
};

constexpr double kLog2e = 1.44269504088896340736;
// ln 2 = kLn2Hi + kLn2Lo. kLn2Hi has 16 significant bits (float) / 32 (double), so n * kLn2Hi is
// exact for every n the exponent range produces.
template <typename S>
struct Ln2Split;
template <>
struct Ln2Split<float> {
  static constexpr float kHi = 0x1.62e4p-1f, kLo = 1.4286068203094173e-06f;
};
template <>
struct Ln2Split<double> {
  static constexpr double kHi = 0x1.62e42feep-1, kLo = 1.9082149292705877e-10;
};
// pi/2 = kPio2A + kPio2B + kPio2C (to about 5e-40). A and B have 38 significant bits, so n * A and
// n * B are exact for n < 2^15, and x - n * A is exact (Sterbenz): the reduction error is a few
// ulp of 1e-35 at most, far below the smallest |x - n pi/2| of any float or double with n < 2^15.
constexpr double kPio2A = 0x1.921fb5444p+0;
constexpr double kPio2B = 0x1.68c234c4cp-39;
constexpr double kPio2C = 0x1.98a2e03707345p-77;
constexpr double kTwoOverPi = 0.63661977236758134308;
constexpr double kRoundMagicDouble = 6755399441055744.0;  // 1.5 * 2^52
// sin and cos reduce |x| <= kTrigReduceMax on the vector path (so the quadrant n < 2^15); larger
// arguments, inf and NaN take the C library's sin/cos lane by lane.
constexpr double kTrigReduceMax = 32768.0;

template <class K>
inline typename K::V splat(typename K::S v) {
  typename K::V out;
  for (int i = 0; i < K::kLanes; ++i) out[i] = v;
  return out;
}
template <class K, typename Int>
inline typename K::I splat_int(Int v) {
  typename K::I out;
  for (int i = 0; i < K::kLanes; ++i) out[i] = static_cast<decltype(out[0] + 0)>(v);
  return out;
}
template <class K>
inline typename K::I sign_bits() {
  return splat_int<K>(bits_as<decltype(splat_int<K>(0)[0] + 0)>(typename K::S(-0.0)));
}
template <class K>
inline typename K::V abs(typename K::V x) {
  return bits_as<typename K::V>(bits_as<typename K::I>(x) & ~sign_bits<K>());
}

// Horner's rule with fused multiply-adds: c[0] + r (c[1] + r (c[2] + ...)).
template <class K, size_t N>
inline typename K::V horner(typename K::V r, const typename K::S (&c)[N]) {
  typename K::V p = splat<K>(c[N - 1]);
  for (size_t k = N - 1; k-- > 0;) p = K::fma(p, r, splat<K>(c[k]));
  return p;
}

// 2^n for integer lanes n whose biased exponent is in the normal range. Unsigned arithmetic: the
// lanes of a NaN input hold garbage n, whose result the NaN overrides anyway.
template <class K>
inline typename K::V pow2(typename K::I n) {
  using C = MathConstants<typename K::S>;
  using U = typename K::U;
  return bits_as<typename K::V>((bits_as<U>(n) + bits_as<U>(splat_int<K>(C::kExponentBias))) << C::kMantissaBits);
}

// Taylor coefficients 1/k! of exp on |r| <= ln2/2 (+ rounding slack). The truncation error is
// below r^8/8! < 6e-9 (float, degree 7) and r^14/14! < 5e-18 (double, degree 13), relative.
template <typename S>
struct ExpSeries;
template <>
struct ExpSeries<float> {
  static constexpr float c[] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
};
template <>
struct ExpSeries<double> {
  static constexpr double c[] = {
      1.0,        1.0,         1.0 / 2,      1.0 / 6,       1.0 / 24,       1.0 / 120,       1.0 / 720,
      1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
};
// expm1(r) = r + r^2 (1/2 + r/6 + ...): the coefficients from 1/2! on, truncated as exp's.
template <typename S>
struct Expm1Series;
template <>
struct Expm1Series<float> {
  static constexpr float c[] = {1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
};
template <>
struct Expm1Series<double> {
  static constexpr double c[] = {1.0 / 2,       1.0 / 6,        1.0 / 24,        1.0 / 120,
                                 1.0 / 720,     1.0 / 5040,     1.0 / 40320,     1.0 / 362880,
                                 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
};

// n = round(x / ln2) and r = x - n ln2 (Cody-Waite, two parts); ni holds n as integer lanes.
template <class K>
inline typename K::V reduce_ln2(typename K::V x, typename K::I& ni) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  const V magic = splat<K>(MathConstants<S>::kRoundMagic);
  const V t = x * splat<K>(S(kLog2e)) + magic;
  ni = bits_as<I>(t) - bits_as<I>(magic);
  const V n = t - magic;
  const V r = K::fma(n, splat<K>(-Ln2Split<S>::kHi), x);
  return K::fma(n, splat<K>(-Ln2Split<S>::kLo), r);
}

template <class K>
inline typename K::V vexp(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  using C = MathConstants<S>;
  // Clamping keeps 2^n within two normal factors; NaN stays NaN (both comparisons are false).
  x = x > splat<K>(C::kExpHi) ? splat<K>(C::kExpHi) : x;
  x = x < splat<K>(C::kExpLo) ? splat<K>(C::kExpLo) : x;
  I n;
  const V r = reduce_ln2<K>(x, n);
  const V p = horner<K>(r, ExpSeries<S>::c);
  // 2^n as 2^n1 * 2^n2: each factor is normal, and the second product rounds once, into the
  // denormal range or to inf where the result lies there.
  const I n1 = n >> 1;
  return p * pow2<K>(n1) * pow2<K>(n - n1);
}

template <class K>
inline typename K::V vexpm1(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  using C = MathConstants<S>;
  V xc = x > splat<K>(C::kExpm1Hi) ? splat<K>(C::kExpm1Hi) : x;
  xc = xc < splat<K>(C::kExpm1Lo) ? splat<K>(C::kExpm1Lo) : xc;
  I n;
  const V r = reduce_ln2<K>(xc, n);
  const V p = K::fma(r * r, horner<K>(r, Expm1Series<S>::c), r);  // expm1(r)
  const V s = pow2<K>(n);
  // e^x - 1 = 2^n expm1(r) + (2^n - 1), with 2^n - 1 exact wherever it matters.
  V y = K::fma(s, p, s - splat<K>(S(1)));
  y = x == splat<K>(S(0)) ? x : y;  // keeps the sign of -0
  const auto big = x > splat<K>(C::kExpm1Hi);
  if (K::any(big)) y = big ? vexp<K>(x) : y;
  return y;
}

// log(x) for x = m 2^e, m in [sqrt(1/2), sqrt(2)): e ln2 + 2 atanh(s) with s = (m - 1) / (m + 1),
// |s| <= 0.1716. The series 2 (s + s^3/3 + s^5/5 + ...) stops where the next term is below
// 1e-8 (float: through s^9) or 1e-17 (double: through s^21) of the sum.
template <typename S>
struct LogSeries;  // 2/3, 2/5, 2/7, ...: the coefficients of s^3, s^5, ... over s
template <>
struct LogSeries<float> {
  static constexpr float c[] = {2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9};
};
template <>
struct LogSeries<double> {
  static constexpr double c[] = {2.0 / 3,  2.0 / 5,  2.0 / 7,  2.0 / 9,  2.0 / 11,
                                 2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19, 2.0 / 21};
};

template <class K>
inline typename K::V vlog(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  using U = typename K::U;
  using C = MathConstants<S>;
  constexpr int kBits = 8 * sizeof(S);
  // Denormals are scaled into the normal range first.
  const auto tiny = x < splat<K>(C::kMinNormal);
  const V xs = tiny ? x * splat<K>(C::kDenormalScale) : x;
  const I ix = bits_as<I>(xs);
  // e = floor(log2(x / sqrt(1/2))): the offset's sign bit flipped makes it non-negative, so a
  // logical shift (AVX2 has no arithmetic one for 64-bit lanes) takes the exponent field.
  const U offset = (bits_as<U>(ix) - bits_as<U>(splat_int<K>(C::kSqrtHalfBits))) ^ bits_as<U>(sign_bits<K>());
  const I e = bits_as<I>(offset >> C::kMantissaBits) - splat_int<K>(int64_t(1) << (kBits - 1 - C::kMantissaBits));
  const V m = bits_as<V>(bits_as<U>(ix) - (bits_as<U>(e) << C::kMantissaBits));  // in [sqrt(1/2), sqrt(2))
  const V magic = splat<K>(C::kRoundMagic);
  V ef = bits_as<V>(e + bits_as<I>(magic)) - magic;  // e as a floating value
  ef = tiny ? ef - splat<K>(S(C::kDenormalScaleLog2)) : ef;

  const V f = m - splat<K>(S(1));  // exact
  const V s = f / (f + splat<K>(S(2)));
  const V z = s * s;
  const V log_m = K::fma(s * z, horner<K>(z, LogSeries<S>::c), s + s);
  V y = K::fma(ef, splat<K>(Ln2Split<S>::kHi), K::fma(ef, splat<K>(Ln2Split<S>::kLo), log_m));

  const V inf = splat<K>(S(INFINITY));
  y = x == inf ? x : y;
  y = x == splat<K>(S(0)) ? -inf : y;
  y = ((x < splat<K>(S(0))) | (x != x)) ? splat<K>(S(NAN)) : y;
  return y;
}

// log1p(x) = log(u) * x / (u - 1) with u = 1 + x rounded (Kahan's formula: the factor corrects
// for the rounding of u), and x itself where u == 1.
template <class K>
inline typename K::V vlog1p(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  const V one = splat<K>(S(1));
  const V u = one + x;
  const V um1 = u - one;
  V y = vlog<K>(u) * (x / um1);
  y = u == one ? x : y;
  y = x == splat<K>(S(INFINITY)) ? x : y;
  return y;
}

// sin r and cos r on |r| <= pi/4: r + r^3 (c0 + c1 r^2 + ...) and 1 + r^2 (c0 + c1 r^2 + ...),
// Taylor series stopped where the next term is below 3e-9 (float) / 1e-17 (double), relative.
template <typename S>
struct SinSeries;
template <>
struct SinSeries<float> {
  static constexpr float c[] = {-1.0f / 6, 1.0f / 120, -1.0f / 5040, 1.0f / 362880};
};
template <>
struct SinSeries<double> {
  static constexpr double c[] = {-1.0 / 6,
                                 1.0 / 120,
                                 -1.0 / 5040,
                                 1.0 / 362880,
                                 -1.0 / 39916800,
                                 1.0 / 6227020800.0,
                                 -1.0 / 1307674368000.0,
                                 1.0 / 355687428096000.0};
};
template <typename S>
struct CosSeries;
template <>
struct CosSeries<float> {
  static constexpr float c[] = {-1.0f / 2, 1.0f / 24, -1.0f / 720, 1.0f / 40320, -1.0f / 3628800};
};
template <>
struct CosSeries<double> {
  static constexpr double c[] = {-1.0 / 2,       1.0 / 24,          -1.0 / 720,           1.0 / 40320,
                                 -1.0 / 3628800, 1.0 / 479001600.0, -1.0 / 87178291200.0, 1.0 / 20922789888000.0};
};

// sin(x) (cos_shift 0) or cos(x) (cos_shift 1, since cos x = sin(x + pi/2)). The reduction
// r = x - n pi/2 runs in double for both element types (exact, see kPio2A); the series run in S.
template <class K>
inline typename K::V vsincos(typename K::V x, int cos_shift) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  using VD = typename K::VD;
  using ID = typename K::ID;
  const auto outside = ~(abs<K>(x) <= splat<K>(S(kTrigReduceMax)));  // NaN lanes too
  const V inside = outside ? splat<K>(S(0)) : x;                     // so the quadrant below is always small
  const VD xd = __builtin_convertvector(inside, VD);
  VD magic;
  for (int i = 0; i < K::kLanes; ++i) magic[i] = kRoundMagicDouble;
  const VD t = xd * kTwoOverPi + magic;
  const ID q = bits_as<ID>(t) - bits_as<ID>(magic);
  const VD n = t - magic;
  const VD rd = ((xd - n * kPio2A) - n * kPio2B) - n * kPio2C;
  const V r = __builtin_convertvector(rd, V);
  const I quadrant = __builtin_convertvector(q, I) + splat_int<K>(cos_shift);

  const V z = r * r;
  const V sin_r = K::fma(r * z, horner<K>(z, SinSeries<S>::c), r);
  const V cos_r = K::fma(z, horner<K>(z, CosSeries<S>::c), splat<K>(S(1)));
  V y = (quadrant & 1) != 0 ? cos_r : sin_r;
  y = (quadrant & 2) != 0 ? -y : y;
  if (!cos_shift) y = x == splat<K>(S(0)) ? x : y;  // sin(-0) is -0

  if (K::any(outside)) {
    for (int i = 0; i < K::kLanes; ++i)
      if (outside[i]) y[i] = cos_shift ? std::cos(x[i]) : std::sin(x[i]);
  }
  return y;
}

// tanh(x) = sign(x) e / (e + 2) with e = expm1(2|x|): no cancellation near 0, and |x| is capped
// where tanh rounds to 1.
template <class K>
inline typename K::V vtanh(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  using I = typename K::I;
  V ax = abs<K>(x);
  const V one_at = splat<K>(MathConstants<S>::kTanhOne);
  ax = ax > one_at ? one_at : ax;
  const V e = vexpm1<K>(ax + ax);
  const V t = e / (e + splat<K>(S(2)));
  return bits_as<V>(bits_as<I>(t) | (bits_as<I>(x) & sign_bits<K>()));
}

// sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: one exp of -|x|, which
// never overflows, and full relative accuracy deep in the negative tail.
template <class K>
inline typename K::V vsigmoid(typename K::V x) {
  using S = typename K::S;
  using V = typename K::V;
  const V e = vexp<K>(-abs<K>(x));
  const V one = splat<K>(S(1));
  const V numerator = x >= splat<K>(S(0)) ? one : e;
  return numerator / (one + e);
}

}  // namespace
}  // namespace chainrule::cpu::detail
