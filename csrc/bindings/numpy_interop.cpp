// Zero-copy exchange with NumPy. A Tensor made from an array keeps the array alive through its
// storage; an array made from a Tensor keeps the Tensor's storage alive through its base object.
#include "bindings.h"

namespace chainrule::bindings {

DType dtype_from_numpy(const py::dtype& dt, const char* arg) {
  if (dt.is(py::dtype::of<float>())) return DType::Float32;
  if (dt.is(py::dtype::of<double>())) return DType::Float64;
  if (dt.is(py::dtype::of<int64_t>())) return DType::Int64;
  const char kind = dt.kind();
  const int size = static_cast<int>(dt.itemsize());
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'b' && size == 1) return DType::Bool;
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'i' && size == 8) return DType::Int64;
  throw TypeError(std::string(arg) + ": unsupported NumPy dtype " + py::str(dt).cast<std::string>() +
                  "; chainrule tensors hold float32, float64, int64, int32 or bool");
}

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::Bool: return py::dtype::of<bool>();
  }
  return py::dtype::of<float>();
}

namespace {
// Integers (Python ints, NumPy integers: anything with __index__) but not tensors or arrays.
bool is_index_like(py::handle h) {
  return py::isinstance<py::int_>(h) ||
         (py::hasattr(h, "__index__") && !py::isinstance<py::array>(h) && !py::isinstance<TensorImpl>(h));
}
}  // namespace

Tensor tensor_from_numpy(const py::array& array, const char* arg) {
  const DType dtype = dtype_from_numpy(array.dtype(), arg);
  if (!(array.flags() & py::array::c_style))
    throw ValueError(std::string(arg) +
                     ": the array is not C-contiguous, so it cannot be shared without copying; pass "
                     "np.ascontiguousarray(array) instead");
  if (array.dtype().byteorder() == '>')
    throw ValueError(std::string(arg) +
                     ": the array is not in native byte order; use array.astype(array.dtype.newbyteorder('='))");
  // A pointer misaligned for its type is undefined behaviour to read through in C++ (and the
  // kernels' vector loads assume at least element alignment): sharing would need one.
  if (reinterpret_cast<uintptr_t>(array.data()) % itemsize(dtype) != 0)
    throw ValueError(std::string(arg) + ": the array's data is not aligned to its " + std::to_string(itemsize(dtype)) +
                     "-byte elements (a view at an odd byte offset), so it cannot "
                     "be shared without copying; pass array.copy() instead");
  Shape shape(array.shape(), array.shape() + array.ndim());
  // The storage owns a reference to the array; dropping it may run the array's destructor, so
  // it takes the GIL (the last owner can be a C++ thread that released it).
  auto* keep = new py::object(array);
  std::shared_ptr<void> owner(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  // A read-only array stays read-only: the tensor refuses in-place writes (mark_inplace_write).
  return from_blob(const_cast<void*>(array.data()), shape, dtype, std::move(owner), array.writeable());
}

py::array tensor_to_numpy(const Tensor& t) {
  if (!t->on_cpu())
    throw TypeError("can't convert " + device_str(t->device()) +
                    " device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
  std::vector<py::ssize_t> shape(t->shape.begin(), t->shape.end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(itemsize(t->dtype));
  for (size_t k = shape.size(); k-- > 0;) {
    strides[k] = stride;
    stride *= std::max<py::ssize_t>(shape[k], 1);
  }
  // The capsule holds one more reference to the memory block for as long as the array lives.
  auto* keep = new std::shared_ptr<Storage>(t->storage);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  py::array array(numpy_dtype(t->dtype), shape, strides, t->data, base);
  // Read-only memory gives a read-only array, so NumPy refuses writes the tensor would refuse.
  if (!t->storage->writeable) array.attr("flags").attr("writeable") = false;
  return array;
}

Tensor as_tensor_arg(py::handle value, const char* arg) {
  if (const Tensor* held = tensor_holder_of(value.ptr())) return *held;
  if (py::isinstance<TensorImpl>(value)) return value.cast<Tensor>();
  if (py::isinstance<py::array>(value)) {
    py::array a = py::reinterpret_borrow<py::array>(value);
    try {
      (void)dtype_from_numpy(a.dtype(), arg);
    } catch (const TypeError&) {
      // The one documented conversion: other dtypes become float32 (bool, ints, float16).
      a = py::array::ensure(a.attr("astype")(py::dtype::of<float>()), py::array::c_style);
    }
    // Other layouts are copied once: non-contiguous strides, and data at an address that is not
    // a multiple of the element size (which cannot be read in place without undefined behaviour).
    const bool misaligned = reinterpret_cast<uintptr_t>(a.data()) % static_cast<uintptr_t>(a.itemsize()) != 0;
    if (misaligned)
      a = py::array(a.attr("copy")());
    else if (!(a.flags() & py::array::c_style))
      a = py::array::ensure(a, py::array::c_style);
    return tensor_from_numpy(a, arg);
  }
  throw TypeError(std::string(arg) + " must be a chainrule.Tensor or a NumPy array, got " +
                  py::str(py::type::of(value).attr("__name__")).cast<std::string>());
}

Tensor as_operand(py::handle value, const Tensor& like, const char* arg) {
  if (const Tensor* held = tensor_holder_of(value.ptr())) return *held;
  if (py::isinstance<TensorImpl>(value)) return value.cast<Tensor>();
  // Python numbers are 0-d tensors that keep the tensor's dtype within its category and lift
  // it to the default float32 (a float beside integers) or int64 (an int beside bools).
  if (py::isinstance<py::bool_>(value)) return full({}, value.cast<bool>() ? 1.0 : 0.0, DType::Bool);
  if (py::isinstance<py::float_>(value)) {  // before ints: np.float64 is a float, not an index
    return full({}, value.cast<double>(), is_floating(like->dtype) ? like->dtype : default_float_dtype());
  }
  if (is_index_like(value)) {
    // An integer scalar (Python or NumPy) takes the tensor's dtype (int64 stays int64). int64
    // holds it exactly, which a double would not beyond 2**53.
    const DType d = like->dtype == DType::Bool ? DType::Int64 : like->dtype;
    if (d == DType::Int64) {
      Tensor t = empty({}, DType::Int64);
      t->ptr<int64_t>()[0] = int64_arg(value, arg);
      return t;
    }
    return full({}, value.attr("__index__")().cast<double>(), d);
  }
  if (py::isinstance<py::array>(value)) {
    py::array a = py::reinterpret_borrow<py::array>(value);
    // A NumPy array operand is copied in the tensor's dtype, except that floating values
    // meeting an int64 tensor are not truncated: they promote it, as a float operand does.
    const char kind = a.dtype().kind();
    DType d = like->dtype;
    if (!is_floating(d) && kind == 'f')
      d = a.dtype().itemsize() == 8 ? DType::Float64 : DType::Float32;
    else if (kind == 'b' || (d == DType::Bool && (kind == 'i' || kind == 'u')))
      d = kind == 'b' ? (d == DType::Bool ? DType::Bool : d) : DType::Int64;
    py::array c = py::array::ensure(a.attr("astype")(numpy_dtype(d)), py::array::c_style);
    return clone_data(tensor_from_numpy(c, arg));
  }
  if (py::hasattr(value, "__float__") && !py::isinstance<py::str>(value)) {
    return full({}, value.attr("__float__")().cast<double>(),
                is_floating(like->dtype) ? like->dtype : default_float_dtype());
  }
  throw TypeError(std::string(arg) + ": unsupported operand type " +
                  py::str(py::type::of(value).attr("__name__")).cast<std::string>());
}

int64_t int64_arg(py::handle h, const char* arg) {
  py::int_ v = h.attr("__index__")();
  int overflow = 0;
  const long long r = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow) throw ValueError(std::string(arg) + ": " + py::str(v).cast<std::string>() + " does not fit in int64");
  return static_cast<int64_t>(r);
}

Shape shape_from_args(const py::args& args, const char* arg) {
  py::sequence seq = args;
  if (args.size() == 1 && !is_index_like(args[0])) {
    if (!py::isinstance<py::sequence>(args[0]))
      throw TypeError(std::string(arg) + " must be ints or a sequence of ints");
    seq = args[0].cast<py::sequence>();
  }
  Shape shape;
  for (py::handle h : seq) {
    if (!is_index_like(h))
      throw TypeError(std::string(arg) + " must contain ints, got " +
                      py::str(py::type::of(h).attr("__name__")).cast<std::string>());
    py::int_ v = h.attr("__index__")();
    int overflow = 0;
    const long long d = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    // A dimension beyond int64 is an absurd size, reported like any other too-large size.
    if (overflow > 0)
      throw MemoryError(std::string(arg) + ": dimension " + py::str(v).cast<std::string>() +
                        " is too large to allocate");
    if (overflow < 0) throw ValueError(std::string(arg) + ": negative dimension " + py::str(v).cast<std::string>());
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

}  // namespace chainrule::bindings
