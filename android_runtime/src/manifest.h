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
  std::vector<std::string> labels;
  std::string model_name, task_name;
  std::string dev_file, calib_file;
  std::string tokenizer_file;  // root/<tokenizer.file>; empty when the manifest has none (older packages)
  // Program paths: the whole encoder layer, and its attention and FFN halves.
  std::string layer_program, attn_program, ffn_program;
  std::unique_ptr<Store> store;

  bool has_bits(int b) const;
};

// Reads root/manifest.json, opens the store it names and checks that they agree
// (store header fields, every entry, every (layer, shard, bits) the manifest implies,
// the program file). Nothing sized by the files is allocated before it is validated.
Result<std::unique_ptr<Package>> open_package(const std::string& root, bool try_direct = true);

Result<std::string> read_file(const std::string& path);

}  // namespace wrx
