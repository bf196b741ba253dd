// The kinds and options kernels are called with, shared by the CPU kernels (kernels.h), their CUDA
// twins (cuda_kernels.h) and the ops above them, so a caller picks an activation or a loss once
// for both backends.
#pragma once

#include <cstdint>
#include <vector>

#include "chainrule/types.h"

namespace chainrule::cpu {

// ---- elementwise ----------------------------------------------------------------------------
// NumPy broadcasting of two operands: every operand gets per-dimension strides over the output
// shape, 0 where it is broadcast. Built once per op call by make_broadcast.
struct Broadcast {
  Shape out_shape;
  std::vector<int64_t> a_strides, b_strides;
  int64_t numel = 0;
  int64_t a_numel = 0, b_numel = 0;
  bool a_full = false, b_full = false;  // the operand already has the output's shape
};
enum class Unary : uint8_t {
  Neg,
  Exp,
  Log,
  Relu,
  Sigmoid,
  Tanh,
  Abs,
  Sqrt,
  LeakyRelu,
  Gelu,
  GeluTanh,
  Sin,
  Cos,
  Tan,
  Log1p,
  Expm1,
  Rsqrt,
  Sign,
  Floor,
  Ceil,
  Round,
  Square,
  Reciprocal,
  Log2,
  Log10,
  Erf
};
// FloorDiv and Remainder follow Python (and PyTorch): the quotient rounds down, the remainder
// takes the divisor's sign. Maximum/Minimum propagate NaN.
enum class Binary : uint8_t { Add, Sub, Mul, Div, Pow, FloorDiv, Remainder, Maximum, Minimum };
// Comparisons and logical ops: bool results. Logical ops read nonzero as true.
enum class Compare : uint8_t { Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor };

// ---- dense layers and losses -----------------------------------------------------------------
// The activation that follows a stage of a fused chain (a Linear layer, a normalisation, ...).
// Parameters: LeakyRelu (slope), Elu and Celu (alpha), Softplus (beta, threshold), Hardtanh
// (min_val, max_val; ReLU6 is Hardtanh(0, 6)); Selu has its constants built in.
enum class Activation : uint8_t {
  Identity,
  Relu,
  Sigmoid,
  Tanh,
  LeakyRelu,
  Gelu,
  GeluTanh,
  Silu,
  Elu,
  Selu,
  Celu,
  Softplus,
  Mish,
  Hardtanh,
  Hardswish,
  LogSigmoid,
  Softsign
};
enum class Loss : uint8_t { MSE, L1, Huber, BCE, BCEWithLogits };

// Whether act'(z) can be computed from the output a = act(z) alone (then z need not be kept).
// Inline so the CUDA module, which links no CPU kernel, applies the same rule.
inline bool activation_derivative_from_output(Activation act, double param) {
  switch (act) {
    case Activation::Gelu:
    case Activation::GeluTanh: return false;
    // a > 0 tells z > 0 only when the negative side keeps its sign.
    case Activation::LeakyRelu: return param > 0;
    case Activation::Identity:
    case Activation::Relu:
    case Activation::Sigmoid:
    case Activation::Tanh:
    case Activation::Hardtanh: return true;
    default: return false;
  }
}

// ---- optimizers (PyTorch's hyper-parameters) -------------------------------------------------
struct SgdOptions {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

struct AdamOptions {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  bool amsgrad = false, maximize = false;
  bool decoupled_weight_decay = false;  // AdamW: decay the parameter, not the gradient
};

// NAdam's momentum factors for one step t (PyTorch's names): mu_t, mu_{t+1}, and the product of
// mu_1 ... mu_t kept per parameter.
struct NadamFactors {
  double mu = 0, mu_next = 0, mu_product = 1;
};

struct RmspropOptions {
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};

struct AdagradOptions {
  double lr = 0, lr_decay = 0, weight_decay = 0, eps = 0;
  bool maximize = false;
};

}  // namespace chainrule::cpu
