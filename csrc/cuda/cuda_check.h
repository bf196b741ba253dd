// Error checking, device memory and launch shapes shared by the CUDA kernels.
//
// CUDA and cuBLAS report errors as status codes; check() turns a failed one into a
// chainrule::RuntimeError (RuntimeError in Python) naming the call that failed, so a message reads
// "cudaMalloc(&ptr, bytes) failed: cudaErrorMemoryAllocation: out of memory (csrc/cuda/...:12)" or
// "cublasLtMatmul(...) failed: CUBLAS_STATUS_INVALID_VALUE (7): ..." instead of a bare code.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "chainrule/errors.h"

namespace chainrule::cuda {

[[noreturn]] inline void throw_cuda_error(const char* call, const std::string& what, const char* file, int line) {
  throw RuntimeError(std::string(call) + " failed: " + what + " (" + file + ":" + std::to_string(line) + ")");
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw_cuda_error(call, std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status), file, line);
}

// "CUBLAS_STATUS_NOT_SUPPORTED (15)": the name cuBLASLt gives the status, and its number.
inline std::string cublas_status_name(cublasStatus_t status) {
  const char* name = cublasLtGetStatusName(status);
  return std::string(name ? name : "unknown cuBLAS status") + " (" + std::to_string(static_cast<int>(status)) + ")";
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    const char* what = cublasLtGetStatusString(status);
    throw_cuda_error(call, cublas_status_name(status) + (what ? std::string(": ") + what : std::string()), file, line);
  }
}

// CHAINRULE_CUDA_CHECK(cudaMemcpy(...)): the call's own text goes into the message.
#define CHAINRULE_CUDA_CHECK(call) ::chainrule::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch errors (bad configuration, no device) surface here, not later.
#define CHAINRULE_CUDA_CHECK_LAUNCH(name) ::chainrule::cuda::check(cudaGetLastError(), name, __FILE__, __LINE__)

// Owns n elements of device memory (cudaMalloc/cudaFree). Move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t n) : n_(n) {
    if (n <= 0) return;
    const size_t bytes = sizeof(T) * static_cast<size_t>(n);
    void* p = nullptr;
    CHAINRULE_CUDA_CHECK(cudaMalloc(&p, bytes));
    ptr_ = static_cast<T*>(p);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) {
    o.ptr_ = nullptr;
    o.n_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a failed free leaks
  }

  T* get() const { return ptr_; }
  int64_t size() const { return n_; }

  void upload(const T* host, cudaStream_t stream = nullptr) {
    if (n_ > 0) CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(ptr_, host, sizeof(T) * n_, cudaMemcpyHostToDevice, stream));
  }
  void download(T* host, cudaStream_t stream = nullptr) const {
    if (n_ > 0) {
      CHAINRULE_CUDA_CHECK(cudaMemcpyAsync(host, ptr_, sizeof(T) * n_, cudaMemcpyDeviceToHost, stream));
      CHAINRULE_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
  }

 private:
  T* ptr_ = nullptr;
  int64_t n_ = 0;
};

// Grid-stride launches: a fixed block size and enough blocks to cover n, capped so huge n loops
// inside the kernel instead of asking for more blocks than a grid may have.
constexpr int kThreadsPerBlock = 256;
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 65535 * 8));
}

}  // namespace chainrule::cuda
