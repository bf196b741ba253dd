// The one way kernels outside the GEMM use threads.
#pragma once

#include <cstdint>

namespace chainrule::cpu {

// Below this many elements of simple work, a parallel region costs more than it saves
// (an OpenMP fork/join costs about 1-2 us on two to sixteen cores).
constexpr int64_t kParallelElements = 1 << 15;

// Runs body(i) for i in [0, n): split statically over the OpenMP team when `parallel` holds,
// else on the calling thread. The serial branch never enters the OpenMP runtime: libgomp makes
// a futex system call even for a region whose if() clause is false, which costs more than the
// whole kernel on a small network.
template <typename F>
inline void parallel_for(int64_t n, bool parallel, F&& body) {
  if (parallel && n > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace chainrule::cpu
