// Optimizers: one GroupStep object per parameter group. It owns the group's parameter list, each
// parameter's state tensors and step count, and the hyper-parameters, and updates every parameter
// of the group from its .grad in one call. optimizer.step() (python/chainrule/optim) and the
// native fit loop (fit.h) call the same object; there is no other route to the update kernels.
//
// Adding an optimizer: a subclass that names its state (state_names) and implements update() for
// one parameter with the kernel from kernels.h; the base class walks the group, skips parameters
// without a gradient, counts steps and checks state shapes. Bind it in
// csrc/bindings/optim_bindings.cpp and give the Python class its state keys (ARCHITECTURE.md).
#pragma once

#include <string>
#include <vector>

#include "chainrule/kernels.h"
#include "chainrule/tensor.h"

namespace chainrule::optim {

class GroupStep {
 public:
  // state[k][i] is state tensor k (named state_names()[k]) of params[i], null when not created
  // yet; steps[i] counts params[i]'s updates so far. Throws ValueError/TypeError, naming the
  // argument, when a list does not have one entry per parameter or a parameter is missing.
  GroupStep(const char* name, std::vector<const char*> state_names, std::vector<Tensor> params,
            std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps);
  virtual ~GroupStep() = default;

  const char* name() const { return name_; }  // "Adam", ... (the Python class), for messages
  const std::vector<const char*>& state_names() const { return state_names_; }

  // Updates every parameter that has a .grad (others keep their state untouched, as in
  // PyTorch). Returns true when it created a state tensor the caller has not seen yet.
  bool step();
  // Whether any step since the last call created a state tensor (then clears that). The native
  // loop ignores step()'s answers; after it, Optimizer.publish_state asks this once, so an
  // epoch that created nothing costs no copy of the state lists into Python.
  bool take_created_since() {
    const bool created = created_since_;
    created_since_ = false;
    return created;
  }

  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<std::vector<Tensor>>& state() const { return state_; }
  const std::vector<int64_t>& steps() const { return steps_; }

 protected:
  // One parameter's update, step = its step number (1 on the first). grad is checked to match p.
  virtual void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) = 0;
  // The parameters `indices` (all on one device that is not the CPU, each with a gradient, all at
  // step number `step`) updated by one multi-tensor kernel launch. NotImplementedError unless the
  // optimizer has a device kernel.
  virtual void update_on_device(const std::vector<size_t>& indices, int64_t step);
  // The device pointers of the parameters `indices`, their gradients and element counts.
  TensorGroup device_group(const std::vector<size_t>& indices) const;
  // State tensor k of parameter i: created filled with init_value when null, else checked
  // against the parameter (it may have come from load_state_dict).
  Tensor& state_for(size_t k, size_t i, double init_value = 0.0);
  // State tensor k of parameter i, created uninitialised when null (the kernel writes it first).
  Tensor& state_uninitialised(size_t k, size_t i);
  // An existing state tensor must match its parameter (ValueError) and is about to be written.
  void check_existing_state(size_t k, size_t i) const;

 private:
  const char* name_;
  std::vector<const char*> state_names_;
  std::vector<Tensor> params_;
  std::vector<std::vector<Tensor>> state_;
  std::vector<int64_t> steps_;
  bool created_ = false;
  bool created_since_ = false;  // created_ of any step since take_created_since()

  void step_on_device();
  // ValueError unless params[i]'s gradient has its shape and dtype.
  void check_grad(size_t i) const;
};

// state: momentum_buffer (created by the first step when momentum != 0).
class SgdStep final : public GroupStep {
 public:
  SgdStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
          const cpu::SgdOptions& options);
  cpu::SgdOptions options;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
  void update_on_device(const std::vector<size_t>& indices, int64_t step) override;
};

// Adam and AdamW (options.decoupled_weight_decay). state: exp_avg, exp_avg_sq, max_exp_avg_sq.
class AdamStep final : public GroupStep {
 public:
  AdamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
           const cpu::AdamOptions& options);
  cpu::AdamOptions options;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
  void update_on_device(const std::vector<size_t>& indices, int64_t step) override;
};

// NAdam; state: exp_avg, exp_avg_sq, and mu_product (a number per parameter: the product of the
// momentum factors of its steps so far, 1 before the first).
class NadamStep final : public GroupStep {
 public:
  NadamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
            std::vector<double> mu_products, const cpu::AdamOptions& options, double momentum_decay);
  cpu::AdamOptions options;
  double momentum_decay = 0;
  const std::vector<double>& mu_products() const { return mu_products_; }

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;

 private:
  std::vector<double> mu_products_;
};

// RAdam; state: exp_avg, exp_avg_sq.
class RadamStep final : public GroupStep {
 public:
  RadamStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
            const cpu::AdamOptions& options);
  cpu::AdamOptions options;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
};

// Adamax; state: exp_avg, exp_inf.
class AdamaxStep final : public GroupStep {
 public:
  AdamaxStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
             const cpu::AdamOptions& options);
  cpu::AdamOptions options;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
};

// state: square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
class RmspropStep final : public GroupStep {
 public:
  RmspropStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
              const cpu::RmspropOptions& options);
  cpu::RmspropOptions options;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
};

// state: sum (starting at initial_accumulator_value).
class AdagradStep final : public GroupStep {
 public:
  AdagradStep(std::vector<Tensor> params, std::vector<std::vector<Tensor>> state, std::vector<int64_t> steps,
              const cpu::AdagradOptions& options, double initial_accumulator_value);
  cpu::AdagradOptions options;
  double initial_accumulator_value = 0;

 protected:
  void update(size_t i, const Tensor& p, const Tensor& grad, int64_t step) override;
};

}  // namespace chainrule::optim
