// Long waits and long computations, and how other Python threads keep running through them.
//
// Core knows nothing of Python. The bindings install two functions: one that lets go of the
// interpreter's lock (the GIL) when this thread holds it, returning a token (null when it did not
// hold it), and one that takes the lock back with that token. Calls with little work keep the
// lock: letting go of it and taking it back costs more than a small network's whole forward.
#pragma once

#include <cstdint>
#include <mutex>

namespace chainrule {

struct InterpreterLock {
  void* (*let_go)() = nullptr;
  void (*take_back)(void* token) = nullptr;
};
InterpreterLock& interpreter_lock();

// Work above this many floating-point operations (tens of microseconds) runs with the
// interpreter's lock let go; smaller calls keep it.
constexpr int64_t kLongCallFlops = int64_t{1} << 20;

// While alive (and `active`), other Python threads may run; nests safely (an inner one finds the
// lock already let go and does nothing).
class LettingOthersRun {
 public:
  explicit LettingOthersRun(bool active = true) {
    const InterpreterLock& lock = interpreter_lock();
    if (active && lock.let_go) token_ = lock.let_go();
  }
  ~LettingOthersRun() {
    if (token_) interpreter_lock().take_back(token_);
  }
  LettingOthersRun(const LettingOthersRun&) = delete;
  LettingOthersRun& operator=(const LettingOthersRun&) = delete;

 private:
  void* token_ = nullptr;
};

// Locks `mutex` at once when it is free. When another thread holds it (a native fit holds its
// chain's lock for a whole epoch), waits with the interpreter's lock let go, so Python threads
// are never frozen behind it, and a holder that needs the interpreter's lock cannot deadlock.
template <typename Mutex>
std::unique_lock<Mutex> lock_letting_others_run(Mutex& mutex) {
  std::unique_lock<Mutex> lock(mutex, std::try_to_lock);
  if (!lock.owns_lock()) {
    LettingOthersRun others;
    lock.lock();
  }
  return lock;
}

}  // namespace chainrule
