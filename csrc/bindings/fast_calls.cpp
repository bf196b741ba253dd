// The calls a training step makes every batch, as CPython fastcall functions.
//
// pybind11 spends about 60 ns on a call before the C++ runs (matching the arguments against the
// overloads, a caster per argument, the function record, exception plumbing). A small network's
// step (the seed net's 10-5-1 on 100 rows takes about 5.5 us) makes five such calls:
//
//   model(x)           DenseChain.forward(input)
//   criterion(out, y)  mse_loss / l1_loss / ... (input, target, reduction)
//   opt.zero_grad()    GroupStep.clear_grads_if_holds(params, set_to_none)
//   loss.backward()    Tensor.backward()
//   opt.step()         GroupStep.step_if_holds(params)
//
// Each is installed here over its pybind11 definition, which the fast function keeps: it takes
// the common positional form with arguments of the exact expected types and hands anything else
// (keywords, other types, NumPy arrays, wrong counts) to the full definition, so conversions,
// errors and messages stay pybind11's. The docstrings are the full definitions' too.
// C++ exceptions become Python ones through the same translators pybind11 uses.
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "chainrule/autograd.h"
#include "chainrule/dense_chain.h"
#include "chainrule/optim.h"

namespace chainrule::bindings {

namespace {

// The full pybind11 definitions the fast functions hand on to, by fast function.
struct FullDefinitions {
  PyObject* tensor_backward = nullptr;
  PyObject* chain_forward = nullptr;
  PyObject* step_if_holds = nullptr;
  PyObject* clear_grads_if_holds = nullptr;
};
FullDefinitions g_full;

// Python types whose instances the fast functions read in place.
PyTypeObject* g_chain_type = nullptr;
PyTypeObject* g_reduction_type = nullptr;

// full(self, *args, **kwargs) for a fastcall method's arguments.
PyObject* call_full(PyObject* full, PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
  std::vector<PyObject*> stack(static_cast<size_t>(total) + 1);
  stack[0] = self;
  for (Py_ssize_t i = 0; i < total; ++i) stack[static_cast<size_t>(i) + 1] = args[i];
  return PyObject_Vectorcall(full, stack.data(), static_cast<size_t>(nargs) + 1, kwnames);
}

// The C++ object of a pybind11 instance of `type` (exactly that type) in the simple layout, or
// null when `object` is anything else.
template <typename T>
T* instance_value(PyObject* object, PyTypeObject* type) {
  if (!type || Py_TYPE(object) != type) return nullptr;
  auto* instance = reinterpret_cast<py::detail::instance*>(object);
  if (!instance->simple_layout || !instance->simple_holder_constructed) return nullptr;
  return static_cast<T*>(instance->simple_value_holder[0]);
}

// A C++ result as a new reference; C++ exceptions as the Python exception pybind11 would raise.
template <typename F>
PyObject* guarded(F&& body) {
  try {
    return body();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  return nullptr;
}

PyObject* fast_tensor_backward(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Tensor* root = tensor_holder_of(self);
  if (nargs != 0 || kwnames || !root) return call_full(g_full.tensor_backward, self, args, nargs, kwnames);
  return guarded([&]() -> PyObject* {
    BackwardRequest req;
    req.roots = {*root};
    req.grad_roots = {Tensor{}};
    run_backward(req);
    Py_RETURN_NONE;
  });
}

PyObject* fast_chain_forward(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  DenseChain* chain = instance_value<DenseChain>(self, g_chain_type);
  const Tensor* input = nargs == 1 && !kwnames ? tensor_holder_of(args[0]) : nullptr;
  if (!chain || !input) return call_full(g_full.chain_forward, self, args, nargs, kwnames);
  return guarded([&]() -> PyObject* { return py::cast(chain->forward(*input)).release().ptr(); });
}

// GroupStep's subclasses (SgdStep, AdamStep, ...) are the instances' types: the C++ object is
// found through pybind11's cast to the base, which knows the subclass's layout.
optim::GroupStep* group_step_of(PyObject* self) {
  py::detail::make_caster<optim::GroupStep> caster;
  if (!caster.load(self, false)) return nullptr;
  return static_cast<optim::GroupStep*>(caster.value);
}

PyObject* fast_step_if_holds(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  optim::GroupStep* step = nargs == 1 && !kwnames ? group_step_of(self) : nullptr;
  if (!step) return call_full(g_full.step_if_holds, self, args, nargs, kwnames);
  return guarded([&]() -> PyObject* { return step_if_holds(*step, args[0]).release().ptr(); });
}

PyObject* fast_clear_grads_if_holds(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  optim::GroupStep* step = nargs == 2 && !kwnames && PyBool_Check(args[1]) ? group_step_of(self) : nullptr;
  if (!step) return call_full(g_full.clear_grads_if_holds, self, args, nargs, kwnames);
  return guarded(
      [&]() -> PyObject* { return PyBool_FromLong(clear_grads_if_holds(*step, args[0], args[1] == Py_True)); });
}

// Losses f(input, target, reduction) with two Tensors and a Reduction: one fast function per
// loss, each keeping its full definition.
using LossFunction = Tensor (*)(const Tensor&, const Tensor&, ops::Reduction);
struct FastLoss {
  const char* name;
  LossFunction compute;
  PyObject* full;
};

template <cpu::Loss kLoss>
Tensor elementwise(const Tensor& input, const Tensor& target, ops::Reduction reduction) {
  return ops::elementwise_loss(kLoss, input, target, reduction, 0);
}

FastLoss g_losses[] = {
    {"mse_loss", elementwise<cpu::Loss::MSE>, nullptr},
    {"l1_loss", elementwise<cpu::Loss::L1>, nullptr},
    {"binary_cross_entropy", elementwise<cpu::Loss::BCE>, nullptr},
    {"binary_cross_entropy_with_logits", elementwise<cpu::Loss::BCEWithLogits>, nullptr},
    {"cross_entropy", ops::cross_entropy, nullptr},
};

template <size_t kIndex>
PyObject* loss_call(PyObject* module, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  FastLoss& loss = g_losses[kIndex];
  const Tensor* input = nargs == 3 && !kwnames ? tensor_holder_of(args[0]) : nullptr;
  const Tensor* target = input ? tensor_holder_of(args[1]) : nullptr;
  const ops::Reduction* reduction = target ? instance_value<ops::Reduction>(args[2], g_reduction_type) : nullptr;
  if (!reduction) {
    // A module function has no self: hand the arguments on as they came.
    return PyObject_Vectorcall(loss.full, args, static_cast<size_t>(nargs), kwnames);
  }
  return guarded([&]() -> PyObject* { return py::cast(loss.compute(*input, *target, *reduction)).release().ptr(); });
}

// The fast functions' docstrings: those of the full definitions (signatures included), kept for
// the life of the module (a deque: adding one moves none of the others).
std::deque<std::string> g_docs;
const char* doc_of(const py::object& owner, const char* name) {
  g_docs.push_back(py::str(owner.attr(name).attr("__doc__")).cast<std::string>());
  return g_docs.back().c_str();
}

// A fastcall function as the PyCFunction a PyMethodDef holds (METH_FASTCALL says how it is called).
template <typename F>
PyCFunction as_cfunction(F* f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

// Installs `def` on `owner` (a class: as a method; the module: as a function) over the pybind11
// definition of that name; returns that definition, kept (one reference) for the module's life.
PyObject* install(py::object owner, PyMethodDef* def, bool method) {
  py::object full = owner.attr(def->ml_name);
  PyObject* fast = method ? PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(owner.ptr()), def)
                          : PyCFunction_NewEx(def, owner.ptr(), nullptr);
  if (!fast) throw py::error_already_set();
  owner.attr(def->ml_name) = py::reinterpret_steal<py::object>(fast);
  return full.release().ptr();  // kept for the life of the module
}

template <size_t... kIndex>
void install_losses(py::module_& m, std::index_sequence<kIndex...>) {
  static PyMethodDef defs[] = {
      {g_losses[kIndex].name, as_cfunction(&loss_call<kIndex>), METH_FASTCALL | METH_KEYWORDS, nullptr}...};
  for (size_t i = 0; i < sizeof...(kIndex); ++i) {
    defs[i].ml_doc = doc_of(m, defs[i].ml_name);
    g_losses[i].full = install(m, &defs[i], false);
  }
}

}  // namespace

void install_fast_calls(py::module_& m) {
  py::object tensor = m.attr("Tensor"), chain = m.attr("DenseChain"), group_step = m.attr("GroupStep");
  g_chain_type = reinterpret_cast<PyTypeObject*>(chain.ptr());
  g_reduction_type = reinterpret_cast<PyTypeObject*>(m.attr("Reduction").ptr());
  static PyMethodDef backward{"backward", as_cfunction(&fast_tensor_backward), METH_FASTCALL | METH_KEYWORDS, nullptr};
  static PyMethodDef forward{"forward", as_cfunction(&fast_chain_forward), METH_FASTCALL | METH_KEYWORDS, nullptr};
  static PyMethodDef step{"step_if_holds", as_cfunction(&fast_step_if_holds), METH_FASTCALL | METH_KEYWORDS, nullptr};
  static PyMethodDef clear{"clear_grads_if_holds", as_cfunction(&fast_clear_grads_if_holds),
                           METH_FASTCALL | METH_KEYWORDS, nullptr};
  backward.ml_doc = doc_of(tensor, "backward");
  forward.ml_doc = doc_of(chain, "forward");
  step.ml_doc = doc_of(group_step, "step_if_holds");
  clear.ml_doc = doc_of(group_step, "clear_grads_if_holds");
  g_full.tensor_backward = install(tensor, &backward, true);
  g_full.chain_forward = install(chain, &forward, true);
  g_full.step_if_holds = install(group_step, &step, true);
  g_full.clear_grads_if_holds = install(group_step, &clear, true);
  install_losses(m, std::make_index_sequence<sizeof(g_losses) / sizeof(g_losses[0])>{});
}

}  // namespace chainrule::bindings
