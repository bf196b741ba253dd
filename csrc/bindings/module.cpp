// The _core extension module: error translation, factories, functional ops and optimizer steps.
#include <cstring>

#include "bindings.h"
#include "chainrule/letting_others_run.h"

namespace chainrule::bindings {

namespace {
using cpu::Loss;
using cpu::Unary;

DType dtype_or_default(const py::object& dtype, DType fallback) {
  if (dtype.is_none()) return fallback;
  if (py::isinstance<DType>(dtype)) return dtype.cast<DType>();
  throw TypeError("dtype must be chainrule.float32, chainrule.float64 or chainrule.int64");
}

// generator=None means the default generator.
Generator& generator_arg(const py::object& generator) {
  if (generator.is_none()) return default_generator();
  if (!py::isinstance<Generator>(generator))
    throw TypeError("generator must be a chainrule.Generator or None, got " +
                    py::str(py::type::of(generator).attr("__name__")).cast<std::string>());
  return generator.cast<Generator&>();
}

Tensor finish_factory(Tensor t, bool requires_grad) {
  if (requires_grad) {
    if (!is_floating(t->dtype)) throw RuntimeError("requires_grad: only floating point tensors can require gradients");
    t->requires_grad = true;
  }
  return t;
}

Tensor loss_op(Loss loss, py::handle input, py::handle target, ops::Reduction reduction, double param) {
  Tensor x = as_tensor_arg(input, "input");
  Tensor y = as_tensor_arg(target, "target");
  return ops::elementwise_loss(loss, x, y, reduction, param);
}

}  // namespace

void bind_functions(py::module_& m) {
  // The state of a random stream; chainrule.Generator (Python) adds PyTorch's methods on top.
  py::class_<Generator>(m, "_Generator")
      .def(py::init<>())
      .def(
          "_seed", [](Generator& g, uint64_t seed) { g.manual_seed(seed); }, py::arg("seed"))
      .def("_next_u64", &Generator::next_u64)
      .def_readwrite("_initial_seed", &Generator::initial_seed)
      .def_readwrite("_key", &Generator::key)
      .def_readwrite("_offset", &Generator::offset);

  // The kinds Python names once and C++ switches on (python/chainrule/_kinds.py maps the strings
  // of PyTorch's API to them). Value names are the strings PyTorch uses.
  py::enum_<ops::Reduction>(m, "Reduction", "How a loss reduces its values: mean, sum or none")
      .value("none", ops::Reduction::None)
      .value("mean", ops::Reduction::Mean)
      .value("sum", ops::Reduction::Sum);
  py::enum_<ops::LossKind>(m, "LossKind", "A built-in loss, as chainrule.fit's native loop runs it")
      .value("mse", ops::LossKind::MSE)
      .value("l1", ops::LossKind::L1)
      .value("huber", ops::LossKind::Huber)
      .value("bce", ops::LossKind::BCE)
      .value("bce_with_logits", ops::LossKind::BCEWithLogits)
      .value("cross_entropy", ops::LossKind::CrossEntropy)
      .value("nll", ops::LossKind::NLL);
  py::enum_<cpu::Activation>(m, "Activation", "The activation that follows a stage of a fused DenseChain")
      .value("identity", cpu::Activation::Identity)
      .value("relu", cpu::Activation::Relu)
      .value("sigmoid", cpu::Activation::Sigmoid)
      .value("tanh", cpu::Activation::Tanh)
      .value("leaky_relu", cpu::Activation::LeakyRelu)
      .value("gelu", cpu::Activation::Gelu)
      .value("gelu_tanh", cpu::Activation::GeluTanh)
      .value("silu", cpu::Activation::Silu)
      .value("elu", cpu::Activation::Elu)
      .value("selu", cpu::Activation::Selu)
      .value("celu", cpu::Activation::Celu)
      .value("softplus", cpu::Activation::Softplus)
      .value("mish", cpu::Activation::Mish)
      .value("hardtanh", cpu::Activation::Hardtanh)
      .value("hardswish", cpu::Activation::Hardswish)
      .value("log_sigmoid", cpu::Activation::LogSigmoid)
      .value("softsign", cpu::Activation::Softsign);

  // factories
  m.def(
      "from_numpy",
      [](py::handle a) {
        if (!py::isinstance<py::array>(a))
          throw TypeError("from_numpy: expected a numpy.ndarray, got " +
                          py::str(py::type::of(a).attr("__name__")).cast<std::string>());
        py::array array = py::reinterpret_borrow<py::array>(a);
        // As in PyTorch, shared read-only memory is allowed (loading, inference) with a warning; unlike
        // PyTorch, the tensor then refuses every in-place write (optimizer steps, zero_) instead of
        // writing memory NumPy promised not to change.
        if (!array.writeable() &&
            PyErr_WarnEx(PyExc_UserWarning,
                         "from_numpy: the given NumPy array is not writable; the tensor shares its memory and refuses "
                         "in-place writes (in-place ops, optimizer steps). Pass array.copy() if it will be written.",
                         1) < 0)
          throw py::error_already_set();
        return tensor_from_numpy(array, "from_numpy");
      },
      py::arg("ndarray"));
  m.def(
      "empty",
      [](py::args size, py::object dtype, bool requires_grad) {
        return finish_factory(empty(shape_from_args(size, "size"), dtype_or_default(dtype, default_float_dtype())),
                              requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def(
      "zeros",
      [](py::args size, py::object dtype, bool requires_grad) {
        return finish_factory(zeros(shape_from_args(size, "size"), dtype_or_default(dtype, default_float_dtype())),
                              requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def(
      "ones",
      [](py::args size, py::object dtype, bool requires_grad) {
        return finish_factory(full(shape_from_args(size, "size"), 1.0, dtype_or_default(dtype, default_float_dtype())),
                              requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def(
      "full",
      [](py::object size, double value, py::object dtype, bool requires_grad) {
        return finish_factory(
            full(shape_from_args(py::make_tuple(size), "size"), value, dtype_or_default(dtype, default_float_dtype())),
            requires_grad);
      },
      py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "randn",
      [](py::args size, py::object dtype, bool requires_grad, py::object generator) {
        DType d = dtype_or_default(dtype, default_float_dtype());
        if (!is_floating(d)) throw TypeError("randn: dtype must be floating point");
        Tensor t = empty(shape_from_args(size, "size"), d);
        fill_normal(t, 0.0, 1.0, generator_arg(generator));
        return finish_factory(t, requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      py::arg("generator") = py::none());
  m.def(
      "rand",
      [](py::args size, py::object dtype, bool requires_grad, py::object generator) {
        DType d = dtype_or_default(dtype, default_float_dtype());
        if (!is_floating(d)) throw TypeError("rand: dtype must be floating point");
        Tensor t = empty(shape_from_args(size, "size"), d);
        fill_uniform(t, 0.0, 1.0, generator_arg(generator));
        return finish_factory(t, requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      py::arg("generator") = py::none());
  m.def(
      "_randint",
      [](int64_t low, int64_t high, py::object size, py::object dtype, py::object generator) {
        if (high <= low)
          throw ValueError("randint: high must be greater than low, got low=" + std::to_string(low) +
                           " high=" + std::to_string(high));
        Tensor t = empty(shape_from_args(py::make_tuple(size), "size"), dtype_or_default(dtype, DType::Int64));
        fill_randint(t, low, high, generator_arg(generator));
        return t;
      },
      py::arg("low"), py::arg("high"), py::arg("size"), py::arg("dtype") = py::none(),
      py::arg("generator") = py::none());
  // In-place fills from a chosen generator (normal_, uniform_ and the distributions' samples).
  m.def(
      "_fill_normal",
      [](const Tensor& t, double mean, double std, py::object generator) {
        fill_normal(t, mean, std, generator_arg(generator));
      },
      py::arg("tensor"), py::arg("mean"), py::arg("std"), py::arg("generator") = py::none());
  m.def(
      "_fill_uniform",
      [](const Tensor& t, double low, double high, py::object generator) {
        fill_uniform(t, low, high, generator_arg(generator));
      },
      py::arg("tensor"), py::arg("low"), py::arg("high"), py::arg("generator") = py::none());
  m.def(
      "_randperm",
      [](int64_t n, py::object generator) {
        if (n < 0) throw ValueError("randperm: n must be non-negative, got " + std::to_string(n));
        return random_permutation(n, generator_arg(generator).next_u64());
      },
      py::arg("n"), py::arg("generator") = py::none());
  m.def("_default_generator", []() { return &default_generator(); }, py::return_value_policy::reference);
  m.def("_set_default_dtype", &set_default_float_dtype, py::arg("dtype"));
  m.def("_get_default_dtype", &default_float_dtype);
  // zero_grad's work for a list of parameters: drop each .grad (set_to_none) or zero it in place.
  m.def(
      "_clear_grads",
      [](const std::vector<Tensor>& params, bool set_to_none) {
        for (size_t i = 0; i < params.size(); ++i) {
          const Tensor& p = params[i];
          if (!p) throw TypeError("zero_grad: params[" + std::to_string(i) + "] must be a Tensor, got None");
          clear_grad(p, set_to_none);
        }
      },
      py::arg("params"), py::arg("set_to_none"));
  m.def(
      "random_permutation", [](int64_t n, uint64_t seed) { return random_permutation(n, seed); }, py::arg("n"),
      py::arg("seed"));
  m.def("manual_seed", [](int64_t seed) { manual_seed(static_cast<uint64_t>(seed)); }, py::arg("seed"));

  // grad mode and threads
  m.def("is_grad_enabled", &grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled);
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("num_threads"));
  m.def("_cpu_isa", []() { return ops::cpu_isa(); });

  // functional ops
  m.def(
      "linear",
      [](py::handle input, py::handle weight, py::handle bias) {
        // Taken as handles so that None (or anything else) for weight is a TypeError, not a null Tensor.
        return ops::linear(as_tensor_arg(input, "input"), as_tensor_arg(weight, "weight"),
                           bias.is_none() ? nullptr : as_tensor_arg(bias, "bias"));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  m.def("matmul",
        [](py::handle a, py::handle b) { return ops::matmul(as_tensor_arg(a, "input"), as_tensor_arg(b, "other")); });
  auto unary = [&m](const char* name, Unary op) {
    m.def(name, [op](py::handle x) { return ops::unary(op, as_tensor_arg(x, "input")); }, py::arg("input"));
  };
  unary("relu", Unary::Relu);
  unary("sigmoid", Unary::Sigmoid);
  unary("tanh", Unary::Tanh);
  unary("exp", Unary::Exp);
  unary("log", Unary::Log);
  unary("abs", Unary::Abs);
  unary("sqrt", Unary::Sqrt);
  unary("sin", Unary::Sin);
  unary("cos", Unary::Cos);
  unary("tan", Unary::Tan);
  unary("log1p", Unary::Log1p);
  unary("expm1", Unary::Expm1);
  unary("rsqrt", Unary::Rsqrt);
  // The kernels behind chainrule.clamp with number bounds and chainrule.where, which convert
  // and check their arguments in Python first.
  m.def(
      "_clamp",
      [](const Tensor& x, double lo, double hi, bool has_lo, bool has_hi) {
        return ops::clamp(x, lo, hi, has_lo, has_hi);
      },
      py::arg("input"), py::arg("lo"), py::arg("hi"), py::arg("has_lo"), py::arg("has_hi"));
  m.def(
      "_where", [](const Tensor& condition, const Tensor& a, const Tensor& b) { return ops::where(condition, a, b); },
      py::arg("condition"), py::arg("input"), py::arg("other"));
  m.def(
      "leaky_relu",
      [](py::handle x, double slope) { return ops::unary(Unary::LeakyRelu, as_tensor_arg(x, "input"), slope); },
      py::arg("input"), py::arg("negative_slope") = 0.01);
  m.def(
      "gelu",
      [](py::handle x, const std::string& approximate) {
        if (approximate != "none" && approximate != "tanh")
          throw ValueError("gelu: approximate must be 'none' or 'tanh', got '" + approximate + "'");
        return ops::unary(approximate == "none" ? Unary::Gelu : Unary::GeluTanh, as_tensor_arg(x, "input"));
      },
      py::arg("input"), py::arg("approximate") = "none");
  m.def(
      "softmax", [](py::handle x, int64_t dim) { return ops::softmax(as_tensor_arg(x, "input"), dim, false); },
      py::arg("input"), py::arg("dim"));
  m.def(
      "log_softmax", [](py::handle x, int64_t dim) { return ops::softmax(as_tensor_arg(x, "input"), dim, true); },
      py::arg("input"), py::arg("dim"));

  // losses
  m.def(
      "mse_loss", [](py::handle x, py::handle y, ops::Reduction r) { return loss_op(Loss::MSE, x, y, r, 0); },
      py::arg("input"), py::arg("target"), py::arg("reduction") = ops::Reduction::Mean);
  m.def(
      "l1_loss", [](py::handle x, py::handle y, ops::Reduction r) { return loss_op(Loss::L1, x, y, r, 0); },
      py::arg("input"), py::arg("target"), py::arg("reduction") = ops::Reduction::Mean);
  m.def(
      "huber_loss",
      [](py::handle x, py::handle y, ops::Reduction r, double delta) { return loss_op(Loss::Huber, x, y, r, delta); },
      py::arg("input"), py::arg("target"), py::arg("reduction") = ops::Reduction::Mean, py::arg("delta") = 1.0);
  m.def(
      "binary_cross_entropy",
      [](py::handle x, py::handle y, ops::Reduction r) { return loss_op(Loss::BCE, x, y, r, 0); }, py::arg("input"),
      py::arg("target"), py::arg("reduction") = ops::Reduction::Mean);
  m.def(
      "binary_cross_entropy_with_logits",
      [](py::handle x, py::handle y, ops::Reduction r) { return loss_op(Loss::BCEWithLogits, x, y, r, 0); },
      py::arg("input"), py::arg("target"), py::arg("reduction") = ops::Reduction::Mean);
  m.def(
      "cross_entropy",
      [](py::handle x, py::handle y, ops::Reduction r) {
        // Integer label arrays (int32 on some platforms) are class indices: int64, not the float32
        // that as_tensor_arg makes of other dtypes (which would read them as probabilities).
        py::object target = py::reinterpret_borrow<py::object>(y);
        if (py::isinstance<py::array>(y) &&
            std::string("iub").find(py::array(target).dtype().kind()) != std::string::npos)
          target = py::array::ensure(py::array(target).attr("astype")(py::dtype::of<int64_t>()), py::array::c_style);
        return ops::cross_entropy(as_tensor_arg(x, "input"), as_tensor_arg(target, "target"), r);
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = ops::Reduction::Mean);
}

}  // namespace chainrule::bindings

PYBIND11_MODULE(_core, m) {
  using namespace chainrule;
  m.doc() = "chainrule's C++ core: tensors, autograd and CPU kernels";
  m.attr("__version__") = CHAINRULE_VERSION;
  m.attr("_cuda_built") = static_cast<bool>(CHAINRULE_CUDA_BUILT);

  // How core's long calls and lock waits let other Python threads run (letting_others_run.h):
  // they let go of the GIL only when this thread holds it.
  interpreter_lock().let_go = []() -> void* { return PyGILState_Check() ? PyEval_SaveThread() : nullptr; };
  interpreter_lock().take_back = [](void* token) { PyEval_RestoreThread(static_cast<PyThreadState*>(token)); };

  // Our error types become the Python exception of the same name. A ValueError (bad shapes, bad
  // values) is also a RuntimeError, the class PyTorch raises for most of them, so code written
  // for either (`except RuntimeError`, `except ValueError`) catches it.
  static PyObject* value_error = PyErr_NewExceptionWithDoc(
      "chainrule.ValueError",
      "A bad argument value or shape: both a ValueError and a RuntimeError (as PyTorch raises).",
      py::make_tuple(py::handle(PyExc_ValueError), py::handle(PyExc_RuntimeError)).release().ptr(), nullptr);
  m.attr("ValueError") = py::handle(value_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ZeroDivisionError& e) {
      PyErr_SetString(PyExc_ZeroDivisionError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(value_error, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
  bindings::bind_tensor(m);
  bindings::bind_devices(m);
  bindings::bind_functions(m);
  bindings::bind_optimizers(m);
  bindings::bind_dense_chain(m);
  bindings::bind_hooks(m);
  bindings::bind_autograd(m);
  bindings::bind_kernel_tests(m);
  bindings::bind_mlp_trainer(m);
  bindings::install_fast_calls(m);
}
