// The forward pass, in three separate stages so a pipeline can overlap them:
//   IO      read_layer():   the raw store entries one layer of a plan needs, few large reads
//   decode  decode_layer(): CRC check, then decode/copy into contiguous layer buffers
//   compute embed(), run_layer(), head()
#pragma once

#include <memory>
#include <vector>

#include "error.h"
#include "io.h"
#include "layer_program.h"
#include "manifest.h"
#include "plan.h"

namespace wrx {

// The raw bytes of the entries one layer needs (its shared entry and its planned shards).
struct RawLayer {
  std::vector<AlignedBuffer> runs;
  std::vector<const Entry*> entries;       // shared entry first, then shards in plan order
  std::vector<const uint8_t*> payloads;    // per entry, into runs
  uint64_t bytes_read = 0;
  int requests = 0;
};

// One layer's weights assembled from k shards, in program input order (q_w .. ln2_b).
struct LayerWeights {
  int layer = -1, k = 0;
  AlignedBuffer buf;
  const float* ptr[16] = {};
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> create(Package* pkg, bool word_table_resident);

  Status read_layer(const LayerPlan& lp, RawLayer* raw);
  Status decode_layer(const LayerPlan& lp, const RawLayer& raw, LayerWeights* w) const;

  // x[S*H] from one row of token ids; reads only the rows of these tokens unless the word
  // table is resident.
  Status embed(const int32_t* ids, const int32_t* types, float* x);
  Status run_layer(const LayerWeights& w, const float* bias, float* x);
  void head(const float* x, float* logits) const;

  int seq() const { return seq_; }
  int hidden() const { return pkg_->geom.hidden; }
  const Package& package() const { return *pkg_; }
  uint64_t embed_bytes_read() const { return embed_bytes_read_; }
  size_t program_planned_bytes() const { return program_->planned_bytes(); }

 private:
  Model() = default;
  Status load_resident();

  Package* pkg_ = nullptr;
  int seq_ = 0;
  std::unique_ptr<LayerProgram> program_;
  // Always resident: position/type embeddings + LN, head, and the per-row CRCs.
  AlignedBuffer emb_shared_, head_, row_crc_, word_table_;
  const float *pos_ = nullptr, *type_ = nullptr, *emb_g_ = nullptr, *emb_b_ = nullptr;
  const float *pool_w_ = nullptr, *pool_b_ = nullptr, *cls_w_ = nullptr, *cls_b_ = nullptr;
  const uint32_t* crc_ = nullptr;
  const float* word_ = nullptr;  // only when the word table is resident
  AlignedBuffer scratch_;
  std::vector<float> tmp_;
  uint64_t embed_bytes_read_ = 0;
};

}  // namespace wrx
