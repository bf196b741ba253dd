// Optimizer update kernels (PyTorch's update rules, element by element).
#include <algorithm>
#include <cmath>

#include "chainrule/kernels.h"
#include "cpu/parallel.h"

namespace chainrule::cpu {

template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdOptions& opt, bool first_step) {
  // PyTorch's SGD (torch.optim.SGD docs, "Algorithm"):
  //   g = ±grad + weight_decay * p
  //   b = g on the first step, else momentum * b + (1 - dampening) * g
  //   g = g + momentum * b (nesterov) or b
  //   p = p - lr * g
  const T lr = static_cast<T>(opt.lr), wd = static_cast<T>(opt.weight_decay);
  const T mom = static_cast<T>(opt.momentum), one_minus_damp = static_cast<T>(1.0 - opt.dampening);
  const T sign = opt.maximize ? T(-1) : T(1);
  const bool use_momentum = opt.momentum != 0.0;
  if (!use_momentum && wd == T(0)) {  // plain SGD: the same expression, in a loop that vectorises
    parallel_for(n, n > (1 << 16), [&](int64_t i) { param[i] = param[i] - lr * (sign * grad[i]); });
    return;
  }
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = sign * grad[i];
    if (wd != T(0)) g = g + wd * param[i];
    if (use_momentum) {
      T b = first_step ? g : mom * momentum_buffer[i] + one_minus_damp * g;
      momentum_buffer[i] = b;
      g = opt.nesterov ? g + mom * b : b;
    }
    param[i] = param[i] - lr * g;
  });
}

template void sgd_update<float>(float*, const float*, float*, int64_t, const SgdOptions&, bool);
template void sgd_update<double>(double*, const double*, double*, int64_t, const SgdOptions&, bool);

// The adaptive optimizers below follow PyTorch's single-tensor implementations
// (torch/optim/{adam,rmsprop,adagrad}.py, _single_tensor_*), operation by operation, so that
// float32 results agree with torch to rounding:
//   * hyper-parameter arithmetic (bias corrections, 1 - beta, lr / ...) is done in double, as
//     Python does, and each scalar is rounded to T once, as torch rounds a Python scalar argument;
//   * x.addcmul_(a, b, value=v) is x + v * a * b and x.addcdiv_(a, b, value=v) is x + v * a / b,
//     evaluated left to right (ATen's PointwiseOpsKernel);
//   * x.lerp_(end, w) uses ATen's two-sided form (ATen/native/Lerp.h), see lerp() below.
namespace {

// ATen's lerp: the formula is picked by |weight| < 0.5 so the result is exact at both ends.
template <typename T>
inline T lerp(T self, T end, T weight) {
  return std::abs(weight) < T(0.5) ? self + weight * (end - self) : end - (end - self) * (T(1) - weight);
}

// torch.maximum propagates NaN; std::max would drop a NaN in its second argument.
template <typename T>
inline T maximum(T a, T b) {
  return (a != a || b != b) ? a + b : std::max(a, b);
}

}  // namespace

template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamOptions& opt, int64_t step) {
  // torch.optim.Adam / AdamW docs, "Algorithm":
  //   g = ±grad (+ weight_decay * p for Adam; AdamW instead scales p by 1 - lr * weight_decay)
  //   m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g;  (amsgrad: v_max = max(v_max, v))
  //   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
  const double bias_correction1 = 1.0 - std::pow(opt.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(opt.beta2, static_cast<double>(step));
  const T neg_step_size = static_cast<T>(-(opt.lr / bias_correction1));
  const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T one_minus_beta1 = static_cast<T>(1.0 - opt.beta1), beta2 = static_cast<T>(opt.beta2);
  const T one_minus_beta2 = static_cast<T>(1.0 - opt.beta2), eps = static_cast<T>(opt.eps);
  const bool decay = opt.weight_decay != 0.0;
  const T wd = static_cast<T>(opt.weight_decay), param_scale = static_cast<T>(1.0 - opt.lr * opt.weight_decay);
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = opt.maximize ? -grad[i] : grad[i];
    if (decay) {
      if (opt.decoupled_weight_decay)
        param[i] = param[i] * param_scale;
      else
        g = g + wd * param[i];
    }
    exp_avg[i] = lerp(exp_avg[i], g, one_minus_beta1);
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
    T second = exp_avg_sq[i];
    if (opt.amsgrad) second = max_exp_avg_sq[i] = maximum(max_exp_avg_sq[i], second);
    const T denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    param[i] = param[i] + neg_step_size * exp_avg[i] / denom;
  });
}

template <typename T>
void rmsprop_update(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg, int64_t n,
                    const RmspropOptions& opt) {
  // torch.optim.RMSprop docs, "Algorithm":
  //   g = ±grad + weight_decay * p;  v = alpha * v + (1 - alpha) * g * g
  //   centered: g_avg = lerp(g_avg, g, 1 - alpha), avg = sqrt(v - g_avg^2); else avg = sqrt(v)
  //   momentum > 0: b = momentum * b + g / (avg + eps), p = p - lr * b;  else p = p - lr * g / (avg + eps)
  const T alpha = static_cast<T>(opt.alpha), one_minus_alpha = static_cast<T>(1.0 - opt.alpha);
  const T eps = static_cast<T>(opt.eps), wd = static_cast<T>(opt.weight_decay);
  const T momentum = static_cast<T>(opt.momentum), neg_lr = static_cast<T>(-opt.lr);
  const bool decay = opt.weight_decay != 0.0, use_momentum = opt.momentum > 0.0;
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = opt.maximize ? -grad[i] : grad[i];
    if (decay) g = g + wd * param[i];
    square_avg[i] = square_avg[i] * alpha + one_minus_alpha * g * g;
    T avg;
    if (opt.centered) {
      grad_avg[i] = lerp(grad_avg[i], g, one_minus_alpha);
      avg = std::sqrt(square_avg[i] + T(-1) * grad_avg[i] * grad_avg[i]);
    } else {
      avg = std::sqrt(square_avg[i]);
    }
    avg = avg + eps;
    if (use_momentum) {
      momentum_buffer[i] = momentum_buffer[i] * momentum + g / avg;
      param[i] = param[i] + neg_lr * momentum_buffer[i];
    } else {
      param[i] = param[i] + neg_lr * g / avg;
    }
  });
}

template <typename T>
void adagrad_update(T* param, const T* grad, T* sum, int64_t n, const AdagradOptions& opt, int64_t step) {
  // torch.optim.Adagrad docs, "Algorithm":
  //   clr = lr / (1 + (t - 1) * lr_decay);  g = ±grad + weight_decay * p
  //   s = s + g * g;  p = p - clr * g / (sqrt(s) + eps)
  const double clr = opt.lr / (1.0 + static_cast<double>(step - 1) * opt.lr_decay);
  const T neg_clr = static_cast<T>(-clr), eps = static_cast<T>(opt.eps), wd = static_cast<T>(opt.weight_decay);
  const bool decay = opt.weight_decay != 0.0;
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = opt.maximize ? -grad[i] : grad[i];
    if (decay) g = g + wd * param[i];
    sum[i] = sum[i] + g * g;
    const T std_dev = std::sqrt(sum[i]) + eps;
    param[i] = param[i] + neg_clr * g / std_dev;
  });
}

template void adam_update<float>(float*, const float*, float*, float*, float*, int64_t, const AdamOptions&, int64_t);
template void adam_update<double>(double*, const double*, double*, double*, double*, int64_t, const AdamOptions&,
                                  int64_t);
template void rmsprop_update<float>(float*, const float*, float*, float*, float*, int64_t, const RmspropOptions&);
template void rmsprop_update<double>(double*, const double*, double*, double*, double*, int64_t, const RmspropOptions&);
template void adagrad_update<float>(float*, const float*, float*, int64_t, const AdagradOptions&, int64_t);
template void adagrad_update<double>(double*, const double*, double*, int64_t, const AdagradOptions&, int64_t);

}  // namespace chainrule::cpu
