// The autograd engine's Python entry points: backward passes over many roots (backward(),
// autograd.grad), and graph nodes whose backward is a Python function (autograd.Function and the
// ops written in Python).
#include "bindings.h"

namespace chainrule::bindings {

namespace {
// Whether `from` broadcasts to exactly `to` (right-aligned dimensions equal or 1).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t k = 0; k < from.size(); ++k)
    if (from[k] != 1 && from[k] != to[lead + k]) return false;
  return true;
}

// A node whose backward calls a Python function g -> one gradient (or None) per input. The
// function is built from chainrule ops, so when the engine records the backward
// (create_graph=True) the gradients get a graph of their own.
struct PyNode : Node {
  std::string op_name;
  py::object fn;
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;

  ~PyNode() override {
    // The last reference can be dropped by C++ code that does not hold the GIL.
    py::gil_scoped_acquire gil;
    fn = py::object();
  }
  const char* name() const override { return op_name.c_str(); }
  std::vector<Tensor> backward(const Tensor& g) override { return call(g); }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return call(g); }
  void release_saved() override {
    py::gil_scoped_acquire gil;
    fn = py::none();
  }

  std::vector<Tensor> call(const Tensor& g) {
    py::gil_scoped_acquire gil;
    py::object result = fn(g);
    std::vector<py::object> items;
    if (py::isinstance<py::tuple>(result) || py::isinstance<py::list>(result)) {
      for (py::handle h : result) items.push_back(py::reinterpret_borrow<py::object>(h));
    } else {
      items.push_back(result);
    }
    if (items.size() != next.size())
      throw RuntimeError("function " + op_name + " returned an incorrect number of gradients (expected " +
                         std::to_string(next.size()) + ", got " + std::to_string(items.size()) + ")");
    std::vector<Tensor> grads(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].is_none() || !next[i].active()) continue;
      if (!py::isinstance<TensorImpl>(items[i]))
        throw TypeError("function " + op_name + " returned a gradient that is not a Tensor at index " +
                        std::to_string(i));
      Tensor gi = items[i].cast<Tensor>();
      if (gi->shape != input_shapes[i]) {
        // A gradient of a broadcast shape is summed back, as PyTorch does; others are errors.
        if (!broadcasts_to(input_shapes[i], gi->shape))
          throw RuntimeError("function " + op_name + " returned an invalid gradient at index " + std::to_string(i) +
                             " - got " + shape_str(gi->shape) + " but expected shape compatible with " +
                             shape_str(input_shapes[i]));
        gi = ops::sum_to_shape(gi, input_shapes[i]);
      }
      if (gi->dtype != input_dtypes[i]) gi = ops::cast(gi, input_dtypes[i]);
      // Outside a recorded backward the engine adds into gradients in place: give it its own copy
      // (the function may return a saved tensor, or the same tensor twice).
      grads[i] = grad_enabled() ? gi : clone_data(gi);
    }
    return grads;
  }
};

std::vector<Tensor> tensor_list(py::handle seq, const char* arg, bool allow_none) {
  std::vector<Tensor> out;
  for (py::handle h : seq) {
    if (h.is_none() && allow_none) {
      out.push_back(nullptr);
      continue;
    }
    if (!py::isinstance<TensorImpl>(h))
      throw TypeError(std::string(arg) + " must contain Tensors, got " +
                      py::str(py::type::of(h).attr("__name__")).cast<std::string>());
    out.push_back(h.cast<Tensor>());
  }
  return out;
}
}  // namespace

void bind_autograd(py::module_& m) {
  m.def(
      "_run_backward",
      [](py::sequence roots, py::sequence grad_roots, py::sequence inputs, bool retain_graph, bool create_graph,
         bool accumulate) {
        BackwardRequest req;
        req.roots = tensor_list(roots, "outputs", false);
        req.grad_roots = tensor_list(grad_roots, "grad_outputs", true);
        req.inputs = tensor_list(inputs, "inputs", false);
        req.retain_graph = retain_graph;
        req.create_graph = create_graph;
        req.accumulate = accumulate;
        if (req.grad_roots.size() != req.roots.size())
          throw ValueError("grad_outputs: expected " + std::to_string(req.roots.size()) +
                           " gradients (one per output), got " + std::to_string(req.grad_roots.size()));
        for (size_t i = 0; i < req.inputs.size(); ++i)
          if (!req.inputs[i]->requires_grad)
            throw RuntimeError("element " + std::to_string(i) + " of the inputs does not require grad");
        std::vector<Tensor> grads = run_backward(req);
        py::list out;
        for (const Tensor& g : grads) out.append(g ? py::cast(g) : py::none());
        return out;
      },
      py::arg("roots"), py::arg("grad_roots"), py::arg("inputs"), py::arg("retain_graph"), py::arg("create_graph"),
      py::arg("accumulate"));

  // Attaches a Python backward to `out` when grad mode is on and an input requires grad; returns
  // whether it did. `inputs` may hold None for arguments that are not tensors.
  m.def(
      "_record",
      [](const Tensor& out, py::object fn, py::sequence inputs, const std::string& name) {
        if (!out) throw TypeError("_record: out must be a Tensor");
        if (!grad_enabled()) return false;
        std::vector<Tensor> ins = tensor_list(inputs, "inputs", true);
        bool any = false;
        for (const Tensor& t : ins) any = any || (t && t->requires_grad);
        if (!any) return false;
        if (!is_floating(out->dtype)) return false;  // integer results carry no gradient
        auto node = std::make_shared<PyNode>();
        node->op_name = name;
        node->fn = std::move(fn);
        for (const Tensor& t : ins) {
          node->next.push_back(t ? edge_to(t) : Edge{});
          node->input_shapes.push_back(t ? t->shape : Shape{});
          node->input_dtypes.push_back(t ? t->dtype : DType::Float32);
        }
        node->inputs = ins;
        set_history(out, node);
        return true;
      },
      py::arg("out"), py::arg("backward"), py::arg("inputs"), py::arg("name"));

  m.def("_result_type", [](const Tensor& a, const Tensor& b) { return ops::binary_result_dtype(a, b); });
  m.def("_dtype_category", [](DType d) { return dtype_category(d); });

  m.def("_retain_grad", [](const Tensor& t) {
    if (!t->requires_grad) throw RuntimeError("retain_grad: can't retain_grad on Tensor that has requires_grad=False");
    if (t->grad_fn) t->grad_fn->retained_output = t;
  });
}

}  // namespace chainrule::bindings
