// Cold, honest reads: O_DIRECT with 4 KiB-aligned buffers, or buffered reads followed by
// posix_fadvise(DONTNEED) where the filesystem refuses O_DIRECT (e.g. tmpfs).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "error.h"

namespace wrx {

constexpr size_t kIoAlign = 4096;

inline uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

// A 4 KiB-aligned heap buffer. Its size is counted in the loader's resident-bytes tally.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& o) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  Status reserve(size_t bytes);  // grows only; contents are not preserved
  void release();
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t capacity() const { return cap_; }

  static int64_t live_bytes();  // all AlignedBuffers of the process, and the bytes below
  static int64_t peak_bytes();
  static void reset_peak();
  // Weight bytes held outside any AlignedBuffer (XNNPACK's packed copies of resident layers)
  // join the tally: +n when they come to life, -n when they go.
  static void count_outside(int64_t delta);

 private:
  uint8_t* data_ = nullptr;
  size_t cap_ = 0;
};

// Hands the allocator's free pages back to the OS (glibc malloc_trim, bionic M_PURGE). A
// session calls it after each query: what a query allocated and freed below the mmap
// threshold would otherwise stay resident in the heap while the app is idle.
void release_free_heap();

class BlockFile {
 public:
  ~BlockFile();
  static Result<std::unique_ptr<BlockFile>> open(const std::string& path, bool try_direct);
  uint64_t size() const { return size_; }
  bool direct() const { return direct_; }
  const std::string& path() const { return path_; }
  const char* mode_name() const { return direct_ ? "O_DIRECT" : "fadvise(DONTNEED)"; }

  // Reads [offset, offset + len) into dst. offset must be 4 KiB-aligned and dst 4 KiB-aligned;
  // the read length is rounded up to 4 KiB and must stay within the file.
  Status read(uint64_t offset, uint64_t len, uint8_t* dst);
  // The same in two steps, for a caller that has CPU work to overlap with the emulated
  // transfer time (as it would overlap with a queued request on a real device):
  // read_start() returns once the bytes are in dst and *ready_at is when the emulated
  // device would have delivered them; wait_until() sleeps until then.
  Status read_start(uint64_t offset, uint64_t len, uint8_t* dst, double* ready_at);
  static void wait_until(double t);

  // Cap the read rate (bytes per second, 0 = no cap) with a token bucket: emulation of a
  // slower device class, reported as such.
  void set_bandwidth(double bytes_per_s) { bw_ = bytes_per_s; }
  uint64_t bytes_read() {
    std::lock_guard<std::mutex> g(mu_);
    return bytes_read_;
  }

 private:
  BlockFile() = default;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool direct_ = false;
  std::string path_;
  double bw_ = 0;
  std::mutex mu_;        // guards the two fields below (reads may come from two threads)
  double bucket_t_ = 0;  // time (s, monotonic) when the emulated device is next idle
  uint64_t bytes_read_ = 0;
};

double now_s();  // monotonic seconds

// A few persistent threads that run fn(0..n-1) together with the caller: used to keep
// several small random reads in flight at once.

}  // namespace wrx
