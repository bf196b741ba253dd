// Differentiable elementwise ops: activations and broadcast arithmetic.
#include "op_utils.h"

namespace chainrule::ops {

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* arg) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    throw IndexError(std::string(arg) + ": dimension out of range (expected to be in range of [" + std::to_string(-n) +
                     ", " + std::to_string(n - 1) + "], but got " + std::to_string(dim) + ")");
  return dim < 0 ? dim + n : dim;
}

void check_floating(const Tensor& t, const char* op, const char* arg) {
  if (!is_floating(t->dtype))
    throw TypeError(std::string(op) + ": " + arg + " must be a floating point tensor, got " + dtype_name(t->dtype));
}

Tensor scalar_like(double value, const Tensor& like) { return full({}, value, like->dtype, like->device()); }

// ---- differentiable building blocks for recorded backwards --------------------------------------
namespace {
using cpu::Binary;
using cpu::Unary;
Tensor add(const Tensor& a, const Tensor& b) { return binary(Binary::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(Binary::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(Binary::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(Binary::Div, a, b); }
Tensor scalar(double v, const Tensor& like) { return scalar_like(v, like); }
// 1 where `op` holds between a and b, else 0, in a's dtype (a constant: no gradient).
Tensor mask(cpu::Compare op, const Tensor& a, const Tensor& b) { return cast(compare(op, a, b), a->dtype); }
}  // namespace

// ---- unary ---------------------------------------------------------------------------------------
namespace {
struct UnaryNode : Node {
  cpu::Unary op;
  double param = 0;
  SavedTensor x, y;  // input and output, saved for the derivative
  const char* name() const override { return "UnaryBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = empty_like(x.get());
    if (!dx->on_cpu()) {
      float_kernels(dx, "backward").unary_backward(dx->dtype, dx->data, g->data, x->data, y->data, x->numel, op, param);
      return {dx};
    }
    dispatch_floating(x->dtype, "backward", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::unary_backward<T>(dx->ptr<T>(), g->ptr<T>(), x->ptr<T>(), y->ptr<T>(), x->numel, op, param);
    });
    return {dx};
  }
  // d f(x) / dx from differentiable ops of the input itself (the saved output has no history).
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    const Tensor& v = inputs[0];
    auto c = [&](double k) { return scalar(k, v); };
    switch (op) {
      case Unary::Neg: return {unary(Unary::Neg, g)};
      case Unary::Exp: return {mul(g, unary(Unary::Exp, v))};
      case Unary::Log: return {div(g, v)};
      case Unary::Relu: return {mul(g, mask(cpu::Compare::Gt, v, c(0)))};
      case Unary::Sigmoid: {
        Tensor sg = unary(Unary::Sigmoid, v);
        return {mul(g, mul(sg, sub(c(1), sg)))};
      }
      case Unary::Tanh: {
        Tensor t = unary(Unary::Tanh, v);
        return {mul(g, sub(c(1), mul(t, t)))};
      }
      case Unary::Abs: return {mul(g, unary(Unary::Sign, v))};
      case Unary::Sqrt: return {div(g, mul(c(2), unary(Unary::Sqrt, v)))};
      case Unary::LeakyRelu: {
        Tensor m = mask(cpu::Compare::Gt, v, c(0));  // slope + (1 - slope) m
        return {mul(g, add(c(param), mul(c(1 - param), m)))};
      }
      case Unary::Gelu: {
        // Phi(v) + v phi(v)
        Tensor cdf = mul(c(0.5), add(c(1), unary(Unary::Erf, mul(v, c(0.70710678118654752440)))));
        Tensor pdf = mul(c(0.39894228040143267794), unary(Unary::Exp, mul(c(-0.5), mul(v, v))));
        return {mul(g, add(cdf, mul(v, pdf)))};
      }
      case Unary::GeluTanh: {
        Tensor v2 = mul(v, v);
        Tensor t = unary(Unary::Tanh, mul(c(0.79788456080286535588), add(v, mul(c(0.044715), mul(v2, v)))));
        Tensor dinner = mul(c(0.79788456080286535588), add(c(1), mul(c(3 * 0.044715), v2)));
        Tensor d = add(mul(c(0.5), add(c(1), t)), mul(mul(c(0.5), v), mul(sub(c(1), mul(t, t)), dinner)));
        return {mul(g, d)};
      }
      case Unary::Sin: return {mul(g, unary(Unary::Cos, v))};
      case Unary::Cos: return {unary(Unary::Neg, mul(g, unary(Unary::Sin, v)))};
      case Unary::Tan: {
        Tensor t = unary(Unary::Tan, v);
        return {mul(g, add(c(1), mul(t, t)))};
      }
      case Unary::Log1p: return {div(g, add(c(1), v))};
      case Unary::Expm1: return {mul(g, unary(Unary::Exp, v))};
      case Unary::Rsqrt: {
        Tensor r = unary(Unary::Rsqrt, v);
        return {mul(mul(c(-0.5), g), mul(r, mul(r, r)))};
      }
      case Unary::Sign:
      case Unary::Floor:
      case Unary::Ceil:
      case Unary::Round: return {mul(g, c(0))};
      case Unary::Square: return {mul(g, mul(c(2), v))};
      case Unary::Reciprocal: {
        Tensor r = unary(Unary::Reciprocal, v);
        return {unary(Unary::Neg, mul(g, mul(r, r)))};
      }
      case Unary::Log2: return {div(g, mul(v, c(0.69314718055994530942)))};
      case Unary::Log10: return {div(g, mul(v, c(2.30258509299404568402)))};
      case Unary::Erf: return {mul(g, mul(c(1.12837916709551257390), unary(Unary::Exp, unary(Unary::Neg, mul(v, v)))))};
    }
    return {nullptr};
  }
  void release_saved() override {
    x.reset();
    y.reset();
  }
};
}  // namespace

Tensor unary(cpu::Unary op, const Tensor& x_in, double param) {
  const char* name = cpu::unary_name(op);
  if (!is_floating(x_in->dtype)) {
    if (cpu::unary_keeps_integers(op)) {
      if (x_in->dtype == DType::Bool && (op == Unary::Neg || op == Unary::Abs || op == Unary::Sign))
        throw TypeError(std::string(name) + ": input is a bool tensor, which " + name +
                        " does not support; convert it with .long() or .float() first");
      Tensor x = x_in->dtype == DType::Bool ? cast_data(x_in, DType::Int64) : x_in;
      Tensor out = empty_like(x);
      if (x->dtype == DType::Int64)
        cpu::unary_forward<int64_t>(out->ptr<int64_t>(), x->ptr<int64_t>(), x->numel, op, param);
      else
        cpu::unary_forward<int32_t>(out->ptr<int32_t>(), x->ptr<int32_t>(), x->numel, op, param);
      return x_in->dtype == DType::Bool ? cast_data(out, DType::Bool) : out;
    }
    // Integer inputs of floating functions (exp, sin, sqrt, ...) give float32, as in PyTorch;
    // the activations PyTorch defines for floating tensors only refuse them.
    if (op == Unary::LeakyRelu || op == Unary::Gelu || op == Unary::GeluTanh)
      throw TypeError(std::string(name) + ": input must be a floating point tensor, got " + dtype_name(x_in->dtype));
    return unary(op, cast_data(x_in, DType::Float32), param);
  }
  const Tensor& x = x_in;
  Tensor out = empty_like(x);
  if (!x->on_cpu()) {
    float_kernels(x, name).unary_forward(x->dtype, out->data, x->data, x->numel, op, param);
  } else {
    dispatch_floating(x->dtype, name, "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::unary_forward<T>(out->ptr<T>(), x->ptr<T>(), x->numel, op, param);
    });
  }
  if (needs_grad({&x})) {
    auto node = make_node<UnaryNode>({&x});
    node->op = op;
    node->param = param;
    node->x = saved_input(x);
    node->y = saved_output(out);
    node->inputs = {x};
    set_history(out, node);
  }
  return out;
}

Tensor activation(const Tensor& x, cpu::Activation act, double param) {
  switch (act) {
    case cpu::Activation::Identity: return x;
    case cpu::Activation::Relu: return unary(Unary::Relu, x);
    case cpu::Activation::Sigmoid: return unary(Unary::Sigmoid, x);
    case cpu::Activation::Tanh: return unary(Unary::Tanh, x);
    case cpu::Activation::LeakyRelu: return unary(Unary::LeakyRelu, x, param);
    case cpu::Activation::Gelu: return unary(Unary::Gelu, x);
    case cpu::Activation::GeluTanh: return unary(Unary::GeluTanh, x);
    default: break;  // the fused chain's other activations replay through their own stages
  }
  throw ValueError("activation: no differentiable elementwise form for this fused-chain activation");
}

// ---- binary ----------------------------------------------------------------------------------------
namespace {
struct BinaryNode : Node {
  cpu::Binary op;
  cpu::Broadcast bc;
  SavedTensor a, b;
  Shape a_shape, b_shape;
  const char* name() const override { return "BinaryBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor da = wants(*this, 0) ? empty(a_shape, g->dtype, g->device()) : nullptr;
    Tensor db = wants(*this, 1) ? empty(b_shape, g->dtype, g->device()) : nullptr;
    if (!g->on_cpu()) {
      float_kernels(g, "backward")
          .binary_backward(g->dtype, da ? da->data : nullptr, db ? db->data : nullptr, g->data, a->data, b->data, bc,
                           op);
      return {da, db};
    }
    dispatch_floating(g->dtype, "backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::binary_backward<T>(da ? da->ptr<T>() : nullptr, db ? db->ptr<T>() : nullptr, g->ptr<T>(), a->ptr<T>(),
                              b->ptr<T>(), bc, op);
    });
    return {da, db};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    const Tensor& x = inputs[0];
    const Tensor& y = inputs[1];
    Tensor dx, dy;
    switch (op) {
      case Binary::Add:
        dx = g;
        dy = g;
        break;
      case Binary::Sub:
        dx = g;
        dy = unary(Unary::Neg, g);
        break;
      case Binary::Mul:
        dx = mul(g, y);
        dy = mul(g, x);
        break;
      case Binary::Div:
        dx = div(g, y);
        dy = unary(Unary::Neg, div(mul(g, x), mul(y, y)));
        break;
      case Binary::Pow: {
        // d/dx = y x^(y-1); d/dy = x^y log(x), with log(0) read as 0 (PyTorch's masking of 0^y).
        Tensor one = scalar(1, x);
        dx = mul(g, mul(y, binary(Binary::Pow, x, sub(y, one))));
        Tensor safe_x = add(x, mask(cpu::Compare::Eq, x, scalar(0, x)));
        dy = mul(g, mul(binary(Binary::Pow, x, y), unary(Unary::Log, safe_x)));
        break;
      }
      case Binary::FloorDiv:
        dx = mul(g, scalar(0, g));
        dy = dx;
        break;
      case Binary::Remainder:
        dx = g;
        dy = unary(Unary::Neg, mul(g, unary(Unary::Floor, div(x, y))));
        break;
      case Binary::Maximum:
      case Binary::Minimum: {
        const cpu::Compare wins = op == Binary::Maximum ? cpu::Compare::Gt : cpu::Compare::Lt;
        Tensor half_ties = mul(scalar(0.5, x), mask(cpu::Compare::Eq, x, y));
        dx = mul(g, add(mask(wins, x, y), half_ties));
        dy = mul(g, add(mask(wins, y, x), half_ties));
        break;
      }
    }
    return {wants(*this, 0) ? sum_to_shape(dx, a_shape) : nullptr,
            wants(*this, 1) ? sum_to_shape(dy, b_shape) : nullptr};
  }
  void release_saved() override {
    a.reset();
    b.reset();
  }
};

// The dtype of a op b under PyTorch's promotion: a 0-d operand beside a dimensioned one only
// decides the result when it is of a higher category (bool < integer < floating).
DType result_dtype(const Tensor& a, const Tensor& b) {
  if ((a->dim() == 0) != (b->dim() == 0)) {
    const Tensor& dimmed = a->dim() ? a : b;
    const Tensor& zero_d = a->dim() ? b : a;
    if (dtype_category(zero_d->dtype) > dtype_category(dimmed->dtype)) return zero_d->dtype;
    return dimmed->dtype;
  }
  return promote(a->dtype, b->dtype);
}
}  // namespace

DType binary_result_dtype(const Tensor& a, const Tensor& b) { return result_dtype(a, b); }

Tensor binary(cpu::Binary op, const Tensor& a_in, const Tensor& b_in) {
  if (a_in->device() != b_in->device()) {
    Tensor a = a_in, b = b_in;
    join_devices(cpu::binary_name(op), a, b);
    return binary(op, a, b);
  }
  // Two floating tensors of one shape and dtype, nothing recorded: no promotion, no Broadcast.
  if (a_in->dtype == b_in->dtype && is_floating(a_in->dtype) && a_in->shape == b_in->shape &&
      !needs_grad({&a_in, &b_in}) && a_in->on_cpu()) {
    Tensor out = empty(a_in->shape, a_in->dtype);
    dispatch_floating(a_in->dtype, cpu::binary_name(op), "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::binary_strided_forward<T>(out->ptr<T>(), a_in->ptr<T>(), 1, b_in->ptr<T>(), 1, a_in->numel, op);
    });
    return out;
  }
  if (op == Binary::Sub && (a_in->dtype == DType::Bool || b_in->dtype == DType::Bool))
    throw TypeError(
        "sub: subtraction, the `-` operator, with a bool tensor is not supported; to invert a mask use "
        "the `~` or logical_not() operator instead");
  DType dtype = result_dtype(a_in, b_in);
  if (dtype == DType::Bool) {
    // bool + bool is logical or, bool * bool logical and (as in PyTorch); the rest count as int64.
    if (op == Binary::Add || op == Binary::Maximum) return compare(cpu::Compare::Or, a_in, b_in);
    if (op == Binary::Mul || op == Binary::Minimum) return compare(cpu::Compare::And, a_in, b_in);
    if (op == Binary::Sub)
      throw TypeError(
          "sub: subtraction, the `-` operator, with two bool tensors is not supported; use the `^` or "
          "logical_xor() operator instead");
    dtype = op == Binary::Div ? DType::Float32 : DType::Int64;
  }
  if (op == Binary::Div && !is_floating(dtype)) dtype = DType::Float32;  // true division
  Tensor a = a_in->dtype == dtype ? a_in : cast(a_in, dtype);
  Tensor b = b_in->dtype == dtype ? b_in : cast(b_in, dtype);

  if (is_integral(dtype) && (op == Binary::Pow || op == Binary::FloorDiv || op == Binary::Remainder)) {
    auto check = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* e = b->ptr<T>();
      for (int64_t i = 0; i < b->numel; ++i) {
        if (op == Binary::Pow && e[i] < 0)
          throw ValueError("pow: integers to negative integer powers are not allowed (exponent " +
                           std::to_string(e[i]) + "); use a float base or exponent");
        if (op != Binary::Pow && e[i] == 0)
          throw ZeroDivisionError(std::string(cpu::binary_name(op)) + ": integer division by zero");
      }
    };
    if (dtype == DType::Int64)
      check(type_tag<int64_t>{});
    else
      check(type_tag<int32_t>{});
  }
  cpu::Broadcast bc = broadcast_shapes(a->shape, b->shape);
  Tensor out = empty(bc.out_shape, dtype, a->device());
  if (!a->on_cpu()) {
    float_kernels(a, cpu::binary_name(op)).binary_forward(dtype, out->data, a->data, b->data, bc, op);
  } else {
    dispatch_all(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::binary_forward<T>(out->ptr<T>(), a->ptr<T>(), b->ptr<T>(), bc, op);
    });
  }
  if (is_floating(dtype) && needs_grad({&a, &b})) {
    auto node = make_node<BinaryNode>({&a, &b});
    node->op = op;
    node->bc = std::move(bc);
    node->a = saved_input(a);
    node->b = saved_input(b);
    node->a_shape = a->shape;
    node->b_shape = b->shape;
    node->inputs = {a, b};
    set_history(out, node);
  }
  return out;
}

Tensor compare(cpu::Compare op, const Tensor& a_in, const Tensor& b_in) {
  if (a_in->device() != b_in->device()) {
    Tensor a = a_in, b = b_in;
    join_devices(cpu::compare_name(op), a, b);
    return compare(op, a, b);
  }
  if (a_in->dtype == b_in->dtype && a_in->shape == b_in->shape && a_in->on_cpu()) {  // no promotion, no Broadcast
    Tensor out = empty(a_in->shape, DType::Bool);
    dispatch_any(a_in->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::compare_strided_forward<T>(out->ptr<bool>(), a_in->ptr<T>(), 1, b_in->ptr<T>(), 1, a_in->numel, op);
    });
    return out;
  }
  // Compared in the promoted dtype (an int tensor against 0.5 compares as float), never recorded.
  DType dtype = result_dtype(a_in, b_in);
  Tensor a = a_in->dtype == dtype ? a_in : cast_data(a_in, dtype);
  Tensor b = b_in->dtype == dtype ? b_in : cast_data(b_in, dtype);
  cpu::Broadcast bc = broadcast_shapes(a->shape, b->shape);
  Tensor out = empty(bc.out_shape, DType::Bool, a->device());
  if (!a->on_cpu()) {
    device_kernels(a, cpu::compare_name(op)).compare_forward(dtype, out->device_ptr<bool>(), a->data, b->data, bc, op);
    return out;
  }
  dispatch_any(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::compare_forward<T>(out->ptr<bool>(), a->ptr<T>(), b->ptr<T>(), bc, op);
  });
  return out;
}

Tensor binary_with_scalar(cpu::Binary op, const Tensor& t, double s, bool scalar_first) {
  const bool arithmetic = op == Binary::Add || op == Binary::Sub || op == Binary::Mul || op == Binary::Div;
  if (!arithmetic || !is_floating(t->dtype) || needs_grad({&t}) || !t->on_cpu()) return nullptr;
  Tensor out = empty(t->shape, t->dtype);
  dispatch_floating(t->dtype, cpu::binary_name(op), "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T value = static_cast<T>(s);
    const T* x = t->ptr<T>();
    if (scalar_first)
      cpu::binary_strided_forward<T>(out->ptr<T>(), &value, 0, x, 1, t->numel, op);
    else
      cpu::binary_strided_forward<T>(out->ptr<T>(), x, 1, &value, 0, t->numel, op);
  });
  return out;
}

Tensor compare_with_scalar(cpu::Compare op, const Tensor& t, double s, bool scalar_first) {
  if (!is_floating(t->dtype) || !t->on_cpu()) return nullptr;
  Tensor out = empty(t->shape, DType::Bool);
  dispatch_floating(t->dtype, cpu::compare_name(op), "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T value = static_cast<T>(s);
    const T* x = t->ptr<T>();
    if (scalar_first)
      cpu::compare_strided_forward<T>(out->ptr<bool>(), &value, 0, x, 1, t->numel, op);
    else
      cpu::compare_strided_forward<T>(out->ptr<bool>(), x, 1, &value, 0, t->numel, op);
  });
  return out;
}

// ---- clamp and where -----------------------------------------------------------------------------
namespace {
struct ClampNode : Node {
  double lo = 0, hi = 0;
  bool has_lo = false, has_hi = false;
  SavedTensor x;
  const char* name() const override { return "ClampBackward"; }
  // 1 where the clamp passes its input through, else 0: a constant of x's values.
  Tensor pass_mask() {
    const Tensor& v = x.get();
    Tensor mask = empty_like(v);
    dispatch_floating(v->dtype, "backward", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      Tensor ones = full(v->shape, 1.0, v->dtype);
      cpu::clamp_backward<T>(mask->ptr<T>(), ones->ptr<T>(), v->ptr<T>(), v->numel, static_cast<T>(lo),
                             static_cast<T>(hi), has_lo, has_hi);
    });
    return mask;
  }
  std::vector<Tensor> backward(const Tensor& g) override {
    const Tensor& v = x.get();
    Tensor dx = empty_like(v);
    if (!v->on_cpu()) {
      float_kernels(v, "backward")
          .clamp_backward(v->dtype, dx->data, g->data, v->data, v->numel, lo, hi, has_lo, has_hi);
      return {dx};
    }
    dispatch_floating(v->dtype, "backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::clamp_backward<T>(dx->ptr<T>(), g->ptr<T>(), v->ptr<T>(), v->numel, static_cast<T>(lo), static_cast<T>(hi),
                             has_lo, has_hi);
    });
    return {dx};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return {mul(g, pass_mask())}; }
  void release_saved() override { x.reset(); }
};

struct WhereNode : Node {
  SavedTensor condition;
  Shape a_shape, b_shape;
  const char* name() const override { return "WhereBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    // Built from ops, so the same code records a graph of itself when g has one.
    Tensor zero = scalar_like(0, g);
    return {wants(*this, 0) ? sum_to_shape(where(condition.get(), g, zero), a_shape) : nullptr,
            wants(*this, 1) ? sum_to_shape(where(condition.get(), zero, g), b_shape) : nullptr};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override { return backward(g); }
  void release_saved() override { condition.reset(); }
};
}  // namespace

Tensor clamp(const Tensor& x, double lo, double hi, bool has_lo, bool has_hi) {
  if (!has_lo && !has_hi) throw RuntimeError("clamp: at least one of 'min' or 'max' must not be None");
  check_floating(x, "clamp", "input");
  Tensor out = empty_like(x);
  if (!x->on_cpu()) {
    float_kernels(x, "clamp").clamp_forward(x->dtype, out->data, x->data, x->numel, lo, hi, has_lo, has_hi);
  } else {
    dispatch_floating(x->dtype, "clamp", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::clamp_forward<T>(out->ptr<T>(), x->ptr<T>(), x->numel, static_cast<T>(lo), static_cast<T>(hi), has_lo,
                            has_hi);
    });
  }
  if (needs_grad({&x})) {
    auto node = make_node<ClampNode>({&x});
    node->lo = lo;
    node->hi = hi;
    node->has_lo = has_lo;
    node->has_hi = has_hi;
    node->x = saved_input(x);
    node->inputs = {x};
    set_history(out, node);
  }
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a_in, const Tensor& b_in) {
  if (condition->dtype != DType::Bool)
    throw RuntimeError(std::string("where expected condition to be a boolean tensor, got ") +
                       dtype_name(condition->dtype));
  // input and other promote as for a binary op (a 0-d operand decides only by category).
  const DType dtype = result_dtype(a_in, b_in);
  Tensor a = a_in->dtype == dtype ? a_in : cast(a_in, dtype);
  Tensor b = b_in->dtype == dtype ? b_in : cast(b_in, dtype);
  Tensor cond = condition;
  if (cond->device() != a->device() || a->device() != b->device()) {
    // 0-d CPU operands (Python numbers) join the others' device; any other mix raises.
    join_devices("where", a, b);
    join_devices("where", cond, a);
    join_devices("where", cond, b);
    check_same_device("where", {&cond, &a, &b});
  }
  const Shape shape = broadcast_shapes(cond->shape, broadcast_shapes(a->shape, b->shape).out_shape).out_shape;
  // Operands of another shape are expanded to the output's first (copies without history: the
  // node below sums their gradients back).
  Tensor c = cond->shape == shape ? cond : expand(detach(cond), shape);
  Tensor av = a->shape == shape ? a : expand(detach(a), shape);
  Tensor bv = b->shape == shape ? b : expand(detach(b), shape);
  Tensor out = empty(shape, a->dtype, a->device());
  if (!a->on_cpu()) {
    float_kernels(a, "where").where_forward(a->dtype, out->data, c->device_ptr<bool>(), av->data, bv->data, out->numel);
  } else {
    dispatch_any(a->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::where_forward<T>(out->ptr<T>(), c->ptr<bool>(), av->ptr<T>(), bv->ptr<T>(), out->numel);
    });
  }
  if (is_floating(a->dtype) && needs_grad({&a, &b})) {
    auto node = make_node<WhereNode>({&a, &b});
    node->condition = saved_input(condition);
    node->a_shape = a->shape;
    node->b_shape = b->shape;
    node->inputs = {a, b};
    set_history(out, node);
  }
  return out;
}

cpu::Broadcast broadcast_shapes(const Shape& a, const Shape& b) {
  cpu::Broadcast bc;
  size_t k = 0;
  if (!cpu::make_broadcast(a, b, bc, &k)) {
    const size_t nd = std::max(a.size(), b.size());
    const int64_t da = k + a.size() >= nd ? a[k + a.size() - nd] : 1;
    const int64_t db = k + b.size() >= nd ? b[k + b.size() - nd] : 1;
    throw ValueError("shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast together (dimension " +
                     std::to_string(k) + ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
  }
  return bc;
}

void add_(const Tensor& dst, const Tensor& src) {
  if (dst->shape != src->shape || dst->dtype != src->dtype)
    throw ValueError("add_: tensor has shape " + shape_str(dst->shape) + " " + dtype_name(dst->dtype) +
                     " but other has shape " + shape_str(src->shape) + " " + dtype_name(src->dtype));
  check_same_device("add_", {&dst, &src});
  mark_inplace_write(dst, "add_");
  cpu::Broadcast bc = broadcast_shapes(dst->shape, src->shape);
  if (!dst->on_cpu()) {
    float_kernels(dst, "add_").binary_forward(dst->dtype, dst->data, dst->data, src->data, bc, cpu::Binary::Add);
    return;
  }
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::binary_forward<T>(dst->ptr<T>(), dst->ptr<T>(), src->ptr<T>(), bc, cpu::Binary::Add);
  });
}

}  // namespace chainrule::ops
