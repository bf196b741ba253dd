// The chainrule._cuda extension module, built only with the CUDA backend (csrc/cuda/CMakeLists.txt)
// and imported lazily by chainrule.cuda, so `import chainrule` never loads a CUDA library.
//
// Besides the runtime queries it exposes one test entry point per kernel: NumPy arrays in, copied
// to the device, the kernel run, the outputs copied back as new arrays. tests/test_cuda.py compares
// them with the CPU kernels. They are for testing, not speed: every call allocates and copies.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime_api.h>

#include <optional>
#include <string>
#include <utility>

#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"

namespace py = pybind11;

namespace chainrule::cuda {
namespace {

template <typename T> using HostArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

Unary parse_unary(const std::string& name) {
  static const std::pair<const char*, Unary> table[] = {
      {"neg", Unary::Neg},   {"exp", Unary::Exp},         {"log", Unary::Log},           {"relu", Unary::Relu},
      {"sigmoid", Unary::Sigmoid}, {"tanh", Unary::Tanh}, {"abs", Unary::Abs},           {"sqrt", Unary::Sqrt},
      {"leaky_relu", Unary::LeakyRelu}, {"gelu", Unary::Gelu}, {"gelu_tanh", Unary::GeluTanh}};
  for (const auto& [n, op] : table)
    if (name == n) return op;
  throw ValueError("unknown unary op '" + name + "'");
}

Activation parse_activation(const std::string& name) {
  static const std::pair<const char*, Activation> table[] = {
      {"identity", Activation::Identity}, {"relu", Activation::Relu},   {"sigmoid", Activation::Sigmoid},
      {"tanh", Activation::Tanh},         {"leaky_relu", Activation::LeakyRelu}, {"gelu", Activation::Gelu},
      {"gelu_tanh", Activation::GeluTanh}};
  for (const auto& [n, act] : table)
    if (name == n) return act;
  throw ValueError("unknown activation '" + name + "'");
}

Loss parse_loss(const std::string& name) {
  static const std::pair<const char*, Loss> table[] = {{"mse", Loss::MSE},
                                                       {"l1", Loss::L1},
                                                       {"huber", Loss::Huber},
                                                       {"bce", Loss::BCE},
                                                       {"bce_with_logits", Loss::BCEWithLogits}};
  for (const auto& [n, loss] : table)
    if (name == n) return loss;
  throw ValueError("unknown loss '" + name + "'");
}

// Runs f(T{}) with T the float type of `like` (float32 or float64).
template <typename F> auto with_float_type(const py::array& like, F f) {
  if (py::isinstance<py::array_t<float>>(like)) return f(float{});
  if (py::isinstance<py::array_t<double>>(like)) return f(double{});
  throw TypeError("chainrule._cuda: expected a float32 or float64 array, got dtype " +
                  py::str(like.dtype()).cast<std::string>());
}

template <typename T> DeviceBuffer<T> upload(const py::array& a) {
  HostArray<T> h = HostArray<T>::ensure(a);
  if (!h) throw TypeError("chainrule._cuda: cannot convert an argument to the kernel's dtype");
  DeviceBuffer<T> d(static_cast<int64_t>(h.size()));
  d.upload(h.data());
  return d;
}

template <typename T> DeviceBuffer<T> upload_optional(const std::optional<py::array>& a) {
  return a ? upload<T>(*a) : DeviceBuffer<T>();
}

// A new host array of `shape` holding the device buffer's contents.
template <typename T> py::array_t<T> download(const DeviceBuffer<T>& d, std::vector<py::ssize_t> shape) {
  py::array_t<T> h(shape);
  d.download(h.mutable_data());
  return h;
}

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

int64_t dim(const py::array& a, int axis, const char* what) {
  if (a.ndim() != 2) throw ValueError(std::string(what) + " must be 2-D");
  return a.shape(axis);
}

void bind_kernels(py::module_& m) {
  m.def("unary_forward", [](py::array x, const std::string& op, double param) {
    return with_float_type(x, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dx = upload<T>(x);
      DeviceBuffer<T> out(dx.size());
      cuda::unary_forward<T>(out.get(), dx.get(), dx.size(), parse_unary(op), param);
      return download(out, shape_of(x));
    });
  }, py::arg("x"), py::arg("op"), py::arg("param") = 0.0);

  m.def("unary_backward", [](py::array dout, py::array x, py::array y, const std::string& op, double param) {
    return with_float_type(x, [&](auto t) -> py::object {
      using T = decltype(t);
      auto ddout = upload<T>(dout), dx_in = upload<T>(x), dy = upload<T>(y);
      DeviceBuffer<T> dx(dx_in.size());
      cuda::unary_backward<T>(dx.get(), ddout.get(), dx_in.get(), dy.get(), dx_in.size(), parse_unary(op), param);
      return download(dx, shape_of(x));
    });
  }, py::arg("dout"), py::arg("x"), py::arg("y"), py::arg("op"), py::arg("param") = 0.0);

  m.def("bias_activation_forward", [](py::array a, std::optional<py::array> bias, const std::string& act,
                                      double param, bool keep_z) {
    // a (B, OC) holds x W^T; returns (act(a + bias), z or None).
    return with_float_type(a, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t B = dim(a, 0, "a"), OC = dim(a, 1, "a");
      auto da = upload<T>(a);
      auto dbias = upload_optional<T>(bias);
      DeviceBuffer<T> z(keep_z ? B * OC : 0);
      cuda::bias_activation_forward<T>(da.get(), keep_z ? z.get() : nullptr, bias ? dbias.get() : nullptr, B, OC,
                                 parse_activation(act), param);
      py::object zo = keep_z ? py::object(download(z, {B, OC})) : py::none();
      return py::make_tuple(download(da, {B, OC}), zo);
    });
  }, py::arg("a"), py::arg("bias"), py::arg("act"), py::arg("param") = 0.0, py::arg("keep_z") = false);

  m.def("activation_backward_inplace", [](py::array dz, py::array a, std::optional<py::array> z,
                                          const std::string& act, double param) {
    return with_float_type(a, [&](auto t) -> py::object {
      using T = decltype(t);
      auto ddz = upload<T>(dz), da = upload<T>(a);
      auto dz_pre = upload_optional<T>(z);
      cuda::activation_backward_inplace<T>(ddz.get(), da.get(), z ? dz_pre.get() : nullptr, ddz.size(),
                                     parse_activation(act), param);
      return download(ddz, shape_of(dz));
    });
  }, py::arg("dz"), py::arg("a"), py::arg("z"), py::arg("act"), py::arg("param") = 0.0);

  m.def("bias_grad", [](py::array dout, std::optional<py::array> dbias_in) {
    // Writes the column sums of dout (B, OC), or adds them to dbias_in when given.
    return with_float_type(dout, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t B = dim(dout, 0, "dout"), OC = dim(dout, 1, "dout");
      auto ddout = upload<T>(dout);
      DeviceBuffer<T> dbias = dbias_in ? upload<T>(*dbias_in) : DeviceBuffer<T>(OC);
      cuda::bias_grad<T>(dbias.get(), ddout.get(), B, OC, dbias_in.has_value());
      return download(dbias, {OC});
    });
  }, py::arg("dout"), py::arg("dbias") = std::nullopt);

  m.def("dense_forward", [](py::array inp, py::array weight, std::optional<py::array> bias, const std::string& act,
                            double param, bool keep_z, bool lt_epilogue) {
    // act(inp (B, C) weight^T (C, OC) + bias) and the pre-activation (or None); act "identity" is
    // linear_forward's product.
    return with_float_type(inp, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t B = dim(inp, 0, "inp"), C = dim(inp, 1, "inp"), OC = dim(weight, 0, "weight");
      if (dim(weight, 1, "weight") != C) throw ValueError("dense_forward: weight must be (OC, C)");
      auto dinp = upload<T>(inp), dw = upload<T>(weight);
      auto db = upload_optional<T>(bias);
      DeviceBuffer<T> a(B * OC), z(keep_z ? B * OC : 0);
      const Activation activation = parse_activation(act);
      if (activation == Activation::Identity && !keep_z && lt_epilogue)
        cuda::linear_forward<T>(a.get(), dinp.get(), dw.get(), bias ? db.get() : nullptr, B, C, OC);
      else
        cuda::dense_forward<T>(a.get(), keep_z ? z.get() : nullptr, dinp.get(), dw.get(), bias ? db.get() : nullptr, B, C,
                         OC, activation, param, lt_epilogue);
      py::object zo = keep_z ? py::object(download(z, {B, OC})) : py::none();
      return py::make_tuple(download(a, {B, OC}), zo);
    });
  }, py::arg("inp"), py::arg("weight"), py::arg("bias"), py::arg("act") = "identity", py::arg("param") = 0.0,
     py::arg("keep_z") = false, py::arg("lt_epilogue") = true);

  m.def("linear_backward", [](py::array dout, py::array inp, py::array weight, bool with_bias, bool lt_epilogue) {
    // Returns (dinp (B, C), dweight (OC, C), dbias (OC) or None).
    return with_float_type(inp, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t B = dim(inp, 0, "inp"), C = dim(inp, 1, "inp"), OC = dim(weight, 0, "weight");
      if (dim(dout, 0, "dout") != B || dim(dout, 1, "dout") != OC || dim(weight, 1, "weight") != C)
        throw ValueError("linear_backward: expected dout (B, OC), inp (B, C), weight (OC, C)");
      auto ddout = upload<T>(dout), dinp_in = upload<T>(inp), dw = upload<T>(weight);
      DeviceBuffer<T> dinp(B * C), dweight(OC * C), dbias(with_bias ? OC : 0);
      cuda::linear_backward<T>(dinp.get(), dweight.get(), with_bias ? dbias.get() : nullptr, ddout.get(), dinp_in.get(),
                         dw.get(), B, C, OC, lt_epilogue);
      py::object bo = with_bias ? py::object(download(dbias, {OC})) : py::none();
      return py::make_tuple(download(dinp, {B, C}), download(dweight, {OC, C}), bo);
    });
  }, py::arg("dout"), py::arg("inp"), py::arg("weight"), py::arg("with_bias") = true, py::arg("lt_epilogue") = true);

  m.def("loss_forward", [](py::array pred, py::array target, const std::string& loss, double param) {
    return with_float_type(pred, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dp = upload<T>(pred), dt = upload<T>(target);
      if (dp.size() != dt.size()) throw ValueError("loss_forward: pred and target differ in size");
      DeviceBuffer<T> out(dp.size());
      cuda::loss_forward<T>(out.get(), dp.get(), dt.get(), dp.size(), parse_loss(loss), param);
      return download(out, shape_of(pred));
    });
  }, py::arg("pred"), py::arg("target"), py::arg("loss"), py::arg("param") = 0.0);

  m.def("loss_backward", [](py::array dout, bool dout_is_scalar, py::array pred, py::array target,
                            const std::string& loss, double param) {
    // Returns (dpred, dtarget).
    return with_float_type(pred, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dd = upload<T>(dout), dp = upload<T>(pred), dt = upload<T>(target);
      if (dp.size() != dt.size() || (dout_is_scalar ? dd.size() != 1 : dd.size() != dp.size()))
        throw ValueError("loss_backward: dout, pred and target sizes do not agree");
      DeviceBuffer<T> dpred(dp.size()), dtarget(dp.size());
      cuda::loss_backward<T>(dpred.get(), dtarget.get(), dd.get(), dout_is_scalar, dp.get(), dt.get(), dp.size(),
                       parse_loss(loss), param);
      return py::make_tuple(download(dpred, shape_of(pred)), download(dtarget, shape_of(pred)));
    });
  }, py::arg("dout"), py::arg("dout_is_scalar"), py::arg("pred"), py::arg("target"), py::arg("loss"),
     py::arg("param") = 0.0);

  m.def("cross_entropy_forward", [](py::array logits, py::array target) {
    // Returns (losses (N), log_probs (N, C)).
    return with_float_type(logits, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t N = dim(logits, 0, "logits"), C = dim(logits, 1, "logits");
      auto dl = upload<T>(logits);
      auto dt = upload<int64_t>(target);
      if (dt.size() != N) throw ValueError("cross_entropy_forward: target must have N entries");
      DeviceBuffer<T> losses(N), log_probs(N * C);
      cuda::cross_entropy_forward<T>(losses.get(), log_probs.get(), dl.get(), dt.get(), N, C);
      return py::make_tuple(download(losses, {N}), download(log_probs, {N, C}));
    });
  }, py::arg("logits"), py::arg("target"));

  m.def("cross_entropy_backward", [](py::array dout, bool dout_is_scalar, py::array log_probs, py::array target) {
    return with_float_type(log_probs, [&](auto t) -> py::object {
      using T = decltype(t);
      const int64_t N = dim(log_probs, 0, "log_probs"), C = dim(log_probs, 1, "log_probs");
      auto dd = upload<T>(dout), dlp = upload<T>(log_probs);
      auto dt = upload<int64_t>(target);
      if (dt.size() != N || dd.size() != (dout_is_scalar ? 1 : N))
        throw ValueError("cross_entropy_backward: dout and target sizes do not agree with log_probs");
      DeviceBuffer<T> dlogits(N * C);
      cuda::cross_entropy_backward<T>(dlogits.get(), dd.get(), dout_is_scalar, dlp.get(), dt.get(), N, C);
      return download(dlogits, {N, C});
    });
  }, py::arg("dout"), py::arg("dout_is_scalar"), py::arg("log_probs"), py::arg("target"));

  m.def("sum_all", [](py::array x) {
    return with_float_type(x, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dx = upload<T>(x);
      return py::float_(static_cast<double>(cuda::sum_all<T>(dx.get(), dx.size())));
    });
  }, py::arg("x"));

  m.def("sgd_update", [](py::array param, py::array grad, std::optional<py::array> momentum_buffer, double lr,
                         double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
                         bool first_step) {
    // Returns (param, momentum_buffer or None) after one step.
    return with_float_type(param, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dp = upload<T>(param), dg = upload<T>(grad);
      DeviceBuffer<T> buf = momentum_buffer ? upload<T>(*momentum_buffer) : DeviceBuffer<T>(momentum != 0 ? dp.size() : 0);
      const SgdOptions opt{lr, momentum, dampening, weight_decay, nesterov, maximize};
      cuda::sgd_update<T>(dp.get(), dg.get(), momentum != 0 ? buf.get() : nullptr, dp.size(), opt, first_step);
      py::object bo = momentum != 0 ? py::object(download(buf, shape_of(param))) : py::none();
      return py::make_tuple(download(dp, shape_of(param)), bo);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("momentum") = 0.0,
     py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0, py::arg("nesterov") = false,
     py::arg("maximize") = false, py::arg("first_step") = true);

  m.def("adam_update", [](py::array param, py::array grad, py::array exp_avg, py::array exp_avg_sq,
                          std::optional<py::array> max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                          double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay,
                          int64_t step) {
    // Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq or None) after step number `step`.
    if (amsgrad && !max_exp_avg_sq) throw ValueError("adam_update: amsgrad needs max_exp_avg_sq");
    return with_float_type(param, [&](auto t) -> py::object {
      using T = decltype(t);
      auto dp = upload<T>(param), dg = upload<T>(grad), dm = upload<T>(exp_avg), dv = upload<T>(exp_avg_sq);
      auto dvmax = upload_optional<T>(max_exp_avg_sq);
      AdamOptions opt;
      opt.lr = lr; opt.beta1 = beta1; opt.beta2 = beta2; opt.eps = eps; opt.weight_decay = weight_decay;
      opt.amsgrad = amsgrad; opt.maximize = maximize; opt.decoupled_weight_decay = decoupled_weight_decay;
      cuda::adam_update<T>(dp.get(), dg.get(), dm.get(), dv.get(), amsgrad ? dvmax.get() : nullptr, dp.size(), opt, step);
      const auto shape = shape_of(param);
      py::object vmax = amsgrad ? py::object(download(dvmax, shape)) : py::none();
      return py::make_tuple(download(dp, shape), download(dm, shape), download(dv, shape), vmax);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"),
     py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
     py::arg("amsgrad") = false, py::arg("maximize") = false, py::arg("decoupled_weight_decay") = false,
     py::arg("step") = 1);
}

}  // namespace
}  // namespace chainrule::cuda

PYBIND11_MODULE(_cuda, m) {
  using namespace chainrule;
  m.doc() = "chainrule's CUDA backend (imported lazily by chainrule.cuda)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  m.def("device_count", &cuda::device_count, "Number of visible CUDA devices; 0 when there is no driver or device.");
  m.def("synchronize", &cuda::synchronize, "Waits for all work on the current device.");
  m.def("runtime_version", [] {
    int v = 0;
    CHAINRULE_CUDA_CHECK(cudaRuntimeGetVersion(&v));
    return v;
  }, "The CUDA runtime this module was linked with (static cudart), e.g. 13000.");
  m.def("cublaslt_version", [] { return static_cast<int64_t>(cublasLtGetVersion()); },
        "The version of the cuBLASLt library loaded at run time.");
  cuda::bind_kernels(m);
}
