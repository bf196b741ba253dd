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

Tensor binary_op(Binary op, const Tensor& self, py::handle other, bool reflected) {
  Tensor o = as_operand(other, self, "other");
  return reflected ? ops::binary(op, o, self) : ops::binary(op, self, o);
}

py::object getitem(const Tensor& self, py::handle index) {
  if (py::isinstance<py::int_>(index) || (py::hasattr(index, "__index__") && !py::isinstance<py::array>(index) &&
                                          !py::isinstance<TensorImpl>(index))) {
    int64_t i = 0;
    try {
      i = int64_arg(index, "index");
    } catch (const ValueError&) {  // beyond int64 is beyond every dimension
      throw IndexError("index " + py::str(index).cast<std::string>() + " is out of bounds for dimension 0" +
                       (self->dim() ? " with size " + std::to_string(self->shape[0]) : std::string()));
    }
    return py::cast(ops::select_row(self, i));
  }
  if (py::isinstance<py::slice>(index)) {
    if (self->dim() == 0) throw IndexError("slice: cannot slice a 0-d tensor");
    py::ssize_t start, stop, step, length;
    if (!index.cast<py::slice>().compute(self->shape[0], &start, &stop, &step, &length))
      throw py::error_already_set();
    if (step != 1)
      throw ValueError("index: slices with a step other than 1 are not supported (a view must stay contiguous); "
                       "index with an int64 tensor of row numbers instead");
    return py::cast(ops::slice_rows(self, start, start + length));
  }
  if (py::isinstance<py::tuple>(index)) {
    Tensor t = self;
    for (py::handle h : index.cast<py::tuple>()) {
      if (!py::isinstance<py::int_>(h))
        throw IndexError("index: only integers are supported inside a tuple index (t[i, j]); slice rows with t[a:b]");
      t = py::cast<Tensor>(getitem(t, h));
    }
    return py::cast(t);
  }
  if (py::isinstance<TensorImpl>(index) || py::isinstance<py::array>(index) || py::isinstance<py::list>(index)) {
    Tensor idx;
    if (py::isinstance<TensorImpl>(index)) {
      idx = index.cast<Tensor>();
    } else {
      py::object np = py::module_::import("numpy");
      py::array a = np.attr("asarray")(index);
      // A boolean mask selects the rows where it is true (PyTorch's t[mask]); reading it as
      // 0/1 row numbers would silently gather the wrong rows.
      if (a.dtype().kind() == 'b') {
        if (a.ndim() != 1 || self->dim() == 0 || a.shape(0) != self->shape[0])
          throw IndexError("index: the boolean mask has shape " + shape_str(Shape(a.shape(), a.shape() + a.ndim())) +
                           " but the tensor has shape " + shape_str(self->shape) +
                           "; a mask must be 1-D with one entry per row");
        a = np.attr("flatnonzero")(a);
      }
      a = np.attr("asarray")(a, "int64");
      idx = clone_data(tensor_from_numpy(py::array::ensure(a, py::array::c_style), "index"));
    }
    return py::cast(ops::index_rows(self, idx));
  }
  throw IndexError("index: unsupported index type " +
                   py::str(py::type::of(index).attr("__name__")).cast<std::string>());
}

DType parse_dtype_arg(py::handle h, const char* arg) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  throw TypeError(std::string(arg) + " must be chainrule.float32, chainrule.float64 or chainrule.int64");
}

// PyTorch refuses in-place writes to a leaf that requires grad while autograd records, since
// they would silently invalidate the graph; under no_grad() they are how weights are set. Then
// the core's gate: read-only memory refuses, and the version moves on.
void check_inplace(const Tensor& s, const char* op) {
  if (grad_enabled() && s->requires_grad)
    throw RuntimeError(std::string(op) + ": a leaf tensor that requires grad is being used in an in-place operation; "
                       "wrap it in chainrule.no_grad()");
  mark_inplace_write(s, op);
}

void check_cpu_device(py::handle h) {
  std::string d = py::str(h).cast<std::string>();
  if (d != "cpu")
    throw ValueError("to: device '" + d + "' is not available: tensors live on 'cpu' only; the CUDA backend "
                     "(chainrule.cuda) cannot yet hold tensors");
}
}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType> dtype(m, "dtype");
  dtype.value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int64", DType::Int64)
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

  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> t(m, "Tensor");
  t.def(py::init([](const Tensor& other) { return ops::detach(not_none(other, "data")); }), py::arg("data"),
        "A new tensor sharing `data`'s memory, without its autograd history.")
      .def_property_readonly("shape", [](const Tensor& s) { return py::tuple(py::cast(s->shape)); })
      .def_property_readonly("ndim", [](const Tensor& s) { return s->dim(); })
      .def_property_readonly("dtype", [](const Tensor& s) { return s->dtype; })
      .def_property_readonly("device", [](const Tensor&) { return py::module_::import("chainrule").attr("device")("cpu"); })
      .def_property_readonly("is_leaf", [](const Tensor& s) { return s->is_leaf(); })
      .def_property_readonly("grad_fn", [](const Tensor& s) { return s->grad_fn; })
      .def_property(
          "requires_grad", [](const Tensor& s) { return s->requires_grad; },
          [](const Tensor& s, bool v) {
            if (v && !is_floating(s->dtype))
              throw RuntimeError("requires_grad: only floating point tensors can require gradients");
            if (!v && !s->is_leaf())
              throw RuntimeError("requires_grad: you can only change requires_grad flags of leaf variables; "
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
      .def("size", [](const Tensor& s, py::object dim) -> py::object {
            if (dim.is_none()) return py::tuple(py::cast(s->shape));
            return py::cast(s->shape[ops::normalize_dim(dim.cast<int64_t>(), s->dim(), "size: dim")]);
          }, py::arg("dim") = py::none())
      .def("__len__", [](const Tensor& s) {
            if (s->dim() == 0) throw TypeError("len() of a 0-d tensor");
            return s->shape[0];
          })
      .def("backward", [](const Tensor& s, const Tensor& gradient, py::object retain_graph, bool create_graph) {
            if (create_graph)
              throw ValueError("backward: create_graph=True (higher-order gradients) is not supported by chainrule");
            const bool retain = retain_graph.is_none() ? false : retain_graph.cast<bool>();
            // Every node is C++, so the pass runs without the GIL: a fused node may wait for its
            // chain's lock (held by a native fit in another thread) without freezing Python.
            py::gil_scoped_release release;
            run_backward(s, gradient, retain);
          }, py::arg("gradient") = nullptr, py::arg("retain_graph") = py::none(), py::arg("create_graph") = false)
      .def("item", [](const Tensor& s) -> py::object {
            if (s->numel != 1)
              throw ValueError("item: a Tensor with " + std::to_string(s->numel) +
                               " elements cannot be converted to a Python number");
            switch (s->dtype) {
              case DType::Float32: return py::float_(s->ptr<float>()[0]);
              case DType::Float64: return py::float_(s->ptr<double>()[0]);
              case DType::Int64: return py::int_(s->ptr<int64_t>()[0]);
            }
            return py::none();
          })
      .def("numpy", [](const Tensor& s) {
            if (s->requires_grad)
              throw RuntimeError("numpy: can't call numpy() on a Tensor that requires grad; use tensor.detach().numpy()");
            return tensor_to_numpy(s);
          })
      .def("detach", &ops::detach)
      .def_property(
          "data", &ops::detach,
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
      .def("requires_grad_", [](const Tensor& s, bool v) {
            py::cast(s).attr("requires_grad") = v;
            return s;
          }, py::arg("requires_grad") = true)
      .def("to", [](const Tensor& s, py::object target, py::object dtype) {
            Tensor r = s;
            if (!target.is_none()) {
              if (py::isinstance<DType>(target)) r = ops::cast(r, target.cast<DType>());
              else check_cpu_device(target);
            }
            if (!dtype.is_none()) r = ops::cast(r, parse_dtype_arg(dtype, "to: dtype"));
            return r;
          }, py::arg("target") = py::none(), py::arg("dtype") = py::none())
      .def("cpu", [](const Tensor& s) { return s; })
      .def("float", [](const Tensor& s) { return ops::cast(s, DType::Float32); })
      .def("double", [](const Tensor& s) { return ops::cast(s, DType::Float64); })
      .def("long", [](const Tensor& s) { return ops::cast(s, DType::Int64); })
      .def("is_floating_point", [](const Tensor& s) { return is_floating(s->dtype); })
      .def_property_readonly("T", &ops::transpose)
      .def("t", [](const Tensor& s) {
            if (s->dim() > 2) throw ValueError("t: expects a tensor with <= 2 dimensions, got shape " + shape_str(s->shape));
            return ops::transpose(s);
          })
      .def("reshape", [](const Tensor& s, py::args shape) { return ops::reshape(s, shape_from_args(shape, "reshape: shape")); })
      .def("view", [](const Tensor& s, py::args shape) { return ops::reshape(s, shape_from_args(shape, "view: shape")); })
      .def("flatten", [](const Tensor& s) { return ops::reshape(s, {s->numel}); })
      .def("sum", [](const Tensor& s, py::object dim, bool keepdim) { return ops::sum(s, dims_arg(dim), keepdim); },
           py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("mean", [](const Tensor& s, py::object dim, bool keepdim) { return ops::mean(s, dims_arg(dim), keepdim); },
           py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("argmax", [](const Tensor& s, py::object dim, bool keepdim) {
            if (!dim.is_none() && !py::isinstance<py::int_>(dim)) throw TypeError("argmax: dim must be None or an int");
            return ops::argmax(s, dim.is_none() ? std::nullopt : std::optional<int64_t>(dim.cast<int64_t>()), keepdim);
          }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("softmax", [](const Tensor& s, int64_t dim) { return ops::softmax(s, dim, false); }, py::arg("dim"))
      .def("log_softmax", [](const Tensor& s, int64_t dim) { return ops::softmax(s, dim, true); }, py::arg("dim"))
      .def("exp", [](const Tensor& s) { return ops::unary(Unary::Exp, s); })
      .def("log", [](const Tensor& s) { return ops::unary(Unary::Log, s); })
      .def("relu", [](const Tensor& s) { return ops::unary(Unary::Relu, s); })
      .def("sigmoid", [](const Tensor& s) { return ops::unary(Unary::Sigmoid, s); })
      .def("tanh", [](const Tensor& s) { return ops::unary(Unary::Tanh, s); })
      .def("abs", [](const Tensor& s) { return ops::unary(Unary::Abs, s); })
      .def("sqrt", [](const Tensor& s) { return ops::unary(Unary::Sqrt, s); })
      .def("neg", [](const Tensor& s) { return ops::unary(Unary::Neg, s); })
      .def("__neg__", [](const Tensor& s) {
            return is_floating(s->dtype) ? ops::unary(Unary::Neg, s) : ops::binary(Binary::Mul, s, full({}, -1, s->dtype));
          })
      .def("__pos__", [](const Tensor& s) { return s; })
      .def("__add__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Add, s, o, false); }, py::is_operator())
      .def("__radd__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Add, s, o, true); }, py::is_operator())
      .def("__sub__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Sub, s, o, false); }, py::is_operator())
      .def("__rsub__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Sub, s, o, true); }, py::is_operator())
      .def("__mul__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Mul, s, o, false); }, py::is_operator())
      .def("__rmul__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Mul, s, o, true); }, py::is_operator())
      .def("__truediv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Div, s, o, false); }, py::is_operator())
      .def("__rtruediv__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Div, s, o, true); }, py::is_operator())
      .def("__pow__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Pow, s, o, false); }, py::is_operator())
      .def("__rpow__", [](const Tensor& s, py::handle o) { return binary_op(Binary::Pow, s, o, true); }, py::is_operator())
      .def("__matmul__", [](const Tensor& s, py::handle o) { return ops::matmul(s, as_operand(o, s, "other")); }, py::is_operator())
      .def("__rmatmul__", [](const Tensor& s, py::handle o) { return ops::matmul(as_operand(o, s, "other"), s); }, py::is_operator())
      .def("matmul", [](const Tensor& s, const Tensor& o) { return ops::matmul(s, not_none(o, "other")); })
      .def("__getitem__", &getitem)
      // In-place updates of a tensor's values; refused on tensors that are part of a graph.
      .def("zero_", [](const Tensor& s) {
            check_inplace(s, "zero_");
            std::memset(s->data, 0, s->nbytes());
            return s;
          })
      .def("fill_", [](const Tensor& s, double v) {
            check_inplace(s, "fill_");
            Tensor f = full(s->shape, v, s->dtype);
            std::memcpy(s->data, f->data, s->nbytes());
            return s;
          })
      .def("copy_", [](const Tensor& s, py::handle src) {
            check_inplace(s, "copy_");
            Tensor src_t = as_operand(src, s, "src");
            if (src_t->shape != s->shape)
              throw ValueError("copy_: src has shape " + shape_str(src_t->shape) + " but the tensor has shape " +
                               shape_str(s->shape));
            Tensor c = cast_data(src_t, s->dtype);
            std::memcpy(s->data, c->data, s->nbytes());
            return s;
          })
      .def("uniform_", [](const Tensor& s, double a, double b) {
            check_inplace(s, "uniform_");
            fill_uniform(s, a, b);
            return s;
          },
           py::arg("a") = 0.0, py::arg("b") = 1.0)
      .def("normal_", [](const Tensor& s, double mean, double std) {
            check_inplace(s, "normal_");
            if (std < 0) throw ValueError("normal_: std must be non-negative, got " + std::to_string(std));
            fill_normal(s, mean, std);
            return s;
          }, py::arg("mean") = 0.0, py::arg("std") = 1.0)
      .def_property_readonly("_version", [](const Tensor& s) { return s->version(); },
                             "How many in-place writes the tensor's memory has seen (PyTorch's t._version).")
      .def("_is_view_of", [](const Tensor& s, const Tensor& o) { return s->storage == not_none(o, "other")->storage; })
      .def("_data_ptr", [](const Tensor& s) { return reinterpret_cast<uintptr_t>(s->data); });
}

}  // namespace chainrule::bindings
