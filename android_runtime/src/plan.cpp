#include "plan.h"

#include <cstdio>
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
  auto bad = [&](const std::string& why) { return fail(Error::kBadPlan, "plan " + path + ": " + why); };
  const json::Value* f = v.get("format");
  if (f == nullptr || !f->is_string() || f->str() != "wrx-plan") return bad("field format must be 'wrx-plan'");
  int64_t ver = 0;
  const json::Value* fv = v.get("format_version");
  if (fv == nullptr || !fv->as_int(&ver) || ver < 1 || ver > 2)
    return bad("field format_version must be 1 or 2 (this loader reads both)");
  Plan p;
  const json::Value* name = v.get("name");
  if (name == nullptr || !name->is_string()) return bad("field name is missing");
  p.name = name->str();
  const json::Value* layers = v.get("layers");
  if (layers == nullptr || !layers->is_array()) return bad("field layers is missing");
  for (size_t i = 0; i < layers->items().size(); ++i) {
    const json::Value& lj = layers->items()[i];
    const std::string w = "layers[" + std::to_string(i) + "]";
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
    p.layers.push_back(lp);
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

Status validate_plan(const Plan& plan, const Package& pkg) {
  auto bad = [&](const std::string& why) {
    return fail(Error::kBadPlan, "plan " + plan.name + ": " + why,
                "write the plan against this package (wrx inspect OUT)");
  };
  if (plan.layers.empty()) return bad("no layers");
  int prev = -1;
  std::set<std::pair<int, int>> seen;
  for (const auto& lp : plan.layers) {
    if (lp.layer >= pkg.geom.layers)
      return bad("layer " + std::to_string(lp.layer) + " is not in 0.." + std::to_string(pkg.geom.layers - 1));
    if (lp.layer <= prev) return bad("layers must be listed in increasing order");
    prev = lp.layer;
    if (lp.shards.empty())
      return bad("layer " + std::to_string(lp.layer) + " lists no shards (omit the layer to skip it)");
    for (size_t k = 0; k < lp.shards.size(); ++k) {
      const int s = lp.shards[k], b = lp.bits[k];
      if (s >= pkg.shard.shards_per_layer)
        return bad("layer " + std::to_string(lp.layer) + " shard " + std::to_string(s) +
                   " does not exist (the package has " + std::to_string(pkg.shard.shards_per_layer) +
                   " shards per layer)");
      if (!pkg.has_bits(b) || pkg.store->find(fmt::EntryKind::kAttnShard, lp.layer, s, b) == nullptr ||
          pkg.store->find(fmt::EntryKind::kFfnShard, lp.layer, s, b) == nullptr)
        return bad("layer " + std::to_string(lp.layer) + " shard " + std::to_string(s) + " at " + std::to_string(b) +
                   " bits is not in the store");
      if (!seen.emplace(lp.layer, s).second) return bad("layer " + std::to_string(lp.layer) + " lists a shard twice");
    }
  }
  for (const auto& pr : plan.preload)
    if (seen.count(pr) == 0)
      return bad("preload [" + std::to_string(pr.first) + ", " + std::to_string(pr.second) +
                 "] is not a shard the plan runs");
  return Status::Ok();
}

std::string plan_to_json(const Plan& plan) {
  std::string s =
      "{\"format\": \"wrx-plan\", \"format_version\": 1, \"name\": " + json::quote(plan.name) + ", \"layers\": [";
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const auto& lp = plan.layers[i];
    s += (i ? ", " : "") + std::string("{\"layer\": ") + std::to_string(lp.layer) + ", \"shards\": [";
    for (size_t k = 0; k < lp.shards.size(); ++k) s += (k ? ", " : "") + std::to_string(lp.shards[k]);
    s += "], \"bits\": [";
    for (size_t k = 0; k < lp.bits.size(); ++k) s += (k ? ", " : "") + std::to_string(lp.bits[k]);
    s += "]}";
  }
  s += "], \"preload\": [";
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
