// chainrule._core.DenseChain: the fused path behind nn.Sequential of built-in layers.
#include "bindings.h"
#include "chainrule/dense_chain.h"
#include "chainrule/fit.h"

namespace chainrule::bindings {

void bind_dense_chain(py::module_& m) {
  py::enum_<StageKind>(m, "StageKind", "What a stage of a fused DenseChain does before its activation")
      .value("linear", StageKind::Linear)
      .value("batch_norm", StageKind::BatchNorm)
      .value("layer_norm", StageKind::LayerNorm)
      .value("dropout", StageKind::Dropout)
      .value("activation", StageKind::Activation)
      .value("softmax", StageKind::Softmax)
      .value("log_softmax", StageKind::LogSoftmax);

  py::class_<ChainStage>(m, "ChainStage", "One stage of a fused DenseChain (see dense_chain.h)")
      .def(py::init([](StageKind kind, std::optional<Tensor> weight, std::optional<Tensor> bias,
                       cpu::Activation activation, double activation_param, double activation_param2,
                       std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
                       std::optional<Tensor> num_batches_tracked, double eps, std::optional<double> momentum, double p,
                       int64_t features, bool training) {
             ChainStage st;
             st.kind = kind;
             st.weight = weight.value_or(nullptr);
             st.bias = bias.value_or(nullptr);
             st.act = activation;
             st.act_param = activation_param;
             st.act_param2 = activation_param2;
             st.running_mean = running_mean.value_or(nullptr);
             st.running_var = running_var.value_or(nullptr);
             st.num_batches_tracked = num_batches_tracked.value_or(nullptr);
             st.eps = eps;
             st.momentum = momentum ? *momentum : -1.0;
             st.p = p;
             st.features = features;
             st.training = training;
             return st;
           }),
           py::arg("kind"), py::kw_only(), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
           py::arg("activation") = cpu::Activation::Identity, py::arg("activation_param") = 0.0,
           py::arg("activation_param2") = 0.0, py::arg("running_mean") = py::none(),
           py::arg("running_var") = py::none(), py::arg("num_batches_tracked") = py::none(), py::arg("eps") = 1e-5,
           py::arg("momentum") = 0.1, py::arg("p") = 0.0, py::arg("features") = 0, py::arg("training") = true)
      .def_readonly("kind", &ChainStage::kind)
      .def_readonly("activation", &ChainStage::act);

  py::class_<DenseChain, std::shared_ptr<DenseChain>>(m, "DenseChain")
      .def(py::init([](std::vector<ChainStage> stages) { return std::make_shared<DenseChain>(std::move(stages)); }),
           py::arg("stages"))
      .def(
          "forward",
          [](DenseChain& chain, py::handle input) {
            // A wait for the chain's lock (a native fit in another thread holds it for a whole epoch)
            // and a long forward let other Python threads run (letting_others_run.h).
            return chain.forward(as_tensor_arg(input, "input"));
          },
          py::arg("input"))
      .def(
          "set_training", [](DenseChain& chain, const std::vector<bool>& training) { chain.set_training(training); },
          py::arg("training"))
      .def_property_readonly("has_batch_norm", &DenseChain::has_batch_norm)
      .def_property_readonly("in_features", &DenseChain::in_features)
      .def_property_readonly("out_features", &DenseChain::out_features)
      .def("runs_serially", &DenseChain::runs_serially, py::arg("rows"),
           "Whether a call on `rows` rows runs on the calling thread alone (all its layers are small)");

  // ---- the native fit loop ----
  // order: the epoch's row order as an int64 Tensor (checked), None for 0..N-1, or an int: the
  // seed of random_permutation(N, seed), drawn here without a round trip through Python and
  // without the check a given order needs.
  m.def("fit_batches",
        [](DenseChain& chain, const Tensor& X, const Tensor& y, py::handle order, int64_t batch_size,
           int64_t first_batch, int64_t last_batch, ops::LossKind loss, ops::Reduction reduction, double loss_param,
           const std::vector<std::shared_ptr<optim::GroupStep>>& steps, bool count_correct) {
          ops::LossSpec spec;
          spec.kind = loss;
          spec.reduction = reduction;
          spec.param = loss_param;
          std::optional<uint64_t> seed;
          Tensor rows;
          if (py::isinstance<py::int_>(order) && !py::isinstance<py::bool_>(order)) {
            seed = PyLong_AsUnsignedLongLong(order.ptr());
            if (PyErr_Occurred()) {  // negative, or 2**64 and beyond
              PyErr_Clear();
              throw ValueError("fit_batches: order, given as a seed, must be an int in [0, 2**64), got " +
                               py::repr(order).cast<std::string>());
            }
          } else if (!order.is_none()) {
            rows = as_tensor_arg(order, "order");
          }
          FitBatchResult r;
          {
            py::gil_scoped_release release;
            r = fit_batches(chain, X, y, rows, batch_size, first_batch, last_batch, spec, steps, count_correct, seed);
          }
          return py::make_tuple(r.losses, r.sizes, r.correct);
        });
}

}  // namespace chainrule::bindings
