// Tensor creation, memory ownership, random numbers and the thread count.
#include "chainrule/tensor.h"

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>

#include "chainrule/device_memory.h"
#include "chainrule/kernels.h"
#include "cpu/parallel.h"

namespace chainrule {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  // An empty shape can have huge other dims (checked by check_shape); don't multiply those.
  if (std::find(s.begin(), s.end(), 0) != s.end()) return 0;
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

void check_shape(const Shape& s, DType d, const char* arg) {
  // Byte counts beyond this cannot be allocated on any machine we run on; checking here turns
  // an overflowing product into a clear error instead of a tiny allocation.
  const int64_t max_bytes = std::numeric_limits<int64_t>::max() / 2;
  const int64_t max_elements = max_bytes / static_cast<int64_t>(itemsize(d));
  int64_t n = 1;
  bool empty = false, too_big = false;
  for (int64_t dim : s) {
    if (dim < 0) throw ValueError(std::string(arg) + ": negative dimension in size " + shape_str(s));
    if (dim == 0)
      empty = true;
    else if (n > max_elements / dim)
      too_big = true;  // the product would not fit: stop multiplying
    else
      n *= dim;
  }
  if (too_big && !empty)
    throw MemoryError(std::string(arg) + ": a tensor of size " + shape_str(s) + " and dtype " + dtype_name(d) +
                      " is too large to allocate");
}

Storage::~Storage() {
  if (!device.is_cpu()) device_release(device, allocation);
}

void TensorImpl::throw_not_on_cpu() const {
  throw NotImplementedError("this operation has no implementation for tensors on " + device_str(device()) +
                            " yet; move them to the CPU with .cpu() first");
}

void mark_inplace_write(const Tensor& t, const char* op) {
  Storage& s = *t->storage;
  if (!s.writeable)
    throw ValueError(std::string(op) +
                     ": the tensor's memory is read-only (it comes from a read-only NumPy array, "
                     "such as a read-only memmap or an array over bytes); use .clone() to get a writable copy");
  // A load and a store, not a locked read-modify-write (fetch_add costs ~20 cycles, and a small
  // network's step makes a dozen of these calls). A reader on another thread sees the old or the
  // new count, never a torn one. Two threads writing one block at once (the native loop without
  // the GIL and a Python thread) race on its data anyway; even then the count moves past every
  // value saved before either write, which is all that the saved-tensor check compares.
  s.version.store(s.version.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void clear_grad(const Tensor& param, bool set_to_none) {
  Tensor& grad = param->grad;
  if (!grad) return;
  if (set_to_none) {
    grad.reset();
    return;
  }
  mark_inplace_write(grad, "zero_grad");
  if (!grad->on_cpu())
    device_kernels(grad, "zero_grad").fill(grad->dtype, grad->data, grad->numel, 0.0);
  else
    std::memset(grad->data, 0, grad->nbytes());
}

namespace {
// allocate_shared's allocator for a CPU Storage: malloc is asked for `tail` bytes more than the
// shared_ptr control block and the Storage take, and the allocator reports where those bytes
// start. A tensor's elements then live in the block of their Storage: one malloc and one free per
// tensor instead of two (a small network's step creates a few tensors; each allocation pair costs
// about as much as a 5-wide layer's kernel).
template <typename T>
struct StorageWithTail {
  using value_type = T;
  size_t tail;
  char** tail_start;

  StorageWithTail(size_t tail_bytes, char** start) : tail(tail_bytes), tail_start(start) {}
  template <typename U>
  StorageWithTail(const StorageWithTail<U>& other) : tail(other.tail), tail_start(other.tail_start) {}

  T* allocate(size_t n) {
    const size_t head = n * sizeof(T);
    void* block = std::malloc(head + tail);
    if (!block) throw MemoryError("out of memory: could not allocate " + std::to_string(tail) + " bytes for a tensor");
    *tail_start = static_cast<char*>(block) + head;
    return static_cast<T*>(block);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const StorageWithTail<U>&) const {
    return true;  // any of them frees any block
  }
  template <typename U>
  bool operator!=(const StorageWithTail<U>&) const {
    return false;
  }
};

// A CPU Storage with room for nbytes; *data gets their start, aligned to 64 bytes (one cache
// line, and aligned zmm loads for the kernels). malloc plus manual alignment rather than
// aligned_alloc: small blocks then come from malloc's per-thread cache.
std::shared_ptr<Storage> allocate(size_t nbytes, void** data) {
  constexpr size_t kAlign = 64;
  if (nbytes > std::numeric_limits<size_t>::max() / 2)
    throw MemoryError("out of memory: could not allocate " + std::to_string(nbytes) + " bytes for a tensor");
  char* tail = nullptr;
  auto storage = std::allocate_shared<Storage>(StorageWithTail<Storage>(nbytes + kAlign, &tail));
  *data = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(tail) + kAlign - 1) & ~uintptr_t{kAlign - 1});
  return storage;
}
}  // namespace

Tensor empty(const Shape& shape, DType dtype) {
  check_shape(shape, dtype, "size");
  auto t = std::make_shared<TensorImpl>();
  t->shape = shape;
  t->numel = shape_numel(shape);
  t->dtype = dtype;
  t->storage = allocate(t->nbytes(), &t->data);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t->data, 0, t->nbytes());  // all-zero bytes are 0 in every dtype we have
  return t;
}

template <typename T>
static void fill_value(T* p, int64_t n, T v) {
  cpu::parallel_for(n, n > (1 << 18), [&](int64_t i) { p[i] = v; });
}

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  switch (dtype) {
    case DType::Float32: fill_value(t->ptr<float>(), t->numel, static_cast<float>(value)); break;
    case DType::Float64: fill_value(t->ptr<double>(), t->numel, value); break;
    case DType::Int64: fill_value(t->ptr<int64_t>(), t->numel, convert_value<int64_t>(value)); break;
    case DType::Int32: fill_value(t->ptr<int32_t>(), t->numel, convert_value<int32_t>(value)); break;
    case DType::Bool: fill_value(t->ptr<bool>(), t->numel, value != 0.0); break;
  }
  return t;
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  if (device.is_cpu()) return empty(shape, dtype);
  check_shape(shape, dtype, "size");
  auto t = std::make_shared<TensorImpl>();
  t->shape = shape;
  t->numel = shape_numel(shape);
  t->dtype = dtype;
  auto storage = std::make_shared<Storage>();
  storage->device = device;
  storage->allocation = device_allocate(device, t->nbytes());
  t->data = storage->allocation;
  t->storage = std::move(storage);
  return t;
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  if (device.is_cpu()) return full(shape, value, dtype);
  Tensor t = empty(shape, dtype, device);
  if (t->numel) device_kernels(t, "full").fill(dtype, t->data, t->numel, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return device.is_cpu() ? zeros(shape, dtype) : full(shape, 0.0, dtype, device);
}

Tensor empty_like(const Tensor& t) { return empty(t->shape, t->dtype, t->device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t->shape, t->dtype, t->device()); }

// ---- devices ---------------------------------------------------------------------------------------
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t || !*t) continue;
    if (!first) {
      first = t;
    } else if ((*t)->device() != (*first)->device()) {
      throw RuntimeError(
          std::string("Expected all tensors to be on the same device, but found at least two devices, ") +
          device_str((*first)->device()) + " and " + device_str((*t)->device()) + "! (in " + op + ")");
    }
  }
}

const DeviceKernels& device_kernels(const Tensor& t, const char* op) { return backend_for(t->device(), op).kernels(); }

void copy_data(const Tensor& dst, const Tensor& src) {
  const size_t nbytes = src->nbytes();
  if (nbytes == 0 || dst->data == src->data) return;
  const Device to = dst->device(), from = src->device();
  if (to.is_cpu() && from.is_cpu()) {
    std::memmove(dst->data, src->data, nbytes);
  } else if (from.is_cpu()) {
    backend_for(to, "copy").copy_from_host(to.index, dst->data, src->data, nbytes);
  } else if (to.is_cpu()) {
    backend_for(from, "copy").copy_to_host(from.index, dst->data, src->data, nbytes);
  } else if (to == from) {
    backend_for(to, "copy").copy_on_device(to.index, dst->data, src->data, nbytes);
  } else {  // between two devices: through the host
    Tensor host = empty(src->shape, src->dtype);
    copy_data(host, src);
    copy_data(dst, host);
  }
}

Tensor to_device(const Tensor& t, Device device) {
  if (t->device() == device) return t;
  Tensor out = empty(t->shape, t->dtype, device);
  copy_data(out, t);
  return out;
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner, bool writeable) {
  auto storage = std::make_shared<Storage>();
  storage->owner = std::move(owner);
  storage->writeable = writeable;
  auto t = std::make_shared<TensorImpl>();
  t->shape = shape;
  t->numel = shape_numel(shape);
  t->dtype = dtype;
  t->storage = std::move(storage);
  t->data = data;
  return t;
}

Tensor alias(const Tensor& t, const Shape& shape, int64_t element_offset) {
  auto a = std::make_shared<TensorImpl>();
  a->shape = shape;
  a->numel = shape_numel(shape);
  a->dtype = t->dtype;
  a->storage = t->storage;
  a->data = static_cast<char*>(t->data) + element_offset * static_cast<int64_t>(itemsize(t->dtype));
  return a;
}

Tensor clone_data(const Tensor& t) {
  Tensor out = empty_like(t);
  copy_data(out, t);
  return out;
}

template <typename From>
static void cast_from(const Tensor& out, const From* x, int64_t n) {
  switch (out->dtype) {
    case DType::Float32: cpu::cast(out->ptr<float>(), x, n); break;
    case DType::Float64: cpu::cast(out->ptr<double>(), x, n); break;
    case DType::Int64: cpu::cast(out->ptr<int64_t>(), x, n); break;
    case DType::Int32: cpu::cast(out->ptr<int32_t>(), x, n); break;
    case DType::Bool: cpu::cast(out->ptr<bool>(), x, n); break;
  }
}

Tensor cast_data(const Tensor& t, DType to) {
  if (t->dtype == to) return clone_data(t);
  if (!t->on_cpu()) {
    Tensor out = empty(t->shape, to, t->device());
    if (t->numel) device_kernels(t, "to").cast(to, out->data, t->dtype, t->data, t->numel);
    return out;
  }
  Tensor out = empty(t->shape, to);
  switch (t->dtype) {
    case DType::Float32: cast_from(out, t->ptr<float>(), t->numel); break;
    case DType::Float64: cast_from(out, t->ptr<double>(), t->numel); break;
    case DType::Int64: cast_from(out, t->ptr<int64_t>(), t->numel); break;
    case DType::Int32: cast_from(out, t->ptr<int32_t>(), t->numel); break;
    case DType::Bool: cast_from(out, t->ptr<bool>(), t->numel); break;
  }
  return out;
}

// ---- random numbers ----------------------------------------------------------------------------
// SplitMix64 over a per-generator counter: each draw is a pure function of (key, position), so a
// fill gives the same numbers for any thread count.
namespace {
inline uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
// Uniform in [0, 1) with 53 random bits.
inline double uniform01(uint64_t key, uint64_t i) {
  return static_cast<double>(splitmix(key ^ splitmix(i)) >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T, typename F>
void fill_by_index(const Tensor& t, Generator& gen, F f) {
  T* p = t->ptr<T>();
  const int64_t n = t->numel;
  const uint64_t start = gen.offset;  // two draws per element (normal needs a pair)
  gen.offset += 2 * static_cast<uint64_t>(n);
  const uint64_t key = gen.key;
  cpu::parallel_for(n, n > (1 << 16),
                    [&](int64_t i) { p[i] = static_cast<T>(f(key, start + 2 * static_cast<uint64_t>(i))); });
}

template <typename F>
void fill_dispatch(const Tensor& t, Generator& gen, F f) {
  if (!t->on_cpu()) {
    // Drawn on the host and copied: a seed gives the same numbers on every device.
    Tensor host = empty(t->shape, t->dtype);
    fill_dispatch(host, gen, f);
    copy_data(t, host);
    return;
  }
  switch (t->dtype) {
    case DType::Float32: fill_by_index<float>(t, gen, f); break;
    case DType::Float64: fill_by_index<double>(t, gen, f); break;
    case DType::Int64: fill_by_index<int64_t>(t, gen, f); break;
    case DType::Int32: fill_by_index<int32_t>(t, gen, f); break;
    case DType::Bool: fill_by_index<bool>(t, gen, f); break;
  }
}

DType g_default_float_dtype = DType::Float32;
}  // namespace

void Generator::manual_seed(uint64_t seed) {
  initial_seed = seed;
  key = splitmix(seed);
  offset = 0;
}

uint64_t Generator::next_u64() { return splitmix(key ^ splitmix(offset++)); }

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

void fill_uniform(const Tensor& t, double low, double high, Generator& gen) {
  const double width = high - low;
  fill_dispatch(t, gen, [=](uint64_t key, uint64_t i) { return low + width * uniform01(key, i); });
}

void fill_normal(const Tensor& t, double mean, double stddev, Generator& gen) {
  // Box-Muller on two independent uniforms; 1 - u keeps the logarithm finite.
  fill_dispatch(t, gen, [=](uint64_t key, uint64_t i) {
    double u1 = 1.0 - uniform01(key, i), u2 = uniform01(key, i + 1);
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  });
}

void fill_randint(const Tensor& t, int64_t low, int64_t high, Generator& gen) {
  // high - low can exceed int64 (low = -2^62, high = 2^62 + 1): the span and the offset are
  // unsigned, low + offset wraps back into [low, high), and int64 values never pass through a
  // double (which would round those beyond 2^53).
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const double width = static_cast<double>(span);
  fill_dispatch(t, gen, [=](uint64_t key, uint64_t i) {
    const double draw = std::floor(width * uniform01(key, i));
    const uint64_t offset = draw >= width ? span - 1 : std::min(static_cast<uint64_t>(draw), span - 1);
    return wrapping_add(low, static_cast<int64_t>(offset));
  });
}

DType default_float_dtype() { return g_default_float_dtype; }

void set_default_float_dtype(DType d) {
  if (!is_floating(d))
    throw TypeError(std::string("set_default_dtype: only floating point dtypes can be the default, got ") +
                    dtype_name(d));
  g_default_float_dtype = d;
}

Tensor random_permutation(int64_t n, uint64_t seed) {
  check_shape({n}, DType::Int64, "n");
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = t->ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  // Fisher-Yates over one sequential SplitMix64 stream. j, uniform in [0, count) with count =
  // i + 1, comes from Lemire's multiply-shift: the high half of draw * count, no division and no
  // float conversion. Below 2^32 elements each 64-bit draw serves two positions as two 32-bit
  // halves (chainrule.fit draws a permutation every epoch; the multiplies bound this loop), and
  // the rare low half below 2^32 mod count is redrawn, so every j is exactly uniform. Beyond
  // 2^32 a 64-bit draw per position leaves a bias below count / 2^64.
  uint64_t state = seed;
  auto next_draw = [&state] {
    state += 0x9e3779b97f4a7c15ULL;
    return splitmix(state);
  };
  uint64_t count = static_cast<uint64_t>(n);
  for (; count > 0xFFFFFFFFULL; --count) {
    const auto j = static_cast<uint64_t>((static_cast<unsigned __int128>(next_draw()) * count) >> 64);
    std::swap(p[count - 1], p[j]);
  }
  uint64_t spare = 0;  // the unused high half of the last draw, when have_spare
  bool have_spare = false;
  auto next_half = [&]() -> uint32_t {
    if (have_spare) {
      have_spare = false;
      return static_cast<uint32_t>(spare);
    }
    const uint64_t draw = next_draw();
    spare = draw >> 32;
    have_spare = true;
    return static_cast<uint32_t>(draw);
  };
  for (; count > 1; --count) {
    uint64_t product = uint64_t{next_half()} * count;
    if (static_cast<uint32_t>(product) < count) {  // maybe in the biased sliver: 2^32 mod count
      const auto threshold = static_cast<uint32_t>((uint64_t{1} << 32) % count);
      while (static_cast<uint32_t>(product) < threshold) product = uint64_t{next_half()} * count;
    }
    std::swap(p[count - 1], p[product >> 32]);
  }
  return t;
}

int get_num_threads() { return omp_get_max_threads(); }
void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: num_threads must be >= 1, got " + std::to_string(n));
  omp_set_num_threads(n);
}

}  // namespace chainrule
