// Execution plans (docs/FORMAT.md, "Plan"): from a JSON file or a uniform bitwidth.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "error.h"
#include "manifest.h"

namespace wrx {

struct LayerPlan {
  int layer = 0;
  std::vector<int> shards;
  std::vector<int> bits;  // per shard
};

// Upper bound of pipeline.lanes and --lanes (docs/FORMAT.md, plan).
constexpr int kMaxLanes = 8;

struct Plan {
  std::string name;
  std::vector<LayerPlan> layers;
  std::vector<std::pair<int, int>> preload;  // (layer, shard)
  // Version 2: elastic pipeline knobs the planner sized the memory for; 0 / -1 = not given.
  size_t readahead_kb = 0, chunk_kb = 0;
  int head_resident = -1;
  int lanes = 0;  // optional pipeline.lanes (plan v2); 0 = not given
  int head_bits = 0;  // optional pipeline.head_bits (32 or 8); 0 = not given
  std::string json;                          // the plan as given, echoed into the report
};

// Preset: every shard at `bits`; the first `preload_layers` layers in the preload buffer.
Plan uniform_plan(const Package& pkg, int bits, int preload_layers = 0);
Result<Plan> load_plan(const std::string& path);
// Rejects layers, shards or bitwidths the package does not hold (Error::kBadPlan).
Status validate_plan(const Plan& plan, const Package& pkg);
std::string plan_to_json(const Plan& plan);

}  // namespace wrx
