#include "concurrency.h"

#include <algorithm>

namespace wrx {

bool Budget::acquire(size_t n) {
  std::unique_lock<std::mutex> g(mu_);
  cv_.wait(g, [&] { return stopped_ || used_ == 0 || used_ + n <= cap_; });
  if (stopped_) return false;
  used_ += n;
  return true;
}

void Budget::release(size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  used_ -= std::min(used_, n);
  cv_.notify_all();
}

void Budget::stop() {
  std::lock_guard<std::mutex> g(mu_);
  stopped_ = true;
  cv_.notify_all();
}

size_t Budget::used() const {
  std::lock_guard<std::mutex> g(mu_);
  return used_;
}

Crew::Crew(int lanes) : results_(size_t(std::max(1, lanes))) {
  for (int l = 1; l < lanes; ++l) threads_.emplace_back([this, l] { loop(l); });
}

Crew::~Crew() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Status Crew::run(const std::function<Status(int)>& job) {
  if (threads_.empty()) return job(0);
  {
    std::lock_guard<std::mutex> g(mu_);
    job_ = &job;
    pending_ = static_cast<int>(threads_.size());
    ++gen_;
  }
  cv_.notify_all();
  Status first = job(0);
  std::unique_lock<std::mutex> g(mu_);
  done_.wait(g, [&] { return pending_ == 0; });
  job_ = nullptr;
  results_[0] = std::move(first);
  for (const Status& s : results_)
    if (!s.ok()) return s;
  return Status::Ok();
}

void Crew::loop(int lane) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<Status(int)>* job = nullptr;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return stop_ || gen_ != seen; });
      if (stop_) return;
      seen = gen_;
      job = job_;
    }
    Status s = (*job)(lane);
    std::lock_guard<std::mutex> g(mu_);
    results_[size_t(lane)] = std::move(s);
    if (--pending_ == 0) done_.notify_all();
  }
}

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::drain() {
  // Called with mu_ unlocked; takes indices until none are left.
  while (true) {
    size_t i;
    const std::function<Status(size_t)>* fn = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (next_ >= n_) return;
      i = next_++;
      fn = fn_;
    }
    Status s = (*fn)(i);
    std::lock_guard<std::mutex> g(mu_);
    if (!s.ok() && err_.ok()) err_ = s;
    if (++finished_ == n_) done_cv_.notify_all();
  }
}

void TaskPool::work() {
  uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
    }
    drain();
  }
}

Status TaskPool::run(size_t n, const std::function<Status(size_t)>& fn) {
  if (n == 0) return Status::Ok();
  {
    std::lock_guard<std::mutex> g(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    finished_ = 0;
    err_ = Status::Ok();
    ++generation_;
  }
  cv_.notify_all();
  drain();
  std::unique_lock<std::mutex> g(mu_);
  done_cv_.wait(g, [&] { return finished_ == n_; });
  n_ = 0;
  return err_;
}

}  // namespace wrx
