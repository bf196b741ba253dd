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

Tensor scalar_like(double value, const Tensor& like) { return full({}, value, like->dtype); }

// ---- unary ---------------------------------------------------------------------------------------
namespace {
struct UnaryNode : Node {
  cpu::Unary op;
  double param = 0;
  SavedTensor x, y;  // input and output, saved for the derivative
  const char* name() const override { return "UnaryBackward"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor dx = empty_like(x.get());
    dispatch_floating(x->dtype, "backward", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::unary_backward<T>(dx->ptr<T>(), g->ptr<T>(), x->ptr<T>(), y->ptr<T>(), x->numel, op, param);
    });
    return {dx};
  }
  void release_saved() override { x.reset(); y.reset(); }
};
}  // namespace

Tensor unary(cpu::Unary op, const Tensor& x, double param) {
  const char* name = cpu::unary_name(op);
  Tensor out = empty_like(x);
  dispatch_floating(x->dtype, name, "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::unary_forward<T>(out->ptr<T>(), x->ptr<T>(), x->numel, op, param);
  });
  if (needs_grad({&x})) {
    auto node = make_node<UnaryNode>({&x});
    node->op = op;
    node->param = param;
    node->x = saved(x);
    node->y = saved(out);
    set_history(out, node);
  }
  return out;
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
    Tensor da = wants(*this, 0) ? empty(a_shape, g->dtype) : nullptr;
    Tensor db = wants(*this, 1) ? empty(b_shape, g->dtype) : nullptr;
    dispatch_floating(g->dtype, "backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::binary_backward<T>(da ? da->ptr<T>() : nullptr, db ? db->ptr<T>() : nullptr, g->ptr<T>(),
                              a->ptr<T>(), b->ptr<T>(), bc, op);
    });
    return {da, db};
  }
  void release_saved() override { a.reset(); b.reset(); }
};
}  // namespace

Tensor binary(cpu::Binary op, const Tensor& a_in, const Tensor& b_in) {
  // Type promotion as in PyTorch: int64 < float32 < float64, and true division of integers.
  // A 0-d operand beside a dimensioned one only decides the result when it is of a higher
  // category (float vs int): float32 [n] * float64 scalar stays float32, as in torch.
  DType dtype = promote(a_in->dtype, b_in->dtype);
  if ((a_in->dim() == 0) != (b_in->dim() == 0)) {
    const Tensor& dimmed = a_in->dim() ? a_in : b_in;
    const Tensor& scalar = a_in->dim() ? b_in : a_in;
    dtype = is_floating(scalar->dtype) && !is_floating(dimmed->dtype) ? scalar->dtype : dimmed->dtype;
  }
  if (op == cpu::Binary::Div && dtype == DType::Int64) dtype = DType::Float32;
  Tensor a = a_in->dtype == dtype ? a_in : cast(a_in, dtype);
  Tensor b = b_in->dtype == dtype ? b_in : cast(b_in, dtype);

  if (op == cpu::Binary::Pow && dtype == DType::Int64) {
    const int64_t* e = b->ptr<int64_t>();
    for (int64_t i = 0; i < b->numel; ++i)
      if (e[i] < 0)
        throw ValueError("pow: integers to negative integer powers are not allowed (exponent " + std::to_string(e[i]) +
                         "); use a float base or exponent");
  }
  cpu::Broadcast bc = cpu::make_broadcast(a->shape, b->shape);
  Tensor out = empty(bc.out_shape, dtype);
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::binary_forward<T>(out->ptr<T>(), a->ptr<T>(), b->ptr<T>(), bc, op);
  });
  if (needs_grad({&a, &b})) {
    auto node = make_node<BinaryNode>({&a, &b});
    node->op = op;
    node->bc = std::move(bc);
    node->a = saved(a);
    node->b = saved(b);
    node->a_shape = a->shape;
    node->b_shape = b->shape;
    set_history(out, node);
  }
  return out;
}

void add_(const Tensor& dst, const Tensor& src) {
  if (dst->shape != src->shape || dst->dtype != src->dtype)
    throw ValueError("add_: tensor has shape " + shape_str(dst->shape) + " " + dtype_name(dst->dtype) +
                     " but other has shape " + shape_str(src->shape) + " " + dtype_name(src->dtype));
  mark_inplace_write(dst, "add_");
  cpu::Broadcast bc = cpu::make_broadcast(dst->shape, src->shape);
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::binary_forward<T>(dst->ptr<T>(), dst->ptr<T>(), src->ptr<T>(), bc, cpu::Binary::Add);
  });
}

}  // namespace chainrule::ops
