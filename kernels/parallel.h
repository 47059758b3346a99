// Threads inside an op (docs/threads.md): the caller's parallel_for hook, as the kernels see it.
//
// capsrt has no threads of its own. An interpreter set up with a hook (caps_threading) hands a
// Parallel to the kernels that split their work; a kernel cuts its work into at most `threads`
// tasks of whole units (output-channel tiles, pixel panels, classes, blocks of input capsules),
// and task t uses scratch slot t, so tasks never share a buffer, whichever thread runs them.
// Every output is computed by one task with the code and the order of summation it has without
// the hook (the units are the serial loops' own blocks), so the results do not depend on the
// number of threads, bit for bit.
#ifndef CAPSRT_KERNELS_PARALLEL_H
#define CAPSRT_KERNELS_PARALLEL_H

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "capsrt/capsrt.h"

namespace capsrt {
namespace kernels {

struct Parallel {
  caps_parallel_for_fn parallel_for = nullptr;  // NULL: every task on the calling thread
  void* pool = nullptr;
  int threads = 1;  // tasks that may run at once: the scratch slots the op has
};

// How many tasks to cut `units` units of work into: at most the op's scratch `slots` and the
// hook's threads, at most one per unit; 1 without a hook.
inline int task_count(const Parallel* p, int slots, int64_t units) {
  if (p == nullptr || p->parallel_for == nullptr) return 1;
  int64_t n = slots < p->threads ? slots : p->threads;
  if (units < n) n = units;
  return n < 1 ? 1 : static_cast<int>(n);
}

// Below these multiply-adds a pass runs as one task. Handing tasks to another thread and
// waiting for them costs 2 to 8 microseconds while the pool's workers are spinning, and 15 to 20
// when they have gone to sleep between the passes of a small network (pthreadpool on this
// project's machines): with the limits at 1 M and 128 K, the small network's PrimaryCaps conv
// (3.2 M) and predictions (246 K) split and it ran at 0.71x on two threads against one (float;
// 0.75x int8). At 4 M and 256 K it runs as one task; the canonical network's convs (8.3 M and
// 191 M), predictions (1.5 M) and routing passes (369 K) still split.
constexpr int64_t kParallelMinConvMacs = int64_t{1} << 22;
constexpr int64_t kParallelMinCapsMacs = int64_t{1} << 18;

// The hook for a pass of `macs` multiply-adds: p, or NULL (one task) below min_macs.
inline const Parallel* worth_splitting(const Parallel* p, int64_t macs, int64_t min_macs) {
  return macs >= min_macs ? p : nullptr;
}

// Task t's share [begin, end) of `units` units cut into `tasks` nearly equal runs, in order.
struct Share {
  int64_t begin, end;
};
inline Share task_share(int64_t units, int tasks, int t) {
  return Share{units * t / tasks, units * (t + 1) / tasks};
}

// Runs f(t) for t in [0, tasks): through the hook when there is more than one, else here.
template <typename F>
void run_tasks(const Parallel* p, int tasks, F&& f) {
  if (tasks <= 1 || p == nullptr || p->parallel_for == nullptr) {
    for (int t = 0; t < tasks; ++t) f(t);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  p->parallel_for(p->pool, static_cast<size_t>(tasks),
                  [](void* context, size_t t) { (*static_cast<Fn*>(context))(static_cast<int>(t)); },
                  const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace kernels
}  // namespace capsrt

#endif
