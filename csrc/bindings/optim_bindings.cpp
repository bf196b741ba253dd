// chainrule._core's optimizer group steps (optim.h): one object per parameter group, built by the
// Python optimizer from the group and its state, and called by optimizer.step() and by fit.
#include "bindings.h"
#include "chainrule/optim.h"

namespace chainrule::bindings {

namespace {
using StateLists = std::vector<std::vector<Tensor>>;
using StepCounts = std::vector<int64_t>;

// A subclass of GroupStep; its constructor takes (params, state, steps) and the optimizer's
// hyper-parameters as keywords.
template <typename Step>
py::class_<Step, optim::GroupStep, std::shared_ptr<Step>> bind_step(py::module_& m, const char* name, const char* doc) {
  return py::class_<Step, optim::GroupStep, std::shared_ptr<Step>>(m, name, doc);
}
}  // namespace

bool holds_params(const optim::GroupStep& step, py::handle params) {
  if (!PyList_Check(params.ptr())) return false;
  const std::vector<Tensor>& mine = step.params();
  if (static_cast<size_t>(PyList_GET_SIZE(params.ptr())) != mine.size()) return false;
  for (size_t i = 0; i < mine.size(); ++i) {
    const Tensor* held = tensor_holder_of(PyList_GET_ITEM(params.ptr(), static_cast<Py_ssize_t>(i)));
    if (!held || held->get() != mine[i].get()) return false;
  }
  return true;
}

py::object step_if_holds(optim::GroupStep& step, py::handle params) {
  if (!holds_params(step, params)) return py::none();
  return py::bool_(step.step());
}

bool clear_grads_if_holds(const optim::GroupStep& step, py::handle params, bool set_to_none) {
  if (!holds_params(step, params)) return false;
  for (const Tensor& p : step.params()) clear_grad(p, set_to_none);
  return true;
}

void bind_optimizers(py::module_& m) {
  py::class_<optim::GroupStep, std::shared_ptr<optim::GroupStep>>(
      m, "GroupStep", "One parameter group's update: owns the parameters, their state and step counts.")
      .def(
          "step", [](optim::GroupStep& s) { return s.step(); },
          "Update every parameter that has a .grad; True when a state tensor was created.")
      .def("take_created_since", &optim::GroupStep::take_created_since,
           "True when a step since the last call created a state tensor; clears that.")
      .def(
          "holds", [](const optim::GroupStep& s, py::handle params) { return holds_params(s, params); },
          py::arg("params"), "Whether `params` is a list of exactly this step's parameters, in order.")
      .def("step_if_holds", &step_if_holds, py::arg("params"),
           "step() when `params` is a list of exactly this step's parameters; None (and no update) when "
           "it is not, so the optimizer rebuilds the step. One call in place of a key built per step.")
      .def("clear_grads_if_holds", &clear_grads_if_holds, py::arg("params"), py::arg("set_to_none"),
           "zero_grad for `params` when it is a list of exactly this step's parameters (True); False, "
           "clearing nothing, when it is not.")
      .def_property_readonly("name", [](const optim::GroupStep& s) { return std::string(s.name()); })
      .def_property_readonly("state_names",
                             [](const optim::GroupStep& s) {
                               std::vector<std::string> names(s.state_names().begin(), s.state_names().end());
                               return names;
                             })
      .def_property_readonly("params", &optim::GroupStep::params)
      .def_property_readonly("state", &optim::GroupStep::state, "state[k][i]: state tensor k of params[i] (or None)")
      .def_property_readonly("steps", &optim::GroupStep::steps, "steps[i]: the number of updates of params[i]");

  bind_step<optim::SgdStep>(m, "SgdStep", "SGD; state: momentum_buffer")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double momentum,
                       double dampening, double weight_decay, bool nesterov, bool maximize) {
             return std::make_shared<optim::SgdStep>(
                 std::move(params), std::move(state), std::move(steps),
                 cpu::SgdOptions{lr, momentum, dampening, weight_decay, nesterov, maximize});
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("momentum"),
           py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"));

  bind_step<optim::AdamStep>(m, "AdamStep", "Adam / AdamW; state: exp_avg, exp_avg_sq, max_exp_avg_sq")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double beta1,
                       double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
                       bool decoupled_weight_decay) {
             return std::make_shared<optim::AdamStep>(
                 std::move(params), std::move(state), std::move(steps),
                 cpu::AdamOptions{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay});
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("beta1"),
           py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
           py::arg("decoupled_weight_decay"));

  bind_step<optim::NadamStep>(m, "NadamStep", "NAdam; state: exp_avg, exp_avg_sq (and mu_products, one per parameter)")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, std::vector<double> mu_products,
                       double lr, double beta1, double beta2, double eps, double weight_decay, double momentum_decay,
                       bool maximize, bool decoupled_weight_decay) {
             return std::make_shared<optim::NadamStep>(
                 std::move(params), std::move(state), std::move(steps), std::move(mu_products),
                 cpu::AdamOptions{lr, beta1, beta2, eps, weight_decay, false, maximize, decoupled_weight_decay},
                 momentum_decay);
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::arg("mu_products"), py::kw_only(), py::arg("lr"),
           py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"),
           py::arg("maximize"), py::arg("decoupled_weight_decay"))
      .def_property_readonly("mu_products", &optim::NadamStep::mu_products);

  bind_step<optim::RadamStep>(m, "RadamStep", "RAdam; state: exp_avg, exp_avg_sq")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double beta1,
                       double beta2, double eps, double weight_decay, bool maximize, bool decoupled_weight_decay) {
             return std::make_shared<optim::RadamStep>(
                 std::move(params), std::move(state), std::move(steps),
                 cpu::AdamOptions{lr, beta1, beta2, eps, weight_decay, false, maximize, decoupled_weight_decay});
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("beta1"),
           py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
           py::arg("decoupled_weight_decay"));

  bind_step<optim::AdamaxStep>(m, "AdamaxStep", "Adamax; state: exp_avg, exp_inf")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double beta1,
                       double beta2, double eps, double weight_decay, bool maximize) {
             return std::make_shared<optim::AdamaxStep>(
                 std::move(params), std::move(state), std::move(steps),
                 cpu::AdamOptions{lr, beta1, beta2, eps, weight_decay, false, maximize, false});
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("beta1"),
           py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));

  bind_step<optim::RmspropStep>(m, "RmspropStep", "RMSprop; state: square_avg, momentum_buffer, grad_avg")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double alpha,
                       double eps, double weight_decay, double momentum, bool centered, bool maximize) {
             return std::make_shared<optim::RmspropStep>(
                 std::move(params), std::move(state), std::move(steps),
                 cpu::RmspropOptions{lr, alpha, eps, weight_decay, momentum, centered, maximize});
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("alpha"),
           py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"));

  bind_step<optim::AdagradStep>(m, "AdagradStep", "Adagrad; state: sum")
      .def(py::init([](std::vector<Tensor> params, StateLists state, StepCounts steps, double lr, double lr_decay,
                       double weight_decay, double initial_accumulator_value, double eps, bool maximize) {
             return std::make_shared<optim::AdagradStep>(std::move(params), std::move(state), std::move(steps),
                                                         cpu::AdagradOptions{lr, lr_decay, weight_decay, eps, maximize},
                                                         initial_accumulator_value);
           }),
           py::arg("params"), py::arg("state"), py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("lr_decay"),
           py::arg("weight_decay"), py::arg("initial_accumulator_value"), py::arg("eps"), py::arg("maximize"));
}

}  // namespace chainrule::bindings
