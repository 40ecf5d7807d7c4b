// wrx-loader --profile: measures what the planner needs on this device (docs/FORMAT.md,
// "Device profile"): cold read bandwidth against request size, compute time per program
// and shard count, decode throughput per bitwidth, and fixed per-inference overheads.
#pragma once

#include <string>

#include "error.h"
#include "runner.h"

namespace wrx {

Status run_profile(const RunOptions& opt, std::string* report);

}  // namespace wrx
