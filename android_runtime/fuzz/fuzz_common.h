// What the harnesses share: the input as a file (the readers take paths, as on the device),
// and the golden package they read plans and data against (WRX_GOLDEN, set by scripts/fuzz.sh).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace wrx_fuzz {

// One file per process, rewritten for every input.
inline std::string write_input(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path = "/tmp/wrx-fuzz-" + std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size != 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

inline std::string golden_pkg() {
  const char* g = std::getenv("WRX_GOLDEN");
  if (g == nullptr) {
    std::fprintf(stderr, "set WRX_GOLDEN to tests/golden (scripts/fuzz.sh does)\n");
    std::abort();
  }
  return std::string(g) + "/pkg";
}

}  // namespace wrx_fuzz
