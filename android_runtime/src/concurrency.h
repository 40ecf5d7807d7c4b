// The pipeline's four thread primitives, in one place so they can be tested alone:
//   Channel  a queue from one thread to another that also carries the producer's failure
//   Budget   a byte budget the IO thread acquires before a read and compute releases
//   Crew     lanes 1..n-1 on long-lived helper threads while the caller runs lane 0
//   TaskPool n independent jobs on a fixed pool plus the calling thread
// Every wait is on a condition variable whose predicate reads only state guarded by the
// same mutex (ThreadSanitizer-clean by construction).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "error.h"

namespace wrx {

template <typename T>
class Channel {
 public:
  void push(T v) {
    std::lock_guard<std::mutex> g(mu_);
    q_.push_back(std::move(v));
    cv_.notify_all();
  }
  void fail(Status s) {
    std::lock_guard<std::mutex> g(mu_);
    err_ = std::move(s);
    cv_.notify_all();
  }
  // Blocks until an item or a failure; false with *err set if the producer failed first.
  bool pop(T* out, Status* err) {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [&] { return !q_.empty() || !err_.ok(); });
    if (q_.empty()) {
      *err = err_;
      return false;
    }
    *out = std::move(q_.front());
    q_.pop_front();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
  Status err_;
};

class Budget {
 public:
  explicit Budget(size_t cap) : cap_(cap) {}
  // Waits until n bytes fit (or nothing is in use: one oversized read may always go);
  // false once stop() was called.
  bool acquire(size_t n);
  void release(size_t n);
  // Makes every pending and later acquire() return false.
  void stop();
  size_t used() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t cap_, used_ = 0;
  bool stopped_ = false;
};

class Crew {
 public:
  explicit Crew(int lanes);
  ~Crew();
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  // Every lane's job, concurrently; the first failing lane's status (in lane order).
  Status run(const std::function<Status(int)>& job);
  int lanes() const { return static_cast<int>(results_.size()); }

 private:
  void loop(int lane);
  std::mutex mu_;
  std::condition_variable cv_, done_;
  const std::function<Status(int)>* job_ = nullptr;
  uint64_t gen_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::vector<Status> results_;
  std::vector<std::thread> threads_;
};

class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;
  Status run(size_t n, const std::function<Status(size_t)>& fn);  // first error wins

 private:
  void work();
  void drain();
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<Status(size_t)>* fn_ = nullptr;
  size_t n_ = 0, next_ = 0, finished_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
  Status err_;
};

}  // namespace wrx
