// The fused dense chain: forward with bias+activation epilogues, backward as one node whose
// input-gradient GEMMs apply the previous layer's activation derivative and bias gradient in
// their epilogue. The separate passes (csrc/cpu/dense.cpp) stay as the reference.
#include "chainrule/dense_chain.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>

#include "chainrule/activation_math.h"
#include "chainrule/gemm.h"
#include "chainrule/letting_others_run.h"
#include "cpu/parallel.h"
#include "op_utils.h"

namespace chainrule {

using cpu::Activation;
using cpu::Trans;

namespace {
// Outputs up to this many elements stay in cache between the GEMM and its finishing pass, so
// their epilogue runs once over the whole matrix instead of once per strip of rows: on a small
// network the per-strip calls cost more than the arithmetic they do. The same function visits the
// same elements in the same row order, so the results are the same bits either way.
constexpr int64_t kFinishOnceElements = 1 << 14;

template <typename T>
void gemm_and_finish(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                     int64_t ldb, T* C, int64_t ldc, const cpu::GemmEpilogue<T>& epilogue) {
  if (epilogue.apply && M * N <= kFinishOnceElements) {
    cpu::gemm<T>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, false);
    epilogue.apply(epilogue.ctx, C, ldc, 0, 0, M, N);
  } else {
    cpu::gemm<T>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, false, epilogue);
  }
}
}  // namespace

Tensor Workspace::acquire(size_t slot, const int64_t* dims, size_t ndim, DType dtype, Device device) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  Tensor& t = slots_[slot];
  // use_count == 1: only this workspace refers to the block (no saved graph, no user view).
  if (t && t->dtype == dtype && t.use_count() == 1 && t->storage.use_count() == 1 && t->device() == device &&
      same_shape(t->shape, dims, ndim))
    return t;
  t = empty(Shape(dims, dims + ndim), dtype, device);
  return t;
}

namespace {
const char* stage_name(StageKind kind) {
  switch (kind) {
    case StageKind::Linear: return "Linear";
    case StageKind::BatchNorm: return "BatchNorm1d";
    case StageKind::LayerNorm: return "LayerNorm";
    case StageKind::Dropout: return "Dropout";
    case StageKind::Activation: return "activation";
    case StageKind::Softmax: return "Softmax";
    case StageKind::LogSoftmax: return "LogSoftmax";
  }
  return "stage";
}

bool is_norm(StageKind kind) { return kind == StageKind::BatchNorm || kind == StageKind::LayerNorm; }
bool is_softmax(StageKind kind) { return kind == StageKind::Softmax || kind == StageKind::LogSoftmax; }
}  // namespace

DenseChain::DenseChain(std::vector<ChainStage> stages) : stages_(std::move(stages)) {
  // Widths: a Linear maps C -> OC, a normalisation keeps its F, the others keep what they get.
  // Stages before the first one that knows its width take that stage's input width.
  int64_t width = -1;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const ChainStage& st = stages_[s];
    const std::string where = "DenseChain: stage " + std::to_string(s) + " (" + stage_name(st.kind) + ")";
    int64_t takes = -1, gives = -1;
    if (st.kind == StageKind::Linear) {
      if (!st.weight || st.weight->dim() != 2) throw ValueError(where + ": weight must be 2-D");
      takes = st.weight->shape[1];
      gives = st.weight->shape[0];
    } else if (is_norm(st.kind)) {
      if (st.features <= 0) throw ValueError(where + ": features must be positive");
      takes = gives = st.features;
      for (const Tensor* t : {&st.weight, &st.bias, &st.running_mean, &st.running_var})
        if (*t && ((*t)->dim() != 1 || (*t)->shape[0] != st.features))
          throw ValueError(where + ": its parameters and running statistics must have shape (" +
                           std::to_string(st.features) + ")");
      if (st.kind == StageKind::BatchNorm && (!st.running_mean != !st.running_var))
        throw ValueError(where + ": running_mean and running_var must both be given or both be None");
    } else if (st.kind == StageKind::Dropout && !(st.p >= 0 && st.p <= 1)) {
      throw ValueError(where + ": p must be in [0, 1]");
    }
    flops_per_row_ += st.kind == StageKind::Linear ? 2 * takes * gives : 8 * std::max<int64_t>(width, 0);
    if (st.kind == StageKind::Linear)
      largest_gemm_flops_per_row_ = std::max(largest_gemm_flops_per_row_, 2 * takes * gives);
    widest_stage_ = std::max({widest_stage_, takes, gives});
    if (takes >= 0) {
      if (width >= 0 && takes != width)
        throw ValueError(where + " takes " + std::to_string(takes) + " features but the stage before gives " +
                         std::to_string(width));
      if (width < 0) in_features_ = takes;
      width = gives;
    }
  }
  if (width < 0) throw ValueError("DenseChain: at least one stage must be a Linear layer or a normalisation");
  out_features_ = width;
  for (const ChainStage& st : stages_) {
    has_batch_norm_ = has_batch_norm_ || st.kind == StageKind::BatchNorm;
    has_statistics_ = has_statistics_ || (st.kind != StageKind::Linear && st.kind != StageKind::Activation);
  }
}

namespace {
// Below these, a chain's call runs serially (DenseChain::runs_serially): a GEMM of 8 MFLOP takes
// well under 100 us on one core, and elementwise passes of up to 2^17 elements a few tens of us.
constexpr double kSerialChainGemmFlops = 8.0e6;
constexpr int64_t kSerialChainElements = int64_t(1) << 17;
}  // namespace

bool DenseChain::runs_serially(int64_t rows) const {
  return static_cast<double>(rows) * static_cast<double>(largest_gemm_flops_per_row_) < kSerialChainGemmFlops &&
         static_cast<double>(rows) * static_cast<double>(widest_stage_) < static_cast<double>(kSerialChainElements);
}

bool DenseChain::uses_batch_statistics() const {
  if (!has_batch_norm_) return false;
  for (const ChainStage& st : stages_)
    if (st.kind == StageKind::BatchNorm && (st.training || !st.running_mean)) return true;
  return false;
}

void DenseChain::set_training(const std::vector<bool>& training) {
  if (training.size() != stages_.size())
    throw ValueError("DenseChain.set_training: one flag per stage expected (" + std::to_string(stages_.size()) +
                     "), got " + std::to_string(training.size()));
  auto lock = lock_letting_others_run(mutex_);
  for (size_t s = 0; s < stages_.size(); ++s) stages_[s].training = training[s];
}

void DenseChain::check_batch_rows(int64_t rows, const Shape& shape) const {
  if (rows <= 1 && uses_batch_statistics())
    throw ValueError("Expected more than 1 value per channel when training, got input size " + shape_str(shape));
}

void DenseChain::check_input(const Tensor& input) const {
  // Parameters are read at every call: they may have been re-pointed (.data =) or converted.
  const DType dtype = input->dtype;
  DType params_dtype = dtype;
  bool have_dtype = false;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const ChainStage& st = stages_[s];
    for (const Tensor* t : {&st.weight, &st.bias, &st.running_mean, &st.running_var}) {
      if (!*t) continue;
      // Every parameter and running statistic on the input's device, or PyTorch's error (a device
      // model given host data would otherwise fail in the first kernel that reads a parameter).
      if ((*t)->device() != input->device()) check_same_device("Sequential", {&input, t});
      if (!have_dtype) {
        params_dtype = (*t)->dtype;
        have_dtype = true;
      } else if ((*t)->dtype != params_dtype) {
        throw TypeError("Sequential: all layers must have one dtype; layer " + std::to_string(s) + " is " +
                        dtype_name((*t)->dtype) + " but an earlier one is " + dtype_name(params_dtype));
      }
    }
    const bool linear_ok =
        st.kind != StageKind::Linear ||
        (st.weight->dim() == 2 && (!st.bias || (st.bias->dim() == 1 && st.bias->shape[0] == st.weight->shape[0])));
    bool norm_ok = true;
    if (is_norm(st.kind))
      for (const Tensor* t : {&st.weight, &st.bias, &st.running_mean, &st.running_var})
        if (*t && ((*t)->dim() != 1 || (*t)->shape[0] != st.features)) norm_ok = false;
    if (!linear_ok || !norm_ok)
      throw ValueError("Sequential: the shape of layer " + std::to_string(s) + "'s parameters changed to " +
                       shape_str(st.weight ? st.weight->shape : Shape{}) + " and no longer chains with its neighbours");
  }
  // The Linear widths are checked again: a weight may have been re-pointed since the chain was built.
  int64_t width = in_features_;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const ChainStage& st = stages_[s];
    if (st.kind != StageKind::Linear) continue;
    if (st.weight->shape[1] != width && s > 0)
      throw ValueError("Sequential: the shape of layer " + std::to_string(s) + "'s parameters changed to " +
                       shape_str(st.weight->shape) + " and no longer chains with its neighbours");
    width = st.weight->shape[0];
  }
  const int64_t C = in_features();
  if (input->dim() < 1 || input->shape.back() != C) {
    const ChainStage& first = stages_.front();
    if (first.kind == StageKind::Linear)
      throw ValueError("linear: input has shape " + shape_str(input->shape) + " but weight has shape " +
                       shape_str(first.weight->shape) +
                       "; the input's last dimension must be in_features=" + std::to_string(C));
    throw ValueError("Sequential: input has shape " + shape_str(input->shape) + " but the first layer takes " +
                     std::to_string(C) + " features in its last dimension");
  }
  if (have_dtype && input->dtype != params_dtype)
    throw TypeError(std::string("linear: input is ") + dtype_name(input->dtype) + " but weight is " +
                    dtype_name(params_dtype) + "; convert one with .to(dtype)");
  if (!is_floating(dtype))
    throw TypeError(std::string("Sequential: input must be a floating point tensor, got ") + dtype_name(dtype));
}

void DenseChain::update_running_stats(const ChainStage& st, const Tensor& stats, int64_t rows) {
  if (!stats->on_cpu()) return update_running_stats_on_device(st, stats, rows);
  // PyTorch's update, in the parameters' dtype: running = (1 - f) running + f batch, with the
  // unbiased batch variance; f = momentum, or 1 / num_batches_tracked for the cumulative average.
  int64_t& batches = *st.num_batches_tracked->ptr<int64_t>();
  batches += 1;
  const double factor = st.momentum < 0 ? 1.0 / static_cast<double>(batches) : st.momentum;
  ops::dispatch_floating(st.running_mean->dtype, "BatchNorm1d", "running_mean", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t F = st.features;
    const T* mean = stats->ptr<T>();
    const T* var = mean + 2 * F;  // the biased batch variance
    T* rm = st.running_mean->ptr<T>();
    T* rv = st.running_var->ptr<T>();
    const T keep = static_cast<T>(1.0 - factor), f = static_cast<T>(factor);
    const T unbias = static_cast<T>(static_cast<double>(rows) / static_cast<double>(rows - 1));
    for (int64_t i = 0; i < F; ++i) {
      rm[i] = rm[i] * keep + f * mean[i];
      rv[i] = rv[i] * keep + f * (var[i] * unbias);
    }
  });
}

void DenseChain::update_running_stats_on_device(const ChainStage& st, const Tensor& stats, int64_t rows) {
  // The host loop's arithmetic, operation for operation, as elementwise ops on the device (so the
  // same bits): running = running (1 - f) + f batch, with the unbiased batch variance. Nothing
  // is read back: the batch counter is incremented on the device too, through float64 (exact
  // below 2^53 batches), as the device has no int64 arithmetic. The cumulative average (momentum
  // < 0) needs the counter on the host and is refused before the forward.
  using cpu::Binary;
  const int64_t F = st.features;
  const double factor = st.momentum;
  const Tensor mean = alias(stats, {F}, 0);
  const Tensor var = alias(stats, {F}, 2 * F);  // the biased batch variance
  const Tensor keep = ops::scalar_like(1.0 - factor, stats), f = ops::scalar_like(factor, stats);
  const Tensor unbias = ops::scalar_like(static_cast<double>(rows) / static_cast<double>(rows - 1), stats);
  const Tensor new_mean =
      ops::binary(Binary::Add, ops::binary(Binary::Mul, st.running_mean, keep), ops::binary(Binary::Mul, f, mean));
  const Tensor new_var = ops::binary(Binary::Add, ops::binary(Binary::Mul, st.running_var, keep),
                                     ops::binary(Binary::Mul, f, ops::binary(Binary::Mul, var, unbias)));
  copy_data(st.running_mean, new_mean);
  copy_data(st.running_var, new_var);
  const Tensor& batches = st.num_batches_tracked;
  const Tensor counted =
      ops::binary(Binary::Add, ops::cast(batches, DType::Float64), full({}, 1.0, DType::Float64, batches->device()));
  copy_data(batches, ops::cast(counted, DType::Int64));
}

void DenseChain::forward_into(Activations& acts, const Tensor& input) {
  if (!input->on_cpu()) return forward_on_device(acts, input);
  const size_t S = stages_.size();
  const DType dtype = input->dtype;
  const int64_t B = input->shape[0];  // input is (B, C0); C0 may be 0
  acts.a.assign(S + 1, nullptr);
  acts.z.assign(S, nullptr);
  // Only normalisation and dropout stages keep statistics or masks (small networks of Linear
  // layers and activations skip the two allocations).
  acts.stats.assign(has_statistics_ ? S : 0, nullptr);
  acts.batch_statistics.assign(has_statistics_ ? S : 0, false);
  acts.a[0] = input;
  const cpu::SerialRegions serial(runs_serially(B));
  ops::dispatch_floating(dtype, "Sequential", "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t width = in_features_;
    for (size_t s = 0; s < S; ++s) {
      const ChainStage& st = stages_[s];
      const Tensor& x = acts.a[s];
      // A (log-)softmax's backward reads its own output: with an activation after it, that output
      // is the activation's input, kept as z.
      const bool keep_z = !cpu::activation_derivative_from_output(st.act, st.act_param) ||
                          (is_softmax(st.kind) && st.act != Activation::Identity);
      const T* gamma = st.weight && st.kind != StageKind::Linear ? st.weight->ptr<T>() : nullptr;
      const T* beta = st.bias && st.kind != StageKind::Linear ? st.bias->ptr<T>() : nullptr;
      if (st.kind == StageKind::Linear) {
        const int64_t C = st.weight->shape[1], OC = st.weight->shape[0];
        width = OC;
        Tensor out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, OC}, dtype);
        Tensor z =
            keep_z ? workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kPreActivation), {B, OC}, dtype) : nullptr;
        // out (B, OC) = act(x (B, C) W^T + bias), with z = the pre-activation when it is kept: bias,
        // copy and activation run in the GEMM's epilogue on each strip of out while it is in cache,
        // or, for a layer of a few features, in registers in one small-layer call.
        if (cpu::small_linear_fits<T>(B, C, OC)) {
          cpu::small_linear_forward<T>(out->ptr<T>(), z ? z->ptr<T>() : nullptr, x->ptr<T>(), st.weight->ptr<T>(),
                                       st.bias ? st.bias->ptr<T>() : nullptr, B, C, OC, st.act, st.act_param,
                                       st.act_param2);
          acts.a[s + 1] = out;
          acts.z[s] = z;
          continue;
        }
        const cpu::BiasActivationEpilogue<T> finish{
            st.bias ? st.bias->ptr<T>() : nullptr, z ? z->ptr<T>() : nullptr, OC, st.act, st.act_param, st.act_param2};
        cpu::GemmEpilogue<T> epilogue;
        if (finish.bias || finish.z || finish.act != Activation::Identity) {
          epilogue.apply = cpu::bias_activation_epilogue<T>;
          epilogue.ctx = &finish;
        }
        gemm_and_finish<T>(Trans::No, Trans::Yes, B, OC, C, x->ptr<T>(), C, st.weight->ptr<T>(), C, out->ptr<T>(), OC,
                           epilogue);
        acts.a[s + 1] = out;
        acts.z[s] = z;
        continue;
      }
      const int64_t F = width;
      Tensor out;  // the stage's output before its activation
      if (st.kind == StageKind::BatchNorm) {
        const bool batch_stats = st.training || !st.running_mean;
        // stats (3, F): mean, rstd and the biased batch variance.
        Tensor stats = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kStatistics), {3, F}, dtype);
        out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, F}, dtype);
        T* mean = stats->ptr<T>();
        cpu::batch_norm_forward<T>(out->ptr<T>(), mean, mean + F, mean + 2 * F, x->ptr<T>(), gamma, beta,
                                   st.running_mean ? st.running_mean->ptr<T>() : nullptr,
                                   st.running_var ? st.running_var->ptr<T>() : nullptr, B, F, st.eps, batch_stats);
        if (st.training && st.running_mean) update_running_stats(st, stats, B);
        acts.stats[s] = stats;
        acts.batch_statistics[s] = batch_stats;
      } else if (st.kind == StageKind::LayerNorm) {
        Tensor stats = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kStatistics), {2, B}, dtype);
        out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, F}, dtype);
        cpu::layer_norm_forward<T>(out->ptr<T>(), stats->ptr<T>(), stats->ptr<T>() + B, x->ptr<T>(), gamma, beta, B, F,
                                   st.eps);
        acts.stats[s] = stats;
      } else if (is_softmax(st.kind)) {
        out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, F}, dtype);
        cpu::softmax_forward<T>(out->ptr<T>(), x->ptr<T>(), B, F, 1, st.kind == StageKind::LogSoftmax);
      } else if (!st.is_identity()) {  // Dropout while training: the mask from chainrule's generator
        Tensor mask = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kStatistics), {B, F}, dtype);
        fill_uniform(mask, 0.0, 1.0);
        out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, F}, dtype);
        cpu::dropout_forward<T>(out->ptr<T>(), mask->ptr<T>(), x->ptr<T>(), B * F, st.p);
        acts.stats[s] = mask;
      }
      if (st.act == Activation::Identity) {
        acts.a[s + 1] = out ? out : x;  // an identity stage passes its input on
        continue;
      }
      if (!out) {  // an identity stage with an activation: its input is the pre-activation
        out = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kOutput), {B, F}, dtype);
        if (B * F > 0) std::memcpy(out->ptr<T>(), x->ptr<T>(), sizeof(T) * B * F);
        acts.z[s] = keep_z ? x : nullptr;
        cpu::bias_activation_forward<T>(out->ptr<T>(), nullptr, nullptr, B, F, st.act, st.act_param, st.act_param2);
      } else {
        Tensor z =
            keep_z ? workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kPreActivation), {B, F}, dtype) : nullptr;
        cpu::bias_activation_forward<T>(out->ptr<T>(), z ? z->ptr<T>() : nullptr, nullptr, B, F, st.act, st.act_param,
                                        st.act_param2);
        acts.z[s] = z;
      }
      acts.a[s + 1] = out;
    }
  });
}

namespace {
// The elementwise op that computes `act` on a device, for the activations that have one.
std::optional<cpu::Unary> unary_of(Activation act) {
  switch (act) {
    case Activation::Relu: return cpu::Unary::Relu;
    case Activation::Sigmoid: return cpu::Unary::Sigmoid;
    case Activation::Tanh: return cpu::Unary::Tanh;
    case Activation::LeakyRelu: return cpu::Unary::LeakyRelu;
    case Activation::Gelu: return cpu::Unary::Gelu;
    case Activation::GeluTanh: return cpu::Unary::GeluTanh;
    default: return std::nullopt;
  }
}
}  // namespace

void DenseChain::forward_on_device(Activations& acts, const Tensor& input) {
  const size_t S = stages_.size();
  const DType dtype = input->dtype;
  const Device device = input->device();
  const int64_t B = input->shape[0];
  const DeviceKernels& k = ops::float_kernels(input, "Sequential");
  // What has no device path yet is refused before any work.
  for (const ChainStage& st : stages_) {  // (check_input has checked their devices)
    if (st.kind == StageKind::BatchNorm && st.training && st.running_mean && st.momentum < 0)
      throw NotImplementedError("Sequential: BatchNorm1d(momentum=None) in training mode has no implementation on " +
                                device_str(device) +
                                " yet (its cumulative average); use a momentum, eval() or the CPU");
    if (st.kind != StageKind::Linear && st.act != Activation::Identity && !unary_of(st.act))
      throw NotImplementedError("Sequential: this activation after a " + std::string(stage_name(st.kind)) +
                                " stage has no implementation on " + device_str(device) + " yet");
  }
  acts.a.assign(S + 1, nullptr);
  acts.z.assign(S, nullptr);
  acts.stats.assign(has_statistics_ ? S : 0, nullptr);
  acts.batch_statistics.assign(has_statistics_ ? S : 0, false);
  acts.a[0] = input;
  auto buffer = [&](size_t s, ChainSlots::Buffer kind, const Shape& shape) {
    return workspace_.acquire(ChainSlots::buffer(s, kind), shape, dtype, device);
  };
  auto data = [](const Tensor& t) -> void* { return t ? t->data : nullptr; };
  int64_t width = in_features_;
  for (size_t s = 0; s < S; ++s) {
    const ChainStage& st = stages_[s];
    const Tensor& x = acts.a[s];
    const bool keep_z = !cpu::activation_derivative_from_output(st.act, st.act_param) ||
                        (is_softmax(st.kind) && st.act != Activation::Identity);
    if (st.kind == StageKind::Linear) {
      const int64_t C = st.weight->shape[1], OC = st.weight->shape[0];
      width = OC;
      Tensor out = buffer(s, ChainSlots::kOutput, {B, OC});
      Tensor z = keep_z ? buffer(s, ChainSlots::kPreActivation, {B, OC}) : nullptr;
      k.dense_forward(dtype, out->data, data(z), x->data, st.weight->data, data(st.bias), B, C, OC, st.act,
                      st.act_param, st.act_param2);
      acts.a[s + 1] = out;
      acts.z[s] = z;
      continue;
    }
    const int64_t F = width;
    Tensor out;  // the stage's output before its activation
    if (st.kind == StageKind::BatchNorm) {
      Tensor stats = buffer(s, ChainSlots::kStatistics, {3, F});
      out = buffer(s, ChainSlots::kOutput, {B, F});
      char* mean = static_cast<char*>(stats->data);
      const size_t row = static_cast<size_t>(F) * itemsize(dtype);
      const bool batch_stats = st.training || !st.running_mean;
      k.batch_norm_forward(dtype, out->data, mean, mean + row, mean + 2 * row, x->data, data(st.weight), data(st.bias),
                           data(st.running_mean), data(st.running_var), B, F, st.eps, batch_stats);
      if (st.training && st.running_mean) update_running_stats(st, stats, B);
      acts.stats[s] = stats;
      acts.batch_statistics[s] = batch_stats;
    } else if (st.kind == StageKind::LayerNorm) {
      Tensor stats = buffer(s, ChainSlots::kStatistics, {2, B});
      out = buffer(s, ChainSlots::kOutput, {B, F});
      char* mean = static_cast<char*>(stats->data);
      k.layer_norm_forward(dtype, out->data, mean, mean + static_cast<size_t>(B) * itemsize(dtype), x->data,
                           data(st.weight), data(st.bias), B, F, st.eps);
      acts.stats[s] = stats;
    } else if (is_softmax(st.kind)) {
      out = buffer(s, ChainSlots::kOutput, {B, F});
      k.softmax_forward(dtype, out->data, x->data, B, F, 1, st.kind == StageKind::LogSoftmax);
    } else if (!st.is_identity()) {  // Dropout while training: the mask drawn on the host, as on the CPU
      Tensor mask = buffer(s, ChainSlots::kStatistics, {B, F});
      fill_uniform(mask, 0.0, 1.0);
      out = buffer(s, ChainSlots::kOutput, {B, F});
      k.dropout_forward(dtype, out->data, mask->data, x->data, B * F, st.p);
      acts.stats[s] = mask;
    }
    if (st.act == Activation::Identity) {
      acts.a[s + 1] = out ? out : x;
      continue;
    }
    // The activation after a stage without a GEMM: its own pass, the stage's result kept as z.
    const Tensor& pre = out ? out : x;
    Tensor activated = buffer(s, out ? ChainSlots::kPreActivation : ChainSlots::kOutput, {B, F});
    k.unary_forward(dtype, activated->data, pre->data, B * F, *unary_of(st.act), st.act_param);
    acts.z[s] = keep_z ? pre : nullptr;
    acts.a[s + 1] = activated;
  }
}

void DenseChain::backward_on_device(const Activations& acts, const Tensor& dout, const Tensor& dinput) {
  const size_t S = stages_.size();
  const DType dtype = dout->dtype;
  const Device device = dout->device();
  const int64_t B = acts.a[0]->shape[0];
  const DeviceKernels& k = ops::float_kernels(dout, "Sequential backward");
  auto data = [](const Tensor& t) -> void* { return t ? t->data : nullptr; };
  // Where a parameter's gradient goes (null when not wanted); acc says whether to add into it.
  auto param_grad = [&](size_t s, ChainSlots::Param which, const Tensor& param, bool& acc) -> Tensor {
    acc = false;
    if (!param || !param->requires_grad) return nullptr;
    return grad_target(s, which, param, acc);
  };
  // dst (+)= the gradient a kernel writes into `fresh`, for kernels that only write.
  auto write_or_add = [&](const Tensor& dst, bool acc, const std::function<void(void*)>& compute) {
    if (!acc) return compute(dst->data);
    Tensor fresh = empty(dst->shape, dtype, device);
    compute(fresh->data);
    cpu::Broadcast same;
    cpu::make_broadcast(dst->shape, dst->shape, same);
    k.binary_forward(dtype, dst->data, dst->data, fresh->data, same, cpu::Binary::Add);
  };
  Tensor delta = dout;
  bool owns_delta = false;  // delta is ours to overwrite (not the caller's gradient)
  for (size_t s = S; s-- > 0;) {
    const ChainStage& st = stages_[s];
    const int64_t F = acts.a[s + 1]->shape[1];
    const int64_t C = acts.a[s]->shape[1];
    if (st.act != Activation::Identity) {
      if (!owns_delta) {  // the caller's gradient: copied into a slot past the last stage's
        Tensor copy = workspace_.acquire(ChainSlots::buffer(S, ChainSlots::kDelta), {B, F}, dtype, device);
        copy_data(copy, delta);
        delta = copy;
        owns_delta = true;
      }
      k.activation_backward_inplace(dtype, delta->data, acts.a[s + 1]->data, data(acts.z[s]), B * F, st.act,
                                    st.act_param, st.act_param2);
    }
    const bool want_input_grad = s > 0 || dinput;
    if (st.kind == StageKind::Linear) {
      bool acc = false;
      if (Tensor db = param_grad(s, ChainSlots::kBias, st.bias, acc))
        k.bias_grad(dtype, db->data, delta->data, B, F, acc);
      if (Tensor dW = param_grad(s, ChainSlots::kWeight, st.weight, acc))
        write_or_add(dW, acc, [&](void* out) {
          k.linear_backward(dtype, nullptr, out, nullptr, delta->data, acts.a[s]->data, st.weight->data, B, C, F);
        });
      if (!want_input_grad) continue;
      Tensor next =
          s > 0 ? workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kDelta), {B, C}, dtype, device) : dinput;
      k.linear_backward(dtype, next->data, nullptr, nullptr, delta->data, acts.a[s]->data, st.weight->data, B, C, F);
      delta = next;
      owns_delta = s > 0;
      continue;
    }
    Tensor dx = s > 0 ? workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kDelta), {B, F}, dtype, device) : dinput;
    if (is_norm(st.kind)) {
      bool g_acc = false, b_acc = false;
      Tensor dgamma = param_grad(s, ChainSlots::kWeight, st.weight, g_acc);
      Tensor dbeta = param_grad(s, ChainSlots::kBias, st.bias, b_acc);
      if (dgamma && dbeta && g_acc != b_acc) {  // the kernels write or add both alike
        if (!g_acc) k.fill(dtype, dgamma->data, F, 0.0);
        if (!b_acc) k.fill(dtype, dbeta->data, F, 0.0);
        g_acc = b_acc = true;
      }
      const bool acc = dgamma ? g_acc : b_acc;
      const char* mean = static_cast<const char*>(acts.stats[s]->data);
      if (st.kind == StageKind::BatchNorm)
        k.batch_norm_backward(dtype, data(dx), data(dgamma), data(dbeta), delta->data, acts.a[s]->data, mean,
                              mean + static_cast<size_t>(F) * itemsize(dtype), data(st.weight), B, F,
                              acts.batch_statistics[s], acc);
      else
        k.layer_norm_backward(dtype, data(dx), data(dgamma), data(dbeta), delta->data, acts.a[s]->data, mean,
                              mean + static_cast<size_t>(B) * itemsize(dtype), data(st.weight), B, F, acc);
    } else if (is_softmax(st.kind)) {
      if (dx) {  // y: the stage's output before its activation
        const Tensor& y = st.act == Activation::Identity ? acts.a[s + 1] : acts.z[s];
        k.softmax_backward(dtype, dx->data, delta->data, y->data, B, F, 1, st.kind == StageKind::LogSoftmax);
      }
    } else if (want_input_grad) {
      if (!acts.stats.empty() && acts.stats[s])
        k.dropout_backward(dtype, dx->data, delta->data, acts.stats[s]->data, B * F);
      else
        copy_data(dx, delta);
    }
    if (!want_input_grad) continue;
    delta = dx;
    owns_delta = s > 0;
  }
}

Tensor DenseChain::grad_target(size_t stage, ChainSlots::Param which, const Tensor& param, bool& accumulate) {
  // A gradient that zero_grad() dropped comes back from the workspace: no allocation per step,
  // and for big layers no fresh pages to fault in. One still referenced elsewhere (a NumPy view,
  // a name the caller kept) is never handed out again.
  const LeafGradDestination dest = leaf_grad_destination(param, [&] {
    return grad_workspace_.acquire(ChainSlots::param(stage, which), param->shape, param->dtype, param->device());
  });
  accumulate = dest.add;
  mark_inplace_write(dest.grad, "Sequential backward");
  return dest.grad;
}

void DenseChain::backward_from(const Activations& acts, const Tensor& dout, const Tensor& dinput) {
  if (!dout->on_cpu()) return backward_on_device(acts, dout, dinput);
  const size_t S = stages_.size();
  const DType dtype = dout->dtype;
  const int64_t B = acts.a[0]->shape[0];
  const cpu::SerialRegions serial(runs_serially(B));
  ops::dispatch_floating(dtype, "Sequential backward", "grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Where a parameter's gradient goes: null when it is not wanted; acc says write or add.
    auto param_grad = [&](size_t s, ChainSlots::Param which, const Tensor& param, bool& acc) -> T* {
      acc = false;
      if (!param || !param->requires_grad) return nullptr;
      return grad_target(s, which, param, acc)->template ptr<T>();
    };
    auto width_of = [&](size_t s) { return acts.a[s + 1]->shape[1]; };
    // delta (B, width of stage s's output): dL/d(output of stage s). Once a Linear's input-gradient
    // GEMM has applied the previous stage's activation derivative (and a Linear's bias gradient)
    // in its epilogue, `activated` says so.
    Tensor delta = dout;
    bool activated = false;
    for (size_t s = S; s-- > 0;) {
      const ChainStage& st = stages_[s];
      const int64_t F = width_of(s);
      if (!activated) {
        if (st.kind == StageKind::Linear) {
          // delta = dL/da * act'(z) and dL/db in one pass over delta.
          bool acc = false;
          T* db = param_grad(s, ChainSlots::kBias, st.bias, acc);
          if (db || st.act != Activation::Identity)
            cpu::activation_backward_bias_grad<T>(delta->ptr<T>(), db, acts.a[s + 1]->ptr<T>(),
                                                  acts.z[s] ? acts.z[s]->ptr<T>() : nullptr, B, F, st.act, st.act_param,
                                                  acc, st.act_param2);
        } else if (st.act != Activation::Identity) {
          cpu::activation_backward_inplace<T>(delta->ptr<T>(), acts.a[s + 1]->ptr<T>(),
                                              acts.z[s] ? acts.z[s]->ptr<T>() : nullptr, B * F, st.act, st.act_param,
                                              st.act_param2);
        }
      }
      activated = false;
      const bool want_input_grad = s > 0 || dinput;
      const int64_t C = acts.a[s]->shape[1];
      if (st.kind == StageKind::Linear) {
        const int64_t OC = F;
        // dL/dW = delta^T x
        bool acc = false;
        const bool small = cpu::small_linear_fits<T>(B, C, OC);
        if (T* dW = param_grad(s, ChainSlots::kWeight, st.weight, acc)) {
          if (cpu::small_linear_weight_grad_fits<T>(B, C, OC))
            cpu::small_linear_weight_grad<T>(dW, delta->ptr<T>(), acts.a[s]->ptr<T>(), B, C, OC, acc);
          else
            cpu::gemm<T>(Trans::Yes, Trans::No, OC, C, B, delta->ptr<T>(), OC, acts.a[s]->ptr<T>(), C, dW, C, acc);
        }
        if (s > 0) {
          // dL/d(output of s-1) = delta W, with stage s-1's activation derivative (and, for a
          // Linear, its bias gradient as column sums) in the epilogue of that GEMM.
          const ChainStage& prev = stages_[s - 1];
          bool db_acc = false;
          T* db = prev.kind == StageKind::Linear ? param_grad(s - 1, ChainSlots::kBias, prev.bias, db_acc) : nullptr;
          if (db && !db_acc) std::memset(db, 0, sizeof(T) * C);
          Tensor next = workspace_.acquire(ChainSlots::buffer(s, ChainSlots::kDelta), {B, C}, dtype);
          if (small) {
            cpu::small_linear_input_grad<T>(next->ptr<T>(), db, delta->ptr<T>(), st.weight->ptr<T>(),
                                            acts.a[s]->ptr<T>(), acts.z[s - 1] ? acts.z[s - 1]->ptr<T>() : nullptr, B,
                                            C, OC, prev.act, prev.act_param, prev.act_param2);
            delta = next;
            activated = true;
            continue;
          }
          const cpu::ActivationBackwardEpilogue<T> finish{
              acts.a[s]->ptr<T>(), acts.z[s - 1] ? acts.z[s - 1]->ptr<T>() : nullptr, C, prev.act, prev.act_param, db,
              prev.act_param2};
          cpu::GemmEpilogue<T> epilogue;
          if (db || prev.act != Activation::Identity) {
            epilogue.apply = cpu::activation_backward_epilogue<T>;
            epilogue.ctx = &finish;
            epilogue.sums_over_rows = db != nullptr;
          }
          gemm_and_finish<T>(Trans::No, Trans::No, B, C, OC, delta->ptr<T>(), OC, st.weight->ptr<T>(), C,
                             next->ptr<T>(), C, epilogue);
          delta = next;
          activated = true;
        } else if (dinput) {
          // dL/dx = delta W
          if (small)
            cpu::small_linear_input_grad<T>(dinput->ptr<T>(), nullptr, delta->ptr<T>(), st.weight->ptr<T>(), nullptr,
                                            nullptr, B, C, OC, Activation::Identity, 0);
          else
            cpu::gemm<T>(Trans::No, Trans::No, B, C, OC, delta->ptr<T>(), OC, st.weight->ptr<T>(), C, dinput->ptr<T>(),
                         C, false);
        }
        continue;
      }
      // The other stages keep the width; their input gradient overwrites delta in place (each
      // kernel reads a row or a column of delta before it writes it), or lands in dinput.
      T* dx = s > 0 ? delta->ptr<T>() : (dinput ? dinput->ptr<T>() : nullptr);
      const T* gamma = st.weight ? st.weight->ptr<T>() : nullptr;
      if (is_norm(st.kind)) {
        bool g_acc = false, b_acc = false;
        T* dgamma = param_grad(s, ChainSlots::kWeight, st.weight, g_acc);
        T* dbeta = param_grad(s, ChainSlots::kBias, st.bias, b_acc);
        // The kernels write or add both gradients alike: a .grad to add into and a fresh one
        // cannot both occur unless one was dropped alone, so the fresh one is zeroed first.
        if (dgamma && dbeta && g_acc != b_acc) {
          if (!g_acc) std::memset(dgamma, 0, sizeof(T) * F);
          if (!b_acc) std::memset(dbeta, 0, sizeof(T) * F);
          g_acc = b_acc = true;
        }
        const bool acc = dgamma ? g_acc : b_acc;
        const T* mean = acts.stats[s]->ptr<T>();
        if (st.kind == StageKind::BatchNorm)
          cpu::batch_norm_backward<T>(dx, dgamma, dbeta, delta->ptr<T>(), acts.a[s]->ptr<T>(), mean, mean + F, gamma, B,
                                      F, acts.batch_statistics[s], acc);
        else
          cpu::layer_norm_backward<T>(dx, dgamma, dbeta, delta->ptr<T>(), acts.a[s]->ptr<T>(), mean, mean + B, gamma, B,
                                      F, acc);
      } else if (is_softmax(st.kind)) {
        if (dx) {  // y: the stage's output before its activation
          const Tensor& y = st.act == Activation::Identity ? acts.a[s + 1] : acts.z[s];
          cpu::softmax_backward<T>(dx, delta->ptr<T>(), y->ptr<T>(), B, F, 1, st.kind == StageKind::LogSoftmax);
        }
      } else if (want_input_grad) {
        if (!acts.stats.empty() && acts.stats[s])  // a Dropout that dropped (its mode may have changed since)
          cpu::dropout_backward<T>(dx, delta->ptr<T>(), acts.stats[s]->ptr<T>(), B * F);
        else if (s == 0 && B * F > 0)
          std::memcpy(dx, delta->ptr<T>(), sizeof(T) * B * F);
      }
    }
  });
}

namespace {
// The layers' rows of (B, C) views: the product of every dimension but the last, which may be 0
// (computed in place: building the shape of the leading dimensions cost an allocation per call).
int64_t leading_rows(const Shape& shape) {
  const size_t leading = shape.empty() ? 0 : shape.size() - 1;
  // As shape_numel: a 0 extent makes 0 before any product of the others (which may be huge).
  for (size_t d = 0; d < leading; ++d)
    if (shape[d] == 0) return 0;
  int64_t rows = 1;
  for (size_t d = 0; d < leading; ++d) rows *= shape[d];
  return rows;
}

// ---- the chain again from recordable ops, for backward_graph ------------------------------------
Tensor constant(double v, const Tensor& like) { return ops::scalar_like(v, like); }
Tensor add(const Tensor& a, const Tensor& b) { return ops::binary(cpu::Binary::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return ops::binary(cpu::Binary::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return ops::binary(cpu::Binary::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return ops::binary(cpu::Binary::Div, a, b); }
Tensor unary(cpu::Unary op, const Tensor& x) { return ops::unary(op, x); }
// A 0/1 mask of `condition` in x's dtype, without a gradient (a branch taken per element).
Tensor mask_of(cpu::Compare op, const Tensor& x, double v) {
  return ops::cast(ops::compare(op, ops::detach(x), constant(v, x)), x->dtype);
}
Tensor negative_part(const Tensor& x) { return sub(x, unary(cpu::Unary::Relu, x)); }  // min(x, 0)
Tensor elu_graph(const Tensor& x, double alpha, double input_scale) {
  // relu(x) + alpha (exp(min(x, 0) * input_scale) - 1)
  Tensor e = unary(cpu::Unary::Exp, mul(negative_part(x), constant(input_scale, x)));
  return add(unary(cpu::Unary::Relu, x), mul(sub(e, constant(1, x)), constant(alpha, x)));
}
Tensor softplus_graph(const Tensor& x, double beta, double threshold) {
  Tensor bx = mul(x, constant(beta, x));
  Tensor tail = unary(cpu::Unary::Log1p, unary(cpu::Unary::Exp, unary(cpu::Unary::Neg, unary(cpu::Unary::Abs, bx))));
  Tensor smooth = div(add(unary(cpu::Unary::Relu, bx), tail), constant(beta, x));
  Tensor linear = mask_of(cpu::Compare::Gt, bx, threshold);
  return add(mul(x, linear), mul(smooth, sub(constant(1, x), linear)));
}

Tensor activation_graph(const Tensor& x, Activation act, double p1, double p2) {
  switch (act) {
    case Activation::Identity:
    case Activation::Relu:
    case Activation::Sigmoid:
    case Activation::Tanh:
    case Activation::LeakyRelu:
    case Activation::Gelu:
    case Activation::GeluTanh: return ops::activation(x, act, p1);
    case Activation::Silu: return mul(x, unary(cpu::Unary::Sigmoid, x));
    case Activation::Elu: return elu_graph(x, p1, 1.0);
    case Activation::Selu: return mul(elu_graph(x, cpu::act::kSeluAlpha, 1.0), constant(cpu::act::kSeluScale, x));
    case Activation::Celu: return elu_graph(x, p1, 1.0 / p1);
    case Activation::Softplus: return softplus_graph(x, p1, p2);
    case Activation::Mish: return mul(x, unary(cpu::Unary::Tanh, softplus_graph(x, 1.0, 20.0)));
    case Activation::Hardtanh: {
      Tensor inside = mul(mask_of(cpu::Compare::Gt, x, p1), mask_of(cpu::Compare::Lt, x, p2));
      Tensor low = mul(mask_of(cpu::Compare::Le, x, p1), constant(p1, x));
      Tensor high = mul(mask_of(cpu::Compare::Ge, x, p2), constant(p2, x));
      return add(mul(x, inside), add(low, high));
    }
    case Activation::Hardswish: {
      // x (x + 3) / 6 on [-3, 3], x above, 0 below.
      Tensor middle = mul(mask_of(cpu::Compare::Ge, x, -3.0), mask_of(cpu::Compare::Le, x, 3.0));
      Tensor above = mask_of(cpu::Compare::Gt, x, 3.0);
      return add(mul(mul(x, add(x, constant(3, x))), mul(middle, constant(1.0 / 6.0, x))), mul(x, above));
    }
    case Activation::LogSigmoid:
      return sub(negative_part(x),
                 unary(cpu::Unary::Log1p, unary(cpu::Unary::Exp, unary(cpu::Unary::Neg, unary(cpu::Unary::Abs, x)))));
    case Activation::Softsign: return div(x, add(unary(cpu::Unary::Abs, x), constant(1, x)));
  }
  return x;
}

// (x - mean) * rstd * gamma + beta along `dim` (0: BatchNorm's columns, 1: LayerNorm's rows), with
// the biased variance; the statistics of a BatchNorm in eval mode are the running ones (constants).
Tensor norm_graph(const ChainStage& st, bool batch_statistics, const Tensor& x, const Tensor& gamma,
                  const Tensor& beta) {
  Tensor out;
  if (st.kind == StageKind::BatchNorm && !batch_statistics) {
    Tensor rstd = unary(cpu::Unary::Rsqrt, add(ops::cast(st.running_var, x->dtype), constant(st.eps, x)));
    out = mul(sub(x, ops::cast(st.running_mean, x->dtype)), ops::detach(rstd));
  } else {
    const int64_t dim = st.kind == StageKind::BatchNorm ? 0 : 1;
    Tensor centered = sub(x, ops::mean(x, {dim}, true));
    Tensor var = ops::mean(mul(centered, centered), {dim}, true);
    out = mul(centered, unary(cpu::Unary::Rsqrt, add(var, constant(st.eps, x))));
  }
  if (gamma) out = mul(out, gamma);
  if (beta) out = add(out, beta);
  return out;
}

struct DenseChainNode : Node {
  std::shared_ptr<DenseChain> chain;
  DenseChain::Activations acts;  // aliases of the workspace buffers, released after backward
  // The input as the forward saw it, and the output's memory through the workspace's own tensor
  // over it (the output itself holds this node).
  SavedTensor saved_input, saved_output;
  // Every parameter as the forward read it: the backward reads the chain's parameters, so none may
  // have been written or replaced since (an optimizer step, fill_, `.data =`).
  std::vector<SavedTensor> params;

  const char* name() const override { return "DenseChainBackward"; }
  // Raises unless the input, the output and every parameter are as the forward saw them.
  void check_unchanged() const {
    saved_input.get();  // each raises after an in-place write
    saved_output.get();
    for (const SavedTensor& p : params)
      if (!p.unchanged())
        throw RuntimeError(
            "one of the variables needed for gradient computation has been modified by an inplace "
            "operation: a parameter of the Sequential (now " +
            std::string(dtype_name(p.tensor()->dtype)) + " " + shape_str(p.tensor()->shape) +
            ") was written or replaced before backward()");
  }
  int64_t backward_flops(const Tensor& g) const override { return 2 * leading_rows(g->shape) * chain->flops_per_row(); }
  std::vector<Tensor> backward(const Tensor& g) override {
    auto lock = lock_letting_others_run(chain->mutex());
    check_unchanged();
    const Shape& input_shape = saved_input.get()->shape;
    const int64_t B = leading_rows(input_shape);
    Tensor dout = g->dim() == 2 ? g : alias(g, {B, chain->out_features()}, 0);
    Tensor dinput = ops::wants(*this, 0) ? empty(input_shape, g->dtype, g->device()) : nullptr;
    chain->backward_from(acts, dout, dinput);
    return {dinput};
  }
  // The chain again from unfused, recordable ops (linear, normalisation, the saved dropout masks,
  // the activations), differentiated by the engine: gradients for the input and every parameter,
  // each with a graph when recording.
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    check_unchanged();
    std::vector<Tensor> params_in_order;
    for (const ChainStage& st : chain->stages()) {
      params_in_order.push_back(st.weight);
      params_in_order.push_back(st.bias);
    }
    const std::vector<ChainStage>& stages = chain->stages();
    const DenseChain::Activations& saved = acts;
    regraph = [&stages, &saved](const std::vector<Tensor>& in) {
      const int64_t rows = leading_rows(in[0]->shape);
      Tensor x = ops::reshape(in[0], {rows, in[0]->shape.back()});
      for (size_t s = 0; s < stages.size(); ++s) {
        const ChainStage& st = stages[s];
        const Tensor& weight = in[1 + 2 * s];
        const Tensor& bias = in[2 + 2 * s];
        if (st.kind == StageKind::Linear)
          x = ops::linear_unfused(x, weight, bias);
        else if (st.kind == StageKind::BatchNorm || st.kind == StageKind::LayerNorm)
          x = norm_graph(st, saved.batch_statistics[s], x, weight, bias);
        else if (is_softmax(st.kind))
          x = ops::softmax(x, 1, st.kind == StageKind::LogSoftmax);
        else if (!saved.stats.empty() && saved.stats[s])  // the forward's dropout mask
          x = mul(x, saved.stats[s]);
        x = activation_graph(x, st.act, st.act_param, st.act_param2);
      }
      Shape out_shape = in[0]->shape;
      out_shape.back() = x->shape.back();
      return ops::reshape(x, out_shape);
    };
    std::vector<Tensor> saved_inputs = inputs;
    inputs.insert(inputs.end(), params_in_order.begin(), params_in_order.end());
    std::vector<Tensor> grads = Node::backward_graph(g);
    inputs = std::move(saved_inputs);
    regraph = nullptr;
    return grads;
  }
  void release_saved() override {
    acts = {};
    saved_input.reset();
    saved_output.reset();
    params.clear();
  }
};

bool any_param_requires_grad(const std::vector<ChainStage>& stages) {
  for (const ChainStage& st : stages)
    if ((st.weight && st.weight->requires_grad) || (st.bias && st.bias->requires_grad)) return true;
  return false;
}
}  // namespace

Tensor DenseChain::forward(const Tensor& input) {
  check_input(input);
  const int64_t B = leading_rows(input->shape);
  if (has_batch_norm() && input->dim() != 2)
    throw ValueError("Sequential: BatchNorm1d in a fused chain takes 2-D input (batch, features), got shape " +
                     shape_str(input->shape));
  auto lock = lock_letting_others_run(mutex_);
  LettingOthersRun others(B * flops_per_row_ > kLongCallFlops);
  check_batch_rows(B, input->shape);
  Activations acts;
  forward_into(acts, input->dim() == 2 ? input : alias(input, {B, in_features()}, 0));
  Shape out_shape = input->shape;
  out_shape.back() = out_features();
  // The caller gets its own TensorImpl over the workspace block; while it is alive the workspace
  // sees the block in use and hands out a new one, so a later call never overwrites it. (A chain
  // of identity stages hands back a view of the input itself, as the unfused modules would.)
  Tensor out = alias(acts.a.back(), out_shape, 0);
  if (grad_enabled() && (input->requires_grad || any_param_requires_grad(stages_))) {
    // Edges to the parameters too, though the fast backward writes their .grad itself (and
    // returns null for them): a recorded backward, or autograd.grad, goes through backward_graph.
    auto node = std::make_shared<DenseChainNode>();
    node->next.reserve(1 + 2 * stages_.size());
    node->next.push_back(edge_to(input));
    for (const ChainStage& st : stages_) {
      node->next.push_back(st.weight ? edge_to(st.weight) : Edge{});
      node->next.push_back(st.bias ? edge_to(st.bias) : Edge{});
    }
    node->inputs = {input};
    node->writes_leaf_grads = true;
    node->chain = shared_from_this();
    node->saved_input = SavedTensor::input(input);
    node->saved_output = SavedTensor::input(acts.a.back());
    node->params.reserve(2 * stages_.size());
    for (const ChainStage& st : stages_) {
      if (st.weight) node->params.push_back(SavedTensor::input(st.weight));
      if (st.bias) node->params.push_back(SavedTensor::input(st.bias));
    }
    node->acts = std::move(acts);  // the node now holds the activations until its backward
    set_history(out, node);
  }
  return out;
}

}  // namespace chainrule
