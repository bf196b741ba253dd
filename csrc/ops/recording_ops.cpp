// Fills the autograd engine's table of recording ops (chainrule/autograd.h: RecordingOps): the
// engine sits below ops/ and reaches these differentiable ops only through the table.
#include "chainrule/autograd.h"
#include "chainrule/ops.h"

namespace chainrule {

Tensor ops::sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g->shape == shape) return g;
  const size_t lead = g->shape.size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t k = 0; k < g->shape.size(); ++k)
    if (k < lead || (shape[k - lead] == 1 && g->shape[k] != 1)) dims.push_back(static_cast<int64_t>(k));
  Tensor s = dims.empty() ? g : sum(g, dims, true);
  return reshape(s, shape);
}

namespace {
Tensor add_recorded(const Tensor& a, const Tensor& b) { return ops::binary(cpu::Binary::Add, a, b); }

// Runs when the module loads, before any backward can.
const bool registered = [] {
  RecordingOps& table = recording_ops();
  table.add = add_recorded;
  table.cast = ops::cast;
  table.clone = ops::clone;
  table.detach = ops::detach;
  return true;
}();
}  // namespace

}  // namespace chainrule
