// A plan file, loaded and validated against the golden package, as wrx-loader --plan does.
#include <cstdint>
#include <memory>

#include "fuzz_common.h"
#include "manifest.h"
#include "plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<wrx::Package> pkg = [] {
    auto p = wrx::open_package(wrx_fuzz::golden_pkg());
    if (!p.ok()) std::abort();
    return std::move(p.value());
  }();
  auto plan = wrx::load_plan(wrx_fuzz::write_input(data, size, ".json"));
  if (plan.ok()) (void)wrx::validate_plan(plan.value(), *pkg);
  return 0;
}
