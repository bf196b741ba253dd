// chainrule's tensor: a dense, row-major, contiguous block of bool, int32, int64, float32 or
// float64 values.
//
// A tensor lives on one device (device.h): the CPU, or a device whose backend module registered
// itself. Its memory is then device memory: `ptr<T>()` refuses it (the CPU kernels cannot read it),
// so an op without a device path raises NotImplementedError instead of reading a device address;
// ops with one take `device_ptr<T>()` and run the backend's kernels.
//
// A TensorImpl is always contiguous; views (reshape, first-dimension slices, detach, NumPy
// arrays) share the memory block through `storage` and differ only in `data`, `shape`.
// The block carries what every view must agree on: whether it may be written, and how many
// in-place writes it has seen (the version autograd checks saved tensors against).
// Autograd bookkeeping (requires_grad, grad, grad_fn) sits on the same object, as in PyTorch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "chainrule/device.h"
#include "chainrule/errors.h"
#include "chainrule/numeric.h"
#include "chainrule/types.h"

namespace chainrule {

std::string shape_str(const Shape& s);  // "(3, 4)"
int64_t shape_numel(const Shape& s);    // product; validated non-negative dims
// Checks every dim is >= 0 and the byte size fits; `arg` names the argument in the message.
void check_shape(const Shape& s, DType d, const char* arg);

struct Node;  // autograd.h
struct TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;

// The memory block behind a tensor and all of its views.
struct Storage {
  // Our own block on another device, given back to its caching allocator (device_memory.h) with
  // the Storage. Null on the CPU, where our own elements share the Storage's allocation (freed
  // with it), and for foreign memory.
  void* allocation = nullptr;
  std::shared_ptr<void> owner;  // keeps foreign memory (a NumPy array) alive
  bool writeable = true;        // false for memory NumPy marks read-only (memmap, bytes)
  Device device;                // where the block is
  // In-place writes so far (mark_inplace_write). Atomic: the native fit loop steps parameters
  // without the GIL while another thread may read the version.
  std::atomic<uint64_t> version{0};

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;  // owns (or keeps alive) the memory block
  void* data = nullptr;              // first element of this tensor inside the block
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::Float32;

  // autograd
  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient of a leaf (or nullptr)
  std::shared_ptr<Node> grad_fn;  // the op that produced this tensor (nullptr for leaves)

  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  size_t nbytes() const { return static_cast<size_t>(numel) * itemsize(dtype); }
  Device device() const { return storage->device; }
  bool on_cpu() const { return storage->device.is_cpu(); }
  // The data for the CPU kernels; NotImplementedError when the tensor is on another device.
  template <typename T>
  T* ptr() const {
    if (!on_cpu()) throw_not_on_cpu();
    return static_cast<T*>(data);
  }
  // The data wherever it lives: for device kernels, and for code that checked the device itself.
  template <typename T>
  T* device_ptr() const {
    return static_cast<T*>(data);
  }
  [[noreturn]] void throw_not_on_cpu() const;
  bool is_leaf() const { return grad_fn == nullptr; }
  uint64_t version() const { return storage->version.load(std::memory_order_relaxed); }
};

// ---- in-place writes ------------------------------------------------------------------------
// The one gate for every write into an existing tensor's memory: in-place ops, fill_/zero_/
// copy_, optimizer steps (parameters and their state), gradient accumulation into .grad and
// `.data =` (which writes the old block's identity away). Call it before writing, naming the
// operation in `op`: it throws ValueError when the memory is read-only, and otherwise bumps the
// block's version so that a backward needing the old values raises instead of using new ones.
void mark_inplace_write(const Tensor& t, const char* op);

// zero_grad for one parameter: drop its .grad (set_to_none) or zero it in place.
void clear_grad(const Tensor& param, bool set_to_none);

// ---- creation (all results are fresh, 64-byte aligned on the CPU, contiguous) --------------
// Without a device: on the CPU. The *_like functions keep t's device.
Tensor empty(const Shape& shape, DType dtype);
Tensor zeros(const Shape& shape, DType dtype);
Tensor full(const Shape& shape, double value, DType dtype);
Tensor empty(const Shape& shape, DType dtype, Device device);
Tensor zeros(const Shape& shape, DType dtype, Device device);
Tensor full(const Shape& shape, double value, DType dtype, Device device);
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
// A tensor over memory someone else owns; `owner` keeps it alive. `data` must be aligned to the
// dtype's itemsize; `writeable` false makes every in-place write through it an error.
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner, bool writeable = true);
// A new TensorImpl over the same memory (no autograd history): detach(), views.
Tensor alias(const Tensor& t, const Shape& shape, int64_t element_offset);
Tensor clone_data(const Tensor& t);           // deep copy on t's device, no autograd history
Tensor cast_data(const Tensor& t, DType to);  // converted copy on t's device, no autograd history
// A copy of t on `device` (t itself when it is there already), no autograd history.
Tensor to_device(const Tensor& t, Device device);
// Copies src's elements into dst (same dtype and numel), across devices when they differ.
void copy_data(const Tensor& dst, const Tensor& src);

// ---- devices ---------------------------------------------------------------------------------
// RuntimeError, in PyTorch's words, unless every non-null tensor is on the same device. `op`
// names the operation.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
// The kernels of t's device, activated for it (t must not be on the CPU).
const DeviceKernels& device_kernels(const Tensor& t, const char* op);

// ---- random numbers ------------------------------------------------------------------------
// A random stream: each draw is a pure function of (key, position), so a fill gives the same
// numbers for any thread count, and `offset` counts the positions handed out so far. Draws that
// name no generator use the default one, which manual_seed seeds.
struct Generator {
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default initial seed
  uint64_t initial_seed = kDefaultSeed;
  uint64_t key = 0;
  uint64_t offset = 0;
  Generator() { manual_seed(kDefaultSeed); }
  void manual_seed(uint64_t seed);
  uint64_t next_u64();  // one 64-bit draw (e.g. the seed of a permutation)
};
Generator& default_generator();
void manual_seed(uint64_t seed);  // seeds the default generator
void fill_uniform(const Tensor& t, double low, double high, Generator& gen = default_generator());
void fill_normal(const Tensor& t, double mean, double stddev, Generator& gen = default_generator());
void fill_randint(const Tensor& t, int64_t low, int64_t high, Generator& gen = default_generator());
// 0..n-1 in an order that depends only on `seed` (Fisher-Yates over its own SplitMix stream; the
// global generator is untouched): the row order of one training epoch.
Tensor random_permutation(int64_t n, uint64_t seed);

// The dtype of new floating point tensors that name none (torch.set_default_dtype).
DType default_float_dtype();
void set_default_float_dtype(DType d);  // TypeError unless floating point

// ---- threads ----------------------------------------------------------------------------------
int get_num_threads();
void set_num_threads(int n);

}  // namespace chainrule
