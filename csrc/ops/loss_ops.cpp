// Losses: elementwise ones (MSE, L1, Huber, BCE, BCE with logits) and fused cross-entropy.
#include <vector>

#include "op_utils.h"

namespace chainrule::ops {

namespace {
LossKind elementwise_loss_kind(cpu::Loss loss) {
  switch (loss) {
    case cpu::Loss::MSE: return LossKind::MSE;
    case cpu::Loss::L1: return LossKind::L1;
    case cpu::Loss::Huber: return LossKind::Huber;
    case cpu::Loss::BCE: return LossKind::BCE;
    case cpu::Loss::BCEWithLogits: break;
  }
  return LossKind::BCEWithLogits;
}

const char* loss_name(cpu::Loss loss) {
  switch (loss) {
    case cpu::Loss::MSE: return "mse_loss";
    case cpu::Loss::L1: return "l1_loss";
    case cpu::Loss::Huber: return "huber_loss";
    case cpu::Loss::BCE: return "binary_cross_entropy";
    case cpu::Loss::BCEWithLogits: return "binary_cross_entropy_with_logits";
  }
  return "loss";
}

// ---- the device path: the same steps as loss.cpp's, through the device kernels -----------------
// x (0-d, on a device) divided in place by count, rounded to the dtype as the CPU's sum / T(count).
void divide_by_count(const Tensor& x, int64_t count) {
  Tensor divisor = full({}, static_cast<double>(count), x->dtype, x->device());
  cpu::Broadcast scalar;
  cpu::make_broadcast({}, {}, scalar);
  float_kernels(x, "loss").binary_forward(x->dtype, x->data, x->data, divisor->data, scalar, cpu::Binary::Div);
}

// The gradient each value of a reduced loss receives: g, divided by the count for the mean.
Tensor upstream_gradient(const Tensor& g, Reduction reduction, int64_t count) {
  if (reduction != Reduction::Mean) return g;
  Tensor scaled = clone_data(g);
  divide_by_count(scaled, count);
  return scaled;
}

// Reduced losses of up to this many elements compute their values in a per-thread buffer (kept
// between calls, so bounded) rather than in a tensor allocated per call.
constexpr int64_t kLossScratchElements = int64_t{1} << 16;

// Per-element losses -> output of the requested reduction.
Tensor reduced_output(const Tensor& elems, Reduction reduction) {
  if (reduction == Reduction::None) return elems;
  if (!elems->on_cpu()) {
    Tensor out = empty({}, elems->dtype, elems->device());
    float_kernels(elems, "loss").sum_all(elems->dtype, out->data, elems->data, elems->numel);
    if (reduction == Reduction::Mean) divide_by_count(out, elems->numel);
    return out;
  }
  Tensor out = empty({}, elems->dtype);
  dispatch_floating(elems->dtype, "loss", "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    out->ptr<T>()[0] = reduce_loss<T>(elems->ptr<T>(), elems->numel, reduction);
  });
  return out;
}

struct ElementwiseLossNode : Node {
  cpu::Loss loss;  // for messages
  LossSpec spec;
  SavedTensor pred, target;
  const char* name() const override { return "LossBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dpred = wants(*this, 0) ? empty_like(pred.get()) : nullptr;
    Tensor dtarget = wants(*this, 1) ? empty_like(target.get()) : nullptr;
    if (!g->on_cpu()) {
      const Tensor upstream = upstream_gradient(g, spec.reduction, pred->numel);
      float_kernels(g, loss_name(loss))
          .loss_backward(g->dtype, dpred ? dpred->data : nullptr, dtarget ? dtarget->data : nullptr, upstream->data,
                         spec.reduction != Reduction::None, pred->data, target->data, pred->numel, loss, spec.param);
      return {dpred, dtarget};
    }
    dispatch_floating(g->dtype, loss_name(loss), "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      loss_grad<T>(spec, dpred ? dpred->ptr<T>() : nullptr, dtarget ? dtarget->ptr<T>() : nullptr, g->ptr<T>(),
                   pred->ptr<T>(), nullptr, target->ptr<T>(), pred->numel, 1);
    });
    return {dpred, dtarget};
  }
  void release_saved() override {
    pred.reset();
    target.reset();
  }
};

struct CrossEntropyNode : Node {
  LossSpec spec;
  Tensor log_probs, target;  // log_probs (N, C), target (N)
  Shape input_shape;
  int64_t N = 0, C = 0;
  const char* name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dlogits = empty(input_shape, g->dtype, g->device());
    if (!g->on_cpu()) {
      const Tensor upstream = upstream_gradient(g, spec.reduction, N);
      float_kernels(g, "cross_entropy")
          .cross_entropy_backward(g->dtype, dlogits->data, upstream->data, spec.reduction != Reduction::None,
                                  log_probs->data, target->device_ptr<int64_t>(), N, C);
      return {dlogits};
    }
    dispatch_floating(g->dtype, "cross_entropy", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      loss_grad<T>(spec, dlogits->ptr<T>(), nullptr, g->ptr<T>(), nullptr, log_probs->ptr<T>(), target->ptr<int64_t>(),
                   N, C);
    });
    return {dlogits};
  }
  void release_saved() override {
    log_probs.reset();
    target.reset();
  }
};

// The losses again from differentiable elementwise ops, for recorded backwards (create_graph).
Tensor reduce_graph(const Tensor& elems, Reduction reduction) {
  if (reduction == Reduction::None) return elems;
  return reduction == Reduction::Sum ? sum(elems, {}, false) : mean(elems, {}, false);
}

Tensor loss_graph(cpu::Loss loss, const Tensor& p, const Tensor& t, Reduction reduction, double param) {
  using cpu::Binary;
  using cpu::Unary;
  auto c = [&](double v) { return scalar_like(v, p); };
  Tensor elems;
  switch (loss) {
    case cpu::Loss::MSE: {
      Tensor d = binary(Binary::Sub, p, t);
      elems = binary(Binary::Mul, d, d);
      break;
    }
    case cpu::Loss::L1: elems = unary(Unary::Abs, binary(Binary::Sub, p, t)); break;
    case cpu::Loss::Huber: {
      Tensor d = unary(Unary::Abs, binary(Binary::Sub, p, t));
      Tensor small = cast(compare(cpu::Compare::Lt, d, c(param)), p->dtype);
      Tensor quadratic = binary(Binary::Mul, c(0.5), binary(Binary::Mul, d, d));
      Tensor linear_part = binary(Binary::Mul, c(param), binary(Binary::Sub, d, c(0.5 * param)));
      elems = binary(Binary::Add, binary(Binary::Mul, small, quadratic),
                     binary(Binary::Mul, binary(Binary::Sub, c(1), small), linear_part));
      break;
    }
    case cpu::Loss::BCE: {
      // PyTorch clamps each log term at -100.
      Tensor log_p = binary(Binary::Maximum, unary(Unary::Log, p), c(-100));
      Tensor log_1mp = binary(Binary::Maximum, unary(Unary::Log, binary(Binary::Sub, c(1), p)), c(-100));
      elems = unary(Unary::Neg, binary(Binary::Add, binary(Binary::Mul, t, log_p),
                                       binary(Binary::Mul, binary(Binary::Sub, c(1), t), log_1mp)));
      break;
    }
    case cpu::Loss::BCEWithLogits: {
      // max(x, 0) - x t + log(1 + exp(-|x|))
      Tensor softplus = unary(Unary::Log1p, unary(Unary::Exp, unary(Unary::Neg, unary(Unary::Abs, p))));
      elems = binary(Binary::Add, binary(Binary::Sub, unary(Unary::Relu, p), binary(Binary::Mul, p, t)), softplus);
      break;
    }
  }
  return reduce_graph(elems, reduction);
}
}  // namespace

Tensor elementwise_loss(cpu::Loss loss, const Tensor& pred, const Tensor& target_in, Reduction reduction,
                        double param) {
  const char* name = loss_name(loss);
  check_floating(pred, name, "input");
  if (pred->shape != target_in->shape)
    throw ValueError(std::string(name) + ": input has shape " + shape_str(pred->shape) + " but target has shape " +
                     shape_str(target_in->shape) + "; they must be equal");
  if (loss == cpu::Loss::Huber && !(param > 0))
    throw ValueError("huber_loss: delta must be positive, got " + std::to_string(param));
  check_same_device(name, {&pred, &target_in});
  // An integer or other-precision target is converted to the input's dtype (labels 0/1 for BCE).
  Tensor target = target_in->dtype == pred->dtype ? target_in : cast(target_in, pred->dtype);
  if (loss == cpu::Loss::BCE) {
    if (needs_grad({&target}))
      throw RuntimeError("binary_cross_entropy: the derivative for 'target' is not implemented");
    const Tensor pred_on_host = chainrule::to_device(pred, Device{});  // checked on the host, wherever it lives
    dispatch_floating(pred->dtype, name, "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* p = pred_on_host->ptr<T>();
      for (int64_t i = 0; i < pred->numel; ++i)
        if (!(p[i] >= T(0) && p[i] <= T(1)))
          throw ValueError("binary_cross_entropy: all elements of input should be between 0 and 1 (element " +
                           std::to_string(i) + " is " + std::to_string(static_cast<double>(p[i])) + ")");
    });
  }
  const LossSpec spec{elementwise_loss_kind(loss), reduction, param};
  Tensor out;
  if (pred->on_cpu() && reduction != Reduction::None && pred->numel <= kLossScratchElements) {
    // The per-element values only feed the sum: a per-thread buffer instead of a tensor.
    out = empty({}, pred->dtype);
    dispatch_floating(pred->dtype, name, "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      thread_local std::vector<T> values;
      values.resize(static_cast<size_t>(pred->numel));
      loss_values<T>(spec, values.data(), nullptr, pred->ptr<T>(), target->ptr<T>(), pred->numel, 1);
      out->ptr<T>()[0] = reduce_loss<T>(values.data(), pred->numel, reduction);
    });
  } else {
    Tensor elems = empty_like(pred);
    if (!pred->on_cpu()) {
      float_kernels(pred, name)
          .loss_forward(pred->dtype, elems->data, pred->data, target->data, pred->numel, loss, param);
    } else {
      dispatch_floating(pred->dtype, name, "input", [&](auto tag) {
        using T = typename decltype(tag)::type;
        loss_values<T>(spec, elems->ptr<T>(), nullptr, pred->ptr<T>(), target->ptr<T>(), pred->numel, 1);
      });
    }
    out = reduced_output(elems, reduction);
  }
  if (needs_grad({&pred, &target})) {
    auto node = make_node<ElementwiseLossNode>({&pred, &target});
    node->loss = loss;
    node->spec = spec;
    node->pred = saved_input(pred);
    node->target = saved_input(target);
    node->inputs = {pred, target};
    node->regraph = [loss, reduction, param](const std::vector<Tensor>& in) {
      return loss_graph(loss, in[0], in[1], reduction, param);
    };
    set_history(out, node);
  }
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  check_floating(logits, "cross_entropy", "input");
  if (logits->dim() != 1 && logits->dim() != 2)
    throw ValueError("cross_entropy: input must be (N, C) logits or (C,) for one sample, got shape " +
                     shape_str(logits->shape));
  if (is_floating(target->dtype)) {
    // Class probabilities: loss_i = -sum_c target_ic log_softmax(input)_ic, built from ops.
    if (target->shape != logits->shape)
      throw ValueError("cross_entropy: probability target has shape " + shape_str(target->shape) +
                       " but input has shape " + shape_str(logits->shape) + "; they must be equal");
    const int64_t class_dim = logits->dim() - 1;
    Tensor logp = softmax(logits, class_dim, /*log=*/true);
    Tensor t = target->dtype == logits->dtype ? target : cast(target, logits->dtype);
    Tensor per_sample = unary(cpu::Unary::Neg, sum(binary(cpu::Binary::Mul, t, logp), {class_dim}, false));
    if (reduction == Reduction::None) return per_sample;
    return reduction == Reduction::Sum ? sum(per_sample, {}, false) : mean(per_sample, {}, false);
  }
  const bool single = logits->dim() == 1;
  const int64_t N = single ? 1 : logits->shape[0], C = logits->shape.back();
  const Shape expected = single ? Shape{} : Shape{N};
  if (target->shape != expected)
    throw ValueError("cross_entropy: target has shape " + shape_str(target->shape) + " but input has shape " +
                     shape_str(logits->shape) + "; expected class indices of shape " + shape_str(expected));
  check_same_device("cross_entropy", {&logits, &target});
  const Tensor target_on_host = chainrule::to_device(target, Device{});  // checked on the host, wherever it lives
  const int64_t* t = target_on_host->ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    if (t[i] < 0 || t[i] >= C)
      throw IndexError("cross_entropy: target " + std::to_string(t[i]) + " at index " + std::to_string(i) +
                       " is out of bounds for " + std::to_string(C) + " classes");
  Tensor log_probs = empty(logits->shape, logits->dtype, logits->device());
  Tensor losses = empty(expected, logits->dtype, logits->device());
  if (!logits->on_cpu()) {
    float_kernels(logits, "cross_entropy")
        .cross_entropy_forward(logits->dtype, losses->data, log_probs->data, logits->data,
                               target->device_ptr<int64_t>(), N, C);
  } else {
    dispatch_floating(logits->dtype, "cross_entropy", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      loss_values<T>(LossSpec{LossKind::CrossEntropy, reduction, 0.0}, losses->ptr<T>(), log_probs->ptr<T>(),
                     logits->ptr<T>(), t, N, C);
    });
  }
  Tensor out = reduced_output(losses, reduction);
  if (needs_grad({&logits})) {
    auto node = make_node<CrossEntropyNode>({&logits});
    node->spec = LossSpec{LossKind::CrossEntropy, reduction, 0.0};
    node->log_probs = log_probs;
    node->target = clone_data(target);  // the caller may overwrite its label buffer before backward
    node->input_shape = logits->shape;
    node->N = N;
    node->C = C;
    node->inputs = {logits};
    Tensor labels = node->target;
    node->regraph = [labels, reduction, N, C](const std::vector<Tensor>& in) {
      // -sum(onehot(target) * log_softmax(logits)) per sample.
      const Tensor& x = in[0];
      Tensor onehot = zeros(x->shape, x->dtype);
      dispatch_floating(x->dtype, "cross_entropy", "input", [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (int64_t i = 0; i < N; ++i) onehot->ptr<T>()[i * C + labels->ptr<int64_t>()[i]] = T(1);
      });
      const int64_t class_dim = x->dim() - 1;
      Tensor picked = sum(binary(cpu::Binary::Mul, onehot, softmax(x, class_dim, true)), {class_dim}, false);
      return reduce_graph(unary(cpu::Unary::Neg, picked), reduction);
    };
    set_history(out, node);
  }
  return out;
}

}  // namespace chainrule::ops
