// The optimizers' group steps (optim.h): the walk over a group is shared, each optimizer adds its
// per-parameter update.
#include <cmath>

#include "chainrule/letting_others_run.h"
#include "chainrule/optim.h"
#include "op_utils.h"

namespace chainrule::optim {

namespace {
template <typename T>
T* data_or_null(const Tensor& t) {
  return t ? t->ptr<T>() : nullptr;
}
}  // namespace

GroupStep::GroupStep(const char* name, std::vector<const char*> state_names, std::vector<Tensor> params,
                     std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps)
    : name_(name),
      state_names_(std::move(state_names)),
      params_(std::move(params)),
      state_(std::move(state)),
      steps_(std::move(steps)) {
  const std::string op(name_);
  for (size_t i = 0; i < params_.size(); ++i)
    if (!params_[i]) throw TypeError(op + ": params[" + std::to_string(i) + "] must be a Tensor, got None");
  if (state_.size() != state_names_.size())
    throw ValueError(op + ": expected " + std::to_string(state_names_.size()) + " state lists, got " +
                     std::to_string(state_.size()));
  for (size_t k = 0; k < state_.size(); ++k)
    if (state_[k].size() != params_.size())
      throw ValueError(op + ": state '" + state_names_[k] + "' must have one entry per parameter (" +
                       std::to_string(params_.size()) + "), got " + std::to_string(state_[k].size()));
  if (steps_.size() != params_.size())
    throw ValueError(op + ": steps must have one entry per parameter (" + std::to_string(params_.size()) + "), got " +
                     std::to_string(steps_.size()));
}

bool GroupStep::step() {
  created_ = false;
  // The parameters this step writes (those with a gradient) pass the in-place gate before any is
  // updated, so a read-only one stops the step before it changes anything.
  int64_t elements = 0;
  bool on_a_device = false;
  for (const Tensor& p : params_)
    if (p->grad) {
      mark_inplace_write(p, name_);
      elements += p->numel;
      on_a_device |= !p->on_cpu();
    }
  if (on_a_device) {
    step_on_device();
    created_since_ |= created_;
    return created_;
  }
  // A few operations per element; a large model's step lets other Python threads run.
  LettingOthersRun others(8 * elements > kLongCallFlops);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor& g = p->grad;
    if (!g) continue;  // PyTorch skips parameters that received no gradient, step count included
    check_grad(i);
    update(i, p, g, steps_[i] + 1);
    ++steps_[i];
  }
  created_since_ |= created_;
  return created_;
}

void GroupStep::check_grad(size_t i) const {
  const Tensor& p = params_[i];
  const Tensor& g = p->grad;
  if (!same_shape(g->shape, p->shape) || g->dtype != p->dtype)
    throw ValueError(std::string(name_) + ": parameter " + std::to_string(i) + " is " + dtype_name(p->dtype) + " " +
                     shape_str(p->shape) + " but its grad is " + dtype_name(g->dtype) + " " + shape_str(g->shape));
}

void GroupStep::step_on_device() {
  // Checked first, then one multi-tensor launch per group of parameters at the same step number
  // (all of them, unless some missed gradients in earlier steps).
  std::vector<std::vector<size_t>> by_step;
  std::vector<int64_t> step_numbers;
  const Tensor* first = nullptr;  // the first parameter with a gradient: the others must share its device
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor& g = p->grad;
    if (!g) continue;
    if (!first) first = &p;
    check_same_device(name_, {first, &p, &g});
    check_grad(i);
    const int64_t step = steps_[i] + 1;
    size_t bucket = 0;
    while (bucket < step_numbers.size() && step_numbers[bucket] != step) ++bucket;
    if (bucket == step_numbers.size()) {
      step_numbers.push_back(step);
      by_step.emplace_back();
    }
    by_step[bucket].push_back(i);
  }
  for (size_t b = 0; b < by_step.size(); ++b) {
    update_on_device(by_step[b], step_numbers[b]);
    for (size_t i : by_step[b]) ++steps_[i];
  }
}

void GroupStep::update_on_device(const std::vector<size_t>& indices, int64_t) {
  throw NotImplementedError(std::string(name_) + ": the optimizer step has no implementation for parameters on " +
                            device_str(params_[indices.front()]->device()) +
                            " yet (SGD, Adam and AdamW have one); move the model to the CPU");
}

TensorGroup GroupStep::device_group(const std::vector<size_t>& indices) const {
  TensorGroup group;
  for (size_t i : indices) {
    group.params.push_back(params_[i]->data);
    group.grads.push_back(params_[i]->grad->data);
    group.n.push_back(params_[i]->numel);
  }
  return group;
}

Tensor& GroupStep::state_for(size_t k, size_t i, double init_value) {
  Tensor& state = state_[k][i];
  const Tensor& p = params_[i];
  if (!state) {
    state = init_value == 0.0 ? zeros_like(p) : full(p->shape, init_value, p->dtype);
    created_ = true;
  } else {
    check_existing_state(k, i);
  }
  return state;
}

Tensor& GroupStep::state_uninitialised(size_t k, size_t i) {
  Tensor& state = state_[k][i];
  if (!state) {
    state = empty_like(params_[i]);
    created_ = true;
  } else {
    check_existing_state(k, i);
  }
  return state;
}

void GroupStep::check_existing_state(size_t k, size_t i) const {
  // A state tensor from load_state_dict, or from before `.data =` re-pointed the parameter, must
  // still match it (PyTorch raises too): the update would otherwise run past the smaller one.
  const Tensor& state = state_[k][i];
  const Tensor& p = params_[i];
  if (state->shape != p->shape || state->dtype != p->dtype)
    throw ValueError(std::string(name_) + ": state '" + state_names_[k] + "' of parameter " + std::to_string(i) +
                     " is " + dtype_name(state->dtype) + " " + shape_str(state->shape) + " but the parameter is " +
                     dtype_name(p->dtype) + " " + shape_str(p->shape));
  mark_inplace_write(state, name_);
}

// ---- SGD ----------------------------------------------------------------------------------------
SgdStep::SgdStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                 const cpu::SgdOptions& options)
    : GroupStep("SGD", {"momentum_buffer"}, std::move(params), std::move(state), std::move(steps)), options(options) {}

void SgdStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t) {
  // The momentum buffer is written (not read) by the step that creates it.
  const bool first = !state()[0][i];
  Tensor buffer = options.momentum != 0.0 ? state_uninitialised(0, i) : state()[0][i];
  ops::dispatch_floating(p->dtype, "SGD", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::sgd_update<T>(p->ptr<T>(), grad->ptr<T>(), data_or_null<T>(buffer), p->numel, options, first);
  });
}

void SgdStep::update_on_device(const std::vector<size_t>& indices, int64_t) {
  // The momentum buffers are written (not read) by the step that creates them: the parameters
  // with and without one go in separate launches.
  std::vector<size_t> parts[2];  // [0]: buffers to create (first step), [1]: the others; decided before any is made
  for (size_t i : indices) parts[options.momentum != 0.0 && !state()[0][i] ? 0 : 1].push_back(i);
  for (const bool first : {true, false}) {
    const std::vector<size_t>& part = parts[first ? 0 : 1];
    if (part.empty()) continue;
    TensorGroup group = device_group(part);
    group.states.emplace_back();
    for (size_t i : part) {
      Tensor buffer = options.momentum != 0.0 ? state_uninitialised(0, i) : state()[0][i];
      if (buffer) check_same_device(name(), {&params()[i], &buffer});
      group.states[0].push_back(buffer ? buffer->data : nullptr);
    }
    const Tensor& p = params()[part.front()];
    ops::float_kernels(p, name()).sgd_update(p->dtype, group, options, first);
  }
}

// ---- Adam / AdamW -------------------------------------------------------------------------------
AdamStep::AdamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                   const cpu::AdamOptions& options)
    : GroupStep(options.decoupled_weight_decay ? "AdamW" : "Adam", {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                std::move(params), std::move(state), std::move(steps)),
      options(options) {}

void AdamStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) {
  Tensor& exp_avg = state_for(0, i);
  Tensor& exp_avg_sq = state_for(1, i);
  Tensor max_exp_avg_sq = options.amsgrad ? state_for(2, i) : nullptr;
  ops::dispatch_floating(p->dtype, name(), "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::adam_update<T>(p->ptr<T>(), grad->ptr<T>(), exp_avg->ptr<T>(), exp_avg_sq->ptr<T>(),
                        data_or_null<T>(max_exp_avg_sq), p->numel, options, step);
  });
}

void AdamStep::update_on_device(const std::vector<size_t>& indices, int64_t step) {
  TensorGroup group = device_group(indices);
  group.states.resize(3);
  for (size_t i : indices) {
    const Tensor& p = params()[i];
    Tensor& exp_avg = state_for(0, i);
    Tensor& exp_avg_sq = state_for(1, i);
    Tensor max_exp_avg_sq = options.amsgrad ? state_for(2, i) : nullptr;
    check_same_device(name(), {&p, &exp_avg, &exp_avg_sq, &max_exp_avg_sq});
    group.states[0].push_back(exp_avg->data);
    group.states[1].push_back(exp_avg_sq->data);
    group.states[2].push_back(max_exp_avg_sq ? max_exp_avg_sq->data : nullptr);
  }
  const Tensor& p = params()[indices.front()];
  ops::float_kernels(p, name()).adam_update(p->dtype, group, options, step);
}

// ---- NAdam, RAdam, Adamax ----------------------------------------------------------------------
NadamStep::NadamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                     std::vector<double> mu_products, const cpu::AdamOptions& options, double momentum_decay)
    : GroupStep("NAdam", {"exp_avg", "exp_avg_sq"}, std::move(params), std::move(state), std::move(steps)),
      options(options),
      momentum_decay(momentum_decay),
      mu_products_(std::move(mu_products)) {
  if (mu_products_.size() != this->params().size())
    throw ValueError("NAdam: mu_products has " + std::to_string(mu_products_.size()) + " entries for " +
                     std::to_string(this->params().size()) + " parameters");
}

void NadamStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) {
  // mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)), in double as PyTorch computes it.
  auto mu_at = [&](int64_t t) {
    return options.beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(t) * momentum_decay));
  };
  cpu::NadamFactors factors;
  factors.mu = mu_at(step);
  factors.mu_next = mu_at(step + 1);
  factors.mu_product = mu_products_[i] * factors.mu;
  Tensor& exp_avg = state_for(0, i);
  Tensor& exp_avg_sq = state_for(1, i);
  ops::dispatch_floating(p->dtype, "NAdam", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::nadam_update<T>(p->ptr<T>(), grad->ptr<T>(), exp_avg->ptr<T>(), exp_avg_sq->ptr<T>(), p->numel, options, step,
                         factors);
  });
  mu_products_[i] = factors.mu_product;
}

RadamStep::RadamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                     const cpu::AdamOptions& options)
    : GroupStep("RAdam", {"exp_avg", "exp_avg_sq"}, std::move(params), std::move(state), std::move(steps)),
      options(options) {}

void RadamStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) {
  Tensor& exp_avg = state_for(0, i);
  Tensor& exp_avg_sq = state_for(1, i);
  ops::dispatch_floating(p->dtype, "RAdam", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::radam_update<T>(p->ptr<T>(), grad->ptr<T>(), exp_avg->ptr<T>(), exp_avg_sq->ptr<T>(), p->numel, options, step);
  });
}

AdamaxStep::AdamaxStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                       const cpu::AdamOptions& options)
    : GroupStep("Adamax", {"exp_avg", "exp_inf"}, std::move(params), std::move(state), std::move(steps)),
      options(options) {}

void AdamaxStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) {
  Tensor& exp_avg = state_for(0, i);
  Tensor& exp_inf = state_for(1, i);
  ops::dispatch_floating(p->dtype, "Adamax", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::adamax_update<T>(p->ptr<T>(), grad->ptr<T>(), exp_avg->ptr<T>(), exp_inf->ptr<T>(), p->numel, options, step);
  });
}

// ---- RMSprop ------------------------------------------------------------------------------------
RmspropStep::RmspropStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                         const cpu::RmspropOptions& options)
    : GroupStep("RMSprop", {"square_avg", "momentum_buffer", "grad_avg"}, std::move(params), std::move(state),
                std::move(steps)),
      options(options) {}

void RmspropStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t) {
  Tensor& square_avg = state_for(0, i);
  Tensor momentum_buffer = options.momentum > 0.0 ? state_for(1, i) : nullptr;
  Tensor grad_avg = options.centered ? state_for(2, i) : nullptr;
  ops::dispatch_floating(p->dtype, "RMSprop", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::rmsprop_update<T>(p->ptr<T>(), grad->ptr<T>(), square_avg->ptr<T>(), data_or_null<T>(momentum_buffer),
                           data_or_null<T>(grad_avg), p->numel, options);
  });
}

// ---- Adagrad ------------------------------------------------------------------------------------
AdagradStep::AdagradStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
                         const cpu::AdagradOptions& options, double initial_accumulator_value)
    : GroupStep("Adagrad", {"sum"}, std::move(params), std::move(state), std::move(steps)),
      options(options),
      initial_accumulator_value(initial_accumulator_value) {}

void AdagradStep::update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) {
  Tensor& sum = state_for(0, i, initial_accumulator_value);
  ops::dispatch_floating(p->dtype, "Adagrad", "params", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::adagrad_update<T>(p->ptr<T>(), grad->ptr<T>(), sum->ptr<T>(), p->numel, options, step);
  });
}

}  // namespace chainrule::optim
