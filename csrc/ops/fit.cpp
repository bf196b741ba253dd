// The native epoch loop (see fit.h).
#include "chainrule/fit.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "op_utils.h"

namespace chainrule {

namespace {
// The loop's own buffers, in a workspace of its own (the chain's hold its stages' buffers).
enum BatchSlot : size_t {
  kInputs,
  kTargets,
  kOutputGrad,
  kLossValues,
  kLogProbs,
  // the device loop's scalars and accuracy buffers
  kUpstream,
  kDivisor,
  kPredicted,
  kPredictedFloat,
  kLabelsFloat,
  kHits
};

// Rows order[lo:hi] of src into dst.
void gather_minibatch(const Tensor& dst, const Tensor& src, const int64_t* order, int64_t lo, int64_t hi) {
  const int64_t n = src->shape.empty() ? 1 : src->shape[0];
  cpu::gather_rows(dst->data, src->data, order + lo, hi - lo, n ? src->nbytes() / n : 0);
}
// The arguments' checks, made once before any batch runs, so the loop itself cannot fail half-way.
void check_fit_arguments(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order, int64_t batch_size,
                         int64_t first_batch, int64_t last_batch, const ops::LossSpec& loss,
                         const std::vector<std::shared_ptr<optim::GroupStep>>& steps) {
  if (loss.reduction == ops::Reduction::None) throw ValueError("fit: the loss must reduce ('mean' or 'sum')");
  if (!X || !y) throw TypeError(std::string("fit_batches: ") + (X ? "y" : "X") + " must be a Tensor, got None");
  for (const auto& step : steps)
    if (!step) throw TypeError("fit_batches: steps must be optimizer group steps, got None");
  chain.check_input(X);
  check_same_device("fit_batches", {&X, &y});  // (check_input checked the model's against X's)
  if (!X->on_cpu() && loss.kind == ops::LossKind::NLL)
    throw NotImplementedError("fit_batches: NLLLoss has no implementation on " + device_str(X->device()) + " yet");
  if (X->dim() != 2) throw ValueError("fit: X must be 2-D (samples, features), got shape " + shape_str(X->shape));
  if (y->dim() < 1 || y->shape[0] != X->shape[0])
    throw ValueError("fit: X has shape " + shape_str(X->shape) + " but y has shape " + shape_str(y->shape) +
                     "; they need the same number of rows");
  const int64_t N = X->shape[0], OC = chain.out_features();
  if (ops::takes_class_indices(loss.kind)) {
    if (y->dtype != DType::Int64 || y->dim() != 1)
      throw TypeError(std::string("fit: ") + (loss.kind == ops::LossKind::NLL ? "NLLLoss" : "cross-entropy") +
                      " targets must be int64 class labels of shape (N,)");
    // Labels on a device are checked from a host copy: the device kernels trust their indices.
    const Tensor labels = to_device(y, Device{});
    const int64_t* t = labels->ptr<int64_t>();
    for (int64_t i = 0; i < N; ++i)
      if (t[i] < 0 || t[i] >= OC)
        throw IndexError("fit: target " + std::to_string(t[i]) + " at index " + std::to_string(i) +
                         " is out of bounds for " + std::to_string(OC) + " classes");
  } else if (y->dtype != X->dtype || y->numel != N * OC) {
    throw ValueError("fit: y has shape " + shape_str(y->shape) + " " + dtype_name(y->dtype) + " but the model gives (" +
                     std::to_string(N) + ", " + std::to_string(OC) + ") " + dtype_name(X->dtype) + " outputs");
  }
  if (order) {
    if (order->dtype != DType::Int64 || order->numel != N)
      throw ValueError("fit_batches: order must be an int64 permutation of length " + std::to_string(N));
    // An entry v is in [0, N) exactly when neither v nor (N - 1) - v has the top bit set (in
    // unsigned arithmetic: a negative v has it, and so does the wrapped difference for v > N - 1).
    // OR-ing those folds the check into one branch-free pass that vectorises: fit checks a fresh
    // order every epoch.
    const int64_t* o = order->ptr<int64_t>();
    const uint64_t last = static_cast<uint64_t>(N) - 1;
    uint64_t bits = 0;
    for (int64_t i = 0; i < N; ++i) {
      const auto v = static_cast<uint64_t>(o[i]);
      bits |= v | (last - v);
    }
    if (bits >> 63) throw IndexError("fit_batches: order entry out of range");
  }
  if (batch_size <= 0) throw ValueError("fit: batch_size must be positive");
  const int64_t batches = N / batch_size + (N % batch_size != 0);  // no N + batch_size: it can overflow
  // A batch of one row cannot give batch statistics: PyTorch's error, before any batch runs.
  for (int64_t bi = first_batch; bi < last_batch && bi < batches; ++bi) {
    const int64_t rows = std::min(batch_size, N - bi * batch_size);
    if (rows <= 1) chain.check_batch_rows(rows, {rows, X->shape[1]});
  }
  if (first_batch < 0 || last_batch > batches || first_batch > last_batch)
    throw IndexError("fit_batches: batch range out of bounds");
}

}  // namespace

namespace {
// The device kernels' name for an elementwise LossKind (cross-entropy and NLL are not elementwise).
cpu::Loss elementwise_kernel_loss(ops::LossKind kind) {
  switch (kind) {
    case ops::LossKind::MSE: return cpu::Loss::MSE;
    case ops::LossKind::L1: return cpu::Loss::L1;
    case ops::LossKind::Huber: return cpu::Loss::Huber;
    case ops::LossKind::BCE: return cpu::Loss::BCE;
    default: break;
  }
  return cpu::Loss::BCEWithLogits;
}

// fit_batches for X and y on a device (checked): the same steps as the host loop, through the
// device's kernels. The row order goes to the device once per call, minibatches are gathered
// there, and each batch's loss (and correct count) stays there until one copy back at the end:
// nothing waits for the device between batches.
FitBatchResult fit_batches_on_device(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order,
                                     int64_t batch_size, int64_t first_batch, int64_t last_batch,
                                     const ops::LossSpec& loss,
                                     const std::vector<std::shared_ptr<optim::GroupStep>>& steps, bool count_correct) {
  const int64_t N = X->shape[0];
  const DType dtype = X->dtype;
  const Device device = X->device();
  const DeviceKernels& k = ops::float_kernels(X, "fit_batches");
  const Tensor rows = order ? to_device(order, device) : nullptr;
  const int64_t count = last_batch - first_batch;
  const Tensor losses = empty({count}, dtype, device);
  const Tensor correct = count_correct ? zeros({count}, DType::Float64, device) : nullptr;
  const size_t item = itemsize(dtype);
  cpu::Broadcast scalar;
  cpu::make_broadcast({}, {}, scalar);
  Workspace batch_space;
  DenseChain::Activations acts;
  FitBatchResult result;
  Shape xs = X->shape, ys = y->shape;
  const bool cross_entropy = loss.kind == ops::LossKind::CrossEntropy;
  for (int64_t bi = first_batch; bi < last_batch; ++bi) {
    const int64_t lo = bi * batch_size, B = std::min(batch_size, N - lo);
    xs[0] = ys[0] = B;
    Tensor xb, yb;
    if (rows) {
      xb = batch_space.acquire(kInputs, xs, dtype, device);
      yb = batch_space.acquire(kTargets, ys, y->dtype, device);
      const int64_t* batch_rows = rows->device_ptr<int64_t>() + lo;
      k.gather_rows(xb->data, X->data, batch_rows, B, N ? X->nbytes() / N : 0);
      k.gather_rows(yb->data, y->data, batch_rows, B, N ? y->nbytes() / N : 0);
    } else {
      xb = alias(X, xs, lo * (N ? X->numel / N : 0));
      yb = alias(y, ys, lo * (N ? y->numel / N : 0));
    }
    chain.forward_into(acts, xb);
    const Tensor& out = acts.a.back();  // (B, OC)
    const int64_t C = out->shape[1];
    const int64_t values_count = ops::loss_value_count(loss, B, C);
    Tensor values = batch_space.acquire(kLossValues, cross_entropy ? Shape{B} : out->shape, dtype, device);
    Tensor log_probs = cross_entropy ? batch_space.acquire(kLogProbs, {B, C}, dtype, device) : nullptr;
    if (cross_entropy)
      k.cross_entropy_forward(dtype, values->data, log_probs->data, out->data, yb->device_ptr<int64_t>(), B, C);
    else
      k.loss_forward(dtype, values->data, out->data, yb->data, B * C, elementwise_kernel_loss(loss.kind), loss.param);
    // The batch's loss as the loss ops reduce it: the sum, divided by the count for the mean.
    char* batch_loss = static_cast<char*>(losses->data) + static_cast<size_t>(bi - first_batch) * item;
    k.sum_all(dtype, batch_loss, values->data, values_count);
    // dL/d(output) with dL/d(loss) = 1: each value's upstream gradient, 1 / count for the mean,
    // computed on the host in the loss's dtype as the loss ops compute it.
    Tensor upstream = batch_space.acquire(kUpstream, {}, dtype, device);
    ops::dispatch_floating(dtype, "fit", "X", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T one = T(1);
      const T scaled = loss.reduction == ops::Reduction::Mean ? one / static_cast<T>(values_count) : one;
      k.fill(dtype, upstream->data, 1, static_cast<double>(scaled));
    });
    if (loss.reduction == ops::Reduction::Mean) {
      Tensor divisor = batch_space.acquire(kDivisor, {}, dtype, device);
      k.fill(dtype, divisor->data, 1, static_cast<double>(values_count));
      k.binary_forward(dtype, batch_loss, batch_loss, divisor->data, scalar, cpu::Binary::Div);
    }
    Tensor dout = batch_space.acquire(kOutputGrad, out->shape, dtype, device);
    if (cross_entropy)
      k.cross_entropy_backward(dtype, dout->data, upstream->data, true, log_probs->data, yb->device_ptr<int64_t>(), B,
                               C);
    else
      k.loss_backward(dtype, dout->data, nullptr, upstream->data, true, out->data, yb->data, B * C,
                      elementwise_kernel_loss(loss.kind), loss.param);
    if (count_correct) {
      // argmax == label, compared as float64 (the device compares floating-point values only),
      // summed into this batch's entry.
      Tensor predicted = batch_space.acquire(kPredicted, {B}, DType::Int64, device);
      Tensor predicted_f = batch_space.acquire(kPredictedFloat, {B}, DType::Float64, device);
      Tensor labels_f = batch_space.acquire(kLabelsFloat, {B}, DType::Float64, device);
      Tensor hits = batch_space.acquire(kHits, {B}, DType::Bool, device);
      k.argmax_dim(dtype, predicted->device_ptr<int64_t>(), out->data, B, C, 1);
      k.cast(DType::Float64, predicted_f->data, DType::Int64, predicted->data, B);
      k.cast(DType::Float64, labels_f->data, DType::Int64, yb->data, B);
      cpu::Broadcast same;
      cpu::make_broadcast({B}, {B}, same);
      k.compare_forward(DType::Float64, hits->device_ptr<bool>(), predicted_f->data, labels_f->data, same,
                        cpu::Compare::Eq);
      k.cast(DType::Float64, predicted_f->data, DType::Bool, hits->data, B);
      k.sum_all(DType::Float64, static_cast<double*>(correct->data) + (bi - first_batch), predicted_f->data, B);
    }
    for (const ChainStage& st : chain.stages())
      for (const Tensor* p : {&st.weight, &st.bias})
        if (*p && (*p)->requires_grad) (*p)->grad = nullptr;
    chain.backward_from(acts, dout, nullptr);
    for (const auto& s : steps) s->step();
    acts.a.front() = nullptr;  // the minibatch buffer, free for the next batch (as on the host)
    result.sizes.push_back(B);
  }
  // The one wait: every batch's loss (and correct count) back to the host.
  const Tensor host_losses = cast_data(to_device(losses, Device{}), DType::Float64);
  result.losses.assign(host_losses->ptr<double>(), host_losses->ptr<double>() + count);
  if (correct) {
    const Tensor host_correct = to_device(correct, Device{});
    for (int64_t i = 0; i < count; ++i) result.correct += static_cast<int64_t>(host_correct->ptr<double>()[i]);
  }
  return result;
}
}  // namespace

FitBatchResult fit_batches(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& given_order,
                           int64_t batch_size, int64_t first_batch, int64_t last_batch, const ops::LossSpec& loss,
                           const std::vector<std::shared_ptr<optim::GroupStep>>& steps, bool count_correct,
                           std::optional<uint64_t> order_seed) {
  check_fit_arguments(chain, X, y, order_seed ? nullptr : given_order, batch_size, first_batch, last_batch, loss,
                      steps);
  const Tensor order = order_seed ? random_permutation(X->shape[0], *order_seed) : given_order;
  std::lock_guard<std::mutex> lock(chain.mutex());
  if (!X->on_cpu())
    return fit_batches_on_device(chain, X, y, order, batch_size, first_batch, last_batch, loss, steps, count_correct);
  const int64_t N = X->shape[0];
  const DType dtype = X->dtype;
  const int64_t* ord = order ? order->ptr<int64_t>() : nullptr;
  Workspace batch_space;  // per call: gathered minibatches and the loss gradient
  FitBatchResult result;
  DenseChain::Activations acts;
  // The minibatch shapes, (B, ...) with B set per batch (only the last one may be shorter): built
  // once, as for a small network the allocations would cost as much as a layer.
  Shape xs = X->shape, ys = y->shape;
  for (int64_t bi = first_batch; bi < last_batch; ++bi) {
    // lo < N here (the caller checks the batch range), so hi never overflows, whatever batch_size.
    const int64_t lo = bi * batch_size, B = std::min(batch_size, N - lo), hi = lo + B;
    // The minibatch: a view of consecutive rows, or a gather into a reused buffer.
    xs[0] = ys[0] = B;
    Tensor xb, yb;
    if (ord) {
      xb = batch_space.acquire(kInputs, xs, dtype);
      yb = batch_space.acquire(kTargets, ys, y->dtype);
      gather_minibatch(xb, X, ord, lo, hi);
      gather_minibatch(yb, y, ord, lo, hi);
    } else {
      xb = alias(X, xs, lo * (N ? X->numel / N : 0));
      yb = alias(y, ys, lo * (N ? y->numel / N : 0));
    }
    chain.forward_into(acts, xb);       // xb is (B, C0): X is 2-D
    const Tensor& out = acts.a.back();  // (B, OC)
    Tensor dout = batch_space.acquire(kOutputGrad, out->shape, dtype);
    double batch_loss = 0;
    ops::dispatch_floating(dtype, "fit", "X", [&](auto tag) {
      using T = typename decltype(tag)::type;
      // The loss and dL/d(output) of the loss ops, with dL/d(loss) = 1.
      const int64_t C = out->shape[1];
      const bool cross_entropy = loss.kind == ops::LossKind::CrossEntropy;
      const bool class_indices = ops::takes_class_indices(loss.kind);
      Tensor values = class_indices ? batch_space.acquire(kLossValues, Shape{B}, dtype)
                                    : batch_space.acquire(kLossValues, out->shape, dtype);
      Tensor log_probs = cross_entropy ? batch_space.acquire(kLogProbs, {B, C}, dtype) : nullptr;
      const T* pred = out->ptr<T>();
      T* log_probs_data = log_probs ? log_probs->ptr<T>() : nullptr;
      ops::loss_values<T>(loss, values->ptr<T>(), log_probs_data, pred, yb->data, B, C);
      batch_loss = static_cast<double>(ops::reduce_loss<T>(loss, values->ptr<T>(), values->numel));
      const T one = T(1);
      ops::loss_grad<T>(loss, dout->ptr<T>(), nullptr, &one, pred, log_probs_data, yb->data, B, C);
      if (class_indices && count_correct) {
        const int64_t* t = yb->ptr<int64_t>();
        for (int64_t i = 0; i < B; ++i) {
          const T* row = pred + i * C;
          int64_t best = 0;
          for (int64_t c = 1; c < C; ++c)
            if (row[c] > row[best]) best = c;
          result.correct += best == t[i];
        }
      }
    });
    // zero_grad() (set_to_none), then the chain's backward, which creates each trainable
    // parameter's .grad by the gradient-ownership rule, as the Python loop's backward() does.
    for (const ChainStage& st : chain.stages())
      for (const Tensor* p : {&st.weight, &st.bias})
        if (*p && (*p)->requires_grad) (*p)->grad = nullptr;
    chain.backward_from(acts, dout, nullptr);
    for (const auto& s : steps) s->step();
    // The activations hold the minibatch as their input: let go of it, or the next batch would
    // find its buffer still referenced and allocate a new one.
    acts.a.front() = nullptr;
    result.losses.push_back(batch_loss);
    result.sizes.push_back(B);
  }
  return result;
}

}  // namespace chainrule
