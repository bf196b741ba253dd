// Host-side checks of the arguments of chainrule._cuda's kernel entry points.
//
// A kernel trusts its sizes: a wrong one writes out of bounds on the device, and a fault there
// poisons the CUDA context for the rest of the process. So every entry point checks all of its
// arguments here, on the host, before anything is copied or launched, and a bad one raises a
// Python exception naming the entry point and the argument. Nothing here touches CUDA, so the
// checks run (and are tested) on machines without a GPU or a driver.
//
//   KernelArgs args("dense_forward");
//   args.floats(inp, "inp", {"B", "C"}).floats(weight, "weight", {"OC", "C"}).optional_floats(bias, "bias", {"OC"});
//   const int64_t B = args.size("B");   // sizes are named by first use and must agree after
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/tensor.h"

namespace chainrule::cuda {

namespace py = pybind11;

// One dimension of an expected shape: a named size ("B", bound where it is first seen) or a fixed one.
struct Dim {
  Dim(const char* name) : name(name) {}  // NOLINT: implicit, so shapes read {"B", "OC"}
  Dim(int64_t size) : size(size) {}      // NOLINT
  const char* name = nullptr;
  int64_t size = -1;
};

class KernelArgs {
 public:
  explicit KernelArgs(std::string entry_point) : entry_point_(std::move(entry_point)) {}

  // A float32 or float64 array of `shape`. The first float array fixes the call's dtype; every
  // later one must have it too (no silent conversion).
  KernelArgs& floats(const py::array& a, const char* name, std::initializer_list<Dim> shape);
  KernelArgs& optional_floats(const std::optional<py::array>& a, const char* name, std::initializer_list<Dim> shape) {
    if (a) floats(*a, name, shape);
    return *this;
  }
  // A float array of any shape (elementwise kernels), or one with the same shape as `like`,
  // an array already checked under the name `like_name`.
  KernelArgs& floats_any_shape(const py::array& a, const char* name);
  KernelArgs& floats_like(const py::array& a, const char* name, const py::array& like, const char* like_name);
  // Class indices: an int64 array of one dimension, `length`, with every value in [0, classes).
  KernelArgs& class_indices(const py::array& target, const char* name, Dim length, const char* classes);
  // Any other condition; `what` says what must hold ("lr must be >= 0, got -1").
  KernelArgs& require(bool ok, const std::string& what);
  // A ValueError naming the entry point (for checks the helpers above do not cover).
  [[noreturn]] void fail(const std::string& what) const;

  int64_t size(const char* name) const;
  bool is_float64() const { return dtype_ == Float::F64; }

 private:
  enum class Float { Unset, F32, F64 };
  void check_float_dtype(const py::array& a, const char* name);
  void check_shape(const py::array& a, const char* name, std::initializer_list<Dim> shape);

  std::string entry_point_;
  Float dtype_ = Float::Unset;
  std::string dtype_from_;  // the argument that fixed the dtype
  struct Bound {
    std::string name;
    int64_t size;
    std::string from;
  };
  std::vector<Bound> sizes_;
};

// "(3, 4)", as NumPy prints shapes.
std::string shape_string(const py::array& a);

}  // namespace chainrule::cuda
