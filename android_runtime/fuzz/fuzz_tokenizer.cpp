// The device tokenizer: a golden package's tokenizer.json encoding any text, as a session
// encodes an app's query. The first byte picks a pair split (0x80), the tokenizer (0x40:
// MPNet's, with a normalized <unk> and a left-stripping <mask>; else BERT's) and a max length.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto load = [](const std::string& path) {
    auto t = wrx::Tokenizer::load(path);
    if (!t.ok()) std::abort();
    return std::move(t.value());
  };
  static std::unique_ptr<wrx::Tokenizer> bert = load(wrx_fuzz::golden_pkg() + "/tokenizer.json");
  static std::unique_ptr<wrx::Tokenizer> mpnet = load(wrx_fuzz::golden_pkg() + "/../mpnet/tokenizer.json");
  if (size == 0) return 0;
  const wrx::Tokenizer* tok = (data[0] & 0x40) ? mpnet.get() : bert.get();
  const int max_len = 2 + data[0] % 64;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = (data[0] & 0x80) ? all.size() / 2 : all.size();
  const std::string_view text = all.substr(0, cut), pair = all.substr(cut);
  wrx::Encoding enc;
  (void)tok->encode(text, (data[0] & 0x80) ? &pair : nullptr, max_len, &enc);
  return 0;
}
