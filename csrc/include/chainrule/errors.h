// chainrule's error types. The bindings translate each to the Python exception of the same name.
// Kernels never throw; ops validate their arguments once, before any work, and name the
// offending argument.
#pragma once

#include <stdexcept>

// Exported (default visibility) although both extension modules hide their other symbols: the
// CUDA module throws these from code that _core calls (device.h), and a catch in one module
// recognises a type thrown in the other only when both name the same exported type.
#if defined(__GNUC__)
#define CHAINRULE_ERROR_TYPE __attribute__((visibility("default")))
#else
#define CHAINRULE_ERROR_TYPE
#endif

namespace chainrule {

struct CHAINRULE_ERROR_TYPE ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct CHAINRULE_ERROR_TYPE TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct CHAINRULE_ERROR_TYPE IndexError : std::out_of_range {
  using std::out_of_range::out_of_range;
};
struct CHAINRULE_ERROR_TYPE RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct CHAINRULE_ERROR_TYPE ZeroDivisionError : std::domain_error {
  using std::domain_error::domain_error;
};
// An operation that exists but has no implementation for its arguments' device (PyTorch raises
// NotImplementedError for an op a backend lacks).
struct CHAINRULE_ERROR_TYPE NotImplementedError : std::logic_error {
  using std::logic_error::logic_error;
};
// An allocation that cannot succeed (or did not); unlike std::bad_alloc it says what was asked for.
struct CHAINRULE_ERROR_TYPE MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace chainrule
