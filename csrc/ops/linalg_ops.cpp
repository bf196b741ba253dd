// matmul and the linear layer (the seed's z = W a + b, batched as rows: Z = X W^T + b).
#include "op_utils.h"

namespace chainrule::ops {

namespace {
struct LinearNode : Node {
  SavedTensor input, weight;  // input (B, C), weight (OC, C)
  Shape input_shape;          // the caller's shape, possibly (..., C)
  int64_t B = 0, C = 0, OC = 0;
  bool has_bias = false;
  const char* name() const override { return "LinearBackward"; }
  int64_t backward_flops(const Tensor&) const override { return 4 * B * C * OC; }
  std::vector<Tensor> backward(const Tensor& g) override {  // g is (..., OC)
    Tensor dinput = wants(*this, 0) ? empty(input_shape, g->dtype, g->device()) : nullptr;
    Tensor dweight = wants(*this, 1) ? empty({OC, C}, g->dtype, g->device()) : nullptr;
    Tensor dbias = wants(*this, 2) ? empty({OC}, g->dtype, g->device()) : nullptr;
    if (!g->on_cpu()) {
      float_kernels(g, "linear backward")
          .linear_backward(g->dtype, dinput ? dinput->data : nullptr, dweight ? dweight->data : nullptr,
                           dbias ? dbias->data : nullptr, g->data, input->data, weight->data, B, C, OC);
      return {dinput, dweight, dbias};
    }
    dispatch_floating(g->dtype, "linear backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::linear_backward<T>(dinput ? dinput->ptr<T>() : nullptr, dweight ? dweight->ptr<T>() : nullptr,
                              dbias ? dbias->ptr<T>() : nullptr, g->ptr<T>(), input->ptr<T>(), weight->ptr<T>(), B, C,
                              OC);
    });
    return {dinput, dweight, dbias};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    // dinput = g W, dweight = g^T x, dbias = column sums of g, over (B, .) views of g and x.
    Tensor g2d = reshape(g, {B, OC});
    Tensor dinput = wants(*this, 0) ? reshape(matmul(g2d, inputs[1]), input_shape) : nullptr;
    Tensor dweight = wants(*this, 1) ? matmul(transpose(g2d), reshape(inputs[0], {B, C})) : nullptr;
    Tensor dbias = wants(*this, 2) ? sum(g2d, {0}, false) : nullptr;
    return {dinput, dweight, dbias};
  }
  void release_saved() override {
    input.reset();
    weight.reset();
  }
};

struct MatmulNode : Node {
  SavedTensor a, b;  // a (M, K), b (K, N)
  int64_t M = 0, K = 0, N = 0;
  const char* name() const override { return "MmBackward"; }
  int64_t backward_flops(const Tensor&) const override { return 4 * M * K * N; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor da = wants(*this, 0) ? empty({M, K}, g->dtype, g->device()) : nullptr;
    Tensor db = wants(*this, 1) ? empty({K, N}, g->dtype, g->device()) : nullptr;
    if (!g->on_cpu()) {
      float_kernels(g, "matmul backward")
          .matmul_backward(g->dtype, da ? da->data : nullptr, db ? db->data : nullptr, g->data, a->data, b->data, M, K,
                           N);
      return {da, db};
    }
    dispatch_floating(g->dtype, "matmul backward", "grad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::matmul_backward<T>(da ? da->ptr<T>() : nullptr, db ? db->ptr<T>() : nullptr, g->ptr<T>(), a->ptr<T>(),
                              b->ptr<T>(), M, K, N);
    });
    return {da, db};
  }
  std::vector<Tensor> backward_graph(const Tensor& g) override {
    // da = g b^T, db = a^T g
    return {wants(*this, 0) ? matmul(g, transpose(inputs[1])) : nullptr,
            wants(*this, 1) ? matmul(transpose(inputs[0]), g) : nullptr};
  }
  void release_saved() override {
    a.reset();
    b.reset();
  }
};

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  if (a->dtype != b->dtype)
    throw TypeError(std::string(op) + ": " + a_name + " is " + dtype_name(a->dtype) + " but " + b_name + " is " +
                    dtype_name(b->dtype) + "; convert one with .to(dtype)");
}
}  // namespace

Tensor linear_unfused(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  const int64_t C = weight->shape[1], OC = weight->shape[0];
  Shape out_shape = input->shape;
  out_shape.back() = OC;
  Tensor z = matmul(reshape(input, {C ? input->numel / C : 0, C}), transpose(weight));
  if (bias) z = binary(cpu::Binary::Add, z, bias);
  return reshape(z, out_shape);
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  if (weight->dim() != 2)
    throw ValueError("linear: weight must be 2-D (out_features, in_features), got shape " + shape_str(weight->shape));
  const int64_t OC = weight->shape[0], C = weight->shape[1];
  if (input->dim() < 1 || input->shape.back() != C)
    throw ValueError("linear: input has shape " + shape_str(input->shape) + " but weight has shape " +
                     shape_str(weight->shape) +
                     "; the input's last dimension must be in_features=" + std::to_string(C));
  if (bias && (bias->dim() != 1 || bias->shape[0] != OC))
    throw ValueError("linear: bias has shape " + shape_str(bias->shape) + " but weight has shape " +
                     shape_str(weight->shape) + "; expected bias of shape (" + std::to_string(OC) + ",)");
  check_same_dtype(input, weight, "linear", "input", "weight");
  if (bias) check_same_dtype(bias, weight, "linear", "bias", "weight");
  check_same_device("linear", {&input, &weight, &bias});
  const int64_t B =
      C ? input->numel / C : (input->dim() > 1 ? shape_numel(Shape(input->shape.begin(), input->shape.end() - 1)) : 1);
  Shape out_shape = input->shape;
  out_shape.back() = OC;
  Tensor out = empty(out_shape, input->dtype, input->device());
  if (!input->on_cpu()) {
    float_kernels(input, "linear")
        .linear_forward(input->dtype, out->data, input->data, weight->data, bias ? bias->data : nullptr, B, C, OC);
  } else {
    dispatch_floating(input->dtype, "linear", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::linear_forward<T>(out->ptr<T>(), input->ptr<T>(), weight->ptr<T>(), bias ? bias->ptr<T>() : nullptr, B, C,
                             OC);
    });
  }
  if (needs_grad({&input, &weight, &bias})) {
    auto node = make_node<LinearNode>({&input, &weight, &bias});
    node->input = saved_input(input);
    node->weight = saved_input(weight);
    node->input_shape = input->shape;
    node->B = B;
    node->C = C;
    node->OC = OC;
    node->has_bias = bias != nullptr;
    node->inputs = {input, weight, bias};
    set_history(out, node);
  }
  return out;
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  if (a_in->dim() < 1 || a_in->dim() > 2 || b_in->dim() < 1 || b_in->dim() > 2)
    throw ValueError("matmul: both operands must be 1-D or 2-D, got shapes " + shape_str(a_in->shape) + " and " +
                     shape_str(b_in->shape));
  check_same_dtype(a_in, b_in, "matmul", "input", "other");
  check_same_device("matmul", {&a_in, &b_in});
  // 1-D operands become a row (left) or a column (right) and the extra dimension is dropped after.
  Tensor a = a_in->dim() == 1 ? reshape(a_in, {1, a_in->shape[0]}) : a_in;
  Tensor b = b_in->dim() == 1 ? reshape(b_in, {b_in->shape[0], 1}) : b_in;
  const int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
  if (b->shape[0] != K)
    throw ValueError("matmul: shapes " + shape_str(a_in->shape) + " and " + shape_str(b_in->shape) +
                     " cannot be multiplied (" + std::to_string(K) + " != " + std::to_string(b->shape[0]) + ")");
  Tensor out = empty({M, N}, a->dtype, a->device());
  if (!a->on_cpu()) {
    float_kernels(a, "matmul").matmul_forward(a->dtype, out->data, a->data, b->data, M, K, N);
  } else {
    dispatch_floating(a->dtype, "matmul", "input", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cpu::matmul_forward<T>(out->ptr<T>(), a->ptr<T>(), b->ptr<T>(), M, K, N);
    });
  }
  if (needs_grad({&a, &b})) {
    auto node = make_node<MatmulNode>({&a, &b});
    node->a = saved_input(a);
    node->b = saved_input(b);
    node->M = M;
    node->K = K;
    node->N = N;
    node->inputs = {a, b};
    set_history(out, node);
  }
  Shape final_shape;
  if (a_in->dim() == 2) final_shape.push_back(M);
  if (b_in->dim() == 2) final_shape.push_back(N);
  return final_shape.size() == 2 ? out : reshape(out, final_shape);
}

}  // namespace chainrule::ops
