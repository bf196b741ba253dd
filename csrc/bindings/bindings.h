// Shared pieces of the pybind11 layer. The bindings only convert arguments, check them and
// translate errors; all math lives in csrc/ops and csrc/cpu.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "chainrule/ops.h"

namespace py = pybind11;

namespace chainrule::bindings {

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

void bind_tensor(py::module_& m);
void bind_devices(py::module_& m);  // device_bindings.cpp: backend registration, device memory
void bind_functions(py::module_& m);
void bind_optimizers(py::module_& m);  // optim_bindings.cpp: the optimizers' group steps
void bind_dense_chain(py::module_& m);
void bind_hooks(py::module_& m);         // hook_bindings.cpp: gradient hooks behind Module.register_full_backward_hook
void bind_autograd(py::module_& m);      // autograd_bindings.cpp: backward passes, Python-defined nodes
void bind_kernel_tests(py::module_& m);  // kernel_test_bindings.cpp: _gemm for tests and benchmarks
void bind_mlp_trainer(py::module_& m);   // mlp_trainer_bindings.cpp: the trainer behind chainrule.sklearn

}  // namespace chainrule::bindings
