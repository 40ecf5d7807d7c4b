// Character tables of the BERT tokenizer, generated from the pinned tokenizers wheel by
// scripts/gen_unicode_tables.py (unicode_tables.cpp; never edited by hand).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wrx::unicode {

struct Range {
  uint32_t lo, hi;  // inclusive
};
struct Mapping {
  uint32_t cp;
  uint32_t offset;  // into kMapData
  uint32_t size;
};
struct Ccc {
  uint32_t cp;
  uint8_t ccc;
};

extern const char kTokenizersVersion[];
extern const Range kCleanDelete[], kCleanSpace[], kChinese[], kMn[], kPretokSpace[], kPretokPunct[];
extern const size_t kCleanDeleteSize, kCleanSpaceSize, kChineseSize, kMnSize, kPretokSpaceSize, kPretokPunctSize;
extern const Mapping kNfd[], kLower[];
extern const size_t kNfdSize, kLowerSize;
extern const Ccc kCcc[];
extern const size_t kCccSize;
extern const uint32_t kMapData[];

}  // namespace wrx::unicode
