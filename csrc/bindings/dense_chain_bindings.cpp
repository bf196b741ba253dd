// chainrule._core.DenseChain: the fused path behind nn.Sequential of built-in layers.
#include "bindings.h"
#include "chainrule/dense_chain.h"
#include "chainrule/fit.h"

namespace chainrule::bindings {

namespace {
cpu::Activation parse_activation(const std::string& name) {
  if (name == "identity") return cpu::Activation::Identity;
  if (name == "relu") return cpu::Activation::Relu;
  if (name == "sigmoid") return cpu::Activation::Sigmoid;
  if (name == "tanh") return cpu::Activation::Tanh;
  if (name == "leaky_relu") return cpu::Activation::LeakyRelu;
  if (name == "gelu") return cpu::Activation::Gelu;
  if (name == "gelu_tanh") return cpu::Activation::GeluTanh;
  throw ValueError("DenseChain: unknown activation '" + name + "'");
}
}  // namespace

void bind_dense_chain(py::module_& m) {
  py::class_<DenseChain, std::shared_ptr<DenseChain>>(m, "DenseChain")
      .def(py::init([](const py::list& specs) {
             // specs: [(weight, bias or None, activation name, activation parameter), ...]
             std::vector<DenseLayer> layers;
             for (py::handle h : specs) {
               auto spec = h.cast<py::tuple>();
               DenseLayer layer;
               layer.weight = spec[0].cast<Tensor>();
               layer.bias = spec[1].is_none() ? nullptr : spec[1].cast<Tensor>();
               layer.act = parse_activation(spec[2].cast<std::string>());
               layer.act_param = spec[3].cast<double>();
               layers.push_back(std::move(layer));
             }
             return std::make_shared<DenseChain>(std::move(layers));
           }),
           py::arg("layers"))
      .def("forward", [](DenseChain& chain, py::handle input) {
        return chain.forward(as_tensor_arg(input, "input"));
      }, py::arg("input"));

  // ---- the native fit loop ----
  py::class_<OptimizerStep, std::shared_ptr<OptimizerStep>>(m, "OptimizerStep")
      .def("step", &OptimizerStep::step, "Update the group's parameters from their .grad once.");
  py::class_<SgdGroupStep, OptimizerStep, std::shared_ptr<SgdGroupStep>>(m, "SgdGroupStep")
      .def(py::init([](const std::vector<Tensor>& params, const py::list& buffers, double lr, double momentum,
                       double dampening, double weight_decay, bool nesterov, bool maximize) {
             auto s = std::make_shared<SgdGroupStep>();
             s->params = params;
             for (py::handle h : buffers) s->momentum_buffers.push_back(h.is_none() ? nullptr : h.cast<Tensor>());
             if (s->momentum_buffers.size() != params.size())
               throw ValueError("SgdGroupStep: momentum_buffers must have one entry per parameter");
             s->options = cpu::SgdOptions{lr, momentum, dampening, weight_decay, nesterov, maximize};
             return s;
           }))
      .def_property_readonly("momentum_buffers", [](const SgdGroupStep& s) { return s.momentum_buffers; });

  // The stateful optimizers' group steps; argument lists mirror adam_step / rmsprop_step /
  // adagrad_step (optim_bindings.cpp) so Python builds either from the same group.
  auto state_lists = [](const std::vector<py::list>& lists, size_t n) {
    std::vector<std::vector<Tensor>> out;
    for (const py::list& l : lists) {
      if (static_cast<size_t>(py::len(l)) != n) throw ValueError("optimizer state lists need one entry per parameter");
      std::vector<Tensor> v;
      for (py::handle h : l) v.push_back(h.is_none() ? nullptr : h.cast<Tensor>());
      out.push_back(std::move(v));
    }
    return out;
  };
  auto make_step = [state_lists](StatefulGroupStep::Kind kind, const std::vector<Tensor>& params,
                                 const std::vector<py::list>& lists, const std::vector<int64_t>& steps) {
    if (steps.size() != params.size()) throw ValueError("optimizer: steps need one entry per parameter");
    auto s = std::make_shared<StatefulGroupStep>();
    s->kind = kind;
    s->params = params;
    s->state = state_lists(lists, params.size());
    s->steps = steps;
    return s;
  };
  py::class_<StatefulGroupStep, OptimizerStep, std::shared_ptr<StatefulGroupStep>>(m, "StatefulGroupStep")
      .def_property_readonly("state", [](const StatefulGroupStep& s) { return s.state; })
      .def_property_readonly("steps", [](const StatefulGroupStep& s) { return s.steps; });
  m.def("AdamGroupStep", [make_step](const std::vector<Tensor>& params, py::list exp_avgs, py::list exp_avg_sqs,
                                     py::list max_exp_avg_sqs, const std::vector<int64_t>& steps, double lr,
                                     double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                                     bool maximize, bool decoupled_weight_decay) {
    auto s = make_step(StatefulGroupStep::Kind::Adam, params, {exp_avgs, exp_avg_sqs, max_exp_avg_sqs}, steps);
    s->adam = cpu::AdamOptions{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay};
    return s;
  });
  m.def("RmspropGroupStep", [make_step](const std::vector<Tensor>& params, py::list square_avgs,
                                        py::list momentum_buffers, py::list grad_avgs,
                                        const std::vector<int64_t>& steps, double lr, double alpha, double eps,
                                        double weight_decay, double momentum, bool centered, bool maximize) {
    auto s = make_step(StatefulGroupStep::Kind::Rmsprop, params, {square_avgs, momentum_buffers, grad_avgs}, steps);
    s->rmsprop = cpu::RmspropOptions{lr, alpha, eps, weight_decay, momentum, centered, maximize};
    return s;
  });
  m.def("AdagradGroupStep", [make_step](const std::vector<Tensor>& params, py::list sums,
                                        const std::vector<int64_t>& steps, double lr, double lr_decay,
                                        double weight_decay, double initial_accumulator_value, double eps,
                                        bool maximize) {
    auto s = make_step(StatefulGroupStep::Kind::Adagrad, params, {sums}, steps);
    s->adagrad = cpu::AdagradOptions{lr, lr_decay, weight_decay, eps, maximize};
    s->initial_accumulator_value = initial_accumulator_value;
    return s;
  });

  m.def("fit_batches", [](DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order, int64_t batch_size,
                          int64_t first_batch, int64_t last_batch, const std::string& loss, const std::string& reduction,
                          double loss_param, const std::vector<std::shared_ptr<OptimizerStep>>& steps,
                          bool count_correct) {
    static const std::pair<const char*, FitLoss> kLosses[] = {
        {"mse", FitLoss::MSE}, {"l1", FitLoss::L1}, {"huber", FitLoss::Huber}, {"bce", FitLoss::BCE},
        {"bce_with_logits", FitLoss::BCEWithLogits}, {"cross_entropy", FitLoss::CrossEntropy}};
    FitLossSpec spec;
    bool found = false;
    for (const auto& [name, kind] : kLosses)
      if (loss == name) { spec.kind = kind; found = true; }
    if (!found) throw ValueError("fit_batches: unknown loss '" + loss + "'");
    spec.reduction = ops::parse_reduction(reduction);
    if (spec.reduction == ops::Reduction::None) throw ValueError("fit: the loss must reduce ('mean' or 'sum')");
    spec.param = loss_param;
    // Checked here, once, so the loop itself cannot fail half-way.
    if (!X || !y) throw TypeError(std::string("fit_batches: ") + (X ? "y" : "X") + " must be a Tensor, got None");
    for (const auto& step : steps)
      if (!step) throw TypeError("fit_batches: steps must be optimizer group steps, got None");
    chain.check_input(X);
    if (X->dim() != 2) throw ValueError("fit: X must be 2-D (samples, features), got shape " + shape_str(X->shape));
    if (y->dim() < 1 || y->shape[0] != X->shape[0])
      throw ValueError("fit: X has shape " + shape_str(X->shape) + " but y has shape " + shape_str(y->shape) +
                       "; they need the same number of rows");
    const int64_t N = X->shape[0], OC = chain.out_features();
    if (spec.kind == FitLoss::CrossEntropy) {
      if (y->dtype != DType::Int64 || y->dim() != 1)
        throw TypeError("fit: cross-entropy targets must be int64 class labels of shape (N,)");
      const int64_t* t = y->ptr<int64_t>();
      for (int64_t i = 0; i < N; ++i)
        if (t[i] < 0 || t[i] >= OC)
          throw IndexError("fit: target " + std::to_string(t[i]) + " at index " + std::to_string(i) +
                           " is out of bounds for " + std::to_string(OC) + " classes");
    } else if (y->dtype != X->dtype || y->numel != N * OC) {
      throw ValueError("fit: y has shape " + shape_str(y->shape) + " " + dtype_name(y->dtype) + " but the model gives (" +
                       std::to_string(N) + ", " + std::to_string(OC) + ") " + dtype_name(X->dtype) + " outputs");
    }
    if (order) {
      if (order->dtype != DType::Int64 || order->numel != N)
        throw ValueError("fit_batches: order must be an int64 permutation of length " + std::to_string(N));
      const int64_t* o = order->ptr<int64_t>();
      for (int64_t i = 0; i < N; ++i)
        if (o[i] < 0 || o[i] >= N) throw IndexError("fit_batches: order entry out of range");
    }
    if (batch_size <= 0) throw ValueError("fit: batch_size must be positive");
    const int64_t batches = (N + batch_size - 1) / batch_size;
    if (first_batch < 0 || last_batch > batches || first_batch > last_batch)
      throw IndexError("fit_batches: batch range out of bounds");
    FitBatchResult r;
    {
      py::gil_scoped_release release;
      r = fit_batches(chain, X, y, order, batch_size, first_batch, last_batch, spec, steps, count_correct);
    }
    return py::make_tuple(r.losses, r.sizes, r.correct);
  });
}

}  // namespace chainrule::bindings
