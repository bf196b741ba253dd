// chainrule._core.DenseChain: the fused path behind nn.Sequential of built-in layers.
#include "bindings.h"
#include "chainrule/dense_chain.h"
#include "chainrule/fit.h"

namespace chainrule::bindings {


void bind_dense_chain(py::module_& m) {
  py::class_<DenseChain, std::shared_ptr<DenseChain>>(m, "DenseChain")
      .def(py::init([](const py::list& specs) {
             // specs: [(weight, bias or None, Activation, activation parameter), ...]
             std::vector<DenseLayer> layers;
             for (py::handle h : specs) {
               auto spec = h.cast<py::tuple>();
               DenseLayer layer;
               layer.weight = spec[0].cast<Tensor>();
               layer.bias = spec[1].is_none() ? nullptr : spec[1].cast<Tensor>();
               layer.act = spec[2].cast<cpu::Activation>();
               layer.act_param = spec[3].cast<double>();
               layers.push_back(std::move(layer));
             }
             return std::make_shared<DenseChain>(std::move(layers));
           }),
           py::arg("layers"))
      .def("forward", [](DenseChain& chain, py::handle input) {
        Tensor x = as_tensor_arg(input, "input");
        // Without the GIL: the chain's lock may be held by a native fit in another thread for a
        // whole epoch, and every other Python thread must keep running while this one waits.
        py::gil_scoped_release release;
        return chain.forward(x);
      }, py::arg("input"));

  // ---- the native fit loop ----
  m.def("fit_batches", [](DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order, int64_t batch_size,
                          int64_t first_batch, int64_t last_batch, ops::LossKind loss, ops::Reduction reduction,
                          double loss_param, const std::vector<std::shared_ptr<optim::GroupStep>>& steps,
                          bool count_correct) {
    ops::LossSpec spec;
    spec.kind = loss;
    spec.reduction = reduction;
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
    if (spec.kind == ops::LossKind::CrossEntropy) {
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
    const int64_t batches = N / batch_size + (N % batch_size != 0);  // no N + batch_size: it can overflow
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
