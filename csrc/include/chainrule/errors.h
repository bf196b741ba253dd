// chainrule's error types. The bindings translate each to the Python exception of the same name.
// Kernels never throw; ops validate their arguments once, before any work, and name the
// offending argument.
#pragma once

#include <stdexcept>

namespace chainrule {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct IndexError : std::out_of_range {
  using std::out_of_range::out_of_range;
};
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ZeroDivisionError : std::domain_error {
  using std::domain_error::domain_error;
};
// An allocation that cannot succeed (or did not); unlike std::bad_alloc it says what was asked for.
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace chainrule
