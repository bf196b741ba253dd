// A stand-in device for testing every device path without a GPU: registered as CUDA by
// _core._use_host_device_as_cuda (tests/test_devices.py), it keeps its "device" memory on the host
// but hands out addresses moved far outside any mapping, so CPU code that reads a device tensor
// without going through the backend faults at once instead of quietly working. Its kernels move
// the addresses back and run the cpu:: kernels, so a device path gives the CPU's bits exactly.
//
// It also has a capacity per device, so the caching allocator's out-of-memory handling (give the
// cache back, try again, then MemoryError) can be tested.
#include "chainrule/host_device.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "chainrule/device_memory.h"
#include "chainrule/kernels.h"
#include "op_utils.h"

namespace chainrule::ops {
namespace {

// Device addresses are host addresses plus this: non-canonical on x86-64 (48- or 57-bit virtual
// addresses) and unmapped on AArch64, so a direct read faults.
constexpr uintptr_t kDeviceOffset = uintptr_t(1) << 62;

template <typename T>
T* host(void* p) {
  return p ? reinterpret_cast<T*>(reinterpret_cast<uintptr_t>(p) - kDeviceOffset) : nullptr;
}
template <typename T>
const T* host(const void* p) {
  return p ? reinterpret_cast<const T*>(reinterpret_cast<uintptr_t>(p) - kDeviceOffset) : nullptr;
}
void* device_address(void* p) { return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) + kDeviceOffset); }

struct HostKernels final : DeviceKernels {
  void fill(DType dtype, void* out, int64_t n, double value) const override {
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      T* o = host<T>(out);
      const T v = dtype == DType::Bool ? static_cast<T>(value != 0.0) : convert_value<T>(value);
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    });
  }
  void cast(DType to, void* out, DType from, const void* x, int64_t n) const override {
    for_dtype(to, [&](auto o) {
      using To = decltype(o);
      for_dtype(from, [&](auto f) {
        using From = decltype(f);
        cpu::cast<To, From>(host<To>(out), host<From>(x), n);
      });
    });
  }
  void gather_rows(void* dst, const void* src, const int64_t* rows, int64_t count, size_t row_bytes) const override {
    cpu::gather_rows(host<char>(dst), host<char>(src), host<int64_t>(rows), count, row_bytes);
  }
  void transpose2d(DType dtype, void* out, const void* x, int64_t rows, int64_t cols) const override {
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::transpose2d<T>(host<T>(out), host<T>(x), rows, cols);
    });
  }
  void broadcast_to(DType dtype, void* out, const void* x, const Shape& out_shape,
                    const std::vector<int64_t>& x_strides) const override {
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::broadcast_to<T>(host<T>(out), host<T>(x), out_shape, x_strides);
    });
  }

  void unary_forward(DType dtype, void* out, const void* x, int64_t n, cpu::Unary op, double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::unary_forward<T>(host<T>(out), host<T>(x), n, op, param);
    });
  }
  void unary_backward(DType dtype, void* dx, const void* dout, const void* x, const void* y, int64_t n, cpu::Unary op,
                      double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::unary_backward<T>(host<T>(dx), host<T>(dout), host<T>(x), host<T>(y), n, op, param);
    });
  }
  void binary_forward(DType dtype, void* out, const void* a, const void* b, const cpu::Broadcast& bc,
                      cpu::Binary op) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::binary_forward<T>(host<T>(out), host<T>(a), host<T>(b), bc, op);
    });
  }
  void binary_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b,
                       const cpu::Broadcast& bc, cpu::Binary op) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::binary_backward<T>(host<T>(da), host<T>(db), host<T>(dout), host<T>(a), host<T>(b), bc, op);
    });
  }
  void compare_forward(DType dtype, bool* out, const void* a, const void* b, const cpu::Broadcast& bc,
                       cpu::Compare op) const override {
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::compare_forward<T>(host<bool>(out), host<T>(a), host<T>(b), bc, op);
    });
  }
  void where_forward(DType dtype, void* out, const bool* condition, const void* a, const void* b,
                     int64_t n) const override {
    for_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::where_forward<T>(host<T>(out), host<bool>(condition), host<T>(a), host<T>(b), n);
    });
  }
  void clamp_forward(DType dtype, void* out, const void* x, int64_t n, double lo, double hi, bool has_lo,
                     bool has_hi) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::clamp_forward<T>(host<T>(out), host<T>(x), n, static_cast<T>(lo), static_cast<T>(hi), has_lo, has_hi);
    });
  }
  void clamp_backward(DType dtype, void* dx, const void* dout, const void* x, int64_t n, double lo, double hi,
                      bool has_lo, bool has_hi) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::clamp_backward<T>(host<T>(dx), host<T>(dout), host<T>(x), n, static_cast<T>(lo), static_cast<T>(hi), has_lo,
                             has_hi);
    });
  }

  void sum_dim_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n, int64_t inner) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::sum_dim_forward<T>(host<T>(out), host<T>(x), outer, n, inner);
    });
  }
  void sum_all(DType dtype, void* out, const void* x, int64_t n) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      host<T>(out)[0] = cpu::sum_all<T>(host<T>(x), n);
    });
  }
  void argmax_dim(DType dtype, int64_t* out, const void* x, int64_t outer, int64_t n, int64_t inner) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::argmax_dim<T>(host<int64_t>(out), host<T>(x), outer, n, inner);
    });
  }
  void softmax_forward(DType dtype, void* out, const void* x, int64_t outer, int64_t n, int64_t inner,
                       bool log) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::softmax_forward<T>(host<T>(out), host<T>(x), outer, n, inner, log);
    });
  }
  void softmax_backward(DType dtype, void* dx, const void* dout, const void* y, int64_t outer, int64_t n, int64_t inner,
                        bool log) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::softmax_backward<T>(host<T>(dx), host<T>(dout), host<T>(y), outer, n, inner, log);
    });
  }

  void linear_forward(DType dtype, void* out, const void* inp, const void* weight, const void* bias, int64_t B,
                      int64_t C, int64_t OC) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::linear_forward<T>(host<T>(out), host<T>(inp), host<T>(weight), host<T>(bias), B, C, OC);
    });
  }
  void linear_backward(DType dtype, void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                       const void* weight, int64_t B, int64_t C, int64_t OC) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::linear_backward<T>(host<T>(dinp), host<T>(dweight), host<T>(dbias), host<T>(dout), host<T>(inp),
                              host<T>(weight), B, C, OC);
    });
  }
  void matmul_forward(DType dtype, void* out, const void* a, const void* b, int64_t M, int64_t K,
                      int64_t N) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::matmul_forward<T>(host<T>(out), host<T>(a), host<T>(b), M, K, N);
    });
  }
  void matmul_backward(DType dtype, void* da, void* db, const void* dout, const void* a, const void* b, int64_t M,
                       int64_t K, int64_t N) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::matmul_backward<T>(host<T>(da), host<T>(db), host<T>(dout), host<T>(a), host<T>(b), M, K, N);
    });
  }
  void dense_forward(DType dtype, void* a, void* z, const void* inp, const void* weight, const void* bias, int64_t B,
                     int64_t C, int64_t OC, cpu::Activation act, double param, double param2) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::linear_forward<T>(host<T>(a), host<T>(inp), host<T>(weight), nullptr, B, C, OC);
      cpu::bias_activation_forward<T>(host<T>(a), host<T>(z), host<T>(bias), B, OC, act, param, param2);
    });
  }
  void activation_backward_inplace(DType dtype, void* dz, const void* a, const void* z, int64_t n, cpu::Activation act,
                                   double param, double param2) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::activation_backward_inplace<T>(host<T>(dz), host<T>(a), host<T>(z), n, act, param, param2);
    });
  }
  void bias_grad(DType dtype, void* dbias, const void* dout, int64_t B, int64_t OC, bool accumulate) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::bias_grad<T>(host<T>(dbias), host<T>(dout), B, OC, accumulate);
    });
  }
  void batch_norm_forward(DType dtype, void* out, void* mean, void* rstd, void* batch_var, const void* x,
                          const void* gamma, const void* beta, const void* running_mean, const void* running_var,
                          int64_t B, int64_t F, double eps, bool use_batch_stats) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::batch_norm_forward<T>(host<T>(out), host<T>(mean), host<T>(rstd), host<T>(batch_var), host<T>(x),
                                 host<T>(gamma), host<T>(beta), host<T>(running_mean), host<T>(running_var), B, F, eps,
                                 use_batch_stats);
    });
  }
  void batch_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                           const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                           bool use_batch_stats, bool accumulate) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::batch_norm_backward<T>(host<T>(dx), host<T>(dgamma), host<T>(dbeta), host<T>(dout), host<T>(x),
                                  host<T>(mean), host<T>(rstd), host<T>(gamma), B, F, use_batch_stats, accumulate);
    });
  }
  void layer_norm_forward(DType dtype, void* out, void* mean, void* rstd, const void* x, const void* gamma,
                          const void* beta, int64_t B, int64_t F, double eps) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::layer_norm_forward<T>(host<T>(out), host<T>(mean), host<T>(rstd), host<T>(x), host<T>(gamma), host<T>(beta),
                                 B, F, eps);
    });
  }
  void layer_norm_backward(DType dtype, void* dx, void* dgamma, void* dbeta, const void* dout, const void* x,
                           const void* mean, const void* rstd, const void* gamma, int64_t B, int64_t F,
                           bool accumulate) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::layer_norm_backward<T>(host<T>(dx), host<T>(dgamma), host<T>(dbeta), host<T>(dout), host<T>(x),
                                  host<T>(mean), host<T>(rstd), host<T>(gamma), B, F, accumulate);
    });
  }
  void dropout_forward(DType dtype, void* out, void* mask, const void* x, int64_t n, double p) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::dropout_forward<T>(host<T>(out), host<T>(mask), host<T>(x), n, p);
    });
  }
  void dropout_backward(DType dtype, void* dx, const void* dout, const void* mask, int64_t n) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::dropout_backward<T>(host<T>(dx), host<T>(dout), host<T>(mask), n);
    });
  }

  void loss_forward(DType dtype, void* out, const void* pred, const void* target, int64_t n, cpu::Loss loss,
                    double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::loss_forward<T>(host<T>(out), host<T>(pred), host<T>(target), n, loss, param);
    });
  }
  void loss_backward(DType dtype, void* dpred, void* dtarget, const void* dout, bool dout_is_scalar, const void* pred,
                     const void* target, int64_t n, cpu::Loss loss, double param) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::loss_backward<T>(host<T>(dpred), host<T>(dtarget), host<T>(dout), dout_is_scalar, host<T>(pred),
                            host<T>(target), n, loss, param);
    });
  }
  void cross_entropy_forward(DType dtype, void* losses, void* log_probs, const void* logits, const int64_t* target,
                             int64_t N, int64_t C) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::cross_entropy_forward<T>(host<T>(losses), host<T>(log_probs), host<T>(logits), host<int64_t>(target), N, C);
    });
  }
  void cross_entropy_backward(DType dtype, void* dlogits, const void* dout, bool dout_is_scalar, const void* log_probs,
                              const int64_t* target, int64_t N, int64_t C) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::cross_entropy_backward<T>(host<T>(dlogits), host<T>(dout), dout_is_scalar, host<T>(log_probs),
                                     host<int64_t>(target), N, C);
    });
  }

  void sgd_update(DType dtype, const TensorGroup& group, const cpu::SgdOptions& opt, bool first_step) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      for (size_t k = 0; k < group.params.size(); ++k)
        cpu::sgd_update<T>(host<T>(group.params[k]), host<T>(group.grads[k]), host<T>(group.states[0][k]), group.n[k],
                           opt, first_step);
    });
  }
  void adam_update(DType dtype, const TensorGroup& group, const cpu::AdamOptions& opt, int64_t step) const override {
    for_float_dtype(dtype, [&](auto t) {
      using T = decltype(t);
      for (size_t k = 0; k < group.params.size(); ++k)
        cpu::adam_update<T>(host<T>(group.params[k]), host<T>(group.grads[k]), host<T>(group.states[0][k]),
                            host<T>(group.states[1][k]), host<T>(group.states[2][k]), group.n[k], opt, step);
    });
  }
};

struct HostBackend final : DeviceBackend {
  HostKernels kernel_table;
  int devices = 0;
  size_t capacity = SIZE_MAX;  // bytes per device the stand-in hands out before it reports "out of memory"
  mutable std::mutex lock;
  mutable std::unordered_map<void*, std::pair<int, size_t>> blocks;  // device address -> (device, bytes)
  mutable std::vector<size_t> in_use;
  mutable int64_t raw_allocations = 0;

  DeviceType type() const override { return DeviceType::CUDA; }
  int device_count() const override { return devices; }
  void activate(int) const override {}
  void* raw_allocate(int index, size_t nbytes) const override {
    std::lock_guard<std::mutex> guard(lock);
    if (in_use.size() <= static_cast<size_t>(index)) in_use.resize(index + 1, 0);
    if (nbytes > capacity - in_use[index]) return nullptr;
    void* p = std::aligned_alloc(256, (nbytes + 255) / 256 * 256);
    if (!p) return nullptr;
    void* address = device_address(p);
    blocks[address] = {index, nbytes};
    in_use[index] += nbytes;
    ++raw_allocations;
    return address;
  }
  void raw_free(int, void* p) const override {
    std::lock_guard<std::mutex> guard(lock);
    auto it = blocks.find(p);
    if (it == blocks.end()) return;
    in_use[it->second.first] -= it->second.second;
    blocks.erase(it);
    std::free(host<char>(p));
  }
  void copy_from_host(int, void* device_dst, const void* host_src, size_t nbytes) const override {
    std::memcpy(host<char>(device_dst), host_src, nbytes);
  }
  void copy_to_host(int, void* host_dst, const void* device_src, size_t nbytes) const override {
    std::memcpy(host_dst, host<char>(device_src), nbytes);
  }
  void copy_on_device(int, void* dst, const void* src, size_t nbytes) const override {
    std::memmove(host<char>(dst), host<char>(src), nbytes);
  }
  void synchronize(int) const override {}
  const DeviceKernels& kernels() const override { return kernel_table; }
};

HostBackend& stand_in() {
  static HostBackend* backend = new HostBackend();  // never destroyed: blocks may be freed at exit
  return *backend;
}
}  // namespace

// The backend the stand-in displaced: a CUDA module loaded on a machine without a GPU registers
// one with no devices, which the stand-in may replace for a test and then puts back.
const DeviceBackend* g_displaced = nullptr;

void use_host_device_as_cuda(int device_count, int64_t capacity_bytes) {
  HostBackend& backend = stand_in();
  if (device_count < 0) throw ValueError("_use_host_device_as_cuda: device_count must be >= 0");
  const DeviceBackend* registered = device_backend(DeviceType::CUDA);
  if (registered && registered != &backend) {
    if (registered->device_count() > 0)
      throw RuntimeError(
          "_use_host_device_as_cuda: a CUDA backend with a GPU is registered; the stand-in cannot replace it");
    g_displaced = registered;
  }
  // Leaving: its cached blocks go back, so the figures of whatever is registered next start clean.
  if (device_count == 0 && registered == &backend)
    for (int i = 0; i < backend.devices; ++i) device_empty_cache(Device{DeviceType::CUDA, static_cast<int16_t>(i)});
  backend.devices = device_count;
  backend.capacity = capacity_bytes < 0 ? SIZE_MAX : static_cast<size_t>(capacity_bytes);
  register_device_backend(DeviceType::CUDA, device_count > 0 ? &backend : g_displaced);
  if (device_count == 0) g_displaced = nullptr;
}

bool host_device_is_cuda() { return device_backend(DeviceType::CUDA) == &stand_in(); }

int64_t host_device_raw_allocations() { return stand_in().raw_allocations; }

}  // namespace chainrule::ops
