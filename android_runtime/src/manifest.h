// manifest.json (docs/FORMAT.md, "Manifest"), read and checked against its store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "store.h"

namespace wrx {

struct Geometry {
  std::string family;
  int hidden = 0, layers = 0, heads = 0, intermediate = 0, vocab = 0, type_vocab = 0, num_labels = 0;
  double ln_eps = 0;
};

struct Sharding {
  int shards_per_layer = 0, heads_per_shard = 0, head_dim = 0, ffn_per_shard = 0;
  int attn_width() const { return heads_per_shard * head_dim; }
};

// The whole-layer program's weights, in input order (docs/FORMAT.md, "Programs").
inline constexpr const char* kLayerKeys[16] = {"q_w",    "q_b",    "k_w",   "k_b",   "v_w",    "v_b",
                                               "o_w",    "o_b",    "ln1_g", "ln1_b", "ffn1_w", "ffn1_b",
                                               "ffn2_w", "ffn2_b", "ln2_g", "ln2_b"};

struct Package {
  std::string root;
  Geometry geom;
  Sharding shard;
  std::vector<int> bitwidths;  // stored codebook bitwidths; fp32 (32) is always stored
  int max_seq_len = 0;
  // The shortest length every program takes: programs exported with a dynamic sequence
  // length run a query at its own length (min_seq_len..max_seq_len); fixed-length programs
  // (packages before 2026-12-02, no programs.*.min_seq_len) have min_seq_len = max_seq_len.
  int min_seq_len = 0;
  // manifest model.position_bias "relative" (MPNet): the attention scores also get a
  // per-head bias over relative positions, from the store's REL_POS_BIAS table.
  bool relative_bias = false;
  std::vector<std::string> labels;
  std::string model_name, task_name;
  std::string dev_file, calib_file;
  std::string tokenizer_file;  // root/<tokenizer.file>; empty when the manifest has none (older packages)
  // Program paths: the whole encoder layer, and its attention and FFN halves.
  std::string layer_program, attn_program, ffn_program;
  // Optional (packages since 2026-12-02): the whole layer with its weights as named
  // constants, which XNNPACK packs once per resident layer, and the key each of the 16 layer
  // weights is asked for by (in kLayerKeys order). Empty when the manifest has none.
  std::string layer_packed_program;
  std::vector<std::string> layer_packed_keys;
  std::unique_ptr<Store> store;

  bool has_bits(int b) const;
};

// Reads root/manifest.json, opens the store it names and checks that they agree
// (store header fields, every entry, every (layer, shard, bits) the manifest implies,
// the program file). Nothing sized by the files is allocated before it is validated.
Result<std::unique_ptr<Package>> open_package(const std::string& root, bool try_direct = true);

Result<std::string> read_file(const std::string& path);

}  // namespace wrx
