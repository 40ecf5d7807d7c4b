// The JSON layer on any bytes: a Value or an error, never a crash, a hang or UB.
#include <cstdint>
#include <string>

#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto v = wrx::json::parse(text, wrx::Error::kBadData);
  if (v.ok()) (void)wrx::json::quote(text);  // the writer's escaping of any bytes, too
  return 0;
}
