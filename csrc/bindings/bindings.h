// Shared pieces of the pybind11 layer. The bindings only convert arguments, check them and
// translate errors; all math lives in csrc/ops and csrc/cpu.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "chainrule/ops.h"

namespace py = pybind11;

namespace chainrule::optim {
class GroupStep;
}

// Every Tensor parameter of a binding (self included) loads through tensor_holder_of first, and
// through pybind11's own holder caster only when that declines. Returning a Tensor is unchanged.
// Declared here, before any binding, so every translation unit uses this one specialisation.
namespace pybind11::detail {
template <>
class type_caster<std::shared_ptr<chainrule::TensorImpl>>
    : public copyable_holder_caster<chainrule::TensorImpl, std::shared_ptr<chainrule::TensorImpl>> {
  using Base = copyable_holder_caster<chainrule::TensorImpl, std::shared_ptr<chainrule::TensorImpl>>;

 public:
  bool load(handle src, bool convert);
};
}  // namespace pybind11::detail

namespace chainrule::bindings {

// ---- Tensor arguments without pybind11's type lookups -----------------------------------------
// pybind11 finds the C++ object of an argument through hash lookups of the bound type and of the
// instance's type (a few hundred instructions), and a small network's training step passes a
// dozen Tensors and optimizer steps. A Tensor instance, or one of a Python subclass such as
// nn.Parameter, holds exactly one C++ object (pybind11's simple layout), so once the Python type
// is known the holder is read in place.

// chainrule._core.Tensor's Python type, set by bind_tensor when it registers the class.
extern PyTypeObject* g_tensor_type;

// The holder inside `object` when it is an initialised Tensor (or subclass instance) in the
// simple layout; null otherwise (then pybind11's general path decides, and raises its errors).
inline const Tensor* tensor_holder_of(PyObject* object) {
  PyTypeObject* type = Py_TYPE(object);
  if (!g_tensor_type || (type != g_tensor_type && !PyType_IsSubtype(type, g_tensor_type))) return nullptr;
  auto* instance = reinterpret_cast<py::detail::instance*>(object);
  if (!instance->simple_layout || !instance->simple_holder_constructed) return nullptr;
  return &instance->get_value_and_holder().holder<Tensor>();
}

// NumPy <-> Tensor without copying (numpy_interop.cpp).
Tensor tensor_from_numpy(const py::array& array, const char* arg);
py::array tensor_to_numpy(const Tensor& t);
DType dtype_from_numpy(const py::dtype& dt, const char* arg);  // TypeError for unsupported dtypes
py::dtype numpy_dtype(DType d);

// An operand of an arithmetic op: a Tensor, a Python number (a 0-d tensor whose dtype follows
// PyTorch's rules against `like`) or an array-like (copied/converted once).
Tensor as_operand(py::handle value, const Tensor& like, const char* arg);
// A Tensor argument that may also be given as a NumPy array (zero-copy when possible).
Tensor as_tensor_arg(py::handle value, const char* arg);
Shape shape_from_args(const py::args& args, const char* arg);  // f(2, 3) or f((2, 3))
int64_t int64_arg(py::handle h, const char* arg);              // an __index__ value; ValueError if out of range

// The Device named by chainrule.device's (type, index); ValueError for an unknown type.
Device parse_device(const std::string& type, int64_t index);

// Whether `params` is a Python list of exactly the tensors `step` updates, in order: the check an
// optimizer's cached step needs on every call, made without converting the list.
bool holds_params(const optim::GroupStep& step, py::handle params);
// GroupStep.step_if_holds: step.step() when holds_params (its True/False), else None and no update.
py::object step_if_holds(optim::GroupStep& step, py::handle params);
// GroupStep.clear_grads_if_holds: zero_grad of step's parameters when holds_params (True), else
// False and nothing cleared.
bool clear_grads_if_holds(const optim::GroupStep& step, py::handle params, bool set_to_none);

void bind_tensor(py::module_& m);
void bind_devices(py::module_& m);  // device_bindings.cpp: backend registration, device memory
void bind_functions(py::module_& m);
void bind_optimizers(py::module_& m);  // optim_bindings.cpp: the optimizers' group steps
void bind_dense_chain(py::module_& m);
void bind_hooks(py::module_& m);         // hook_bindings.cpp: gradient hooks behind Module.register_full_backward_hook
void bind_autograd(py::module_& m);      // autograd_bindings.cpp: backward passes, Python-defined nodes
void bind_kernel_tests(py::module_& m);  // kernel_test_bindings.cpp: _gemm for tests and benchmarks
void bind_mlp_trainer(py::module_& m);   // mlp_trainer_bindings.cpp: the trainer behind chainrule.sklearn
// fast_calls.cpp: the training step's per-batch calls as CPython fastcall functions, installed
// over their pybind11 definitions (after every bind_* above).
void install_fast_calls(py::module_& m);

}  // namespace chainrule::bindings

inline bool pybind11::detail::type_caster<std::shared_ptr<chainrule::TensorImpl>>::load(handle src, bool convert) {
  if (const chainrule::Tensor* held = chainrule::bindings::tensor_holder_of(src.ptr())) {
    value = held->get();
    shared_ptr_storage = *held;
    return true;
  }
  return Base::load(src, convert);
}
