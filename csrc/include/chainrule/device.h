// Devices: where a tensor's memory lives, and what a device other than the CPU provides.
//
// The CPU is built in: its tensors are host memory and the ops call the cpu:: kernels directly.
// Any other device is a DeviceBackend that its own extension module registers with _core when it
// is imported (chainrule._cuda registers CUDA's); until then no tensor can be placed there. The
// backend brings raw memory, copies, a stream to order work on, and DeviceKernels: the twins of the
// cpu:: kernels that the ops need for a dense network, over device pointers.
//
// Rules every backend keeps:
//   * Work is enqueued on one stream per device, so memory freed by a tensor may be handed to the
//     next allocation at once (the caching allocator in core relies on it). Only copies to the host,
//     DeviceKernels::sum_all_to_host and synchronize() wait.
//   * No C++ exception crosses from a backend into core except chainrule's own error types
//     (errors.h), which are exported from both modules so that a catch in one sees a throw in the
//     other. A launch that fails throws RuntimeError naming the call.
//   * Kernels get validated arguments: the ops check shapes, dtypes and devices before calling.
//     Only float32 and float64 reach the floating-point entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chainrule/kernel_types.h"
#include "chainrule/types.h"

namespace chainrule {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };

// A device: the CPU (index 0, shown without one) or the index-th device of a backend.
struct Device {
  DeviceType type = DeviceType::CPU;
  int16_t index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};
inline const char* device_type_name(DeviceType t) { return t == DeviceType::CPU ? "cpu" : "cuda"; }
std::string device_str(Device d);  // "cpu", "cuda:0"

// One parameter group of a multi-tensor optimizer step: tensor k of the group is params[k] with
// n[k] elements, its gradient grads[k], and its state tensors states[s][k] (s in the order the
// optimizer names them; a null entry is a state the options do not use, such as SGD's momentum
// buffer when momentum is 0). The whole group is one launch on a device.
struct TensorGroup {
  std::vector<void*> params;
  std::vector<const void*> grads;
  std::vector<std::vector<void*>> states;
  std::vector<int64_t> n;
};

// The kernels a backend runs, type-erased: `dtype` says what the void pointers point at. Same
// meaning, argument order and write/add contract as the cpu:: kernel of the same name (kernels.h).
struct DeviceKernels {
  virtual ~DeviceKernels() = default;

  // ---- memory-shaped ------------------------------------------------------------------------
  virtual void fill(DType dtype, void* out, int64_t n, double value) const = 0;  // any dtype
  // out (n, dtype `to`) = x (n, dtype `from`) converted as cpu::cast converts; any dtypes.
  virtual void cast(DType to, void* out, DType from, const void* x, int64_t n) const = 0;
  // dst[i] = src[rows[i]] for `count` rows of `row_bytes` bytes; rows is a device int64 array.
  virtual void gather_rows(void* dst, const void* src, const int64_t* rows, int64_t count, size_t row_bytes) const = 0;
  virtual void transpose2d(DType dtype, void* out, const void* x, int64_t rows, int64_t cols) const = 0;
  virtual void broadcast_to(DType dtype, void* out, const void* x, const Shape& out_shape,
                            const std::vector<int64_t>& x_strides) const = 0;

  // ---- elementwise --------------------------------------------------------------------------
  virtual void unary_forward(DType dtype, void* out, const void* x, int64_t n, cpu::Unary op, double param) const = 0;
  virtual void unary_backward(DType dtype, void* dx, const void* dout, const void* x, const void* y, int64_t n,
                              cpu::Unary op, double param) const = 0;
  virtual void binary_forward(DType dtype, void* out, const void* a, const void* b, const cpu::Broadcast& bc,
                              cpu::Binary op) const = 0;
  // da / db (either may be null) write the gradients reduced to a's / b's shapes.
  virtual void binary_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b,
                               const cpu::Broadcast& bc, cpu::Binary op) const = 0;
  virtual void compare_forward(DType dtype, bool* out, const void* a, const void* b, const cpu::Broadcast& bc,
                               cpu::Compare op) const = 0;
  virtual void where_forward(DType dtype, void* out, const bool* condition, const void* a, const void* b,
                             int64_t n) const = 0;
  virtual void clamp_forward(DType dtype, void* out, const void* x, int64_t n, double lo, double hi, bool has_lo,
                             bool has_hi) const = 0;
  virtual void clamp_backward(DType dtype, void* dx, const void* dout, const void* x, int64_t n, double lo, double hi,
                              bool has_lo, bool has_hi) const = 0;

  // ---- reductions ---------------------------------------------------------------------------
  virtual void sum_dim_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n,
                               int64_t inner) const = 0;
  // out (one element, on the device) = the sum of x (n). No wait for the host.
  virtual void sum_all(DType dtype, void* out, const void* x, int64_t n) const = 0;
  virtual void argmax_dim(DType dtype, int64_t* out, const void* x, int64_t outer, int64_t n, int64_t inner) const = 0;
  virtual void softmax_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n, int64_t inner,
                               bool log) const = 0;
  virtual void softmax_backward(DType dtype, void* dx, const void* dout, const void* y, int64_t outer, int64_t n,
                                int64_t inner, bool log) const = 0;

  // ---- dense layers -------------------------------------------------------------------------
  virtual void linear_forward(DType dtype, void* out, const void* inp, const void* weight, const void* bias, int64_t B,
                              int64_t C, int64_t OC) const = 0;
  virtual void linear_backward(DType dtype, void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                               const void* weight, int64_t B, int64_t C, int64_t OC) const = 0;
  virtual void matmul_forward(DType dtype, void* out, const void* a, const void* b, int64_t M, int64_t K,
                              int64_t N) const = 0;
  virtual void matmul_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b,
                               int64_t M, int64_t K, int64_t N) const = 0;
  // One Linear stage of the fused chain: a (B, OC) = act(inp weight^T + bias), z (B, OC, or null
  // when the activation's derivative needs only a) the pre-activation.
  virtual void dense_forward(DType dtype, void* a, void* z, const void* inp, const void* weight, const void* bias,
                             int64_t B, int64_t C, int64_t OC, cpu::Activation act, double param,
                             double param2) const = 0;
  virtual void activation_backward_inplace(DType dtype, void* dz, const void* a, const void* z, int64_t n,
                                           cpu::Activation act, double param, double param2) const = 0;
  virtual void bias_grad(DType dtype, void* dbias, const void* dout, int64_t B, int64_t OC, bool accumulate) const = 0;
  virtual void batch_norm_forward(DType dtype, void* out, void* mean, void* rstd, void* batch_var, const void* x,
                                  const void* gamma, const void* beta, const void* running_mean,
                                  const void* running_var, int64_t B, int64_t F, double eps,
                                  bool use_batch_stats) const = 0;
  virtual void batch_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                                   const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                                   bool use_batch_stats, bool accumulate) const = 0;
  virtual void layer_norm_forward(DType dtype, void* out, void* mean, void* rstd, const void* x, const void* gamma,
                                  const void* beta, int64_t B, int64_t F, double eps) const = 0;
  virtual void layer_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                                   const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                                   bool accumulate) const = 0;
  // mask (n) holds uniform [0, 1) draws on entry (drawn on the host from chainrule's generator, so a
  // seed gives the same mask on every device) and the keep/scale factors on return.
  virtual void dropout_forward(DType dtype, void* out, void* mask, const void* x, int64_t n, double p) const = 0;
  virtual void dropout_backward(DType dtype, void* dx, const void* dout, const void* mask, int64_t n) const = 0;

  // ---- losses -------------------------------------------------------------------------------
  virtual void loss_forward(DType dtype, void* out, const void* pred, const void* target, int64_t n, cpu::Loss loss,
                            double param) const = 0;
  virtual void loss_backward(DType dtype, void* dpred, void* dtarget, const void* dout, bool dout_is_scalar,
                             const void* pred, const void* target, int64_t n, cpu::Loss loss, double param) const = 0;
  virtual void cross_entropy_forward(DType dtype, void* losses, void* log_probs, const void* logits,
                                     const int64_t* target, int64_t N, int64_t C) const = 0;
  virtual void cross_entropy_backward(DType dtype, void* dlogits, const void* dout, bool dout_is_scalar,
                                      const void* log_probs, const int64_t* target, int64_t N, int64_t C) const = 0;

  // ---- optimizers: one launch per parameter group ------------------------------------------
  // states: SGD [momentum_buffer]; Adam/AdamW [exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)].
  virtual void sgd_update(DType dtype, const TensorGroup& group, const cpu::SgdOptions& opt, bool first_step) const = 0;
  virtual void adam_update(DType dtype, const TensorGroup& group, const cpu::AdamOptions& opt, int64_t step) const = 0;
};

// A device other than the CPU. Methods that name an `index` act on that device of the backend.
struct DeviceBackend {
  virtual ~DeviceBackend() = default;
  virtual DeviceType type() const = 0;
  virtual int device_count() const = 0;  // 0 when the driver or the hardware is absent
  // Makes `index` the device that the next kernels run on.
  virtual void activate(int index) const = 0;

  // Raw memory, used only through the caching allocator (device_memory.h). raw_allocate returns
  // null when the device is out of memory (the allocator then frees its cache and tries again).
  virtual void* raw_allocate(int index, size_t nbytes) const = 0;
  virtual void raw_free(int index, void* p) const = 0;

  // Copies, ordered on the device's stream. copy_to_host waits for the data; the others do not.
  virtual void copy_from_host(int index, void* device_dst, const void* host_src, size_t nbytes) const = 0;
  virtual void copy_to_host(int index, void* host_dst, const void* device_src, size_t nbytes) const = 0;
  virtual void copy_on_device(int index, void* dst, const void* src, size_t nbytes) const = 0;
  virtual void synchronize(int index) const = 0;

  virtual const DeviceKernels& kernels() const = 0;
};

// The backend of `type`, registered by its module; null until then (and always for the CPU).
const DeviceBackend* device_backend(DeviceType type);
// Installs (or, with null, removes) the backend of `type`. Called once by the backend's module.
void register_device_backend(DeviceType type, const DeviceBackend* backend);
// The backend of d, activated on d; RuntimeError naming `what` when none is registered.
const DeviceBackend& backend_for(Device d, const char* what);

}  // namespace chainrule
