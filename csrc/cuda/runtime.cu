// The CUDA runtime queries the Python layer needs (chainrule.cuda): device count, synchronize.
#include "chainrule/cuda_kernels.h"
#include "cuda/cuda_check.h"

namespace chainrule::cuda {

int device_count() {
  int n = 0;
  // No driver, an old driver or no device all come back as errors: they mean "no GPU here".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls do not see it
    return 0;
  }
  return n;
}

void synchronize() { CHAINRULE_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace chainrule::cuda
