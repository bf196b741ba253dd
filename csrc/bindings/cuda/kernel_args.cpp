// Host-side argument checks of chainrule._cuda's entry points (kernel_args.h). No CUDA here.
#include "bindings/cuda/kernel_args.h"

#include <algorithm>

namespace chainrule::cuda {

std::string shape_string(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

namespace {
std::string dtype_string(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string expected_string(std::initializer_list<Dim> shape) {
  std::string s = "(";
  bool first = true;
  for (const Dim& d : shape) {
    if (!first) s += ", ";
    first = false;
    s += d.name ? d.name : std::to_string(d.size);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}
}  // namespace

void KernelArgs::fail(const std::string& what) const { throw ValueError(entry_point_ + ": " + what); }

KernelArgs& KernelArgs::require(bool ok, const std::string& what) {
  if (!ok) fail(what);
  return *this;
}

void KernelArgs::check_float_dtype(const py::array& a, const char* name) {
  Float f;
  if (py::isinstance<py::array_t<float>>(a))
    f = Float::F32;
  else if (py::isinstance<py::array_t<double>>(a))
    f = Float::F64;
  else
    throw TypeError(entry_point_ + ": " + name + " must be a float32 or float64 array, got dtype " + dtype_string(a));
  if (dtype_ == Float::Unset) {
    dtype_ = f;
    dtype_from_ = name;
  } else if (f != dtype_) {
    throw TypeError(entry_point_ + ": " + name + " has dtype " + dtype_string(a) + " but " + dtype_from_ + " has " +
                    (dtype_ == Float::F32 ? "float32" : "float64") + "; all float arguments must share one dtype");
  }
}

void KernelArgs::check_shape(const py::array& a, const char* name, std::initializer_list<Dim> shape) {
  const auto wrong = [&](const std::string& why) {
    fail(std::string(name) + " must have shape " + expected_string(shape) + why + ", got " + shape_string(a));
  };
  if (a.ndim() != static_cast<py::ssize_t>(shape.size())) wrong("");
  int axis = 0;
  for (const Dim& d : shape) {
    const int64_t got = a.shape(axis++);
    if (!d.name) {
      if (got != d.size) wrong("");
      continue;
    }
    auto it = std::find_if(sizes_.begin(), sizes_.end(), [&](const Bound& b) { return b.name == d.name; });
    if (it == sizes_.end()) {
      sizes_.push_back({d.name, got, name});
    } else if (it->size != got) {
      wrong(" with " + it->name + " = " + std::to_string(it->size) + " (from " + it->from + ")");
    }
  }
}

KernelArgs& KernelArgs::floats(const py::array& a, const char* name, std::initializer_list<Dim> shape) {
  check_float_dtype(a, name);
  check_shape(a, name, shape);
  return *this;
}

KernelArgs& KernelArgs::floats_any_shape(const py::array& a, const char* name) {
  check_float_dtype(a, name);
  return *this;
}

KernelArgs& KernelArgs::floats_like(const py::array& a, const char* name, const py::array& like,
                                    const char* like_name) {
  check_float_dtype(a, name);
  const bool same = a.ndim() == like.ndim() && std::equal(a.shape(), a.shape() + a.ndim(), like.shape());
  if (!same)
    fail(std::string(name) + " must have the shape of " + like_name + ", " + shape_string(like) + ", got " +
         shape_string(a));
  return *this;
}

KernelArgs& KernelArgs::class_indices(const py::array& target, const char* name, Dim length, const char* classes) {
  if (!py::isinstance<py::array_t<int64_t>>(target))  // as PyTorch's cross_entropy wants class indices
    throw TypeError(entry_point_ + ": " + std::string(name) + " must be an int64 array of class indices, got dtype " +
                    dtype_string(target));
  check_shape(target, name, {length});
  const int64_t C = size(classes);
  const py::array_t<int64_t, py::array::c_style | py::array::forcecast> values(target);
  const int64_t* v = values.data();
  for (py::ssize_t i = 0; i < values.size(); ++i)
    if (v[i] < 0 || v[i] >= C)
      fail(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(v[i]) +
           " is not a class index in [0, " + std::to_string(C) + ") (" + classes + " = " + std::to_string(C) + ")");
  return *this;
}

int64_t KernelArgs::size(const char* name) const {
  for (const Bound& b : sizes_)
    if (b.name == name) return b.size;
  throw std::logic_error(entry_point_ + ": size " + name + " was never bound");  // a bug in the binding
}

}  // namespace chainrule::cuda
