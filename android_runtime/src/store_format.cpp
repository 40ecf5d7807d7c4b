#include "store_format.h"

#include <limits>

namespace wrx::fmt {

bool valid_kind(uint16_t v) {
  return v >= 2 && v <= 8;
}

bool valid_role(uint16_t v) {
  return (v >= 1 && v <= 10) || (v >= 20 && v <= 25) || (v >= 40 && v <= 46) || (v >= 60 && v <= 63);
}

bool valid_encoding(uint8_t v) {
  return v <= 2;
}

bool valid_bits(uint8_t v) {
  return v == 2 || v == 3 || v == 4 || v == 5 || v == 6 || v == 8 || v == 32;
}

const char* kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::kLayerShard:
      return "layer_shard";
    case EntryKind::kLayerShared:
      return "layer_shared";
    case EntryKind::kEmbedWord:
      return "embed_word";
    case EntryKind::kEmbedWordCrc:
      return "embed_word_crc";
    case EntryKind::kEmbedShared:
      return "embed_shared";
    case EntryKind::kHead:
      return "head";
    case EntryKind::kAttnShard:
      return "attn_shard";
    case EntryKind::kFfnShard:
      return "ffn_shard";
  }
  return "unknown";
}

bool codebook_bytes(uint32_t bits, uint64_t n, uint64_t n_outliers, uint64_t* out) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (bits > 8 || n_outliers > kMax / 8 || n > kMax - 7) return false;
  const uint64_t groups = (n + 7) / 8;
  if (groups > kMax / bits) return false;
  const uint64_t codes = groups * bits;
  const uint64_t cb = uint64_t{4} << bits;
  const uint64_t outl = 8 * n_outliers;
  if (codes > kMax - cb || codes + cb > kMax - outl) return false;
  *out = cb + outl + codes;
  return true;
}

}  // namespace wrx::fmt
