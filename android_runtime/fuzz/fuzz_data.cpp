// Evaluation data (dev.bin) with the golden package's vocabularies (vocab 25, type_vocab 2).
#include <cstdint>

#include "devdata.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)wrx::load_devdata(wrx_fuzz::write_input(data, size, ".bin"), 25, 2);
  return 0;
}
