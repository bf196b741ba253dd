// Optimizer steps over a whole parameter group in one call.
#include "op_utils.h"

namespace chainrule::ops {

void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& momentum_buffers, const cpu::SgdOptions& opt) {
  if (momentum_buffers.size() != params.size())
    throw ValueError("sgd_step: momentum_buffers must have one entry per parameter");
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p->grad) continue;  // PyTorch skips parameters that received no gradient
    const Tensor& g = p->grad;
    if (g->shape != p->shape || g->dtype != p->dtype)
      throw ValueError("SGD: parameter " + std::to_string(i) + " has shape " + shape_str(p->shape) +
                       " but its grad has shape " + shape_str(g->shape));
    const bool first = !momentum_buffers[i];
    if (opt.momentum != 0.0 && first) momentum_buffers[i] = empty_like(p);
    dispatch_floating(p->dtype, "SGD", "params", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::sgd_update<T>(p->ptr<T>(), g->ptr<T>(), momentum_buffers[i] ? momentum_buffers[i]->ptr<T>() : nullptr,
                         p->numel, opt, first);
    });
  }
}

}  // namespace chainrule::ops
