#include "threads.hpp"

#include <string>

#include "io.hpp"

#if CAPSRT_HAVE_PTHREADPOOL
#include <pthreadpool.h>
#endif

namespace capsrt {
namespace tools {

#if CAPSRT_HAVE_PTHREADPOOL
namespace {
// caps_task_fn is pthreadpool_task_1d_t: void (*)(void*, size_t).
void pthreadpool_parallel_for(void* pool, size_t count, caps_task_fn task, void* context) {
  pthreadpool_parallelize_1d(static_cast<pthreadpool_t>(pool), task, context, count, 0);
}
}  // namespace

bool intra_op_threads_available() { return true; }

IntraOpThreads::IntraOpThreads(unsigned threads) {
  if (threads < 1 || threads > CAPS_MAX_THREADS) throw IoError("intra-op threads: 1 to " + std::to_string(CAPS_MAX_THREADS));
  if (threads == 1) return;
  pool_ = pthreadpool_create(threads);
  if (pool_ == nullptr) throw IoError("pthreadpool_create(" + std::to_string(threads) + ") failed");
  threading_ = caps_threading{&pthreadpool_parallel_for, pool_, threads};
}

IntraOpThreads::~IntraOpThreads() {
  if (pool_ != nullptr) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}
#else
bool intra_op_threads_available() { return false; }

IntraOpThreads::IntraOpThreads(unsigned threads) {
  if (threads != 1)
    throw IoError("intra-op threads: this build has no pthreadpool (apt-get install libpthreadpool-dev, then rebuild)");
}

IntraOpThreads::~IntraOpThreads() = default;
#endif

}  // namespace tools
}  // namespace capsrt
