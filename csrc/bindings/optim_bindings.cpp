// Optimizer steps beyond SGD: Adam/AdamW, RMSprop, Adagrad. Each call updates a whole parameter
// group. State lists come from Python with None for state not created yet; the op creates it and
// the lists are updated in place so the Python optimizer can keep the new tensors and step counts.
#include "bindings.h"

namespace chainrule::bindings {

namespace {

// The i-th entry of every state list belongs to params[i].
void check_length(const py::list& list, size_t n, const char* op, const char* arg) {
  if (static_cast<size_t>(py::len(list)) != n)
    throw ValueError(std::string(op) + ": " + arg + " must have one entry per parameter (" + std::to_string(n) +
                     "), got " + std::to_string(py::len(list)));
}

std::vector<Tensor> state_list(const py::list& list, size_t n, const char* op, const char* arg) {
  check_length(list, n, op, arg);
  std::vector<Tensor> out;
  out.reserve(n);
  for (py::handle h : list) {
    if (!h.is_none() && !py::isinstance<TensorImpl>(h))
      throw TypeError(std::string(op) + ": " + arg + " entries must be Tensors or None");
    out.push_back(h.is_none() ? nullptr : h.cast<Tensor>());
  }
  return out;
}

// Step counts may arrive as any integral number (int, a whole float, a 0-d tensor after a load).
std::vector<int64_t> step_list(const py::list& list, size_t n, const char* op) {
  check_length(list, n, op, "steps");
  std::vector<int64_t> out;
  out.reserve(n);
  for (py::handle h : list) out.push_back(py::int_(py::reinterpret_borrow<py::object>(h)).cast<int64_t>());
  return out;
}

void write_back(py::list& list, const std::vector<Tensor>& values) {
  for (size_t i = 0; i < values.size(); ++i) list[i] = values[i] ? py::cast(values[i]) : py::none();
}

void write_back(py::list& list, const std::vector<int64_t>& values) {
  for (size_t i = 0; i < values.size(); ++i) list[i] = py::int_(values[i]);
}

void adam_group_step(const std::vector<Tensor>& params, py::list exp_avgs, py::list exp_avg_sqs,
                     py::list max_exp_avg_sqs, py::list steps, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
  const size_t n = params.size();
  auto m = state_list(exp_avgs, n, "adam_step", "exp_avgs");
  auto v = state_list(exp_avg_sqs, n, "adam_step", "exp_avg_sqs");
  auto v_max = state_list(max_exp_avg_sqs, n, "adam_step", "max_exp_avg_sqs");
  auto counts = step_list(steps, n, "adam_step");
  cpu::AdamOptions opt{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay};
  {
    py::gil_scoped_release release;
    ops::adam_step(params, m, v, v_max, counts, opt);
  }
  write_back(exp_avgs, m);
  write_back(exp_avg_sqs, v);
  write_back(max_exp_avg_sqs, v_max);
  write_back(steps, counts);
}

void rmsprop_group_step(const std::vector<Tensor>& params, py::list square_avgs, py::list momentum_buffers,
                        py::list grad_avgs, py::list steps, double lr, double alpha, double eps, double weight_decay,
                        double momentum, bool centered, bool maximize) {
  const size_t n = params.size();
  auto sq = state_list(square_avgs, n, "rmsprop_step", "square_avgs");
  auto buf = state_list(momentum_buffers, n, "rmsprop_step", "momentum_buffers");
  auto g_avg = state_list(grad_avgs, n, "rmsprop_step", "grad_avgs");
  auto counts = step_list(steps, n, "rmsprop_step");
  cpu::RmspropOptions opt{lr, alpha, eps, weight_decay, momentum, centered, maximize};
  {
    py::gil_scoped_release release;
    ops::rmsprop_step(params, sq, buf, g_avg, counts, opt);
  }
  write_back(square_avgs, sq);
  write_back(momentum_buffers, buf);
  write_back(grad_avgs, g_avg);
  write_back(steps, counts);
}

void adagrad_group_step(const std::vector<Tensor>& params, py::list sums, py::list steps, double lr, double lr_decay,
                        double weight_decay, double initial_accumulator_value, double eps, bool maximize) {
  const size_t n = params.size();
  auto s = state_list(sums, n, "adagrad_step", "sums");
  auto counts = step_list(steps, n, "adagrad_step");
  cpu::AdagradOptions opt{lr, lr_decay, weight_decay, eps, maximize};
  {
    py::gil_scoped_release release;
    ops::adagrad_step(params, s, counts, opt, initial_accumulator_value);
  }
  write_back(sums, s);
  write_back(steps, counts);
}

}  // namespace

void bind_optimizers(py::module_& m) {
  m.def("adam_step", &adam_group_step, py::arg("params"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
        py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("decoupled_weight_decay"));
  m.def("rmsprop_step", &rmsprop_group_step, py::arg("params"), py::arg("square_avgs"), py::arg("momentum_buffers"),
        py::arg("grad_avgs"), py::arg("steps"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"));
  m.def("adagrad_step", &adagrad_group_step, py::arg("params"), py::arg("sums"), py::arg("steps"), py::arg("lr"),
        py::arg("lr_decay"), py::arg("weight_decay"), py::arg("initial_accumulator_value"), py::arg("eps"),
        py::arg("maximize"));
}

}  // namespace chainrule::bindings
