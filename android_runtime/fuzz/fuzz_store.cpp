// A store file: opened (header, entry and tensor tables), then every entry read and
// checksummed, as wrx-loader does before it decodes one.
#include <cstdint>

#include "fuzz_common.h"
#include "store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = wrx::Store::open(wrx_fuzz::write_input(data, size, ".wrx"), /*try_direct=*/false);
  if (s.ok()) (void)s.value()->verify_all();
  return 0;
}
