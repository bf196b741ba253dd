// The built-in losses on raw buffers (loss.h).
#include "chainrule/loss.h"

#include <algorithm>

namespace chainrule::ops {

namespace {
cpu::Loss elementwise_kind(LossKind kind) {
  switch (kind) {
    case LossKind::MSE: return cpu::Loss::MSE;
    case LossKind::L1: return cpu::Loss::L1;
    case LossKind::Huber: return cpu::Loss::Huber;
    case LossKind::BCE: return cpu::Loss::BCE;
    case LossKind::BCEWithLogits:
    case LossKind::CrossEntropy:
    case LossKind::NLL: break;
  }
  return cpu::Loss::BCEWithLogits;
}
}  // namespace

template <typename T>
void loss_values(const LossSpec& spec, T* values, T* log_probs, const T* pred, const void* target, int64_t N,
                 int64_t C) {
  if (spec.kind == LossKind::CrossEntropy) {
    cpu::cross_entropy_forward<T>(values, log_probs, pred, static_cast<const int64_t*>(target), N, C);
  } else if (spec.kind == LossKind::NLL) {
    const int64_t* t = static_cast<const int64_t*>(target);
    for (int64_t i = 0; i < N; ++i) values[i] = -pred[i * C + t[i]];
  } else {
    cpu::loss_forward<T>(values, pred, static_cast<const T*>(target), N * C, elementwise_kind(spec.kind), spec.param);
  }
}

template <typename T>
T reduce_loss(const T* values, int64_t count, Reduction reduction) {
  const T sum = cpu::sum_all<T>(values, count);
  return reduction == Reduction::Mean ? sum / static_cast<T>(count) : sum;
}

template <typename T>
T reduce_loss(const LossSpec& spec, const T* values, int64_t count) {
  if (spec.kind == LossKind::NLL && spec.reduction == Reduction::Mean)
    return cpu::sum_all<T>(values, count) * static_cast<T>(1.0 / static_cast<double>(count));
  return reduce_loss<T>(values, count, spec.reduction);
}

template <typename T>
void loss_grad(const LossSpec& spec, T* dpred, T* dtarget, const T* dout, const T* pred, const T* log_probs,
               const void* target, int64_t N, int64_t C) {
  // A reduced loss hands every value the same gradient: dout, divided by the count for the mean.
  const bool reduced = spec.reduction != Reduction::None;
  const int64_t count = loss_value_count(spec, N, C);
  T scaled = reduced ? (spec.reduction == Reduction::Mean ? dout[0] / static_cast<T>(count) : dout[0]) : T(0);
  if (reduced && spec.kind == LossKind::NLL && spec.reduction == Reduction::Mean)
    scaled = dout[0] * static_cast<T>(1.0 / static_cast<double>(count));  // as reduce_loss(spec, ...) scales
  const T* upstream = reduced ? &scaled : dout;
  if (spec.kind == LossKind::NLL) {
    // -dout_i at each sample's target, 0 elsewhere.
    const int64_t* t = static_cast<const int64_t*>(target);
    if (N * C > 0) std::fill(dpred, dpred + N * C, T(0));
    for (int64_t i = 0; i < N; ++i) dpred[i * C + t[i]] = -upstream[reduced ? 0 : i];
  } else if (spec.kind == LossKind::CrossEntropy) {
    cpu::cross_entropy_backward<T>(dpred, upstream, reduced, log_probs, static_cast<const int64_t*>(target), N, C);
  } else {
    cpu::loss_backward<T>(dpred, dtarget, upstream, reduced, pred, static_cast<const T*>(target), N * C,
                          elementwise_kind(spec.kind), spec.param);
  }
}

#define CHAINRULE_INSTANTIATE_LOSS(T)                                                             \
  template void loss_values<T>(const LossSpec&, T*, T*, const T*, const void*, int64_t, int64_t); \
  template T reduce_loss<T>(const T*, int64_t, Reduction);                                        \
  template T reduce_loss<T>(const LossSpec&, const T*, int64_t);                                  \
  template void loss_grad<T>(const LossSpec&, T*, T*, const T*, const T*, const T*, const void*, int64_t, int64_t);
CHAINRULE_INSTANTIATE_LOSS(float)
CHAINRULE_INSTANTIATE_LOSS(double)
#undef CHAINRULE_INSTANTIATE_LOSS

}  // namespace chainrule::ops
