// The device tokenizer: the golden package's tokenizer.json encoding any text (the first
// byte picks a pair split and a max length), as a session encodes an app's query.
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz_common.h"
#include "tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<wrx::Tokenizer> tok = [] {
    auto t = wrx::Tokenizer::load(wrx_fuzz::golden_pkg() + "/tokenizer.json");
    if (!t.ok()) std::abort();
    return std::move(t.value());
  }();
  if (size == 0) return 0;
  const int max_len = 2 + data[0] % 64;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = (data[0] & 0x80) ? all.size() / 2 : all.size();
  const std::string_view text = all.substr(0, cut), pair = all.substr(cut);
  wrx::Encoding enc;
  (void)tok->encode(text, (data[0] & 0x80) ? &pair : nullptr, max_len, &enc);
  return 0;
}
