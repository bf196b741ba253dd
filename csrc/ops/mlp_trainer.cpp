// scikit-learn's multi-layer perceptron training (see mlp_trainer.h) on chainrule's GEMM.
#include "chainrule/mlp_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "chainrule/errors.h"
#include "chainrule/gemm.h"
#include "cpu/parallel.h"

namespace chainrule::mlp {

using cpu::Trans;

namespace {

template <typename T>
bool worth_threads(int64_t elements) {
  return elements >= cpu::kParallelElements;
}

// a (B, K) = act(a + bias) in place, row by row.
template <typename T>
void bias_activation_forward(T* a, const T* bias, int64_t B, int64_t K, Activation act) {
  cpu::parallel_for(B, worth_threads<T>(B * K), [&](int64_t r) {
    T* row = a + r * K;
    for (int64_t k = 0; k < K; ++k) row[k] += bias[k];
    switch (act) {
      case Activation::Identity: break;
      case Activation::Relu:
        for (int64_t k = 0; k < K; ++k) row[k] = row[k] > T(0) ? row[k] : T(0);
        break;
      case Activation::Tanh:
        for (int64_t k = 0; k < K; ++k) row[k] = std::tanh(row[k]);
        break;
      case Activation::Logistic:
        for (int64_t k = 0; k < K; ++k) row[k] = T(1) / (T(1) + std::exp(-row[k]));
        break;
      case Activation::Softmax: {
        T top = row[0];
        for (int64_t k = 1; k < K; ++k) top = std::max(top, row[k]);
        T sum = 0;
        for (int64_t k = 0; k < K; ++k) {
          row[k] = std::exp(row[k] - top);
          sum += row[k];
        }
        for (int64_t k = 0; k < K; ++k) row[k] /= sum;
        break;
      }
    }
  });
}

// delta (B, K) *= act'(z), the derivative taken from the activation's output a (B, K), as
// scikit-learn does: relu zeroes where a == 0, tanh multiplies by 1 - a^2, logistic by a (1 - a).
template <typename T>
void activation_backward(T* delta, const T* a, int64_t B, int64_t K, Activation act) {
  if (act == Activation::Identity) return;
  const int64_t n = B * K;
  cpu::parallel_for(B, worth_threads<T>(n), [&](int64_t r) {
    T* d = delta + r * K;
    const T* z = a + r * K;
    switch (act) {
      case Activation::Relu:
        for (int64_t k = 0; k < K; ++k)
          if (z[k] == T(0)) d[k] = T(0);
        break;
      case Activation::Tanh:
        for (int64_t k = 0; k < K; ++k) d[k] *= T(1) - z[k] * z[k];
        break;
      case Activation::Logistic:
        for (int64_t k = 0; k < K; ++k) {
          d[k] *= z[k];
          d[k] *= T(1) - z[k];
        }
        break;
      default: break;
    }
  });
}

// The data term of the batch objective (see mlp_trainer.h) for outputs p and targets y (B, K).
template <typename T>
double data_loss(const T* p, const T* y, int64_t B, int64_t K, Loss loss) {
  const int64_t n = B * K;
  const T eps = std::numeric_limits<T>::epsilon();
  double sum = 0;
  switch (loss) {
    case Loss::SquaredError:
      for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(y[i]) - static_cast<double>(p[i]);
        sum += d * d;
      }
      return 0.5 * sum / static_cast<double>(n);
    case Loss::LogLoss:
      for (int64_t i = 0; i < n; ++i)
        if (y[i] != T(0))
          sum += static_cast<double>(y[i]) * std::log(static_cast<double>(std::clamp(p[i], eps, T(1) - eps)));
      return -sum / static_cast<double>(B);
    case Loss::BinaryLogLoss:
      for (int64_t i = 0; i < n; ++i) {
        const double q = static_cast<double>(std::clamp(p[i], eps, T(1) - eps));
        if (y[i] != T(0)) sum += static_cast<double>(y[i]) * std::log(q);
        if (y[i] != T(1)) sum += (1.0 - static_cast<double>(y[i])) * std::log(1.0 - q);
      }
      return -sum / static_cast<double>(B);
  }
  return 0;
}

template <typename T>
double squared_norm(const T* w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * static_cast<double>(w[i]);
  return s;
}

// Buffers of one batch size, reused across the batches of a call.
template <typename T>
struct Workspace {
  std::vector<std::vector<T>> acts;    // acts[i] (B, units[i]); acts[0] only when rows are gathered
  std::vector<std::vector<T>> deltas;  // deltas[i] (B, units[i + 1]): dL/dz of layer i
  std::vector<std::vector<T>> dcoefs, dintercepts;
  std::vector<T> targets;  // gathered Y rows
  Workspace(const Network<T>& net, int64_t B, bool gather, bool own_grads) {
    const size_t L = net.layers();
    acts.resize(L + 1);
    deltas.resize(L);
    for (size_t i = 0; i <= L; ++i)
      if (i > 0 || gather) acts[i].resize(static_cast<size_t>(B * net.units[i]));
    for (size_t i = 0; i < L; ++i) deltas[i].resize(static_cast<size_t>(B * net.units[i + 1]));
    if (gather) targets.resize(static_cast<size_t>(B * net.units[L]));
    if (own_grads) {
      dcoefs.resize(L);
      dintercepts.resize(L);
      for (size_t i = 0; i < L; ++i) {
        dcoefs[i].resize(static_cast<size_t>(net.units[i] * net.units[i + 1]));
        dintercepts[i].resize(static_cast<size_t>(net.units[i + 1]));
      }
    }
  }
};

// acts[L] = the network's output for the B rows at x; acts[i] for i >= 1 hold the layer outputs.
template <typename T>
void forward(const Network<T>& net, std::vector<std::vector<T>>& acts, const T* x, int64_t B) {
  const size_t L = net.layers();
  const T* in = x;
  for (size_t i = 0; i < L; ++i) {
    const int64_t C = net.units[i], OC = net.units[i + 1];
    T* out = acts[i + 1].data();
    // out (B, OC) = in (B, C) coefs[i] (C, OC)
    cpu::gemm<T>(Trans::No, Trans::No, B, OC, C, in, C, net.coefs[i], OC, out, OC, false);
    bias_activation_forward<T>(out, net.intercepts[i], B, OC, i + 1 == L ? net.output : net.hidden);
    in = out;
  }
}

// The batch objective at acts (after forward) and its gradient into dcoefs/dintercepts (written).
template <typename T>
double backward(const Network<T>& net, std::vector<std::vector<T>>& acts, std::vector<std::vector<T>>& deltas,
                const T* x, const T* y, int64_t B, T* const* dcoefs, T* const* dintercepts) {
  const size_t L = net.layers();
  const int64_t K = net.units[L];
  const T* p = acts[L].data();
  double penalty = 0;
  for (size_t i = 0; i < L; ++i) penalty += squared_norm(net.coefs[i], net.units[i] * net.units[i + 1]);
  const double loss = data_loss(p, y, B, K, net.loss) + 0.5 * net.alpha * penalty / static_cast<double>(B);

  T* delta = deltas[L - 1].data();
  for (int64_t i = 0; i < B * K; ++i) delta[i] = p[i] - y[i];
  const T alpha = static_cast<T>(net.alpha), rows = static_cast<T>(B);
  for (size_t i = L; i-- > 0;) {
    const int64_t C = net.units[i], OC = net.units[i + 1];
    const T* a = i == 0 ? x : acts[i].data();  // (B, C): the layer's input
    const T* d = deltas[i].data();             // (B, OC)
    // dcoefs[i] (C, OC) = (a^T delta + alpha coefs[i]) / B
    T* dW = dcoefs[i];
    cpu::gemm<T>(Trans::Yes, Trans::No, C, OC, B, a, C, d, OC, dW, OC, false);
    const T* W = net.coefs[i];
    cpu::parallel_for(C, worth_threads<T>(C * OC), [&](int64_t r) {
      for (int64_t k = r * OC; k < (r + 1) * OC; ++k) {
        dW[k] += alpha * W[k];
        dW[k] /= rows;
      }
    });
    // dintercepts[i] (OC) = column sums of delta / B
    T* db = dintercepts[i];
    std::fill(db, db + OC, T(0));
    for (int64_t r = 0; r < B; ++r)
      for (int64_t k = 0; k < OC; ++k) db[k] += d[r * OC + k];
    for (int64_t k = 0; k < OC; ++k) db[k] /= rows;
    if (i > 0) {
      // deltas[i - 1] (B, C) = delta (B, OC) coefs[i]^T * act'(layer i - 1's output)
      T* prev = deltas[i - 1].data();
      cpu::gemm<T>(Trans::No, Trans::Yes, B, C, OC, d, OC, W, OC, prev, C, false);
      activation_backward<T>(prev, acts[i].data(), B, C, net.hidden);
    }
  }
  return loss;
}

// scikit-learn's update of one parameter array p (n) from its gradient g.
template <typename T>
void sgd_update(T* p, T* velocity, const T* g, int64_t n, const SolverState<T>& s) {
  const T mu = static_cast<T>(s.momentum), lr = static_cast<T>(s.learning_rate);
  cpu::parallel_for((n + 4095) / 4096, worth_threads<T>(n), [&](int64_t chunk) {
    const int64_t hi = std::min(n, (chunk + 1) * 4096);
    for (int64_t k = chunk * 4096; k < hi; ++k) {
      velocity[k] = mu * velocity[k] - lr * g[k];
      p[k] += s.nesterov ? mu * velocity[k] - lr * g[k] : velocity[k];
    }
  });
}

template <typename T>
void adam_update(T* p, T* m, T* v, const T* g, int64_t n, double step_size, const SolverState<T>& s) {
  const T b1 = static_cast<T>(s.beta_1), b2 = static_cast<T>(s.beta_2);
  const T one_minus_b1 = static_cast<T>(1 - s.beta_1), one_minus_b2 = static_cast<T>(1 - s.beta_2);
  cpu::parallel_for((n + 4095) / 4096, worth_threads<T>(n), [&](int64_t chunk) {
    const int64_t hi = std::min(n, (chunk + 1) * 4096);
    for (int64_t k = chunk * 4096; k < hi; ++k) {
      m[k] = b1 * m[k] + one_minus_b1 * g[k];
      v[k] = b2 * v[k] + one_minus_b2 * (g[k] * g[k]);
      // The rate is a double (as in scikit-learn, where it is a NumPy float64 scalar).
      p[k] +=
          static_cast<T>(-step_size * static_cast<double>(m[k]) / (static_cast<double>(std::sqrt(v[k])) + s.epsilon));
    }
  });
}

template <typename T>
void optimizer_step(const Network<T>& net, SolverState<T>& s, Workspace<T>& ws) {
  const size_t L = net.layers();
  double step_size = 0;
  if (s.kind == Solver::Adam) {
    s.t += 1;
    const double t = static_cast<double>(s.t);
    step_size = s.learning_rate_init * std::sqrt(1 - std::pow(s.beta_2, t)) / (1 - std::pow(s.beta_1, t));
    s.last_adam_learning_rate = step_size;
  }
  for (size_t j = 0; j < 2 * L; ++j) {
    const bool is_coef = j < L;
    const size_t i = is_coef ? j : j - L;
    T* p = is_coef ? net.coefs[i] : net.intercepts[i];
    const T* g = is_coef ? ws.dcoefs[i].data() : ws.dintercepts[i].data();
    const int64_t n = is_coef ? net.units[i] * net.units[i + 1] : net.units[i + 1];
    if (s.kind == Solver::Sgd)
      sgd_update<T>(p, s.first[j], g, n, s);
    else
      adam_update<T>(p, s.first[j], s.second[j], g, n, step_size, s);
  }
}

template <typename T>
std::vector<T*> pointers(std::vector<std::vector<T>>& buffers) {
  std::vector<T*> out;
  for (auto& b : buffers) out.push_back(b.data());
  return out;
}

}  // namespace

std::vector<int64_t> units_of(const std::vector<std::vector<int64_t>>& coef_shapes) {
  if (coef_shapes.empty()) throw ValueError("mlp: coefs must not be empty");
  std::vector<int64_t> units;
  for (size_t i = 0; i < coef_shapes.size(); ++i) {
    const std::vector<int64_t>& shape = coef_shapes[i];
    if (shape.size() != 2) throw ValueError("mlp: coefs[" + std::to_string(i) + "] must be 2-D");
    if (i == 0) units.push_back(shape[0]);
    if (shape[0] != units.back())
      throw ValueError("mlp: coefs[" + std::to_string(i) + "] takes " + std::to_string(shape[0]) +
                       " inputs but the layer before gives " + std::to_string(units.back()));
    units.push_back(shape[1]);
  }
  return units;
}

int64_t rows_of(const std::vector<int64_t>& shape, int64_t columns, const char* what) {
  if (shape.size() != 2 || shape[1] != columns)
    throw ValueError(std::string("mlp: ") + what + " must be 2-D with " + std::to_string(columns) + " columns");
  return shape[0];
}

template <typename T>
double train_epoch(const Network<T>& net, SolverState<T>& state, const T* X, const T* Y, int64_t n,
                   const int64_t* order, int64_t batch_size) {
  if (batch_size < 1) throw ValueError("mlp: batch_size must be >= 1");
  if (order)
    for (int64_t i = 0; i < n; ++i)
      if (order[i] < 0 || order[i] >= n)
        throw IndexError("mlp: order holds row " + std::to_string(order[i]) + " of " + std::to_string(n));
  const int64_t F = net.units.front(), K = net.units.back();
  Workspace<T> ws(net, std::min(batch_size, n), order != nullptr, true);
  const std::vector<T*> dW = pointers(ws.dcoefs), db = pointers(ws.dintercepts);
  double accumulated = 0;
  for (int64_t lo = 0; lo < n; lo += batch_size) {
    const int64_t hi = std::min(n, lo + batch_size), B = hi - lo;
    const T* xb = X + lo * F;
    const T* yb = Y + lo * K;
    if (order) {
      T* gx = ws.acts[0].data();
      T* gy = ws.targets.data();
      for (int64_t r = 0; r < B; ++r) {
        std::memcpy(gx + r * F, X + order[lo + r] * F, sizeof(T) * F);
        std::memcpy(gy + r * K, Y + order[lo + r] * K, sizeof(T) * K);
      }
      xb = gx;
      yb = gy;
    }
    forward<T>(net, ws.acts, xb, B);
    accumulated += backward<T>(net, ws.acts, ws.deltas, xb, yb, B, dW.data(), db.data()) * static_cast<double>(B);
    optimizer_step<T>(net, state, ws);
  }
  return accumulated;
}

template <typename T>
double loss_and_gradient(const Network<T>& net, const T* X, const T* Y, int64_t n, const std::vector<T*>& dcoefs,
                         const std::vector<T*>& dintercepts) {
  Workspace<T> ws(net, n, false, false);
  forward<T>(net, ws.acts, X, n);
  return backward<T>(net, ws.acts, ws.deltas, X, Y, n, dcoefs.data(), dintercepts.data());
}

template <typename T>
void predict(const Network<T>& net, const T* X, int64_t n, T* out) {
  // In blocks of rows, so the hidden activations of a large X never all exist at once.
  constexpr int64_t kRows = 4096;
  const int64_t F = net.units.front(), K = net.units.back();
  Workspace<T> ws(net, std::min(n, kRows), false, false);
  for (int64_t lo = 0; lo < n; lo += kRows) {
    const int64_t B = std::min(n, lo + kRows) - lo;
    forward<T>(net, ws.acts, X + lo * F, B);
    std::memcpy(out + lo * K, ws.acts.back().data(), sizeof(T) * B * K);
  }
}

#define CHAINRULE_MLP_INSTANTIATE(T)                                                                              \
  template double train_epoch<T>(const Network<T>&, SolverState<T>&, const T*, const T*, int64_t, const int64_t*, \
                                 int64_t);                                                                        \
  template double loss_and_gradient<T>(const Network<T>&, const T*, const T*, int64_t, const std::vector<T*>&,    \
                                       const std::vector<T*>&);                                                   \
  template void predict<T>(const Network<T>&, const T*, int64_t, T*);
CHAINRULE_MLP_INSTANTIATE(float)
CHAINRULE_MLP_INSTANTIATE(double)
#undef CHAINRULE_MLP_INSTANTIATE

}  // namespace chainrule::mlp
