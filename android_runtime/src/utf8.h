// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..DFFF), nothing above
// U+10FFFF. Every string that comes from a file or from an app passes through here before
// it becomes a path, a key or tokenizer input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wrx::utf8 {

// Byte offset of the first invalid sequence in [s, s + n), or n when all of it is valid.
size_t first_invalid(const char* s, size_t n);
inline bool valid(const std::string& s) {
  return first_invalid(s.data(), s.size()) == s.size();
}

// Decodes one scalar value at s[*i] (which must be valid) and advances *i.
uint32_t next(const char* s, size_t* i);
// Appends the UTF-8 encoding of a scalar value (cp <= 0x10FFFF, not a surrogate).
void append(std::string* out, uint32_t cp);

}  // namespace wrx::utf8
