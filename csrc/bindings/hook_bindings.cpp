// Gradient hooks for Python: an identity op whose backward hands the incoming gradient to a Python
// callable first (nn.Module.register_full_backward_hook is built on it).
#include "bindings.h"

namespace chainrule::bindings {

namespace {
struct GradHookNode : Node {
  py::object callback;  // callback(grad) -> None (keep grad) or a Tensor of grad's shape to pass on
  Shape shape;
  ~GradHookNode() override {
    // Backward runs without the GIL, and the last reference may be dropped there.
    py::gil_scoped_acquire gil;
    callback = py::object();
  }
  const char* name() const override { return "BackwardHookFunctionBackward"; }
  std::vector<Tensor> backward(const Tensor& grad_output) override {
    py::gil_scoped_acquire gil;  // backward runs without the GIL
    py::object replaced = callback(grad_output);
    if (replaced.is_none()) return {grad_output};
    Tensor g = replaced.cast<Tensor>();
    if (!g || g->shape != shape || g->dtype != grad_output->dtype)
      throw ValueError("backward hook: the replacement gradient must have shape " + shape_str(shape) + " and dtype " +
                       dtype_name(grad_output->dtype));
    return {ops::clone(ops::detach(g))};
  }
  void release_saved() override {}
};
}  // namespace

void bind_hooks(py::module_& m) {
  m.def(
      "_grad_hook_identity",
      [](const Tensor& x, py::object callback) {
        if (!x) throw TypeError("_grad_hook_identity: input must be a Tensor");
        Tensor out = alias(x, x->shape, 0);
        if (needs_grad({&x})) {
          auto node = std::make_shared<GradHookNode>();
          node->next.push_back(edge_to(x));
          node->callback = std::move(callback);
          node->shape = x->shape;
          set_history(out, node);
        }
        return out;
      },
      py::arg("input"), py::arg("callback"),
      "An alias of input whose backward calls callback(grad) and passes on its result (grad when None).");
}

}  // namespace chainrule::bindings
