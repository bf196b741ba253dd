// Loss kernels. Formulas follow PyTorch's documentation of each loss so results match it.
#include <algorithm>
#include <cmath>
#include <limits>

#include "chainrule/kernels.h"
#include "cpu/parallel.h"

namespace chainrule::cpu {

namespace {
// BCELoss clamps each log term at -100 so that p = 0 or 1 gives a finite loss (PyTorch docs).
constexpr double kBceLogClamp = -100.0;
// ... and its gradient divides by max(p (1 - p), 1e-12) (PyTorch's binary_cross_entropy_backward).
constexpr double kBceGradEps = 1e-12;

template <typename T>
inline T loss_at(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE: {
      T d = p - t;
      return d * d;
    }
    case Loss::L1: return std::abs(p - t);
    case Loss::Huber: {
      T z = std::abs(p - t);
      return z < delta ? T(0.5) * z * z : delta * (z - T(0.5) * delta);
    }
    case Loss::BCE: {
      T log_p = std::max(std::log(p), T(kBceLogClamp));
      T log_1mp = std::max(std::log1p(-p), T(kBceLogClamp));
      return -(t * log_p + (T(1) - t) * log_1mp);
    }
    case Loss::BCEWithLogits: {
      // (1 - t) x + log(1 + exp(-x)), written with max(-x, 0) so neither exp overflows.
      T m = std::max(-p, T(0));
      return (T(1) - t) * p + m + std::log(std::exp(-m) + std::exp(-p - m));
    }
  }
  return T(0);
}

// d loss / d pred at one element.
template <typename T>
inline T dloss_dpred(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE: return T(2) * (p - t);
    case Loss::L1: {
      T d = p - t;
      return d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
    }
    case Loss::Huber: {
      T d = p - t;
      return d < -delta ? -delta : (d > delta ? delta : d);
    }
    case Loss::BCE: return (p - t) / std::max((T(1) - p) * p, T(kBceGradEps));
    case Loss::BCEWithLogits: return T(1) / (T(1) + std::exp(-p)) - t;
  }
  return T(0);
}

// d loss / d target at one element (BCE's is not defined; its op refuses a target needing grad).
template <typename T>
inline T dloss_dtarget(Loss loss, T p, T t, T delta) {
  switch (loss) {
    case Loss::MSE:
    case Loss::L1:
    case Loss::Huber: return -dloss_dpred(loss, p, t, delta);
    case Loss::BCEWithLogits: return -p;
    case Loss::BCE: return T(0);
  }
  return T(0);
}
}  // namespace

// Each loop is instantiated per loss, so the formula is chosen once per call instead of once per
// element (and MSE's loop vectorises); every element still gets the same expression.
template <Loss kLoss, typename T>
void loss_forward_of(T* out, const T* pred, const T* target, int64_t n, T delta) {
  parallel_for(n, n > kParallelElements, [&](int64_t i) { out[i] = loss_at(kLoss, pred[i], target[i], delta); });
}

template <Loss kLoss, typename T>
void loss_backward_of(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target,
                      int64_t n, T delta) {
  if (dout_is_scalar && dpred && !dtarget) {  // a reduced loss's gradient for its prediction alone
    const T g = dout[0];
    parallel_for(n, n > kParallelElements,
                 [&](int64_t i) { dpred[i] = g * dloss_dpred(kLoss, pred[i], target[i], delta); });
    return;
  }
  parallel_for(n, n > kParallelElements, [&](int64_t i) {
    const T g = dout_is_scalar ? dout[0] : dout[i];
    if (dpred) dpred[i] = g * dloss_dpred(kLoss, pred[i], target[i], delta);
    if (dtarget) dtarget[i] = g * dloss_dtarget(kLoss, pred[i], target[i], delta);
  });
}

template <typename T>
void loss_forward(T* out, const T* pred, const T* target, int64_t n, Loss loss, double param) {
  const T delta = static_cast<T>(param);
  switch (loss) {
    case Loss::MSE: return loss_forward_of<Loss::MSE>(out, pred, target, n, delta);
    case Loss::L1: return loss_forward_of<Loss::L1>(out, pred, target, n, delta);
    case Loss::Huber: return loss_forward_of<Loss::Huber>(out, pred, target, n, delta);
    case Loss::BCE: return loss_forward_of<Loss::BCE>(out, pred, target, n, delta);
    case Loss::BCEWithLogits: return loss_forward_of<Loss::BCEWithLogits>(out, pred, target, n, delta);
  }
}

template <typename T>
void loss_backward(T* dpred, T* dtarget, const T* dout, bool dout_is_scalar, const T* pred, const T* target, int64_t n,
                   Loss loss, double param) {
  const T delta = static_cast<T>(param);
  switch (loss) {
    case Loss::MSE: return loss_backward_of<Loss::MSE>(dpred, dtarget, dout, dout_is_scalar, pred, target, n, delta);
    case Loss::L1: return loss_backward_of<Loss::L1>(dpred, dtarget, dout, dout_is_scalar, pred, target, n, delta);
    case Loss::Huber:
      return loss_backward_of<Loss::Huber>(dpred, dtarget, dout, dout_is_scalar, pred, target, n, delta);
    case Loss::BCE: return loss_backward_of<Loss::BCE>(dpred, dtarget, dout, dout_is_scalar, pred, target, n, delta);
    case Loss::BCEWithLogits:
      return loss_backward_of<Loss::BCEWithLogits>(dpred, dtarget, dout, dout_is_scalar, pred, target, n, delta);
  }
}

template <typename T>
void cross_entropy_forward(T* losses, T* log_probs, const T* logits, const int64_t* target, int64_t N, int64_t C) {
  softmax_forward<T>(log_probs, logits, N, C, 1, /*log=*/true);
  for (int64_t i = 0; i < N; ++i) losses[i] = -log_probs[i * C + target[i]];
}

template <typename T>
void cross_entropy_backward(T* dlogits, const T* dout, bool dout_is_scalar, const T* log_probs, const int64_t* target,
                            int64_t N, int64_t C) {
  parallel_for(N, N * C > kParallelElements, [&](int64_t i) {
    const T g = dout_is_scalar ? dout[0] : dout[i];
    T* row = dlogits + i * C;
    const T* lp = log_probs + i * C;
    for (int64_t c = 0; c < C; ++c) row[c] = g * std::exp(lp[c]);  // g * softmax
    row[target[i]] -= g;                                           // - g * onehot
  });
}

#define CHAINRULE_LOSS(T)                                                                            \
  template void loss_forward<T>(T*, const T*, const T*, int64_t, Loss, double);                      \
  template void loss_backward<T>(T*, T*, const T*, bool, const T*, const T*, int64_t, Loss, double); \
  template void cross_entropy_forward<T>(T*, T*, const T*, const int64_t*, int64_t, int64_t);        \
  template void cross_entropy_backward<T>(T*, const T*, bool, const T*, const int64_t*, int64_t, int64_t);
CHAINRULE_LOSS(float)
CHAINRULE_LOSS(double)
#undef CHAINRULE_LOSS

}  // namespace chainrule::cpu
