// Scalar arithmetic and conversions without undefined behaviour, shared by the core, the ops and
// the kernels (it includes nothing of ours).
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

namespace chainrule {

// Integer + - * wrap around on overflow as in NumPy and PyTorch. Signed overflow is undefined in
// C++, so the arithmetic runs on the unsigned type, where wrapping is defined; floats pass through.
template <typename T>
inline T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
inline T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <typename T>
inline T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
// A value converted to T. Float to integer truncates toward zero; NaN, infinities and values
// outside T's range (undefined behaviour for a plain static_cast) give T's minimum, which is what
// x86's conversion instructions, and so NumPy and PyTorch on x86, give.
template <typename T, typename F>
inline T convert_value(F v) {
  if constexpr (std::is_integral_v<T> && std::is_floating_point_v<F>) {
    // -2^(bits-1) and 2^(bits-1) are exact in every floating type.
    constexpr F lowest = -static_cast<F>(std::numeric_limits<T>::max()) - F(1);
    if (!(v >= lowest && v < -lowest)) return std::numeric_limits<T>::min();
  }
  return static_cast<T>(v);
}

}  // namespace chainrule
