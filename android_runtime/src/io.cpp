#include "io.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace wrx {
namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void add_live(int64_t d) {
  const int64_t now = g_live.fetch_add(d) + d;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

AlignedBuffer::~AlignedBuffer() {
  release();
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), cap_(o.cap_) {
  o.data_ = nullptr;
  o.cap_ = 0;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = o.data_;
    cap_ = o.cap_;
    o.data_ = nullptr;
    o.cap_ = 0;
  }
  return *this;
}

// Buffers of kMapBytes and more are mapped and unmapped directly, so a released read-ahead
// or decode buffer goes back to the system at once. Through malloc they stayed in the
// process (glibc raises its mmap threshold to the largest block freed, and every thread's
// arena keeps what it freed), which was most of an idle session's RSS.
constexpr size_t kMapBytes = size_t{64} << 10;

void release_free_heap() {
#if defined(__BIONIC__) && defined(M_PURGE)
  mallopt(M_PURGE, 0);
#elif defined(__GLIBC__)
  malloc_trim(0);
#endif
}

Status AlignedBuffer::reserve(size_t bytes) {
  if (bytes <= cap_) return Status::Ok();
  release();
  const size_t cap = align_up(bytes, kIoAlign);
  void* p = nullptr;
  if (cap >= kMapBytes) {
    p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = nullptr;
  } else if (posix_memalign(&p, kIoAlign, cap) != 0) {
    p = nullptr;
  }
  if (p == nullptr) return fail(Error::kOutOfMemory, "cannot allocate " + std::to_string(cap) + " bytes");
  data_ = static_cast<uint8_t*>(p);
  cap_ = cap;
  add_live(static_cast<int64_t>(cap_));
  return Status::Ok();
}

void AlignedBuffer::release() {
  if (data_ != nullptr) {
    if (cap_ >= kMapBytes)
      munmap(data_, cap_);
    else
      std::free(data_);
    add_live(-static_cast<int64_t>(cap_));
  }
  data_ = nullptr;
  cap_ = 0;
}

int64_t AlignedBuffer::live_bytes() {
  return g_live.load();
}
int64_t AlignedBuffer::peak_bytes() {
  return g_peak.load();
}
void AlignedBuffer::count_outside(int64_t delta) {
  add_live(delta);
}
void AlignedBuffer::reset_peak() {
  g_peak.store(g_live.load());
}

BlockFile::~BlockFile() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<BlockFile>> BlockFile::open(const std::string& path, bool try_direct) {
  std::unique_ptr<BlockFile> f(new BlockFile());
  f->path_ = path;
  if (try_direct) {
    f->fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    f->direct_ = f->fd_ >= 0;
  }
  if (f->fd_ < 0) f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0)
    return fail(Error::kIo, path + ": cannot open: " + std::strerror(errno),
                "check the path; re-deploy or re-package if the file is missing");
  struct stat st {};
  if (fstat(f->fd_, &st) != 0) return fail(Error::kIo, path + ": fstat failed");
  if (!S_ISREG(st.st_mode)) return fail(Error::kIo, path + ": not a regular file");
  f->size_ = static_cast<uint64_t>(st.st_size);
  return f;
}

Status BlockFile::read(uint64_t offset, uint64_t len, uint8_t* dst) {
  double ready = 0;
  WRX_TRY(read_start(offset, len, dst, &ready));
  wait_until(ready);
  return Status::Ok();
}

void BlockFile::wait_until(double t) {
  const double now = now_s();
  if (t > now) std::this_thread::sleep_for(std::chrono::duration<double>(t - now));
}

Status BlockFile::read_start(uint64_t offset, uint64_t len, uint8_t* dst, double* ready_at) {
  const uint64_t want = align_up(len, kIoAlign);
  if (offset % kIoAlign != 0 || reinterpret_cast<uintptr_t>(dst) % kIoAlign != 0)
    return fail(Error::kRuntime, path_ + ": unaligned read request");
  if (offset > size_ || want > size_ - offset)
    return fail(Error::kTruncated, path_ + ": read of " + std::to_string(want) + " bytes at " + std::to_string(offset) +
                                       " runs past the end (" + std::to_string(size_) + " bytes)");
  const double t0 = now_s();
  uint64_t done = 0;
  while (done < want) {
    const ssize_t n = pread(fd_, dst + done, want - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return fail(Error::kIo, path_ + ": read failed at " + std::to_string(offset + done) + ": " +
                                  (n < 0 ? std::strerror(errno) : "unexpected end of file"));
    done += static_cast<uint64_t>(n);
  }
  if (!direct_) posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(want), POSIX_FADV_DONTNEED);
  std::lock_guard<std::mutex> g(mu_);
  bytes_read_ += want;
  *ready_at = 0;
  if (bw_ > 0) {
    // Token bucket: this read occupies the emulated device for want/bw seconds, starting
    // when it was issued or when the previous read finished, whichever is later.
    bucket_t_ = std::max(bucket_t_, t0) + static_cast<double>(want) / bw_;
    *ready_at = bucket_t_;
  }
  return Status::Ok();
}

}  // namespace wrx
