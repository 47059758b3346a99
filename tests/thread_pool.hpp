// A plain std::thread pool with the parallel_for capsrt takes (capsrt.h, caps_threading): the
// example of docs/threads.md, and the pool the thread tests run the kernels on. The tools use
// pthreadpool instead (tools/common/threads.hpp).
//
// The workers wait on a condition variable. parallel_for publishes one job (task, context, count,
// on the caller's stack); the caller and the workers that join take task indices from the job's
// atomic counter until none is left. The caller returns once every index has run and no worker
// still holds the job (it withdraws the job first, so none can join late). One job at a time:
// an interpreter calls parallel_for from one thread; interpreters on several threads want a
// pool each (or a lock around run).
#ifndef CAPSRT_TESTS_THREAD_POOL_HPP
#define CAPSRT_TESTS_THREAD_POOL_HPP

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "capsrt/capsrt.h"

namespace testutil {

class ThreadPool {
 public:
  // `threads` in all, the caller's included: threads - 1 workers.
  explicit ThreadPool(unsigned threads) {
    for (unsigned t = 1; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }
  // Task indices run on a worker rather than on the caller, since the pool was made.
  size_t ran_on_workers() const { return on_workers_.load(); }

  // capsrt's hook: pool is a ThreadPool*.
  static void parallel_for(void* pool, size_t count, caps_task_fn task, void* context) {
    static_cast<ThreadPool*>(pool)->run(count, task, context);
  }
  caps_threading threading() { return caps_threading{&ThreadPool::parallel_for, this, threads()}; }

 private:
  struct Job {
    caps_task_fn task;
    void* context;
    size_t count;
    std::atomic<size_t> next{0}, done{0};
    std::atomic<unsigned> holders{0};  // workers inside this job
  };

  void run(size_t count, caps_task_fn task, void* context) {
    Job job{task, context, count};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      ++job_id_;
    }
    wake_.notify_all();
    take(job, false);
    while (job.done.load(std::memory_order_acquire) < count) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = nullptr;  // no worker joins it from now on
    }
    while (job.holders.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

  // Runs indices of `job` until none is left.
  void take(Job& job, bool worker) {
    for (;;) {
      const size_t i = job.next.fetch_add(1);
      if (i >= job.count) return;
      job.task(job.context, i);
      if (worker) on_workers_.fetch_add(1);
      job.done.fetch_add(1, std::memory_order_release);
    }
  }

  void work() {
    unsigned long seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && job_id_ != seen); });
        if (stop_) return;
        seen = job_id_;
        job = job_;
        job->holders.fetch_add(1);
      }
      take(*job, true);
      job->holders.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  Job* job_ = nullptr;
  unsigned long job_id_ = 0;
  std::atomic<size_t> on_workers_{0};
};

}  // namespace testutil

#endif
