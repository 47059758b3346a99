// Threads inside an op for the tools (capsrun --intra-threads, capsbench): pthreadpool, Debian's
// libpthreadpool-dev (XNNPACK's pool), plugged into the runtime's parallel_for hook
// (capsrt.h, caps_threading). The tools write no pool of their own. A build without pthreadpool
// (a cross build whose sysroot lacks it) runs one thread and says so when asked for more.
#ifndef CAPSRT_TOOLS_THREADS_HPP
#define CAPSRT_TOOLS_THREADS_HPP

#include "capsrt/capsrt.h"

namespace capsrt {
namespace tools {

// Whether this build has pthreadpool.
bool intra_op_threads_available();

// A pthreadpool of `threads` threads (the caller's included) for one interpreter at a time.
class IntraOpThreads {
 public:
  // threads >= 1; more than 1 without pthreadpool throws IoError.
  explicit IntraOpThreads(unsigned threads);
  ~IntraOpThreads();
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

  unsigned threads() const { return threading_.max_threads; }
  // The hook for Interpreter::init, or NULL with one thread.
  const caps_threading* threading() const { return threading_.max_threads > 1 ? &threading_ : nullptr; }

 private:
  void* pool_ = nullptr;  // pthreadpool_t
  caps_threading threading_{nullptr, nullptr, 1};
};

}  // namespace tools
}  // namespace capsrt

#endif
