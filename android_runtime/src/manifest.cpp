#include "manifest.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "json.h"
#include "sha256.h"

namespace wrx {
namespace {

const char* kRepackage = "re-package: wrx package MODEL_DIR --task TASK -o OUT";

struct Reader {
  std::string path;

  Status missing(const std::string& field) const {
    return fail(Error::kManifestField, path + ": field " + field + " is missing or has the wrong type", kRepackage);
  }
  Status get(const json::Value& obj, const std::string& field, const std::string& key, const json::Value** out) const {
    const json::Value* v = obj.get(key);
    if (v == nullptr) return missing(field + key);
    *out = v;
    return Status::Ok();
  }
  Status i64(const json::Value& obj, const std::string& field, const std::string& key, int64_t* out) const {
    const json::Value* v = nullptr;
    WRX_TRY(get(obj, field, key, &v));
    if (!v->as_int(out)) return missing(field + key);
    return Status::Ok();
  }
  Status i32(const json::Value& obj, const std::string& field, const std::string& key, int* out, int lo, int hi) const {
    int64_t v = 0;
    WRX_TRY(i64(obj, field, key, &v));
    if (v < lo || v > hi)
      return fail(Error::kManifestField,
                  path + ": field " + field + key + " = " + std::to_string(v) + " is outside " + std::to_string(lo) +
                      ".." + std::to_string(hi),
                  kRepackage);
    *out = static_cast<int>(v);
    return Status::Ok();
  }
  Status str(const json::Value& obj, const std::string& field, const std::string& key, std::string* out) const {
    const json::Value* v = nullptr;
    WRX_TRY(get(obj, field, key, &v));
    if (!v->is_string()) return missing(field + key);
    *out = v->str();
    return Status::Ok();
  }
};

bool file_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string kind_json_name(fmt::EntryKind k) {
  return fmt::kind_name(k);
}

}  // namespace

bool Package::has_bits(int b) const {
  if (b == 32) return true;
  for (int x : bitwidths)
    if (x == b) return true;
  return false;
}

Result<std::string> read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(Error::kMissingFile, path + " does not exist or cannot be read");
  std::string s;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return fail(Error::kIo, path + ": read error");
  return s;
}

Result<std::unique_ptr<Package>> open_package(const std::string& root, bool try_direct) {
  const std::string path = root + "/manifest.json";
  Reader r{path};
  auto text = read_file(path);
  if (!text.ok()) {
    return fail(Error::kMissingFile, path + " does not exist: " + root + " is not a wrx package (or not deployed)",
                kRepackage);
  }
  auto parsed = json::parse(text.value());
  if (!parsed.ok()) return fail(Error::kManifestField, path + ": " + parsed.status().message, kRepackage);
  const json::Value& m = parsed.value();
  if (!m.is_object()) return r.missing("(top level object)");

  std::string format;
  WRX_TRY(r.str(m, "", "format", &format));
  if (format != "wrx-manifest")
    return fail(Error::kManifestField, path + ": field format is '" + format + "', expected 'wrx-manifest'",
                kRepackage);
  int64_t version = 0;
  WRX_TRY(r.i64(m, "", "format_version", &version));
  if (version != 1)
    return fail(Error::kUnsupportedVersion,
                path + ": field format_version is " + std::to_string(version) + "; this wrx reads version 1",
                version > 1 ? "upgrade wrx-loader (scripts/build_runtime.sh)" : kRepackage);

  auto pkg = std::make_unique<Package>();
  pkg->root = root;
  const json::Value *model = nullptr, *geom = nullptr, *sh = nullptr, *quant = nullptr, *tok = nullptr, *task = nullptr,
                    *store = nullptr, *entries = nullptr, *data = nullptr;
  WRX_TRY(r.get(m, "", "model", &model));
  WRX_TRY(r.get(*model, "model.", "geometry", &geom));
  WRX_TRY(r.get(m, "", "sharding", &sh));
  WRX_TRY(r.get(m, "", "quant", &quant));
  WRX_TRY(r.get(m, "", "tokenizer", &tok));
  WRX_TRY(r.get(m, "", "task", &task));
  WRX_TRY(r.get(m, "", "store", &store));
  WRX_TRY(r.get(m, "", "entries", &entries));
  WRX_TRY(r.get(m, "", "data", &data));

  Geometry& g = pkg->geom;
  WRX_TRY(r.str(*model, "model.", "name", &pkg->model_name));
  WRX_TRY(r.str(*geom, "model.geometry.", "family", &g.family));
  if (g.family != "bert" && g.family != "mpnet")
    return fail(Error::kManifestField,
                path + ": field model.geometry.family '" + g.family + "' is not supported by this loader",
                "upgrade wrx-loader");
  // What the family declares about its attention scores (families: wrx_sdk/models/families).
  if (const json::Value* pb = model->get("position_bias"); pb != nullptr) {
    if (!pb->is_string() || pb->str() != "relative")
      return fail(Error::kManifestField,
                  path + ": field model.position_bias must be \"relative\" or absent (a newer family?)",
                  "upgrade wrx-loader, or re-package: wrx package MODEL_DIR --task TASK -o OUT");
    pkg->relative_bias = true;
  }
  constexpr int kBig = 1 << 20;
  WRX_TRY(r.i32(*geom, "model.geometry.", "hidden", &g.hidden, 1, 65536));
  WRX_TRY(r.i32(*geom, "model.geometry.", "layers", &g.layers, 1, 1024));
  WRX_TRY(r.i32(*geom, "model.geometry.", "heads", &g.heads, 1, 1024));
  WRX_TRY(r.i32(*geom, "model.geometry.", "intermediate", &g.intermediate, 1, kBig));
  WRX_TRY(r.i32(*geom, "model.geometry.", "vocab", &g.vocab, 1, 1 << 24));
  WRX_TRY(r.i32(*geom, "model.geometry.", "type_vocab", &g.type_vocab, 1, 1024));
  WRX_TRY(r.i32(*geom, "model.geometry.", "num_labels", &g.num_labels, 1, 65536));
  const json::Value* eps = nullptr;
  WRX_TRY(r.get(*geom, "model.geometry.", "ln_eps", &eps));
  if (!eps->is_number()) return r.missing("model.geometry.ln_eps");
  g.ln_eps = eps->number();

  Sharding& s = pkg->shard;
  WRX_TRY(r.i32(*sh, "sharding.", "shards_per_layer", &s.shards_per_layer, 1, 4096));
  WRX_TRY(r.i32(*sh, "sharding.", "heads_per_shard", &s.heads_per_shard, 1, g.heads));
  WRX_TRY(r.i32(*sh, "sharding.", "head_dim", &s.head_dim, 1, g.hidden));
  WRX_TRY(r.i32(*sh, "sharding.", "ffn_per_shard", &s.ffn_per_shard, 1, g.intermediate));
  const json::Value* bits = nullptr;
  WRX_TRY(r.get(*quant, "quant.", "bitwidths", &bits));
  if (!bits->is_array()) return r.missing("quant.bitwidths");
  for (const auto& b : bits->items()) {
    int64_t v = 0;
    if (!b.as_int(&v) || v < 0 || v > 255 || !fmt::valid_bits(static_cast<uint8_t>(v)) || v == 32)
      return r.missing("quant.bitwidths[]");  // range first: 258 must not pass as 2
    pkg->bitwidths.push_back(static_cast<int>(v));
  }
  WRX_TRY(r.i32(*tok, "tokenizer.", "max_seq_len", &pkg->max_seq_len, 1, 65536));
  if (const json::Value* tf = tok->get("file"); tf != nullptr && !tf->is_null()) {
    // A plain file name in the package directory: never a path that leaves it.
    if (!tf->is_string() || tf->str().empty() || tf->str().find('/') != std::string::npos || tf->str() == "." ||
        tf->str() == "..")
      return r.missing("tokenizer.file");
    pkg->tokenizer_file = root + "/" + tf->str();
  }
  WRX_TRY(r.str(*task, "task.", "name", &pkg->task_name));
  const json::Value* labels = nullptr;
  WRX_TRY(r.get(*task, "task.", "labels", &labels));
  if (!labels->is_array()) return r.missing("task.labels");
  for (const auto& l : labels->items()) pkg->labels.push_back(l.is_string() ? l.str() : "?");
  if (static_cast<int>(pkg->labels.size()) != g.num_labels)
    return fail(Error::kManifestField,
                path + ": field task.labels has " + std::to_string(pkg->labels.size()) +
                    " labels, model.geometry.num_labels says " + std::to_string(g.num_labels),
                kRepackage);

  const json::Value *dev = nullptr, *calib = nullptr;
  WRX_TRY(r.get(*data, "data.", "dev", &dev));
  WRX_TRY(r.str(*dev, "data.dev.", "file", &pkg->dev_file));
  pkg->dev_file = root + "/" + pkg->dev_file;
  if (data->get("calib") != nullptr) {
    calib = data->get("calib");
    WRX_TRY(r.str(*calib, "data.calib.", "file", &pkg->calib_file));
    pkg->calib_file = root + "/" + pkg->calib_file;
  }

  // Programs: each must exist and be built for this sequence length.
  const json::Value* programs = m.get("programs");
  for (const char* name : {"layer", "attn", "ffn", "layer_packed"}) {
    const std::string field = std::string("programs.") + name;
    const json::Value* prog = programs ? programs->get(name) : nullptr;
    if (prog == nullptr && std::string(name) == "layer_packed") continue;  // optional
    if (prog == nullptr)
      return fail(Error::kManifestField,
                  path + ": field " + field + " is missing (packaged without export, or by an older wrx?)", kRepackage);
    std::string file;
    WRX_TRY(r.str(*prog, field + ".", "file", &file));
    file = root + "/" + file;
    if (!file_exists(file))
      return fail(Error::kMissingFile, path + ": field " + field + ".file names " + file + ", which does not exist",
                  "re-deploy or re-package: wrx package MODEL_DIR --task TASK -o OUT");
    // The program is verified before the runtime sees it: a swapped or truncated .pte is a
    // user error here, not undefined behaviour inside the ExecuTorch loader.
    std::string want;
    WRX_TRY(r.str(*prog, field + ".", "sha256", &want));
    const std::string got = sha256_file(file);
    if (got != want)
      return fail(Error::kManifestMismatch,
                  file + ": sha256 " + (got.empty() ? "(unreadable)" : got.substr(0, 16) + "...") +
                      " differs from manifest field " + field + ".sha256 " + want.substr(0, 16) +
                      "... (a swapped, truncated or corrupt program)",
                  "re-deploy (wrx deploy) or re-package: wrx package MODEL_DIR --task TASK -o OUT");
    int seq = 0;
    WRX_TRY(r.i32(*prog, field + ".", "seq_len", &seq, 1, 65536));
    if (seq != pkg->max_seq_len)
      return fail(Error::kManifestMismatch, path + ": field " + field + ".seq_len differs from tokenizer.max_seq_len",
                  kRepackage);
    int min_seq = seq;  // optional: absent in packages with fixed-length programs
    if (prog->get("min_seq_len") != nullptr) WRX_TRY(r.i32(*prog, field + ".", "min_seq_len", &min_seq, 1, seq));
    pkg->min_seq_len = std::max(pkg->min_seq_len, min_seq);
    (std::string(name) == "layer"  ? pkg->layer_program
     : std::string(name) == "attn" ? pkg->attn_program
     : std::string(name) == "ffn"  ? pkg->ffn_program
                                   : pkg->layer_packed_program) = file;
    if (std::string(name) != "layer_packed") continue;
    // Each layer weight names the key the program asks for; the program runs every shard.
    int64_t shards = 0;
    WRX_TRY(r.i64(*prog, field + ".", "max_shards", &shards));
    if (shards != pkg->shard.shards_per_layer)
      return fail(Error::kManifestMismatch,
                  path + ": field " + field + ".max_shards differs from sharding.shards_per_layer", kRepackage);
    const json::Value* keys = nullptr;
    WRX_TRY(r.get(*prog, field + ".", "constants", &keys));
    if (!keys->is_object() || keys->members().size() != 16) return r.missing(field + ".constants (16 layer weights)");
    for (const char* k : kLayerKeys) {
      std::string key;
      WRX_TRY(r.str(*keys, field + ".constants.", k, &key));
      if (key.empty() || key.size() > 256) return r.missing(field + ".constants." + k + " (1..256 characters)");
      pkg->layer_packed_keys.push_back(key);
    }
  }

  // Store: open (validates itself), then compare with the manifest.
  std::string store_file;
  WRX_TRY(r.str(*store, "store.", "file", &store_file));
  auto st = Store::open(root + "/" + store_file, try_direct);
  if (!st.ok()) return st.status();
  pkg->store = st.take();
  const fmt::Header& h = pkg->store->header();
  const std::pair<const char*, uint64_t> fields[] = {{"format_version", h.version},  {"file_bytes", h.file_bytes},
                                                     {"n_entries", h.n_entries},     {"n_tensors", h.n_tensors},
                                                     {"table_crc32", h.table_crc32}, {"header_crc32", h.header_crc32}};
  for (const auto& [key, actual] : fields) {
    int64_t v = 0;
    WRX_TRY(r.i64(*store, "store.", key, &v));
    if (static_cast<uint64_t>(v) != actual)
      return fail(Error::kManifestMismatch,
                  path + ": field store." + key + " is " + std::to_string(v) + " but " + pkg->store->path() + " has " +
                      std::to_string(actual) + ": the manifest does not match its store (mixed files from two builds?)",
                  kRepackage);
  }
  if (!entries->is_array() || entries->items().size() != pkg->store->entries().size())
    return fail(
        Error::kManifestMismatch,
        path + ": field entries does not list the store's " + std::to_string(pkg->store->entries().size()) + " entries",
        kRepackage);
  for (size_t i = 0; i < entries->items().size(); ++i) {
    const json::Value& je = entries->items()[i];
    const Entry& se = pkg->store->entries()[i];
    std::string kind;
    int64_t off = -1, len = -1, crc = -1, b = -1;
    const std::string f = "entries[" + std::to_string(i) + "].";
    WRX_TRY(r.str(je, f, "kind", &kind));
    WRX_TRY(r.i64(je, f, "offset", &off));
    WRX_TRY(r.i64(je, f, "length", &len));
    WRX_TRY(r.i64(je, f, "crc32", &crc));
    WRX_TRY(r.i64(je, f, "bits", &b));
    if (kind != kind_json_name(se.kind) || static_cast<uint64_t>(off) != se.offset ||
        static_cast<uint64_t>(len) != se.length || static_cast<uint32_t>(crc) != se.crc32 || b != se.bits)
      return fail(
          Error::kManifestMismatch,
          path + ": field " + f.substr(0, f.size() - 1) + " disagrees with the store's " + pkg->store->describe(se),
          kRepackage);
  }

  // Every entry the sharding and bitwidths imply, then geometry consistency.
  std::vector<int> all_bits = pkg->bitwidths;
  all_bits.push_back(32);
  for (int l = 0; l < g.layers; ++l) {
    if (pkg->store->find(fmt::EntryKind::kLayerShared, l, -1, 32) == nullptr)
      return fail(Error::kMissingEntry, path + ": the store has no layer_shared entry for layer " + std::to_string(l),
                  kRepackage);
    for (int b : all_bits)
      for (auto kind : {fmt::EntryKind::kAttnShard, fmt::EntryKind::kFfnShard})
        for (int j = 0; j < s.shards_per_layer; ++j)
          if (pkg->store->find(kind, l, j, b) == nullptr) {
            const std::string what = std::string(fmt::kind_name(kind)) + ", layer " + std::to_string(l) + ", shard " +
                                     std::to_string(j) + ", " +
                                     (b == 32 ? std::string("fp32") : std::to_string(b) + "-bit");
            return fail(Error::kMissingEntry,
                        path + ": field sharding.shards_per_layer (" + std::to_string(s.shards_per_layer) +
                            ") and quant.bitwidths name " + what + ", but " + pkg->store->path() +
                            " has no entry for " + what,
                        kRepackage);
          }
  }
  if (s.heads_per_shard * s.shards_per_layer != g.heads || s.ffn_per_shard * s.shards_per_layer != g.intermediate ||
      s.head_dim * g.heads != g.hidden)
    return fail(Error::kManifestField, path + ": fields sharding.* do not partition the model's heads and FFN",
                kRepackage);
  for (auto k :
       {fmt::EntryKind::kEmbedWord, fmt::EntryKind::kEmbedWordCrc, fmt::EntryKind::kEmbedShared, fmt::EntryKind::kHead})
    if (pkg->store->find(k, -1, -1, 32) == nullptr)
      return fail(Error::kMissingEntry, path + ": the store has no " + std::string(fmt::kind_name(k)) + " entry",
                  kRepackage);
  return pkg;
}

}  // namespace wrx
