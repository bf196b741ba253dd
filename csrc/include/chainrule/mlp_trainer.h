// The native trainer behind chainrule.sklearn's MLPClassifier/MLPRegressor: scikit-learn's
// multi-layer perceptron objective, backpropagation and stochastic optimizers, a whole epoch per
// call, so that a fit reproduces scikit-learn's loss_curve_ and coefs_ for the same random_state.
//
// The model (scikit-learn's conventions, not nn.Linear's): layer i maps units[i] -> units[i + 1]
// with coefs[i] (units[i], units[i + 1]) row-major and intercepts[i] (units[i + 1]);
// a(i + 1) = act(a(i) coefs[i] + intercepts[i]), the hidden activation between layers and the
// output activation after the last one.
//
// The objective of a batch of B rows: loss(Y, a(L)) + alpha * sum_i ||coefs[i]||^2 / (2 B), with
//   squared_error:   mean over all B x K elements of (y - p)^2, halved;
//   log_loss:        -sum(y log p) / B over a softmax output (p clipped to [eps, 1 - eps]);
//   binary_log_loss: -sum(y log p + (1 - y) log(1 - p)) / B over logistic outputs (clipped too).
// Each output activation is its loss's canonical link, so dL/dz(L) = (p - y) / B in all three
// (for squared_error scikit-learn also divides by B only, not by B x K; we follow it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chainrule::mlp {

enum class Activation { Identity, Logistic, Tanh, Relu, Softmax };
enum class Loss { SquaredError, LogLoss, BinaryLogLoss };

template <typename T>
struct Network {
  std::vector<int64_t> units;  // n_features, hidden sizes..., n_outputs
  std::vector<T*> coefs;       // coefs[i] is (units[i], units[i + 1]), updated in place
  std::vector<T*> intercepts;  // intercepts[i] is (units[i + 1])
  Activation hidden = Activation::Relu;
  Activation output = Activation::Identity;
  Loss loss = Loss::SquaredError;
  double alpha = 0;  // L2 strength on the coefs (intercepts are not penalised)
  std::size_t layers() const { return coefs.size(); }
};

// scikit-learn's SGDOptimizer / AdamOptimizer state. Per parameter, in scikit-learn's order
// (coefs[0..L), then intercepts[0..L)): sgd keeps its velocities in `first`; adam its first and
// second moments in `first` and `second`. All are updated in place.
enum class Solver { Sgd, Adam };
template <typename T>
struct SolverState {
  Solver kind = Solver::Adam;
  double learning_rate = 1e-3;  // sgd: the current rate (the schedule runs between epochs)
  double momentum = 0.9;
  bool nesterov = true;
  double learning_rate_init = 1e-3, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-8;
  int64_t t = 0;                       // adam: steps taken so far
  double last_adam_learning_rate = 0;  // adam: the bias-corrected rate of the last step
  std::vector<T*> first, second;
};

// The checks of what the bindings hand over (ValueError/IndexError naming the argument), made
// once before any work:
// the layer sizes (n_features, hidden sizes..., n_outputs) of a network whose coefs have these
// shapes; each must be 2-D and take what the layer before gives.
std::vector<int64_t> units_of(const std::vector<std::vector<int64_t>>& coef_shapes);
// the rows of a data matrix `what` of this shape, which must be (n, columns).
int64_t rows_of(const std::vector<int64_t>& shape, int64_t columns, const char* what);

// One epoch of minibatch training over X (n, units[0]) and Y (n, units[L]): batches of batch_size
// consecutive entries of `order` (a permutation of the rows; null: rows in order), the last one
// shorter; one optimizer step per batch. Returns the sum over batches of batch loss x batch rows.
// ValueError for batch_size < 1, IndexError for an order entry outside [0, n).
template <typename T>
double train_epoch(const Network<T>& net, SolverState<T>& state, const T* X, const T* Y, int64_t n,
                   const int64_t* order, int64_t batch_size);

// The full-batch objective and its gradient (written, not added) at the current parameters.
template <typename T>
double loss_and_gradient(const Network<T>& net, const T* X, const T* Y, int64_t n, const std::vector<T*>& dcoefs,
                         const std::vector<T*>& dintercepts);

// out (n, units[L]) = the network's output activation for X (n, units[0]).
template <typename T>
void predict(const Network<T>& net, const T* X, int64_t n, T* out);

}  // namespace chainrule::mlp
