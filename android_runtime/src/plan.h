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

// The pipeline knobs' defaults and ranges (docs/FORMAT.md, "Plan", pipeline). The one
// definition on this side: the Python side's is wrx_sdk.formats.plan.Knobs, and
// tests/test_layout.py compares the two through `wrx-loader --print-defaults`.
namespace knobs {
constexpr int kReadaheadKb = 2048;  // raw bytes in flight ahead of compute
constexpr int kChunkKb = 400;       // decoded fp32 bytes per program call
constexpr bool kHeadResident = false;
constexpr int kLanes = 1;
constexpr int kHeadBits = 32;
constexpr int kMinKb = 4, kMaxKb = 1 << 22;  // readahead_kb and chunk_kb
constexpr int kMinLanes = 1, kMaxLanes = 8;
}  // namespace knobs
constexpr int kMaxLanes = knobs::kMaxLanes;
// The defaults and ranges above as one JSON object (wrx-loader --print-defaults).
std::string knob_defaults_json();

struct Plan {
  std::string name;
  std::vector<LayerPlan> layers;
  std::vector<std::pair<int, int>> preload;  // (layer, shard)
  // Version 2: elastic pipeline knobs the planner sized the memory for; 0 / -1 = not given.
  size_t readahead_kb = 0, chunk_kb = 0;
  int head_resident = -1;
  int lanes = 0;      // optional pipeline.lanes (plan v2); 0 = not given
  int head_bits = 0;  // optional pipeline.head_bits (32 or 8); 0 = not given
  // Version 3: length buckets (max_len, layers), max_len increasing. A query of L tokens
  // runs the first bucket with max_len >= L, else `layers`; the preload is shared.
  std::vector<std::pair<int, std::vector<LayerPlan>>> by_length;
  std::string json;  // the plan as given, echoed into the report

  // The bucket a query run at `length` tokens takes: an index into by_length, or
  // by_length.size() for the top-level layers.
  size_t bucket(int length) const {
    size_t b = 0;
    while (b < by_length.size() && length > by_length[b].first) ++b;
    return b;
  }
  const std::vector<LayerPlan>& bucket_layers(size_t b) const {
    return b < by_length.size() ? by_length[b].second : layers;
  }
};

// Preset: every shard at `bits`; the first `preload_layers` layers in the preload buffer.
Plan uniform_plan(const Package& pkg, int bits, int preload_layers = 0);
Result<Plan> load_plan(const std::string& path);
// A plan named the way `wrx run --plan` and the session options name one: a preset
// (uniform-B or uniform-B-preL), a plan file, or a plan name in <package>/plans/.
Result<Plan> resolve_plan(const Package& pkg, const std::string& spec);
// Rejects layers, shards or bitwidths the package does not hold (Error::kBadPlan).
Status validate_plan(const Plan& plan, const Package& pkg);
std::string plan_to_json(const Plan& plan);

}  // namespace wrx
