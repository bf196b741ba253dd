// Optimizer update kernels (PyTorch's update rules, element by element).
#include "chainrule/kernels.h"

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
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if (wd != T(0)) g = g + wd * param[i];
    if (use_momentum) {
      T b = first_step ? g : mom * momentum_buffer[i] + one_minus_damp * g;
      momentum_buffer[i] = b;
      g = opt.nesterov ? g + mom * b : b;
    }
    param[i] = param[i] - lr * g;
  }
}

template void sgd_update<float>(float*, const float*, float*, int64_t, const SgdOptions&, bool);
template void sgd_update<double>(double*, const double*, double*, int64_t, const SgdOptions&, bool);

}  // namespace chainrule::cpu
