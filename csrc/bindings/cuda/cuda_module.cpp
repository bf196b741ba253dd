// The chainrule._cuda extension module, built only with the CUDA backend (csrc/cuda/CMakeLists.txt)
// and imported lazily by chainrule.cuda, so `import chainrule` never loads a CUDA library.
//
// Besides the runtime queries it exposes one test entry point per kernel: NumPy arrays in, copied
// to the device, the kernel run, the outputs copied back as new arrays. tests/test_cuda.py compares
// them with the CPU kernels. They are for testing, not speed: every call allocates and copies.
// Each checks all of its arguments on the host (kernel_args.h) before it copies or launches anything.
#include <cuda_runtime_api.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/cuda/kernel_args.h"
#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_backend.h"

namespace py = pybind11;

namespace chainrule::cuda {
namespace {

template <typename T>
using HostArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// The kinds the CUDA kernels implement, named as PyTorch names them. They cross the binding as
// this module's enums (chainrule._cuda.Unary, .Activation, .Loss), never as strings.
constexpr std::pair<const char*, Unary> kUnaryOps[] = {
    {"neg", Unary::Neg},   {"exp", Unary::Exp},           {"log", Unary::Log},
    {"relu", Unary::Relu}, {"sigmoid", Unary::Sigmoid},   {"tanh", Unary::Tanh},
    {"abs", Unary::Abs},   {"sqrt", Unary::Sqrt},         {"leaky_relu", Unary::LeakyRelu},
    {"gelu", Unary::Gelu}, {"gelu_tanh", Unary::GeluTanh}};
constexpr std::pair<const char*, Activation> kActivations[] = {
    {"identity", Activation::Identity},    {"relu", Activation::Relu},
    {"sigmoid", Activation::Sigmoid},      {"tanh", Activation::Tanh},
    {"leaky_relu", Activation::LeakyRelu}, {"gelu", Activation::Gelu},
    {"gelu_tanh", Activation::GeluTanh}};
constexpr std::pair<const char*, Loss> kLosses[] = {{"mse", Loss::MSE},
                                                    {"l1", Loss::L1},
                                                    {"huber", Loss::Huber},
                                                    {"bce", Loss::BCE},
                                                    {"bce_with_logits", Loss::BCEWithLogits}};

template <typename E, size_t N>
void bind_kinds(py::module_& m, const char* name, const char* doc, const std::pair<const char*, E> (&kinds)[N]) {
  // Module-local: chainrule._core binds the CPU's Activation under the same C++ type.
  py::enum_<E> e(m, name, doc, py::module_local());
  for (const auto& [kind_name, value] : kinds) e.value(kind_name, value);
}

// The name of `kind` when these kernels implement it. A value of another module's enum of the same
// C++ type (chainrule._core.Activation.silu) converts too, so this is checked before any launch.
template <typename E, size_t N>
const char* implemented(const std::pair<const char*, E> (&kinds)[N], E kind, KernelArgs& args, const char* what) {
  std::string known;
  for (const auto& [kind_name, value] : kinds) {
    if (value == kind) return kind_name;
    known += (known.empty() ? "" : ", ") + std::string(kind_name);
  }
  args.fail(std::string(what) + " must be one of the kinds the CUDA kernels implement (" + known + "); got value " +
            std::to_string(static_cast<int>(kind)));
}

// Runs f(T{}) with T the float type the checked arguments share.
template <typename F>
auto with_float_type(const KernelArgs& args, F f) {
  return args.is_float64() ? f(double{}) : f(float{});
}

// Host to device. Called only after the arguments were checked, so `a` already has T's dtype
// (ensure() only makes a C-contiguous copy of a strided array).
template <typename T>
DeviceBuffer<T> upload(const py::array& a) {
  HostArray<T> h = HostArray<T>::ensure(a);
  if (!h) throw TypeError("chainrule._cuda: cannot convert an argument to the kernel's dtype");
  DeviceBuffer<T> d(static_cast<int64_t>(h.size()));
  d.upload(h.data());
  return d;
}

template <typename T>
DeviceBuffer<T> upload_optional(const std::optional<py::array>& a) {
  return a ? upload<T>(*a) : DeviceBuffer<T>();
}

// A device copy of `a` that starts `offset` elements into its allocation, so a test can hand the
// kernels pointers less aligned than cudaMalloc's 256 bytes (as slices of an arena would be).
template <typename T>
struct OffsetBuffer {
  DeviceBuffer<T> buffer;
  int64_t offset = 0;
  T* get() const { return buffer.get() ? buffer.get() + offset : nullptr; }
};

template <typename T>
OffsetBuffer<T> upload_at(const py::array& a, int64_t offset) {
  HostArray<T> h = HostArray<T>::ensure(a);
  if (!h) throw TypeError("chainrule._cuda: cannot convert an argument to the kernel's dtype");
  OffsetBuffer<T> d{DeviceBuffer<T>(static_cast<int64_t>(h.size()) + offset), offset};
  if (h.size() > 0) CHAINRULE_CUDA_CHECK(cudaMemcpy(d.get(), h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
OffsetBuffer<T> upload_optional_at(const std::optional<py::array>& a, int64_t offset) {
  return a ? upload_at<T>(*a, offset) : OffsetBuffer<T>();
}

template <typename T>
OffsetBuffer<T> allocate_at(int64_t n, int64_t offset) {
  return {DeviceBuffer<T>(n > 0 ? n + offset : 0), offset};
}

// A new host array of `shape` holding the device buffer's contents.
template <typename T>
py::array_t<T> download(const DeviceBuffer<T>& d, std::vector<py::ssize_t> shape) {
  py::array_t<T> h(shape);
  d.download(h.mutable_data());
  return h;
}

template <typename T>
py::array_t<T> download(const OffsetBuffer<T>& d, std::vector<py::ssize_t> shape) {
  py::array_t<T> h(shape);
  if (h.size() > 0)
    CHAINRULE_CUDA_CHECK(cudaMemcpy(h.mutable_data(), d.get(), sizeof(T) * h.size(), cudaMemcpyDeviceToHost));
  return h;
}

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

std::string number(double v) { return py::str(py::float_(v)).cast<std::string>(); }

void bind_kernels(py::module_& m) {
  m.def(
      "unary_forward",
      [](py::array x, Unary unary, double param) {
        KernelArgs args("unary_forward");
        args.floats_any_shape(x, "x");
        implemented(kUnaryOps, unary, args, "op");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dx = upload<T>(x);
          DeviceBuffer<T> out(dx.size());
          cuda::unary_forward<T>(out.get(), dx.get(), dx.size(), unary, param);
          return download(out, shape_of(x));
        });
      },
      py::arg("x"), py::arg("op"), py::arg("param") = 0.0);

  m.def(
      "unary_backward",
      [](py::array dout, py::array x, py::array y, Unary unary, double param) {
        // y = op(x), read by the ops whose derivative uses the output.
        KernelArgs args("unary_backward");
        args.floats_any_shape(x, "x").floats_like(dout, "dout", x, "x").floats_like(y, "y", x, "x");
        implemented(kUnaryOps, unary, args, "op");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto ddout = upload<T>(dout), dx_in = upload<T>(x), dy = upload<T>(y);
          DeviceBuffer<T> dx(dx_in.size());
          cuda::unary_backward<T>(dx.get(), ddout.get(), dx_in.get(), dy.get(), dx_in.size(), unary, param);
          return download(dx, shape_of(x));
        });
      },
      py::arg("dout"), py::arg("x"), py::arg("y"), py::arg("op"), py::arg("param") = 0.0);

  m.def(
      "bias_activation_forward",
      [](py::array a, std::optional<py::array> bias, Activation activation, double param, bool keep_z) {
        // a (B, OC) holds x W^T; returns (act(a + bias), z or None).
        KernelArgs args("bias_activation_forward");
        args.floats(a, "a", {"B", "OC"}).optional_floats(bias, "bias", {"OC"});
        implemented(kActivations, activation, args, "act");
        const int64_t B = args.size("B"), OC = args.size("OC");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto da = upload<T>(a);
          auto dbias = upload_optional<T>(bias);
          DeviceBuffer<T> z(keep_z ? B * OC : 0);
          cuda::bias_activation_forward<T>(da.get(), keep_z ? z.get() : nullptr, bias ? dbias.get() : nullptr, B, OC,
                                           activation, param);
          py::object zo = keep_z ? py::object(download(z, {B, OC})) : py::none();
          return py::make_tuple(download(da, {B, OC}), zo);
        });
      },
      py::arg("a"), py::arg("bias"), py::arg("act"), py::arg("param") = 0.0, py::arg("keep_z") = false);

  m.def(
      "activation_backward_inplace",
      [](py::array dz, py::array a, std::optional<py::array> z, Activation activation, double param) {
        // dz holds dL/da, a = act(z); returns dL/dz.
        KernelArgs args("activation_backward_inplace");
        args.floats_any_shape(dz, "dz").floats_like(a, "a", dz, "dz");
        if (z) args.floats_like(*z, "z", dz, "dz");
        const char* act_name = implemented(kActivations, activation, args, "act");
        args.require(z || cpu::activation_derivative_from_output(activation, param),
                     "z (the pre-activation) is required for act '" + std::string(act_name) + "'" +
                         (activation == Activation::LeakyRelu ? " with a slope <= 0" : "") +
                         ": its derivative cannot be told from the output a alone");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto ddz = upload<T>(dz), da = upload<T>(a);
          auto dz_pre = upload_optional<T>(z);
          cuda::activation_backward_inplace<T>(ddz.get(), da.get(), z ? dz_pre.get() : nullptr, ddz.size(), activation,
                                               param);
          return download(ddz, shape_of(dz));
        });
      },
      py::arg("dz"), py::arg("a"), py::arg("z"), py::arg("act"), py::arg("param") = 0.0);

  m.def(
      "bias_grad",
      [](py::array dout, std::optional<py::array> dbias_in) {
        // Writes the column sums of dout (B, OC), or adds them to dbias (OC) when given.
        KernelArgs args("bias_grad");
        args.floats(dout, "dout", {"B", "OC"}).optional_floats(dbias_in, "dbias", {"OC"});
        const int64_t B = args.size("B"), OC = args.size("OC");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto ddout = upload<T>(dout);
          DeviceBuffer<T> dbias = dbias_in ? upload<T>(*dbias_in) : DeviceBuffer<T>(OC);
          cuda::bias_grad<T>(dbias.get(), ddout.get(), B, OC, dbias_in.has_value());
          return download(dbias, {OC});
        });
      },
      py::arg("dout"), py::arg("dbias") = std::nullopt);

  m.def(
      "dense_forward",
      [](py::array inp, py::array weight, std::optional<py::array> bias, Activation activation, double param,
         bool keep_z, bool lt_epilogue, int64_t offset) {
        // act(inp (B, C) weight^T (C, OC) + bias (OC)) and the pre-activation (or None); act "identity"
        // without z is linear_forward's product. chainrule.cuda.epilogue_paths() tells which path ran.
        // offset > 0 places every device array that many elements into its allocation.
        KernelArgs args("dense_forward");
        args.floats(inp, "inp", {"B", "C"})
            .floats(weight, "weight", {"OC", "C"})
            .optional_floats(bias, "bias", {"OC"})
            .require(offset >= 0, "offset must be >= 0, got " + std::to_string(offset));
        implemented(kActivations, activation, args, "act");
        const int64_t B = args.size("B"), C = args.size("C"), OC = args.size("OC");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dinp = upload_at<T>(inp, offset), dw = upload_at<T>(weight, offset);
          auto db = upload_optional_at<T>(bias, offset);
          auto a = allocate_at<T>(B * OC, offset), z = allocate_at<T>(keep_z ? B * OC : 0, offset);
          if (activation == Activation::Identity && !keep_z && lt_epilogue)
            cuda::linear_forward<T>(a.get(), dinp.get(), dw.get(), db.get(), B, C, OC);
          else
            cuda::dense_forward<T>(a.get(), keep_z ? z.get() : nullptr, dinp.get(), dw.get(), db.get(), B, C, OC,
                                   activation, param, /*param2=*/0.0, lt_epilogue);
          py::object zo = keep_z ? py::object(download(z, {B, OC})) : py::none();
          return py::make_tuple(download(a, {B, OC}), zo);
        });
      },
      py::arg("inp"), py::arg("weight"), py::arg("bias"), py::arg("act") = Activation::Identity, py::arg("param") = 0.0,
      py::arg("keep_z") = false, py::arg("lt_epilogue") = true, py::arg("offset") = 0);

  m.def(
      "linear_backward",
      [](py::array dout, py::array inp, py::array weight, bool with_bias, bool lt_epilogue, int64_t offset) {
        // Returns (dinp (B, C), dweight (OC, C), dbias (OC) or None); offset as in dense_forward.
        KernelArgs args("linear_backward");
        args.floats(inp, "inp", {"B", "C"})
            .floats(weight, "weight", {"OC", "C"})
            .floats(dout, "dout", {"B", "OC"})
            .require(offset >= 0, "offset must be >= 0, got " + std::to_string(offset));
        const int64_t B = args.size("B"), C = args.size("C"), OC = args.size("OC");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto ddout = upload_at<T>(dout, offset), dinp_in = upload_at<T>(inp, offset),
               dw = upload_at<T>(weight, offset);
          auto dinp = allocate_at<T>(B * C, offset), dweight = allocate_at<T>(OC * C, offset);
          auto dbias = allocate_at<T>(with_bias ? OC : 0, offset);
          cuda::linear_backward<T>(dinp.get(), dweight.get(), with_bias ? dbias.get() : nullptr, ddout.get(),
                                   dinp_in.get(), dw.get(), B, C, OC, lt_epilogue);
          py::object bo = with_bias ? py::object(download(dbias, {OC})) : py::none();
          return py::make_tuple(download(dinp, {B, C}), download(dweight, {OC, C}), bo);
        });
      },
      py::arg("dout"), py::arg("inp"), py::arg("weight"), py::arg("with_bias") = true, py::arg("lt_epilogue") = true,
      py::arg("offset") = 0);

  // Huber's delta is the only loss parameter; PyTorch refuses a non-positive one.
  const auto check_loss_param = [](KernelArgs& args, Loss kind, double param) {
    if (kind == Loss::Huber)
      args.require(param > 0, "delta (param) must be > 0 for the huber loss, got " + number(param));
  };

  m.def(
      "loss_forward",
      [check_loss_param](py::array pred, py::array target, Loss kind, double param) {
        KernelArgs args("loss_forward");
        args.floats_any_shape(pred, "pred").floats_like(target, "target", pred, "pred");
        implemented(kLosses, kind, args, "loss");
        check_loss_param(args, kind, param);
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dp = upload<T>(pred), dt = upload<T>(target);
          DeviceBuffer<T> out(dp.size());
          cuda::loss_forward<T>(out.get(), dp.get(), dt.get(), dp.size(), kind, param);
          return download(out, shape_of(pred));
        });
      },
      py::arg("pred"), py::arg("target"), py::arg("loss"), py::arg("param") = 0.0);

  m.def(
      "loss_backward",
      [check_loss_param](py::array dout, bool dout_is_scalar, py::array pred, py::array target, Loss kind,
                         double param) {
        // dout has pred's shape, or is (1,) when dout_is_scalar. Returns (dpred, dtarget).
        KernelArgs args("loss_backward");
        args.floats_any_shape(pred, "pred").floats_like(target, "target", pred, "pred");
        if (dout_is_scalar)
          args.floats(dout, "dout", {1});
        else
          args.floats_like(dout, "dout", pred, "pred");
        implemented(kLosses, kind, args, "loss");
        check_loss_param(args, kind, param);
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dd = upload<T>(dout), dp = upload<T>(pred), dt = upload<T>(target);
          DeviceBuffer<T> dpred(dp.size()), dtarget(dp.size());
          cuda::loss_backward<T>(dpred.get(), dtarget.get(), dd.get(), dout_is_scalar, dp.get(), dt.get(), dp.size(),
                                 kind, param);
          return py::make_tuple(download(dpred, shape_of(pred)), download(dtarget, shape_of(pred)));
        });
      },
      py::arg("dout"), py::arg("dout_is_scalar"), py::arg("pred"), py::arg("target"), py::arg("loss"),
      py::arg("param") = 0.0);

  m.def(
      "cross_entropy_forward",
      [](py::array logits, py::array target) {
        // logits (N, C), target (N) int64 in [0, C). Returns (losses (N), log_probs (N, C)).
        KernelArgs args("cross_entropy_forward");
        args.floats(logits, "logits", {"N", "C"}).class_indices(target, "target", "N", "C");
        const int64_t N = args.size("N"), C = args.size("C");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dl = upload<T>(logits);
          auto dt = upload<int64_t>(target);
          DeviceBuffer<T> losses(N), log_probs(N * C);
          cuda::cross_entropy_forward<T>(losses.get(), log_probs.get(), dl.get(), dt.get(), N, C);
          return py::make_tuple(download(losses, {N}), download(log_probs, {N, C}));
        });
      },
      py::arg("logits"), py::arg("target"));

  m.def(
      "cross_entropy_backward",
      [](py::array dout, bool dout_is_scalar, py::array log_probs, py::array target) {
        // dout (N), or (1,) when dout_is_scalar; log_probs (N, C); target (N) int64 in [0, C).
        KernelArgs args("cross_entropy_backward");
        args.floats(log_probs, "log_probs", {"N", "C"}).class_indices(target, "target", "N", "C");
        if (dout_is_scalar)
          args.floats(dout, "dout", {1});
        else
          args.floats(dout, "dout", {"N"});
        const int64_t N = args.size("N"), C = args.size("C");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dd = upload<T>(dout), dlp = upload<T>(log_probs);
          auto dt = upload<int64_t>(target);
          DeviceBuffer<T> dlogits(N * C);
          cuda::cross_entropy_backward<T>(dlogits.get(), dd.get(), dout_is_scalar, dlp.get(), dt.get(), N, C);
          return download(dlogits, {N, C});
        });
      },
      py::arg("dout"), py::arg("dout_is_scalar"), py::arg("log_probs"), py::arg("target"));

  m.def(
      "sum_all",
      [](py::array x) {
        KernelArgs args("sum_all");
        args.floats_any_shape(x, "x");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dx = upload<T>(x);
          return py::float_(static_cast<double>(cuda::sum_all<T>(dx.get(), dx.size())));
        });
      },
      py::arg("x"));

  m.def(
      "sgd_update",
      [](py::array param, py::array grad, std::optional<py::array> momentum_buffer, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
        // Returns (param, momentum_buffer or None) after one step. The hyper-parameters obey
        // torch.optim.SGD's rules.
        KernelArgs args("sgd_update");
        args.floats_any_shape(param, "param").floats_like(grad, "grad", param, "param");
        if (momentum_buffer) args.floats_like(*momentum_buffer, "momentum_buffer", param, "param");
        args.require(lr >= 0, "lr must be >= 0, got " + number(lr))
            .require(momentum >= 0, "momentum must be >= 0, got " + number(momentum))
            .require(weight_decay >= 0, "weight_decay must be >= 0, got " + number(weight_decay))
            .require(!nesterov || (momentum > 0 && dampening == 0), "nesterov needs a momentum > 0 and dampening 0")
            .require(first_step || momentum == 0 || momentum_buffer.has_value(),
                     "momentum_buffer is required after the first step when momentum != 0");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dp = upload<T>(param), dg = upload<T>(grad);
          DeviceBuffer<T> buf =
              momentum_buffer ? upload<T>(*momentum_buffer) : DeviceBuffer<T>(momentum != 0 ? dp.size() : 0);
          const SgdOptions opt{lr, momentum, dampening, weight_decay, nesterov, maximize};
          cuda::sgd_update<T>(dp.get(), dg.get(), momentum != 0 ? buf.get() : nullptr, dp.size(), opt, first_step);
          py::object bo = momentum != 0 ? py::object(download(buf, shape_of(param))) : py::none();
          return py::make_tuple(download(dp, shape_of(param)), bo);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("momentum") = 0.0,
      py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0, py::arg("nesterov") = false,
      py::arg("maximize") = false, py::arg("first_step") = true);

  m.def(
      "adam_update",
      [](py::array param, py::array grad, py::array exp_avg, py::array exp_avg_sq,
         std::optional<py::array> max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
         double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay, int64_t step) {
        // Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq or None) after step number `step`. The
        // hyper-parameters obey torch.optim.Adam's rules.
        KernelArgs args("adam_update");
        args.floats_any_shape(param, "param")
            .floats_like(grad, "grad", param, "param")
            .floats_like(exp_avg, "exp_avg", param, "param")
            .floats_like(exp_avg_sq, "exp_avg_sq", param, "param");
        if (max_exp_avg_sq) args.floats_like(*max_exp_avg_sq, "max_exp_avg_sq", param, "param");
        args.require(!amsgrad || max_exp_avg_sq.has_value(), "amsgrad needs max_exp_avg_sq")
            .require(lr >= 0, "lr must be >= 0, got " + number(lr))
            .require(eps >= 0, "eps must be >= 0, got " + number(eps))
            .require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + number(beta1))
            .require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + number(beta2))
            .require(weight_decay >= 0, "weight_decay must be >= 0, got " + number(weight_decay))
            .require(step >= 1, "step must be >= 1 (the first step is 1), got " + std::to_string(step));
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dp = upload<T>(param), dg = upload<T>(grad), dm = upload<T>(exp_avg), dv = upload<T>(exp_avg_sq);
          auto dvmax = upload_optional<T>(max_exp_avg_sq);
          AdamOptions opt;
          opt.lr = lr;
          opt.beta1 = beta1;
          opt.beta2 = beta2;
          opt.eps = eps;
          opt.weight_decay = weight_decay;
          opt.amsgrad = amsgrad;
          opt.maximize = maximize;
          opt.decoupled_weight_decay = decoupled_weight_decay;
          cuda::adam_update<T>(dp.get(), dg.get(), dm.get(), dv.get(), amsgrad ? dvmax.get() : nullptr, dp.size(), opt,
                               step);
          const auto shape = shape_of(param);
          py::object vmax = amsgrad ? py::object(download(dvmax, shape)) : py::none();
          return py::make_tuple(download(dp, shape), download(dm, shape), download(dv, shape), vmax);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"),
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
      py::arg("amsgrad") = false, py::arg("maximize") = false, py::arg("decoupled_weight_decay") = false,
      py::arg("step") = 1);

  m.def(
      "epilogue_paths",
      [] {
        py::list out;
        for (const EpilogueTally& e : epilogue_tally()) {
          py::dict d;
          d["site"] = e.site;
          d["epilogue"] = e.epilogue;
          d["dtype"] = e.dtype;
          d["fused"] = e.fused;
          d["fallback"] = e.fallback;
          d["last_refusal"] = e.last_refusal.empty() ? py::object(py::none()) : py::object(py::str(e.last_refusal));
          out.append(d);
        }
        return out;
      },
      "Every cuBLASLt epilogue asked for since the last reset: site, epilogue, dtype, how often it was fused, "
      "how often it fell back to chainrule's kernels, and the last refusal's cuBLAS status.");
  m.def("reset_epilogue_paths", &reset_epilogue_tally, "Forgets what epilogue_paths() reports.");
}

// Device time of one call of f on the default stream, in microseconds: `warmup` untimed calls, then
// the mean of `iters` calls between two CUDA events (benchmarks/bench_cuda_kernels.py).
template <typename F>
double time_on_device(int warmup, int iters, F f) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t start = nullptr, stop = nullptr;
  CHAINRULE_CUDA_CHECK(cudaEventCreate(&start));
  CHAINRULE_CUDA_CHECK(cudaEventCreate(&stop));
  float ms = 0;
  try {
    CHAINRULE_CUDA_CHECK(cudaEventRecord(start));
    for (int i = 0; i < iters; ++i) f();
    CHAINRULE_CUDA_CHECK(cudaEventRecord(stop));
    CHAINRULE_CUDA_CHECK(cudaEventSynchronize(stop));
    CHAINRULE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * ms / iters;
}

void bind_timing(py::module_& m) {
  m.def(
      "time_dense_layer",
      [](py::array inp, py::array weight, py::array bias, py::array dout, Activation activation, double param,
         bool lt_epilogue, int warmup, int iters) {
        // One dense layer's training pair, device-resident (the arrays are copied to the device once):
        // forward = dense_forward (keeping z only when the activation's derivative needs it), backward =
        // activation_backward_inplace + linear_backward. Returns {"forward_us", "backward_us"}.
        KernelArgs args("time_dense_layer");
        args.floats(inp, "inp", {"B", "C"})
            .floats(weight, "weight", {"OC", "C"})
            .floats(bias, "bias", {"OC"})
            .floats(dout, "dout", {"B", "OC"})
            .require(warmup >= 0 && iters >= 1, "warmup must be >= 0 and iters >= 1");
        implemented(kActivations, activation, args, "act");
        const int64_t B = args.size("B"), C = args.size("C"), OC = args.size("OC");
        return with_float_type(args, [&](auto t) -> py::object {
          using T = decltype(t);
          auto dinp = upload<T>(inp), dw = upload<T>(weight), db = upload<T>(bias), ddout = upload<T>(dout);
          const bool keep_z = !cpu::activation_derivative_from_output(activation, param);
          DeviceBuffer<T> a(B * OC), z(keep_z ? B * OC : 0), dz(B * OC), dx(B * C), dweight(OC * C), dbias(OC);
          const double forward_us = time_on_device(warmup, iters, [&] {
            cuda::dense_forward<T>(a.get(), keep_z ? z.get() : nullptr, dinp.get(), dw.get(), db.get(), B, C, OC,
                                   activation, param, /*param2=*/0.0, lt_epilogue);
          });
          const double backward_us = time_on_device(warmup, iters, [&] {
            CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(dz.get(), ddout.get(), sizeof(T) * B * OC, cudaMemcpyDeviceToDevice));
            cuda::activation_backward_inplace<T>(dz.get(), a.get(), keep_z ? z.get() : nullptr, B * OC, activation,
                                                 param);
            cuda::linear_backward<T>(dx.get(), dweight.get(), dbias.get(), dz.get(), dinp.get(), dw.get(), B, C, OC,
                                     lt_epilogue);
          });
          py::dict out;
          out["forward_us"] = forward_us;
          out["backward_us"] = backward_us;
          return out;
        });
      },
      py::arg("inp"), py::arg("weight"), py::arg("bias"), py::arg("dout"), py::arg("act") = Activation::Relu,
      py::arg("param") = 0.0, py::arg("lt_epilogue") = true, py::arg("warmup") = 10, py::arg("iters") = 100);
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
  m.def(
      "runtime_version",
      [] {
        int v = 0;
        CHAINRULE_CUDA_CHECK(cudaRuntimeGetVersion(&v));
        return v;
      },
      "The CUDA runtime this module was linked with (static cudart), e.g. 13000.");
  m.def(
      "cublaslt_version", [] { return static_cast<int64_t>(cublasLtGetVersion()); },
      "The version of the cuBLASLt library loaded at run time.");
  cuda::bind_kinds(m, "Unary", "An elementwise op of unary_forward / unary_backward", cuda::kUnaryOps);
  cuda::bind_kinds(m, "Activation", "The activation of the dense-layer kernels", cuda::kActivations);
  cuda::bind_kinds(m, "Loss", "An elementwise loss of loss_forward / loss_backward", cuda::kLosses);
  cuda::bind_kernels(m);
  cuda::bind_timing(m);

  // The backend's host-side argument packing, for tests on any machine (no GPU involved).
  m.def(
      "_pack_broadcast",
      [](const Shape& out_shape, const std::vector<int64_t>& a_strides, const std::vector<int64_t>& b_strides) {
        const cuda::BroadcastArgs args = cuda::pack_broadcast(out_shape, a_strides, b_strides, "_pack_broadcast");
        py::dict out;
        out["ndim"] = args.ndim;
        out["numel"] = args.numel;
        out["shape"] = std::vector<int64_t>(args.shape, args.shape + args.ndim);
        out["a_stride"] = std::vector<int64_t>(args.a_stride, args.a_stride + args.ndim);
        out["b_stride"] = std::vector<int64_t>(args.b_stride, args.b_stride + args.ndim);
        return out;
      },
      py::arg("out_shape"), py::arg("a_strides"), py::arg("b_strides"),
      "The kernel argument a broadcast over out_shape packs into (a dict of its fields).");
  m.def(
      "_chunk_group",
      [](const std::vector<int64_t>& sizes) {
        py::list out;
        for (const cuda::GroupChunk& c : cuda::chunk_group(sizes))
          out.append(py::make_tuple(c.first, c.count, c.max_n));
        return out;
      },
      py::arg("sizes"),
      "(first, count, max_n) of each launch a multi-tensor optimizer step makes for tensors of these sizes.");
  m.attr("_group_chunk_tensors") = cuda::kGroupChunkTensors;

  // Registers CUDA as a device with _core (device.h), through the function _core hands out in a
  // capsule, so that tensors can live on the GPU from now on. Needs no GPU: the backend reports 0
  // devices where there is none, and touches the driver only when asked for memory or work.
  py::object registrar = py::module_::import("chainrule._core").attr("_device_backend_registrar");
  void* registrar_pointer = PyCapsule_GetPointer(registrar.ptr(), "chainrule._core.device_backend_registrar");
  if (!registrar_pointer) throw py::error_already_set();  // not the capsule this module was built against
  using Registrar = void (*)(DeviceType, const DeviceBackend*);
  reinterpret_cast<Registrar>(registrar_pointer)(DeviceType::CUDA, &cuda::the_cuda_backend());
  m.attr("_backend_registered") = true;
}
