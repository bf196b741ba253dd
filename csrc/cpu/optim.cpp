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

// Adam's first lines, shared by Adam, NAdam and RAdam: the signed gradient with weight decay (coupled, or
// applied to the parameter for decoupled_weight_decay), then the two moment averages.
template <typename T>
struct AdamMoments {
  T one_minus_beta1, beta2, one_minus_beta2, wd, param_scale;
  bool decay, decoupled, maximize;
  explicit AdamMoments(const AdamOptions& opt)
      : one_minus_beta1(static_cast<T>(1.0 - opt.beta1)),
        beta2(static_cast<T>(opt.beta2)),
        one_minus_beta2(static_cast<T>(1.0 - opt.beta2)),
        wd(static_cast<T>(opt.weight_decay)),
        param_scale(static_cast<T>(1.0 - opt.lr * opt.weight_decay)),
        decay(opt.weight_decay != 0.0),
        decoupled(opt.decoupled_weight_decay),
        maximize(opt.maximize) {}
  // Updates param (decoupled decay), exp_avg and exp_avg_sq at i; returns the gradient used.
  T apply(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t i) const {
    T g = maximize ? -grad[i] : grad[i];
    if (decay) {
      if (decoupled)
        param[i] = param[i] * param_scale;
      else
        g = g + wd * param[i];
    }
    exp_avg[i] = lerp(exp_avg[i], g, one_minus_beta1);
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
    return g;
  }
};

}  // namespace

namespace {
// Adam's element loop with opt's choices as template arguments: no branch in the loop, so the
// compiler vectorises it; square roots and divisions round the same in every lane, so each element
// gets the bits of AdamMoments::apply and the update below, element by element.
template <typename T, bool kMaximize, bool kCoupledDecay, bool kDecoupledDecay, bool kAmsgrad>
void adam_elements(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                   const AdamOptions& opt, T neg_step_size, T bias_correction2_sqrt) {
  const AdamMoments<T> moments(opt);
  const T one_minus_beta1 = moments.one_minus_beta1, beta2 = moments.beta2, one_minus_beta2 = moments.one_minus_beta2;
  const T wd = moments.wd, param_scale = moments.param_scale, eps = static_cast<T>(opt.eps);
  // lerp(m, g, 1 - beta1) with its side (see lerp()) chosen once: a select per element.
  const bool lerp_from_start = std::abs(one_minus_beta1) < T(0.5);
  const T beta1 = T(1) - one_minus_beta1;
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = grad[i];
    if constexpr (kMaximize) g = -g;
    T p = param[i];
    if constexpr (kDecoupledDecay) p = p * param_scale;
    if constexpr (kCoupledDecay) g = g + wd * p;
    const T m = exp_avg[i];
    const T m_next = lerp_from_start ? m + one_minus_beta1 * (g - m) : g - (g - m) * beta1;
    exp_avg[i] = m_next;
    T second = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
    exp_avg_sq[i] = second;
    if constexpr (kAmsgrad) second = max_exp_avg_sq[i] = maximum(max_exp_avg_sq[i], second);
    const T denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    param[i] = p + neg_step_size * m_next / denom;
  });
}

template <typename T, bool kMaximize, bool kCoupledDecay, bool kDecoupledDecay>
void adam_elements_amsgrad(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                           const AdamOptions& opt, T neg_step_size, T bias_correction2_sqrt) {
  if (opt.amsgrad)
    adam_elements<T, kMaximize, kCoupledDecay, kDecoupledDecay, true>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
                                                                      n, opt, neg_step_size, bias_correction2_sqrt);
  else
    adam_elements<T, kMaximize, kCoupledDecay, kDecoupledDecay, false>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
                                                                       n, opt, neg_step_size, bias_correction2_sqrt);
}

template <typename T, bool kMaximize>
void adam_elements_decay(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                         const AdamOptions& opt, T neg_step_size, T bias_correction2_sqrt) {
  if (opt.weight_decay == 0.0)
    adam_elements_amsgrad<T, kMaximize, false, false>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, opt,
                                                      neg_step_size, bias_correction2_sqrt);
  else if (opt.decoupled_weight_decay)
    adam_elements_amsgrad<T, kMaximize, false, true>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, opt,
                                                     neg_step_size, bias_correction2_sqrt);
  else
    adam_elements_amsgrad<T, kMaximize, true, false>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, opt,
                                                     neg_step_size, bias_correction2_sqrt);
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
  if (opt.maximize)
    adam_elements_decay<T, true>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, opt, neg_step_size,
                                 bias_correction2_sqrt);
  else
    adam_elements_decay<T, false>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, opt, neg_step_size,
                                  bias_correction2_sqrt);
}

template <typename T>
void nadam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamOptions& opt, int64_t step,
                  const NadamFactors& factors) {
  // torch/optim/nadam.py, _single_tensor_nadam: Adam's moments, then
  //   denom = sqrt(v / (1 - beta2^t)) + eps
  //   p += (-lr (1 - mu_t) / (1 - mu_product)) g / denom
  //   p += (-lr mu_{t+1} / (1 - mu_product mu_{t+1})) m / denom
  const AdamMoments<T> moments(opt);
  const T bias_correction2 = static_cast<T>(1.0 - std::pow(opt.beta2, static_cast<double>(step)));
  const T eps = static_cast<T>(opt.eps);
  const T grad_coef = static_cast<T>(-opt.lr * (1.0 - factors.mu) / (1.0 - factors.mu_product));
  const T avg_coef = static_cast<T>((-opt.lr * factors.mu_next) / (1.0 - factors.mu_product * factors.mu_next));
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    const T g = moments.apply(param, grad, exp_avg, exp_avg_sq, i);
    const T denom = std::sqrt(exp_avg_sq[i] / bias_correction2) + eps;
    param[i] = param[i] + grad_coef * g / denom;
    param[i] = param[i] + avg_coef * exp_avg[i] / denom;
  });
}

template <typename T>
void radam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamOptions& opt, int64_t step) {
  // torch/optim/radam.py, _single_tensor_radam: Adam's moments; m_hat = m / (1 - beta1^t); with
  // rho_inf = 2 / (1 - beta2) - 1 and rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t):
  //   rho_t > 5:  p -= m_hat lr sqrt(1 - beta2^t) / (sqrt(v) + eps) rect, where rect =
  //               ((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))^0.5
  //   otherwise:  p -= m_hat lr (plain momentum while the adaptive rate's variance is intractable)
  // The scalars are computed in double as Python does (x ** 0.5 is pow, not sqrt).
  const AdamMoments<T> moments(opt);
  const double t = static_cast<double>(step);
  const double bias_correction2 = 1.0 - std::pow(opt.beta2, t);
  const double rho_inf = 2.0 / (1.0 - opt.beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(opt.beta2, t) / bias_correction2;
  const bool rectified = rho_t > 5.0;
  const T rect = rectified
                     ? static_cast<T>(std::pow(
                           (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5))
                     : T(0);
  const T bias_correction1 = static_cast<T>(1.0 - std::pow(opt.beta1, t));
  const T bias_correction2_sqrt = static_cast<T>(std::pow(bias_correction2, 0.5));
  const T lr = static_cast<T>(opt.lr), eps = static_cast<T>(opt.eps);
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    moments.apply(param, grad, exp_avg, exp_avg_sq, i);
    const T corrected = exp_avg[i] / bias_correction1;
    if (rectified) {
      const T adaptive = bias_correction2_sqrt / (std::sqrt(exp_avg_sq[i]) + eps);
      param[i] = param[i] + T(-1) * (corrected * lr * adaptive * rect);
    } else {
      param[i] = param[i] + T(-1) * (corrected * lr);
    }
  });
}

template <typename T>
void adamax_update(T* param, const T* grad, T* exp_avg, T* exp_inf, int64_t n, const AdamOptions& opt, int64_t step) {
  // torch/optim/adamax.py, _single_tensor_adamax:
  //   g = ±grad + weight_decay * p;  m = lerp(m, g, 1 - beta1);  u = max(beta2 u, |g| + eps)
  //   p += (-lr / (1 - beta1^t)) m / u
  const T one_minus_beta1 = static_cast<T>(1.0 - opt.beta1), beta2 = static_cast<T>(opt.beta2);
  const T eps = static_cast<T>(opt.eps), wd = static_cast<T>(opt.weight_decay);
  const T neg_clr = static_cast<T>(-(opt.lr / (1.0 - std::pow(opt.beta1, static_cast<double>(step)))));
  const bool decay = opt.weight_decay != 0.0;
  parallel_for(n, n > (1 << 16), [&](int64_t i) {
    T g = opt.maximize ? -grad[i] : grad[i];
    if (decay) g = g + wd * param[i];
    exp_avg[i] = lerp(exp_avg[i], g, one_minus_beta1);
    exp_inf[i] = maximum(exp_inf[i] * beta2, std::abs(g) + eps);
    param[i] = param[i] + neg_clr * exp_avg[i] / exp_inf[i];
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
template void nadam_update<float>(float*, const float*, float*, float*, int64_t, const AdamOptions&, int64_t,
                                  const NadamFactors&);
template void nadam_update<double>(double*, const double*, double*, double*, int64_t, const AdamOptions&, int64_t,
                                   const NadamFactors&);
template void radam_update<float>(float*, const float*, float*, float*, int64_t, const AdamOptions&, int64_t);
template void radam_update<double>(double*, const double*, double*, double*, int64_t, const AdamOptions&, int64_t);
template void adamax_update<float>(float*, const float*, float*, float*, int64_t, const AdamOptions&, int64_t);
template void adamax_update<double>(double*, const double*, double*, double*, int64_t, const AdamOptions&, int64_t);
template void rmsprop_update<float>(float*, const float*, float*, float*, float*, int64_t, const RmspropOptions&);
template void rmsprop_update<double>(double*, const double*, double*, double*, double*, int64_t, const RmspropOptions&);
template void adagrad_update<float>(float*, const float*, float*, int64_t, const AdagradOptions&, int64_t);
template void adagrad_update<double>(double*, const double*, double*, int64_t, const AdagradOptions&, int64_t);

}  // namespace chainrule::cpu
