#include "plan.h"

#include <cstdio>
#include <map>
#include <set>

#include "json.h"
#include "report.h"

namespace wrx {

Plan uniform_plan(const Package& pkg, int bits, int preload_layers) {
  Plan p;
  p.name = "uniform-" + std::to_string(bits) + (preload_layers > 0 ? "-pre" + std::to_string(preload_layers) : "");
  for (int l = 0; l < pkg.geom.layers; ++l) {
    LayerPlan lp;
    lp.layer = l;
    for (int j = 0; j < pkg.shard.shards_per_layer; ++j) {
      lp.shards.push_back(j);
      lp.bits.push_back(bits);
      if (l < preload_layers) p.preload.emplace_back(l, j);
    }
    p.layers.push_back(lp);
  }
  p.json = plan_to_json(p);
  return p;
}

Result<Plan> load_plan(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return fail(Error::kMissingFile, "plan file " + path + " does not exist", "check the --plan path");
  auto parsed = json::parse(text.value(), Error::kBadPlan);
  if (!parsed.ok())
    return fail(Error::kBadPlan, "plan " + path + ": " + parsed.status().message, "re-write the plan (wrx plan)");
  const json::Value& v = parsed.value();
  auto bad = [&](const std::string& why) {
    return fail(Error::kBadPlan, "plan " + path + ": " + why,
                "write it with wrx plan, or fix the field named against the package (docs/FORMAT.md, 'Plan')");
  };
  const json::Value* f = v.get("format");
  if (f == nullptr || !f->is_string() || f->str() != "wrx-plan") return bad("field format must be 'wrx-plan'");
  int64_t ver = 0;
  const json::Value* fv = v.get("format_version");
  if (fv == nullptr || !fv->as_int(&ver) || ver < 1 || ver > 3)
    return bad("field format_version must be 1, 2 or 3 (this loader reads them all)");
  Plan p;
  const json::Value* name = v.get("name");
  if (name == nullptr || !name->is_string()) return bad("field name is missing");
  p.name = name->str();
  auto parse_layers = [&](const json::Value* layers, const std::string& ctx, std::vector<LayerPlan>* out) -> Status {
    if (layers == nullptr || !layers->is_array()) return bad("field " + ctx + " is missing");
    for (size_t i = 0; i < layers->items().size(); ++i) {
      const json::Value& lj = layers->items()[i];
      const std::string w = ctx + "[" + std::to_string(i) + "]";
      LayerPlan lp;
      int64_t l = 0;
      const json::Value* lv = lj.get("layer");
      if (lv == nullptr || !lv->as_int(&l) || l < 0 || l > 65535)
        return bad("field " + w + ".layer is missing or invalid");
      lp.layer = static_cast<int>(l);
      const json::Value* sh = lj.get("shards");
      const json::Value* bi = lj.get("bits");
      if (sh == nullptr || bi == nullptr || !sh->is_array() || !bi->is_array() ||
          sh->items().size() != bi->items().size())
        return bad("fields " + w + ".shards and .bits must be arrays of equal length");
      for (size_t k = 0; k < sh->items().size(); ++k) {
        int64_t s = 0, b = 0;
        if (!sh->items()[k].as_int(&s) || !bi->items()[k].as_int(&b) || s < 0 || s > 65535 || b < 0 || b > 64)
          return bad("field " + w + ".shards/bits[" + std::to_string(k) + "] is not a valid integer");
        lp.shards.push_back(static_cast<int>(s));
        lp.bits.push_back(static_cast<int>(b));
      }
      out->push_back(lp);
    }
    return Status::Ok();
  };
  WRX_TRY(parse_layers(v.get("layers"), "layers", &p.layers));
  if (const json::Value* bl = v.get("by_length"); bl != nullptr) {
    if (ver < 3 || !bl->is_array()) return bad("field by_length needs format_version 3 and must be a list");
    int64_t prev = 0;
    for (size_t i = 0; i < bl->items().size(); ++i) {
      const json::Value& bj = bl->items()[i];
      const std::string w = "by_length[" + std::to_string(i) + "]";
      int64_t n = 0;
      const json::Value* mv = bj.get("max_len");
      if (mv == nullptr || !mv->as_int(&n) || n <= prev || n > 65535)
        return bad("field " + w + ".max_len must be an integer in " + std::to_string(prev + 1) +
                   "..65535 (increasing)");
      prev = n;
      std::vector<LayerPlan> ls;
      WRX_TRY(parse_layers(bj.get("layers"), w + ".layers", &ls));
      p.by_length.emplace_back(static_cast<int>(n), std::move(ls));
    }
  }
  if (const json::Value* pre = v.get("preload"); pre != nullptr) {
    if (!pre->is_array()) return bad("field preload must hold [layer, shard] pairs");
    for (const auto& pj : pre->items()) {
      int64_t a = 0, b = 0;
      if (!pj.is_array() || pj.items().size() != 2 || !pj.items()[0].as_int(&a) || !pj.items()[1].as_int(&b) || a < 0 ||
          a > 65535 || b < 0 || b > 65535)
        return bad("field preload must hold [layer, shard] pairs");
      p.preload.emplace_back(static_cast<int>(a), static_cast<int>(b));
    }
  }
  if (const json::Value* meta = v.get("meta"); meta != nullptr && !meta->is_object())
    return bad("field meta must be an object");
  if (const json::Value* pipe = v.get("pipeline"); pipe != nullptr) {
    if (ver < 2 || !pipe->is_object()) return bad("field pipeline needs format_version 2 and must be an object");
    int64_t n = 0;
    const json::Value* ra = pipe->get("readahead_kb");
    const json::Value* ck = pipe->get("chunk_kb");
    const json::Value* hr = pipe->get("head_resident");
    const std::string kb_range = std::to_string(knobs::kMinKb) + ".." + std::to_string(knobs::kMaxKb);
    if (ra == nullptr || !ra->as_int(&n) || n < knobs::kMinKb || n > knobs::kMaxKb)
      return bad("field pipeline.readahead_kb must be " + kb_range);
    p.readahead_kb = static_cast<size_t>(n);
    if (ck == nullptr || !ck->as_int(&n) || n < knobs::kMinKb || n > knobs::kMaxKb)
      return bad("field pipeline.chunk_kb must be " + kb_range);
    p.chunk_kb = static_cast<size_t>(n);
    if (hr == nullptr || !hr->is_bool()) return bad("field pipeline.head_resident must be true or false");
    p.head_resident = hr->boolean() ? 1 : 0;
    if (const json::Value* ln = pipe->get("lanes"); ln != nullptr) {
      if (!ln->as_int(&n) || n < knobs::kMinLanes || n > knobs::kMaxLanes)
        return bad("field pipeline.lanes must be " + std::to_string(knobs::kMinLanes) + ".." +
                   std::to_string(knobs::kMaxLanes));
      p.lanes = static_cast<int>(n);
    }
    if (const json::Value* hb = pipe->get("head_bits"); hb != nullptr) {
      if (!hb->as_int(&n) || (n != 32 && n != fmt::kHeadCodebookBits))
        return bad("field pipeline.head_bits must be 32 or " + std::to_string(fmt::kHeadCodebookBits));
      p.head_bits = static_cast<int>(n);
    }
  }
  p.json = text.value();
  return p;
}

namespace {

// One list of layers against the package; fills (layer, shard) -> bits.
Status validate_layers(const Plan& plan, const std::vector<LayerPlan>& layers, const std::string& ctx,
                       const Package& pkg, std::map<std::pair<int, int>, int>* seen) {
  auto bad = [&](const std::string& why) {
    return fail(Error::kBadPlan, "plan " + plan.name + ": " + why,
                "write the plan against this package (wrx inspect OUT)");
  };
  if (layers.empty()) return bad("no " + ctx + "layers");
  int prev = -1;
  for (const auto& lp : layers) {
    if (lp.layer >= pkg.geom.layers)
      return bad(ctx + "layer " + std::to_string(lp.layer) + " is not in 0.." + std::to_string(pkg.geom.layers - 1));
    if (lp.layer <= prev) return bad(ctx + "layers must be listed in increasing order");
    prev = lp.layer;
    if (lp.shards.empty())
      return bad(ctx + "layer " + std::to_string(lp.layer) + " lists no shards (omit the layer to skip it)");
    for (size_t k = 0; k < lp.shards.size(); ++k) {
      const int s = lp.shards[k], b = lp.bits[k];
      if (s >= pkg.shard.shards_per_layer)
        return bad(ctx + "layer " + std::to_string(lp.layer) + " shard " + std::to_string(s) +
                   " does not exist (the package has " + std::to_string(pkg.shard.shards_per_layer) +
                   " shards per layer)");
      if (!pkg.has_bits(b) || pkg.store->find(fmt::EntryKind::kAttnShard, lp.layer, s, b) == nullptr ||
          pkg.store->find(fmt::EntryKind::kFfnShard, lp.layer, s, b) == nullptr)
        return bad(ctx + "layer " + std::to_string(lp.layer) + " shard " + std::to_string(s) + " at " +
                   std::to_string(b) + " bits is not in the store");
      if (!seen->emplace(std::make_pair(lp.layer, s), b).second)
        return bad(ctx + "layer " + std::to_string(lp.layer) + " lists a shard twice");
    }
  }
  return Status::Ok();
}

}  // namespace

Status validate_plan(const Plan& plan, const Package& pkg) {
  auto bad = [&](const std::string& why) {
    return fail(Error::kBadPlan, "plan " + plan.name + ": " + why,
                "write the plan against this package (wrx inspect OUT)");
  };
  std::map<std::pair<int, int>, int> runs;
  WRX_TRY(validate_layers(plan, plan.layers, "", pkg, &runs));
  for (const auto& pr : plan.preload)
    if (runs.count(pr) == 0)
      return bad("preload [" + std::to_string(pr.first) + ", " + std::to_string(pr.second) +
                 "] is not a shard the plan runs");
  for (size_t i = 0; i < plan.by_length.size(); ++i) {
    const std::string ctx = "by_length[" + std::to_string(i) + "].";
    if (plan.by_length[i].first >= pkg.max_seq_len)
      return bad(ctx + "max_len " + std::to_string(plan.by_length[i].first) + " must be below max_seq_len " +
                 std::to_string(pkg.max_seq_len) + " (the top-level layers serve the longest queries)");
    std::map<std::pair<int, int>, int> bucket;
    WRX_TRY(validate_layers(plan, plan.by_length[i].second, ctx, pkg, &bucket));
    for (const auto& pr : plan.preload) {  // one preload buffer, encoded once, serves every length
      auto it = bucket.find(pr);
      if (it == bucket.end() || it->second != runs[pr])
        return bad(ctx + "layers must run preloaded shard [" + std::to_string(pr.first) + ", " +
                   std::to_string(pr.second) + "] at " + std::to_string(runs[pr]) +
                   " bits, as the top-level layers do");
    }
  }
  return Status::Ok();
}

namespace {
std::string layers_json(const std::vector<LayerPlan>& layers) {
  std::string s = "[";
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& lp = layers[i];
    s += (i ? ", " : "") + std::string("{\"layer\": ") + std::to_string(lp.layer) + ", \"shards\": [";
    for (size_t k = 0; k < lp.shards.size(); ++k) s += (k ? ", " : "") + std::to_string(lp.shards[k]);
    s += "], \"bits\": [";
    for (size_t k = 0; k < lp.bits.size(); ++k) s += (k ? ", " : "") + std::to_string(lp.bits[k]);
    s += "]}";
  }
  return s + "]";
}
}  // namespace

std::string plan_to_json(const Plan& plan) {
  std::string s = "{\"format\": \"wrx-plan\", \"format_version\": " + std::string(plan.by_length.empty() ? "1" : "3") +
                  ", \"name\": " + json::quote(plan.name) + ", \"layers\": " + layers_json(plan.layers);
  if (!plan.by_length.empty()) {
    s += ", \"by_length\": [";
    for (size_t i = 0; i < plan.by_length.size(); ++i)
      s += (i ? ", " : "") + std::string("{\"max_len\": ") + std::to_string(plan.by_length[i].first) +
           ", \"layers\": " + layers_json(plan.by_length[i].second) + "}";
    s += "]";
  }
  s += ", \"preload\": [";
  for (size_t i = 0; i < plan.preload.size(); ++i)
    s += (i ? ", " : "") + std::string("[") + std::to_string(plan.preload[i].first) + ", " +
         std::to_string(plan.preload[i].second) + "]";
  return s + "]}";
}

Result<Plan> resolve_plan(const Package& pkg, const std::string& spec) {
  int bits = 0, pre = 0;
  char tail = 0;
  const bool preset = std::sscanf(spec.c_str(), "uniform-%d-pre%d%c", &bits, &pre, &tail) == 2 ||
                      (std::sscanf(spec.c_str(), "uniform-%d%c", &bits, &tail) == 1 && (pre = 0, true));
  if (preset && spec.rfind("uniform-", 0) == 0) {
    if (!pkg.has_bits(bits))
      return fail(Error::kBadPlan,
                  "plan " + spec + ": " + std::to_string(bits) + " bits are not stored in this package",
                  "wrx inspect OUT lists the stored bitwidths");
    if (pre < 0 || pre > pkg.geom.layers)
      return fail(Error::kBadPlan, "plan " + spec + ": cannot preload " + std::to_string(pre) + " of " +
                                       std::to_string(pkg.geom.layers) + " layers");
    return uniform_plan(pkg, bits, pre);
  }
  if (FILE* f = std::fopen(spec.c_str(), "rb")) {
    std::fclose(f);
    return load_plan(spec);
  }
  if (spec.find('/') == std::string::npos && spec.find('\0') == std::string::npos && !spec.empty() && spec[0] != '.') {
    const std::string named = pkg.root + "/plans/" + spec + ".json";
    if (FILE* f = std::fopen(named.c_str(), "rb")) {
      std::fclose(f);
      return load_plan(named);
    }
  }
  return fail(Error::kBadPlan,
              "plan '" + spec + "' is neither a preset, a plan file, nor a plan in " + pkg.root + "/plans",
              "use uniform-B or uniform-B-preL (e.g. uniform-4-pre1), a plan file, or a name from wrx plan");
}

std::string knob_defaults_json() {
  JsonObject o;
  o.integer("readahead_kb", knobs::kReadaheadKb)
      .integer("chunk_kb", knobs::kChunkKb)
      .boolean("head_resident", knobs::kHeadResident)
      .integer("lanes", knobs::kLanes)
      .integer("head_bits", knobs::kHeadBits)
      .raw("kb_range", "[" + std::to_string(knobs::kMinKb) + ", " + std::to_string(knobs::kMaxKb) + "]")
      .raw("lanes_range", "[" + std::to_string(knobs::kMinLanes) + ", " + std::to_string(knobs::kMaxLanes) + "]");
  return o.text();
}

}  // namespace wrx
