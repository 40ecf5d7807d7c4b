// A manifest.json in a copy of the golden package: opened as a session opens a package
// (the store, the programs' hashes, the tokenizer's).
#include <cstdint>
#include <filesystem>
#include <string>

#include "fuzz_common.h"
#include "manifest.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = [] {
    fs::path d = "/tmp/wrx-fuzz-pkg-" + std::to_string(::getpid());
    fs::remove_all(d);
    fs::copy(wrx_fuzz::golden_pkg(), d, fs::copy_options::recursive);
    return d;
  }();
  FILE* f = std::fopen((dir / "manifest.json").c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size != 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  (void)wrx::open_package(dir.string());
  return 0;
}
