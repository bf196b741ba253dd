// Optimizer steps over a whole parameter group in one call.
#include "op_utils.h"

namespace chainrule::ops {

namespace {

// params[i]'s gradient after checking it matches the parameter; nullptr when it has none.
Tensor checked_grad(const Tensor& p, const char* optimizer, size_t i) {
  const Tensor& g = p->grad;
  if (g && (g->shape != p->shape || g->dtype != p->dtype))
    throw ValueError(std::string(optimizer) + ": parameter " + std::to_string(i) + " is " + dtype_name(p->dtype) +
                     " " + shape_str(p->shape) + " but its grad is " + dtype_name(g->dtype) + " " +
                     shape_str(g->shape));
  return g;
}

// Creates a missing state tensor filled with init_value; checks one that exists (it may have
// come from load_state_dict) against the parameter.
void ensure_state(Tensor& state, const Tensor& p, double init_value, const char* optimizer, const char* name,
                  size_t i) {
  if (!state) {
    state = init_value == 0.0 ? zeros_like(p) : full(p->shape, init_value, p->dtype);
    return;
  }
  if (state->shape != p->shape || state->dtype != p->dtype)
    throw ValueError(std::string(optimizer) + ": state '" + name + "' of parameter " + std::to_string(i) + " is " +
                     dtype_name(state->dtype) + " " + shape_str(state->shape) + " but the parameter is " +
                     dtype_name(p->dtype) + " " + shape_str(p->shape));
}

// Every group step starts here: one state entry per parameter, and no parameter missing (a None
// from Python arrives as a null Tensor).
void check_group(const std::vector<Tensor>& params, std::initializer_list<size_t> lists, const char* op) {
  for (size_t n : lists)
    if (n != params.size())
      throw ValueError(std::string(op) + ": every state list must have one entry per parameter");
  for (size_t i = 0; i < params.size(); ++i)
    if (!params[i]) throw TypeError(std::string(op) + ": params[" + std::to_string(i) + "] must be a Tensor, got None");
}

template <typename T> T* data_or_null(const Tensor& t) { return t ? t->ptr<T>() : nullptr; }

}  // namespace

void sgd_step(const std::vector<Tensor>& params, std::vector<Tensor>& momentum_buffers, const cpu::SgdOptions& opt) {
  check_group(params, {momentum_buffers.size()}, "sgd_step");
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


void adam_step(const std::vector<Tensor>& params, std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
               std::vector<Tensor>& max_exp_avg_sqs, std::vector<int64_t>& steps, const cpu::AdamOptions& opt) {
  const char* name = opt.decoupled_weight_decay ? "AdamW" : "Adam";
  check_group(params, {exp_avgs.size(), exp_avg_sqs.size(), max_exp_avg_sqs.size(), steps.size()},
                "adam_step");
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor g = checked_grad(p, name, i);
    if (!g) continue;  // PyTorch skips parameters that received no gradient, step count included
    ensure_state(exp_avgs[i], p, 0.0, name, "exp_avg", i);
    ensure_state(exp_avg_sqs[i], p, 0.0, name, "exp_avg_sq", i);
    if (opt.amsgrad) ensure_state(max_exp_avg_sqs[i], p, 0.0, name, "max_exp_avg_sq", i);
    const int64_t step = ++steps[i];
    dispatch_floating(p->dtype, name, "params", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::adam_update<T>(p->ptr<T>(), g->ptr<T>(), exp_avgs[i]->ptr<T>(), exp_avg_sqs[i]->ptr<T>(),
                          opt.amsgrad ? max_exp_avg_sqs[i]->ptr<T>() : nullptr, p->numel, opt, step);
    });
  }
}

void rmsprop_step(const std::vector<Tensor>& params, std::vector<Tensor>& square_avgs,
                  std::vector<Tensor>& momentum_buffers, std::vector<Tensor>& grad_avgs, std::vector<int64_t>& steps,
                  const cpu::RmspropOptions& opt) {
  check_group(params, {square_avgs.size(), momentum_buffers.size(), grad_avgs.size(), steps.size()},
                "rmsprop_step");
  const bool use_momentum = opt.momentum > 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor g = checked_grad(p, "RMSprop", i);
    if (!g) continue;
    ensure_state(square_avgs[i], p, 0.0, "RMSprop", "square_avg", i);
    if (use_momentum) ensure_state(momentum_buffers[i], p, 0.0, "RMSprop", "momentum_buffer", i);
    if (opt.centered) ensure_state(grad_avgs[i], p, 0.0, "RMSprop", "grad_avg", i);
    ++steps[i];
    dispatch_floating(p->dtype, "RMSprop", "params", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::rmsprop_update<T>(p->ptr<T>(), g->ptr<T>(), square_avgs[i]->ptr<T>(),
                             use_momentum ? momentum_buffers[i]->ptr<T>() : nullptr,
                             opt.centered ? grad_avgs[i]->ptr<T>() : nullptr, p->numel, opt);
    });
  }
}

void adagrad_step(const std::vector<Tensor>& params, std::vector<Tensor>& sums, std::vector<int64_t>& steps,
                  const cpu::AdagradOptions& opt, double initial_accumulator_value) {
  check_group(params, {sums.size(), steps.size()}, "adagrad_step");
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor g = checked_grad(p, "Adagrad", i);
    if (!g) continue;
    ensure_state(sums[i], p, initial_accumulator_value, "Adagrad", "sum", i);
    const int64_t step = ++steps[i];
    dispatch_floating(p->dtype, "Adagrad", "params", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::adagrad_update<T>(p->ptr<T>(), g->ptr<T>(), sums[i]->ptr<T>(), p->numel, opt, step);
    });
  }
}

}  // namespace chainrule::ops
