// chainrule.Tensor: properties, autograd entry points and operators.
#include <cstring>

#include "bindings.h"

namespace chainrule::bindings {

namespace {
using cpu::Binary;
using cpu::Unary;

// pybind11 turns None into a null Tensor for `const Tensor&` parameters; ops assume non-null.
const Tensor& not_none(const Tensor& t, const char* arg) {
  if (!t) throw TypeError(std::string(arg) + " must be a chainrule.Tensor, got None");
  return t;
}

std::vector<int64_t> dims_arg(const py::object& dim) {
  if (dim.is_none()) return {};
  if (py::isinstance<py::int_>(dim)) return {dim.cast<int64_t>()};
  if (py::isinstance<py::sequence>(dim) && !py::isinstance<py::str>(dim)) {
    std::vector<int64_t> dims;
    for (py::handle h : dim.cast<py::sequence>()) {
      if (!py::isinstance<py::int_>(h)) throw TypeError("dim must be None, an int or a sequence of ints");
      dims.push_back(h.cast<int64_t>());
    }
    if (dims.empty()) throw ValueError("dim: an empty list of dims is not allowed; pass dim=None to reduce all");
    return dims;
  }
  throw TypeError("dim must be None, an int or a sequence of ints");
}

// A Python float, or an int within int64, beside a floating tensor: the value (as a double) the
// op computes with (the tensor's dtype then decides the result, as for any 0-d operand).
bool python_scalar_for_floating(const Tensor& self, py::handle other, double& value) {
  if (!is_floating(self->dtype)) return false;
  PyObject* o = other.ptr();
  if (PyFloat_CheckExact(o)) {
    value = PyFloat_AS_DOUBLE(o);
    return true;
  }
  if (PyLong_CheckExact(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return false;
    }
    value = static_cast<double>(v);
    return true;
  }
  return false;
}

Tensor binary_op(Binary op, const Tensor& self, py::handle other, bool reflected) {
  double value = 0;
  if (python_scalar_for_floating(self, other, value)) {
    if (Tensor out = ops::binary_with_scalar(op, self, value, reflected)) return out;
  }
  Tensor o = as_operand(other, self, "other");
  return reflected ? ops::binary(op, o, self) : ops::binary(op, self, o);
}

// Indexing beyond an integer or a step-1 slice of rows (those are views, handled here) is
// implemented in Python (chainrule._indexing), which copies.
py::object python_indexing(const char* fn) { return py::module_::import("chainrule._indexing").attr(fn); }

py::object getitem(const Tensor& self, py::handle index) {
  if (!py::isinstance<py::bool_>(index) &&
      (py::isinstance<py::int_>(index) ||
       (py::hasattr(index, "__index__") && !py::isinstance<py::array>(index) && !py::isinstance<TensorImpl>(index)))) {
    int64_t i = 0;
    try {
      i = int64_arg(index, "index");
    } catch (const ValueError&) {  // beyond int64 is beyond every dimension
      throw IndexError("index " + py::str(index).cast<std::string>() + " is out of bounds for dimension 0" +
                       (self->dim() ? " with size " + std::to_string(self->shape[0]) : std::string()));
    }
    return py::cast(ops::select_row(self, i));
  }
  if (py::isinstance<py::slice>(index) && self->dim() > 0) {
    py::ssize_t start, stop, step, length;
    if (!index.cast<py::slice>().compute(self->shape[0], &start, &stop, &step, &length)) throw py::error_already_set();
    if (step == 1) return py::cast(ops::slice_rows(self, start, start + length));
  }
  return python_indexing("getitem")(self, index);
}

DType parse_dtype_arg(py::handle h, const char* arg) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  throw TypeError(std::string(arg) + " must be a chainrule dtype (float32, float64, int64, int32 or bool)");
}

Tensor compare_op(cpu::Compare op, const Tensor& self, py::handle other, bool reflected) {
  double value = 0;
  if (python_scalar_for_floating(self, other, value)) {
    if (Tensor out = ops::compare_with_scalar(op, self, value, reflected)) return out;
  }
  Tensor o = as_operand(other, self, "other");
  return reflected ? ops::compare(op, o, self) : ops::compare(op, self, o);
}

// a & b, a | b, a ^ b: logical on bool tensors; PyTorch's bitwise forms on integers are not
// supported (they are rare in the programs chainrule runs).
Tensor logical_op(cpu::Compare op, const Tensor& self, py::handle other, const char* symbol) {
  Tensor o = as_operand(other, self, "other");
  if (self->dtype != DType::Bool || o->dtype != DType::Bool)
    throw TypeError(std::string("operator ") + symbol + ": chainrule supports it on bool tensors only, got " +
                    dtype_name(self->dtype) + " and " + dtype_name(o->dtype));
  return ops::compare(op, self, o);
}

// The in-place form of an op whose result `result` was computed out of place: writes it into
// `self`'s memory (PyTorch's rules: no broadcasting of self, no float result into an integer
// tensor) and moves self's autograd history onto the op.
void write_result(const Tensor& self, const Tensor& result, const char* op) {
  if (result->shape != self->shape)
    throw RuntimeError(std::string(op) + ": output with shape " + shape_str(self->shape) +
                       " doesn't match the broadcast shape " + shape_str(result->shape));
  if (dtype_category(result->dtype) > dtype_category(self->dtype))
    throw RuntimeError(std::string(op) + ": result type " + dtype_name(result->dtype) +
                       " can't be cast to the desired output type " + dtype_name(self->dtype));
  Tensor values = result->dtype == self->dtype ? result : cast_data(result, self->dtype);
  copy_data(self, values);
  if (result->grad_fn && is_floating(self->dtype)) {
    self->grad_fn = result->grad_fn;
    self->requires_grad = true;
  }
}

std::vector<Tensor> tensor_args(const py::object& value, const char* arg) {
  std::vector<Tensor> out;
  if (value.is_none()) return out;
  if (py::isinstance<TensorImpl>(value)) return {value.cast<Tensor>()};
  for (py::handle h : value) {
    if (!py::isinstance<TensorImpl>(h))
      throw TypeError(std::string(arg) + " must be a Tensor or a sequence of Tensors");
    out.push_back(h.cast<Tensor>());
  }
  return out;
}

// PyTorch refuses in-place writes to a leaf that requires grad while autograd records, since
// they would silently invalidate the graph; under no_grad() they are how weights are set. Then
// the core's gate: read-only memory refuses, and the version moves on.
void check_inplace(const Tensor& s, const char* op) {
  if (grad_enabled() && s->requires_grad && s->is_leaf())
    throw RuntimeError(std::string(op) +
                       ": a leaf tensor that requires grad is being used in an in-place operation; "
                       "wrap it in chainrule.no_grad()");
  mark_inplace_write(s, op);
}

// chainrule.Size, the tuple subclass of shapes (defined in Python, registered at import by
// _set_size_type). Until then shapes are plain tuples.
PyTypeObject* size_type = nullptr;

// A shape as a chainrule.Size. tuple's own constructor builds the subclass instance, so the
// object is complete on every Python version (no Python-level __new__ runs: the ints are valid).
py::object shape_object(const Shape& shape) {
  const auto n = static_cast<Py_ssize_t>(shape.size());
  py::object plain = py::reinterpret_steal<py::object>(PyTuple_New(n));
  if (!plain) throw py::error_already_set();
  for (Py_ssize_t k = 0; k < n; ++k) {
    PyObject* extent = PyLong_FromLongLong(shape[k]);
    if (!extent) throw py::error_already_set();
    PyTuple_SET_ITEM(plain.ptr(), k, extent);
  }
  if (!size_type) return plain;
  py::object args = py::reinterpret_steal<py::object>(PyTuple_Pack(1, plain.ptr()));
  if (!args) throw py::error_already_set();
  PyObject* size = PyTuple_Type.tp_new(size_type, args.ptr(), nullptr);
  if (!size) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(size);
}

// The chainrule.device for d, made once per device (the property is read on every Module.to).
py::object device_object(Device d) {
  // Leaked on purpose: a static py::object would be released after the interpreter has gone.
  static py::object* cpu_device = nullptr;
  if (d.is_cpu()) {
    if (!cpu_device) cpu_device = new py::object(py::module_::import("chainrule._device").attr("device")("cpu"));
    return *cpu_device;
  }
  return py::module_::import("chainrule._device").attr("device")(device_type_name(d.type), d.index);
}
}  // namespace

Device parse_device(const std::string& type, int64_t index) {
  if (type == "cpu") return Device{};
  if (type != "cuda") throw ValueError("device: unknown device type '" + type + "'; expected 'cpu' or 'cuda'");
  if (index < 0 || index > 32767) throw ValueError("device: invalid device index " + std::to_string(index));
  return Device{DeviceType::CUDA, static_cast<int16_t>(index)};
}

PyTypeObject* g_tensor_type = nullptr;

void bind_tensor(py::module_& m) {
  py::enum_<DType> dtype(m, "dtype");
  dtype.value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int64", DType::Int64)
      .value("int32", DType::Int32)
      .value("bool", DType::Bool)
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });
  // Replaced, not .def()'d: enum_ already has __repr__/__str__, and .def() would only chain an
  // overload behind them that never runs.
  auto dtype_repr = [](DType d) { return std::string("chainrule.") + dtype_name(d); };
  dtype.attr("__repr__") = py::cpp_function(dtype_repr, py::name("__repr__"), py::is_method(dtype));
  dtype.attr("__str__") = py::cpp_function(dtype_repr, py::name("__str__"), py::is_method(dtype));

  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", [](const Node& n) { return std::string(n.name()); })
      .def("__repr__", [](const Node& n) { return "<" + std::string(n.name()) + ">"; });

  m.def("_set_size_type", [](py::object type) {
    if (!PyType_Check(type.ptr()) || !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type.ptr()), &PyTuple_Type))
      throw TypeError("_set_size_type: type must be a subclass of tuple");
    Py_XDECREF(reinterpret_cast<PyObject*>(size_type));
    size_type = reinterpret_cast<PyTypeObject*>(type.release().ptr());
  });

  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> t(m, "Tensor");
  g_tensor_type = reinterpret_cast<PyTypeObject*>(t.ptr());
  t.def(py::init([](const Tensor& other) { return ops::detach(not_none(other, "data")); }), py::arg("data"),
        "A new tensor sharing `data`'s memory, without its autograd history.")
      .def_property_readonly("shape", [](const Tensor& s) { return shape_object(s->shape); })
      .def_property_readonly("ndim", [](const Tensor& s) { return s->dim(); })
      .def_property_readonly("dtype", [](const Tensor& s) { return s->dtype; })
      .def_property_readonly("device", [](const Tensor& s) { return device_object(s->device()); })
      .def_property_readonly("is_cuda", [](const Tensor& s) { return s->device().type == DeviceType::CUDA; })
      .def_property_readonly("is_cpu", [](const Tensor& s) { return s->on_cpu(); })
      .def(
          "_to_device",
          [](const Tensor& s, const std::string& type, int64_t index) {
            return ops::to_device(s, parse_device(type, index));
          },
          py::arg("type"), py::arg("index"), "This tensor on the device (type, index), differentiably.")
      .def_property_readonly("is_leaf", [](const Tensor& s) { return s->is_leaf(); })
      .def_property_readonly("grad_fn", [](const Tensor& s) { return s->grad_fn; })
      .def_property(
          "requires_grad", [](const Tensor& s) { return s->requires_grad; },
          [](const Tensor& s, bool v) {
            if (v && !is_floating(s->dtype))
              throw RuntimeError("requires_grad: only floating point tensors can require gradients");
            if (!v && !s->is_leaf())
              throw RuntimeError(
                  "requires_grad: you can only change requires_grad flags of leaf variables; "
                  "use .detach() to get a tensor that does not require grad");
            s->requires_grad = v;
          })
      .def_property(
          "grad", [](const Tensor& s) { return s->grad; },
          [](const Tensor& s, const Tensor& g) {
            if (g && (g->shape != s->shape || g->dtype != s->dtype))
              throw ValueError("grad: assigned grad has shape " + shape_str(g->shape) + " " + dtype_name(g->dtype) +
                               " but the tensor has shape " + shape_str(s->shape) + " " + dtype_name(s->dtype));
            s->grad = g;
          })
      .def("dim", [](const Tensor& s) { return s->dim(); })
      .def("numel", [](const Tensor& s) { return s->numel; })
      .def(
          "size",
          [](const Tensor& s, py::object dim) -> py::object {
            if (dim.is_none()) return shape_object(s->shape);
            return py::cast(s->shape[ops::normalize_dim(dim.cast<int64_t>(), s->dim(), "size: dim")]);
          },
          py::arg("dim") = py::none())
      .def("__len__",
           [](const Tensor& s) {
             if (s->dim() == 0) throw TypeError("len() of a 0-d tensor");
             return s->shape[0];
           })
      .def(
          "backward",
          // gradient is taken as an object and converted here: a None bound to a `const Tensor&`
          // parameter fails pybind11's first, strict pass (after a lookup among other modules'
          // types) and the whole call is matched again, which cost the seed net's training step
          // (10-5-1, batch 100) about 7% of its instructions.
          [](const Tensor& s, py::handle gradient, py::object retain_graph, bool create_graph, py::object inputs) {
            BackwardRequest req;
            req.roots = {s};
            if (gradient.is_none()) {
              req.grad_roots = {Tensor{}};
            } else if (py::isinstance<TensorImpl>(gradient)) {
              req.grad_roots = {gradient.cast<Tensor>()};
            } else {
              throw TypeError(std::string("backward: gradient must be a Tensor or None, got ") +
                              Py_TYPE(gradient.ptr())->tp_name);
            }
            req.create_graph = create_graph;
            req.retain_graph = retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
            req.inputs = tensor_args(inputs, "inputs");
            if (!inputs.is_none() && req.inputs.empty())
              throw RuntimeError("backward: 'inputs' argument to backward() cannot be empty");
            for (const Tensor& t : req.inputs)
              if (!t->requires_grad) throw RuntimeError("backward: one of the inputs does not require grad");
            // Long nodes, and a fused node's wait for its chain's lock (held by a native fit in
            // another thread), let other Python threads run (letting_others_run.h); nodes written in
            // Python take the GIL back themselves.
            run_backward(req);
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
          py::arg("inputs") = py::none())
      .def("item",
           [](const Tensor& self) -> py::object {
             if (self->numel != 1)
               throw ValueError("item: a Tensor with " + std::to_string(self->numel) +
                                " elements cannot be converted to a Python number");
             const Tensor s = to_device(self, Device{});  // one element copied back (and waited for)
             switch (s->dtype) {
               case DType::Float32: return py::float_(s->ptr<float>()[0]);
               case DType::Float64: return py::float_(s->ptr<double>()[0]);
               case DType::Int64: return py::int_(s->ptr<int64_t>()[0]);
               case DType::Int32: return py::int_(s->ptr<int32_t>()[0]);
               case DType::Bool: return py::bool_(s->ptr<bool>()[0]);
             }
             return py::none();
           })
      .def("numpy",
           [](const Tensor& s) {
             if (s->requires_grad)
               throw RuntimeError(
                   "numpy: can't call numpy() on a Tensor that requires grad; use tensor.detach().numpy()");
             if (!s->on_cpu())
               throw TypeError(
                   "can't convert " + device_str(s->device()) +
                   " device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
             return tensor_to_numpy(s);
           })
      .def("detach", &ops::detach)
      .def_property("data", &ops::detach,
                    [](const Tensor& s, const Tensor& other_in) {
                      const Tensor& other = not_none(other_in, "data");
                      // PyTorch's `t.data = x`: s now refers to x's memory, shape and dtype, keeping its
                      // identity (and so its place in modules and optimizers).
                      if (other->requires_grad == false && s->requires_grad && !is_floating(other->dtype))
                        throw RuntimeError("data: a tensor that requires grad needs floating point data");
                      // The old memory's version moves on, so a graph that saved s's old values raises
                      // at backward (their shape may no longer be s's) instead of reading the new ones.
                      s->storage->version.fetch_add(1, std::memory_order_relaxed);
                      s->storage = other->storage;
                      s->data = other->data;
                      s->shape = other->shape;
                      s->numel = other->numel;
                      s->dtype = other->dtype;
                    })
      .def("clone", &ops::clone)
      .def(
          "requires_grad_",
          [](const Tensor& s, bool v) {
            py::cast(s).attr("requires_grad") = v;
            return s;
          },
          py::arg("requires_grad") = true)
      .def(
          "to",
          [](const Tensor& s, py::object target, py::object dtype) {
            Tensor r = s;
            if (!target.is_none()) {
              if (!py::isinstance<DType>(target))
                throw TypeError("to: the compiled conversion takes a dtype; devices go through Tensor.to");
              r = ops::cast(r, target.cast<DType>());
            }
            if (!dtype.is_none()) r = ops::cast(r, parse_dtype_arg(dtype, "to: dtype"));
            return r;
          },
          py::arg("target") = py::none(), py::arg("dtype") = py::none())
      .def("float", [](const Tensor& s) { return ops::cast(s, DType::Float32); })
      .def("double", [](const Tensor& s) { return ops::cast(s, DType::Float64); })
      .def("long", [](const Tensor& s) { return ops::cast(s, DType::Int64); })
      .def("int", [](const Tensor& s) { return ops::cast(s, DType::Int32); })
      .def("bool", [](const Tensor& s) { return ops::cast(s, DType::Bool); })
      .def("is_floating_point", [](const Tensor& s) { return is_floating(s->dtype); })
      .def_property_readonly("T", &ops::transpose)
      .def("t",
           [](const Tensor& s) {
             if (s->dim() > 2)
               throw ValueError("t: expects a tensor with <= 2 dimensions, got shape " + shape_str(s->shape));
             return ops::transpose(s);
           })
      .def("reshape",
           [](const Tensor& s, py::args shape) { return ops::reshape(s, shape_from_args(shape, "reshape: shape")); })
      .def("view",
           [](const Tensor& s, py::args shape) { return ops::reshape(s, shape_from_args(shape, "view: shape")); })
      .def("flatten", [](const Tensor& s) { return ops::reshape(s, {s->numel}); })
      .def(
          "sum", [](const Tensor& s, py::object dim, bool keepdim) { return ops::sum(s, dims_arg(dim), keepdim); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "mean", [](const Tensor& s, py::object dim, bool keepdim) { return ops::mean(s, dims_arg(dim), keepdim); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "argmax",
          [](const Tensor& s, py::object dim, bool keepdim) {
            if (!dim.is_none() && !py::isinstance<py::int_>(dim)) throw TypeError("argmax: dim must be None or an int");
            return ops::argmax(s, dim.is_none() ? std::nullopt : std::optional<int64_t>(dim.cast<int64_t>()), keepdim);
          },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "softmax", [](const Tensor& s, int64_t dim) { return ops::softmax(s, dim, false); }, py::arg("dim"))
      .def(
          "log_softmax", [](const Tensor& s, int64_t dim) { return ops::softmax(s, dim, true); }, py::arg("dim"))
      .def("exp", [](const Tensor& s) { return ops::unary(Unary::Exp, s); })
      .def("log", [](const Tensor& s) { return ops::unary(Unary::Log, s); })
      .def("relu", [](const Tensor& s) { return ops::unary(Unary::Relu, s); })
      .def("sigmoid", [](const Tensor& s) { return ops::unary(Unary::Sigmoid, s); })
      .def("tanh", [](const Tensor& s) { return ops::unary(Unary::Tanh, s); })
      .def("abs", [](const Tensor& s) { return ops::unary(Unary::Abs, s); })
      .def("sqrt", [](const Tensor& s) { return ops::unary(Unary::Sqrt, s); })
      .def("neg", [](const Tensor& s) { return ops::unary(Unary::Neg, s); })
      .def("sin", [](const Tensor& s) { return ops::unary(Unary::Sin, s); })
      .def("cos", [](const Tensor& s) { return ops::unary(Unary::Cos, s); })
      .def("tan", [](const Tensor& s) { return ops::unary(Unary::Tan, s); })
      .def("log1p", [](const Tensor& s) { return ops::unary(Unary::Log1p, s); })
      .def("expm1", [](const Tensor& s) { return ops::unary(Unary::Expm1, s); })
      .def("rsqrt", [](const Tensor& s) { return ops::unary(Unary::Rsqrt, s); })
      .def("sign", [](const Tensor& s) { return ops::unary(Unary::Sign, s); })
      .def("floor", [](const Tensor& s) { return ops::unary(Unary::Floor, s); })
      .def("ceil", [](const Tensor& s) { return ops::unary(Unary::Ceil, s); })
      .def("square", [](const Tensor& s) { return ops::unary(Unary::Square, s); })
      .def("reciprocal", [](const Tensor& s) { return ops::unary(Unary::Reciprocal, s); })
      .def("log2", [](const Tensor& s) { return ops::unary(Unary::Log2, s); })
      .def("log10", [](const Tensor& s) { return ops::unary(Unary::Log10, s); })
      .def("erf", [](const Tensor& s) { return ops::unary(Unary::Erf, s); })
      .def("negative", [](const Tensor& s) { return ops::unary(Unary::Neg, s); })
      .def("_round", [](const Tensor& s) { return ops::unary(Unary::Round, s); })
      .def("logical_not", [](const Tensor& s) { return ops::compare(cpu::Compare::Eq, s, full({}, 0, s->dtype)); })
      .def("__invert__",
           [](const Tensor& s) {
             if (s->dtype != DType::Bool)
               throw TypeError(std::string("operator ~: chainrule supports it on bool tensors only, got ") +
                               dtype_name(s->dtype));
             return ops::compare(cpu::Compare::Eq, s, full({}, 0, DType::Bool));
           })
      .def(
          "__eq__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Eq, s, o, false); },
          py::is_operator())
      .def(
          "__ne__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Ne, s, o, false); },
          py::is_operator())
      .def(
          "__lt__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Lt, s, o, false); },
          py::is_operator())
      .def(
          "__le__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Le, s, o, false); },
          py::is_operator())
      .def(
          "__gt__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Gt, s, o, false); },
          py::is_operator())
      .def(
          "__ge__", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Ge, s, o, false); },
          py::is_operator())
      .def("eq", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Eq, s, o, false); })
      .def("ne", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Ne, s, o, false); })
      .def("lt", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Lt, s, o, false); })
      .def("le", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Le, s, o, false); })
      .def("gt", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Gt, s, o, false); })
      .def("ge", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Ge, s, o, false); })
      .def("logical_and", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::And, s, o, false); })
      .def("logical_or", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Or, s, o, false); })
      .def("logical_xor", [](const Tensor& s, py::handle o) { return compare_op(cpu::Compare::Xor, s, o, false); })
      // Tensors hash by identity, as in PyTorch (== compares values elementwise).
      .def("__hash__", [](py::handle s) { return py::hash(py::int_(reinterpret_cast<uintptr_t>(s.ptr()))); })
      .def(
          "__and__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::And, s, o, "&"); },
          py::is_operator())
      .def(
          "__rand__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::And, s, o, "&"); },
          py::is_operator())
      .def(
          "__or__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::Or, s, o, "|"); },
          py::is_operator())
      .def(
          "__ror__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::Or, s, o, "|"); },
          py::is_operator())
      .def(
          "__xor__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::Xor, s, o, "^"); },
          py::is_operator())
      .def(
          "__rxor__", [](const Tensor& s, py::handle o) { return logical_op(cpu::Compare::Xor, s, o, "^"); },
          py::is_operator())
      .def(
          "__floordiv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::FloorDiv, s, o, false); },
          py::is_operator())
      .def(
          "__rfloordiv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::FloorDiv, s, o, true); },
          py::is_operator())
      .def(
          "__mod__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Remainder, s, o, false); },
          py::is_operator())
      .def(
          "__rmod__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Remainder, s, o, true); },
          py::is_operator())
      .def("add", [](const Tensor& s, py::handle o) { return binary_op(Binary::Add, s, o, false); })
      .def("sub", [](const Tensor& s, py::handle o) { return binary_op(Binary::Sub, s, o, false); })
      .def("mul", [](const Tensor& s, py::handle o) { return binary_op(Binary::Mul, s, o, false); })
      .def("div", [](const Tensor& s, py::handle o) { return binary_op(Binary::Div, s, o, false); })
      .def("pow", [](const Tensor& s, py::handle o) { return binary_op(Binary::Pow, s, o, false); })
      .def("floor_divide", [](const Tensor& s, py::handle o) { return binary_op(Binary::FloorDiv, s, o, false); })
      .def("remainder", [](const Tensor& s, py::handle o) { return binary_op(Binary::Remainder, s, o, false); })
      .def("fmod",
           [](const Tensor& s, py::handle o) {
             // C's fmod: the remainder takes the dividend's sign. a - trunc(a / b) * b.
             Tensor q = binary_op(Binary::Div, s, o, false);
             Tensor trunc = ops::binary(Binary::Mul, ops::unary(Unary::Sign, q),
                                        ops::unary(Unary::Floor, ops::unary(Unary::Abs, q)));
             Tensor r =
                 ops::binary(Binary::Sub, s, ops::binary(Binary::Mul, ops::detach(trunc), as_operand(o, s, "other")));
             return is_floating(s->dtype) ? r : ops::cast(r, s->dtype);
           })
      .def("maximum",
           [](const Tensor& s, const Tensor& o) { return ops::binary(Binary::Maximum, s, not_none(o, "other")); })
      .def("minimum",
           [](const Tensor& s, const Tensor& o) { return ops::binary(Binary::Minimum, s, not_none(o, "other")); })
      .def("expand",
           [](const Tensor& s, py::args sizes) {
             Shape shape;
             py::sequence seq = sizes;
             if (sizes.size() == 1 && py::isinstance<py::sequence>(sizes[0])) seq = sizes[0].cast<py::sequence>();
             for (py::handle h : seq) shape.push_back(int64_arg(h, "expand: size"));
             return ops::expand(s, shape);
           })
      .def("expand_as", [](const Tensor& s, const Tensor& o) { return ops::expand(s, not_none(o, "other")->shape); })
      .def("_write_result",
           [](const Tensor& s, const Tensor& result, const std::string& op) {
             write_result(s, not_none(result, "result"), op.c_str());
             return s;
           })
      .def("_check_inplace", [](const Tensor& s, const std::string& op) { check_inplace(s, op.c_str()); })
      .def("__neg__",
           [](const Tensor& s) {
             return is_floating(s->dtype) ? ops::unary(Unary::Neg, s)
                                          : ops::binary(Binary::Mul, s, full({}, -1, s->dtype));
           })
      .def("__pos__", [](const Tensor& s) { return s; })
      .def(
          "__add__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Add, s, o, false); },
          py::is_operator())
      .def(
          "__radd__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Add, s, o, true); },
          py::is_operator())
      .def(
          "__sub__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Sub, s, o, false); },
          py::is_operator())
      .def(
          "__rsub__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Sub, s, o, true); },
          py::is_operator())
      .def(
          "__mul__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Mul, s, o, false); },
          py::is_operator())
      .def(
          "__rmul__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Mul, s, o, true); },
          py::is_operator())
      .def(
          "__truediv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Div, s, o, false); },
          py::is_operator())
      .def(
          "__rtruediv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Div, s, o, true); },
          py::is_operator())
      .def(
          "__pow__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Pow, s, o, false); },
          py::is_operator())
      .def(
          "__rpow__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Pow, s, o, true); },
          py::is_operator())
      .def(
          "__matmul__", [](const Tensor& s, py::handle o) { return ops::matmul(s, as_operand(o, s, "other")); },
          py::is_operator())
      .def(
          "__rmatmul__", [](const Tensor& s, py::handle o) { return ops::matmul(as_operand(o, s, "other"), s); },
          py::is_operator())
      .def("matmul", [](const Tensor& s, const Tensor& o) { return ops::matmul(s, not_none(o, "other")); })
      .def("__getitem__", &getitem)
      // In-place updates of a tensor's values; refused on tensors that are part of a graph.
      .def("zero_",
           [](const Tensor& s) {
             check_inplace(s, "zero_");
             if (!s->on_cpu())
               device_kernels(s, "zero_").fill(s->dtype, s->data, s->numel, 0.0);
             else
               std::memset(s->data, 0, s->nbytes());
             return s;
           })
      .def("fill_",
           [](const Tensor& s, double v) {
             check_inplace(s, "fill_");
             copy_data(s, full(s->shape, v, s->dtype, s->device()));
             return s;
           })
      .def("copy_",
           [](const Tensor& s, py::handle src) {
             check_inplace(s, "copy_");
             Tensor src_t = as_operand(src, s, "src");
             if (src_t->shape != s->shape)
               throw ValueError("copy_: src has shape " + shape_str(src_t->shape) + " but the tensor has shape " +
                                shape_str(s->shape));
             // Across devices too, as PyTorch's copy_ does.
             copy_data(s, src_t->dtype == s->dtype ? src_t : cast_data(src_t, s->dtype));
             return s;
           })
      .def(
          "uniform_",
          [](const Tensor& s, double a, double b) {
            check_inplace(s, "uniform_");
            fill_uniform(s, a, b);
            return s;
          },
          py::arg("a") = 0.0, py::arg("b") = 1.0)
      .def(
          "normal_",
          [](const Tensor& s, double mean, double std) {
            check_inplace(s, "normal_");
            if (std < 0) throw ValueError("normal_: std must be non-negative, got " + std::to_string(std));
            fill_normal(s, mean, std);
            return s;
          },
          py::arg("mean") = 0.0, py::arg("std") = 1.0)
      .def_property_readonly(
          "_version", [](const Tensor& s) { return s->version(); },
          "How many in-place writes the tensor's memory has seen (PyTorch's t._version).")
      .def("_is_view_of", [](const Tensor& s, const Tensor& o) { return s->storage == not_none(o, "other")->storage; })
      .def("_data_ptr", [](const Tensor& s) { return reinterpret_cast<uintptr_t>(s->data); });
}

}  // namespace chainrule::bindings
