// chainrule._core._mlp_*: the native trainer of chainrule.sklearn (csrc/ops/mlp_trainer.cpp).
// NumPy arrays in, checked once here, then the work runs without the GIL. Parameters and optimizer
// state are the estimator's own arrays (coefs_, intercepts_, the optimizer's moments), updated in
// place, so nothing is copied between epochs.
#include <cstdint>

#include "bindings.h"
#include "chainrule/mlp_trainer.h"

namespace chainrule::bindings {

namespace {

// A C-contiguous array of T with `count` elements (and, when writable, one we may write).
template <typename T>
T* array_data(const py::handle& h, int64_t count, bool writable, const std::string& what) {
  if (!py::isinstance<py::array>(h)) throw TypeError("mlp: " + what + " must be a NumPy array");
  auto a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw TypeError("mlp: " + what + " has dtype " + py::str(a.dtype()).cast<std::string>() + ", expected " +
                    py::str(py::dtype::of<T>()).cast<std::string>());
  if (!(a.flags() & py::array::c_style)) throw ValueError("mlp: " + what + " must be C-contiguous");
  // A view at an odd byte offset would be read through misaligned T pointers (undefined behaviour).
  if (reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
    throw ValueError("mlp: " + what + " is not aligned to its " + std::to_string(sizeof(T)) +
                     "-byte elements; pass a copy (array.copy())");
  if (a.size() != count)
    throw ValueError("mlp: " + what + " has " + std::to_string(a.size()) + " elements, expected " +
                     std::to_string(count));
  if (writable && !a.writeable()) throw ValueError("mlp: " + what + " must be writable");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

template <typename T>
std::vector<T*> array_list(const py::list& arrays, const std::vector<int64_t>& counts, bool writable,
                           const char* what) {
  if (arrays.size() != counts.size())
    throw ValueError(std::string("mlp: ") + what + " has " + std::to_string(arrays.size()) + " arrays, expected " +
                     std::to_string(counts.size()));
  std::vector<T*> out;
  for (size_t i = 0; i < counts.size(); ++i)
    out.push_back(array_data<T>(arrays[i], counts[i], writable, std::string(what) + "[" + std::to_string(i) + "]"));
  return out;
}

struct Shapes {
  std::vector<int64_t> units, coef_sizes, intercept_sizes, param_sizes;
};

Shapes shapes_of(const py::list& coefs) {
  std::vector<std::vector<int64_t>> coef_shapes;
  for (const py::handle& coef : coefs) {
    if (!py::isinstance<py::array>(coef)) throw TypeError("mlp: coefs must hold NumPy arrays");
    auto a = py::reinterpret_borrow<py::array>(coef);
    coef_shapes.emplace_back(a.shape(), a.shape() + a.ndim());
  }
  Shapes s;
  s.units = mlp::units_of(coef_shapes);
  for (size_t i = 0; i + 1 < s.units.size(); ++i) {
    s.coef_sizes.push_back(s.units[i] * s.units[i + 1]);
    s.intercept_sizes.push_back(s.units[i + 1]);
  }
  s.param_sizes = s.coef_sizes;
  s.param_sizes.insert(s.param_sizes.end(), s.intercept_sizes.begin(), s.intercept_sizes.end());
  return s;
}

int64_t rows_of(const py::array& X, int64_t columns, const char* what) {
  return mlp::rows_of(std::vector<int64_t>(X.shape(), X.shape() + X.ndim()), columns, what);
}

template <typename T>
mlp::Network<T> network_of(const Shapes& s, const py::list& coefs, const py::list& intercepts, mlp::Activation hidden,
                           mlp::Activation output, mlp::Loss loss, double alpha) {
  mlp::Network<T> net;
  net.units = s.units;
  net.coefs = array_list<T>(coefs, s.coef_sizes, true, "coefs");
  net.intercepts = array_list<T>(intercepts, s.intercept_sizes, true, "intercepts");
  net.hidden = hidden;
  net.output = output;
  net.loss = loss;
  net.alpha = alpha;
  return net;
}

template <typename T>
py::tuple train_epoch_typed(const py::array& X, const py::array& Y, const py::object& order, int64_t batch_size,
                            const py::list& coefs, const py::list& intercepts, mlp::Activation hidden,
                            mlp::Activation output, mlp::Loss loss, double alpha, mlp::Solver solver,
                            const py::list& first, const py::list& second, double learning_rate, double momentum,
                            bool nesterov, double beta_1, double beta_2, double epsilon, int64_t t) {
  const Shapes s = shapes_of(coefs);
  mlp::Network<T> net = network_of<T>(s, coefs, intercepts, hidden, output, loss, alpha);
  const int64_t n = rows_of(X, s.units.front(), "X");
  const T* x = array_data<T>(X, n * s.units.front(), false, "X");
  const T* y = array_data<T>(Y, n * s.units.back(), false, "Y");
  const int64_t* ord = nullptr;
  if (!order.is_none()) ord = array_data<int64_t>(order, n, false, "order");
  mlp::SolverState<T> state;
  state.kind = solver;
  state.first = array_list<T>(first, s.param_sizes, true, solver == mlp::Solver::Sgd ? "velocities" : "first moments");
  if (solver == mlp::Solver::Adam) state.second = array_list<T>(second, s.param_sizes, true, "second moments");
  state.learning_rate = state.learning_rate_init = learning_rate;
  state.momentum = momentum;
  state.nesterov = nesterov;
  state.beta_1 = beta_1;
  state.beta_2 = beta_2;
  state.epsilon = epsilon;
  state.t = t;
  double accumulated;
  {
    py::gil_scoped_release release;
    accumulated = mlp::train_epoch<T>(net, state, x, y, n, ord, batch_size);
  }
  return py::make_tuple(accumulated, state.t, state.last_adam_learning_rate);
}

template <typename T>
double loss_gradient_typed(const py::array& X, const py::array& Y, const py::list& coefs, const py::list& intercepts,
                           mlp::Activation hidden, mlp::Activation output, mlp::Loss loss, double alpha,
                           const py::list& dcoefs, const py::list& dintercepts) {
  const Shapes s = shapes_of(coefs);
  mlp::Network<T> net = network_of<T>(s, coefs, intercepts, hidden, output, loss, alpha);
  const int64_t n = rows_of(X, s.units.front(), "X");
  const T* x = array_data<T>(X, n * s.units.front(), false, "X");
  const T* y = array_data<T>(Y, n * s.units.back(), false, "Y");
  std::vector<T*> dW = array_list<T>(dcoefs, s.coef_sizes, true, "coef gradients");
  std::vector<T*> db = array_list<T>(dintercepts, s.intercept_sizes, true, "intercept gradients");
  py::gil_scoped_release release;
  return mlp::loss_and_gradient<T>(net, x, y, n, dW, db);
}

template <typename T>
py::array predict_typed(const py::array& X, const py::list& coefs, const py::list& intercepts, mlp::Activation hidden,
                        mlp::Activation output) {
  const Shapes s = shapes_of(coefs);
  mlp::Network<T> net = network_of<T>(s, coefs, intercepts, hidden, output, mlp::Loss::SquaredError, 0);
  const int64_t n = rows_of(X, s.units.front(), "X");
  const T* x = array_data<T>(X, n * s.units.front(), false, "X");
  py::array_t<T> out({n, s.units.back()});
  T* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    mlp::predict<T>(net, x, n, o);
  }
  return std::move(out);
}

bool is_float32(const py::array& X) {
  if (X.dtype().equal(py::dtype::of<float>())) return true;
  if (X.dtype().equal(py::dtype::of<double>())) return false;
  throw TypeError("mlp: X must be float32 or float64, got " + py::str(X.dtype()).cast<std::string>());
}

}  // namespace

void bind_mlp_trainer(py::module_& m) {
  // scikit-learn's names for the kinds, mapped once in Python (chainrule/_kinds.py).
  py::enum_<mlp::Activation>(m, "MlpActivation", "A hidden or output activation of chainrule.sklearn's MLPs")
      .value("identity", mlp::Activation::Identity)
      .value("logistic", mlp::Activation::Logistic)
      .value("tanh", mlp::Activation::Tanh)
      .value("relu", mlp::Activation::Relu)
      .value("softmax", mlp::Activation::Softmax);
  py::enum_<mlp::Loss>(m, "MlpLoss", "The loss of chainrule.sklearn's MLPs")
      .value("squared_error", mlp::Loss::SquaredError)
      .value("log_loss", mlp::Loss::LogLoss)
      .value("binary_log_loss", mlp::Loss::BinaryLogLoss);
  py::enum_<mlp::Solver>(m, "MlpSolver", "The stochastic solver of chainrule.sklearn's MLPs")
      .value("sgd", mlp::Solver::Sgd)
      .value("adam", mlp::Solver::Adam);
  m.def(
      "_mlp_train_epoch",
      [](const py::array& X, const py::array& Y, const py::object& order, int64_t batch_size, const py::list& coefs,
         const py::list& intercepts, mlp::Activation hidden, mlp::Activation output, mlp::Loss loss, double alpha,
         mlp::Solver solver, const py::list& first, const py::list& second, double learning_rate, double momentum,
         bool nesterov, double beta_1, double beta_2, double epsilon, int64_t t) {
        auto f = is_float32(X) ? &train_epoch_typed<float> : &train_epoch_typed<double>;
        return f(X, Y, order, batch_size, coefs, intercepts, hidden, output, loss, alpha, solver, first, second,
                 learning_rate, momentum, nesterov, beta_1, beta_2, epsilon, t);
      },
      "One epoch of scikit-learn's MLP minibatch training; returns (sum of batch loss x rows, adam steps, "
      "adam's last bias-corrected learning rate)",
      py::arg("X"), py::arg("Y"), py::arg("order"), py::arg("batch_size"), py::arg("coefs"), py::arg("intercepts"),
      py::arg("hidden_activation"), py::arg("output_activation"), py::arg("loss"), py::arg("alpha"), py::arg("solver"),
      py::arg("first"), py::arg("second"), py::arg("learning_rate"), py::arg("momentum"), py::arg("nesterov"),
      py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("t"));
  m.def(
      "_mlp_loss_gradient",
      [](const py::array& X, const py::array& Y, const py::list& coefs, const py::list& intercepts,
         mlp::Activation hidden, mlp::Activation output, mlp::Loss loss, double alpha, const py::list& dcoefs,
         const py::list& dintercepts) {
        auto f = is_float32(X) ? &loss_gradient_typed<float> : &loss_gradient_typed<double>;
        return f(X, Y, coefs, intercepts, hidden, output, loss, alpha, dcoefs, dintercepts);
      },
      "The full-batch MLP objective; writes its gradient into dcoefs/dintercepts", py::arg("X"), py::arg("Y"),
      py::arg("coefs"), py::arg("intercepts"), py::arg("hidden_activation"), py::arg("output_activation"),
      py::arg("loss"), py::arg("alpha"), py::arg("dcoefs"), py::arg("dintercepts"));
  m.def(
      "_mlp_predict",
      [](const py::array& X, const py::list& coefs, const py::list& intercepts, mlp::Activation hidden,
         mlp::Activation output) {
        return is_float32(X) ? predict_typed<float>(X, coefs, intercepts, hidden, output)
                             : predict_typed<double>(X, coefs, intercepts, hidden, output);
      },
      "The MLP's output activation for X", py::arg("X"), py::arg("coefs"), py::arg("intercepts"),
      py::arg("hidden_activation"), py::arg("output_activation"));
}

}  // namespace chainrule::bindings

// The thread limit as plain C symbols, exported from the module so that threadpoolctl's
// controller for chainrule (chainrule.sklearn._threadpool) finds and drives them like any other
// native thread pool's (threadpool_limits, and joblib/dask workers that use it).
extern "C" __attribute__((visibility("default"))) int chainrule_get_num_threads() {
  return chainrule::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void chainrule_set_num_threads(int num_threads) {
  if (num_threads >= 1) chainrule::set_num_threads(num_threads);
}
