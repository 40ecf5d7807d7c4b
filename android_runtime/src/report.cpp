#include "report.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "json.h"

namespace wrx {
namespace {
long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n + 1);
  return -1;
}
}  // namespace

DeviceInfo device_info() {
  DeviceInfo d;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    for (const char* key : {"model name", "Hardware", "Processor"}) {
      if (d.cpu.empty() && line.compare(0, std::strlen(key), key) == 0) {
        const size_t c = line.find(':');
        if (c != std::string::npos) d.cpu = line.substr(c + 2);
      }
    }
  }
  d.cores = static_cast<int>(std::thread::hardware_concurrency());
  struct utsname u {};
  if (uname(&u) == 0) {
    d.kernel = std::string(u.sysname) + " " + u.release;
    d.arch = u.machine;
    d.hostname = u.nodename;
  }
  return d;
}

std::string storage_json(const std::string& path) {
  char buf[4096];
  const std::string real = realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
  std::ifstream f("/proc/mounts");
  std::string dev, mnt, type, best_dev, best_mnt, best_type, rest;
  while (f >> dev >> mnt >> type && std::getline(f, rest)) {
    const bool prefix =
        real.compare(0, mnt.size(), mnt) == 0 && (mnt == "/" || real.size() == mnt.size() || real[mnt.size()] == '/');
    if (prefix && mnt.size() >= best_mnt.size()) {
      best_dev = dev;
      best_mnt = mnt;
      best_type = type;
    }
  }
  JsonObject o;
  o.str("path", real).str("mount", best_mnt).str("device", best_dev).str("fstype", best_type);
  return o.text();
}

long peak_rss_kb() {
  return status_kb("VmHWM:");
}
long current_rss_kb() {
  return status_kb("VmRSS:");
}

std::string json_num(double v) {
  if (!std::isfinite(v)) return "null";
  char b[32];
  std::snprintf(b, sizeof(b), "%.9g", v);
  return b;
}

std::string json_array(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + json_num(v[i]);
  return s + "]";
}

JsonObject& JsonObject::raw(const std::string& key, const std::string& json) {
  if (!body_.empty()) body_ += ", ";
  body_ += json::quote(key) + ": " + json;
  return *this;
}
JsonObject& JsonObject::str(const std::string& key, const std::string& v) {
  return raw(key, json::quote(v));
}
JsonObject& JsonObject::num(const std::string& key, double v) {
  return raw(key, json_num(v));
}
JsonObject& JsonObject::integer(const std::string& key, long long v) {
  return raw(key, std::to_string(v));
}
JsonObject& JsonObject::boolean(const std::string& key, bool v) {
  return raw(key, v ? "true" : "false");
}

Status write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail(Error::kIo, "cannot write report " + tmp + ": " + std::strerror(errno),
                "check that the directory exists and is writable");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(Error::kIo, "cannot write report " + tmp + ": " + std::strerror(err), "free disk space and re-run");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Error::kIo, "cannot finish report " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string error_json(const Status& s) {
  JsonObject o;
  o.str("code", error_name(s.code))
      .str("message", s.message)
      .str("hint", s.hint)
      .boolean("user_error", is_user_error(s.code));
  return o.text();
}

}  // namespace wrx
