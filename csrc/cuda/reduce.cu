// Reductions (the twin of csrc/cpu/reduce.cpp's sum_all).
#include <type_traits>

#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"
#include "cuda/device_math.cuh"

namespace chainrule::cuda {

namespace {
// Float sums run in double, as on the CPU (acc_t in csrc/cpu/reduce.cpp).
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

constexpr int kSumThreads = 256;  // a power of two: the tree below halves it
constexpr int kSumMaxBlocks = 1024;

// Block-wide sum of one value per thread in shared memory, in a fixed tree order; thread 0 gets it.
template <typename A>
__device__ A block_sum(A v) {
  __shared__ A shared[kSumThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = kSumThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

// Pass 1: block b writes partial[b], the sum of its grid-stride share of x.
template <typename T, typename A>
__global__ void sum_partial_kernel(A* partial, const T* x, int64_t n) {
  A s = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kSumThreads + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kSumThreads)
    s += static_cast<A>(x[i]);
  const A total = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// Pass 2: one block sums the partials into out[0].
template <typename T, typename A>
__global__ void sum_final_kernel(T* out, const A* partial, int blocks) {
  A s = 0;
  for (int i = threadIdx.x; i < blocks; i += kSumThreads) s += partial[i];
  const A total = block_sum(s);
  if (threadIdx.x == 0) out[0] = static_cast<T>(total);
}
}  // namespace

template <typename T>
T sum_all(const T* x, int64_t n, cudaStream_t stream) {
  using A = acc_t<T>;
  if (n <= 0) return T(0);
  // The launch shape depends on n only, so the summation order (and the result) is fixed.
  const int64_t want = (n + kSumThreads * 4 - 1) / (kSumThreads * 4);
  const int blocks = static_cast<int>(want < kSumMaxBlocks ? want : kSumMaxBlocks);
  DeviceBuffer<A> partial(blocks);
  DeviceBuffer<T> out(1);
  sum_partial_kernel<T, A><<<blocks, kSumThreads, 0, stream>>>(partial.get(), x, n);
  CHAINRULE_CUDA_CHECK_LAUNCH("sum_partial_kernel");
  sum_final_kernel<T, A><<<1, kSumThreads, 0, stream>>>(out.get(), partial.get(), blocks);
  CHAINRULE_CUDA_CHECK_LAUNCH("sum_final_kernel");
  T result;
  out.download(&result, stream);  // waits for the stream: `partial` must outlive the kernels
  return result;
}

template float sum_all<float>(const float*, int64_t, cudaStream_t);
template double sum_all<double>(const double*, int64_t, cudaStream_t);

}  // namespace chainrule::cuda
