// The native epoch loop (see fit.h).
#include "chainrule/fit.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "op_utils.h"

namespace chainrule {

namespace {
// The loop's own buffers, in a workspace of its own (the chain's hold its stages' buffers).
enum BatchSlot : size_t { kInputs, kTargets, kOutputGrad, kLossValues, kLogProbs };

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
  // The loop's own buffers, minibatch gathers and losses are host code: a model on a device
  // trains through its ops instead (the chain, losses and optimizer steps each have device paths).
  for (const Tensor* t : {&X, &y})
    if (!(*t)->on_cpu())
      throw NotImplementedError("fit_batches: the native loop runs on the CPU; " + std::string(t == &X ? "X" : "y") +
                                " is on " + device_str((*t)->device()));
  if (X->dim() != 2) throw ValueError("fit: X must be 2-D (samples, features), got shape " + shape_str(X->shape));
  if (y->dim() < 1 || y->shape[0] != X->shape[0])
    throw ValueError("fit: X has shape " + shape_str(X->shape) + " but y has shape " + shape_str(y->shape) +
                     "; they need the same number of rows");
  const int64_t N = X->shape[0], OC = chain.out_features();
  if (ops::takes_class_indices(loss.kind)) {
    if (y->dtype != DType::Int64 || y->dim() != 1)
      throw TypeError(std::string("fit: ") + (loss.kind == ops::LossKind::NLL ? "NLLLoss" : "cross-entropy") +
                      " targets must be int64 class labels of shape (N,)");
    const int64_t* t = y->ptr<int64_t>();
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
    const int64_t* o = order->ptr<int64_t>();
    for (int64_t i = 0; i < N; ++i)
      if (o[i] < 0 || o[i] >= N) throw IndexError("fit_batches: order entry out of range");
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

FitBatchResult fit_batches(DenseChain& chain, const Tensor& X, const Tensor& y, const Tensor& order, int64_t batch_size,
                           int64_t first_batch, int64_t last_batch, const ops::LossSpec& loss,
                           const std::vector<std::shared_ptr<optim::GroupStep>>& steps, bool count_correct) {
  check_fit_arguments(chain, X, y, order, batch_size, first_batch, last_batch, loss, steps);
  std::lock_guard<std::mutex> lock(chain.mutex());
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
    result.losses.push_back(batch_loss);
    result.sizes.push_back(B);
  }
  return result;
}

}  // namespace chainrule
