// SHA-256 (FIPS 180-4), for checking files against the manifest's hashes before they are
// handed to the runtime (a swapped or truncated program is a user error, not a crash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wrx {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes the hash; lower-case hex of the 32-byte digest

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t bits_ = 0;
};

// The hash of a whole file, or an empty string if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace wrx
