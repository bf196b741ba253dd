// The one way kernels outside the GEMM use threads.
#pragma once

#include <omp.h>

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

// While alive and `serial` holds, every OpenMP region the calling thread opens (the GEMM's
// included) runs on that thread alone; the thread count it had comes back at the end. For a call
// made of many small regions: each region's closing barrier waits for every thread of its team,
// and on a machine shared with other work a team thread that is not running can hold the caller
// there for a whole scheduler time slice, far longer than the region's work.
class SerialRegions {
 public:
  explicit SerialRegions(bool serial) : previous_(serial ? omp_get_max_threads() : 0) {
    if (serial) omp_set_num_threads(1);
  }
  ~SerialRegions() {
    if (previous_ > 0) omp_set_num_threads(previous_);
  }
  SerialRegions(const SerialRegions&) = delete;
  SerialRegions& operator=(const SerialRegions&) = delete;

 private:
  int previous_;
};

}  // namespace chainrule::cpu
