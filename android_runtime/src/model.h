// The pieces of one forward pass, kept as separate stages so the modes can arrange them:
//   IO       read_entries(), read_word_rows(): raw store bytes, few large O_DIRECT reads
//   decode   decode_layer() (a whole layer), decode_attn()/decode_ffn() (a chunk of shards)
//   compute  embed(), run_layer(), run_attn()/run_ffn() + finish_attn()/finish_ffn(), head()
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "concurrency.h"
#include "error.h"
#include "io.h"
#include "manifest.h"
#include "plan.h"
#include "program.h"

namespace wrx {

// Recycles aligned IO buffers between inferences (every byte stays counted as resident).
class BufferPool {
 public:
  AlignedBuffer take(size_t bytes);
  void give(AlignedBuffer&& b);
  void clear();

 private:
  std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

// The raw payloads of some entries, read with one request per file-contiguous run.
struct RawEntries {
  std::vector<const Entry*> entries;     // in the order asked for
  std::vector<const uint8_t*> payloads;  // per entry
  std::vector<AlignedBuffer> runs;
  uint64_t bytes = 0;
  int requests = 0;
  void release(BufferPool* pool);
};

// The word-embedding rows of one input.
struct WordRows {
  std::vector<int32_t> rows;       // sorted unique token ids
  std::vector<const float*> ptrs;  // per row
  AlignedBuffer buf;
  uint64_t bytes = 0;
};

// Weights of a whole layer, or of a chunk of shards of one half, in program input order.
struct Weights {
  AlignedBuffer buf;
  const float* ptr[16] = {};
  int k = 0;                // shards
  std::vector<int> shards;  // which, in order (a per-head score bias follows their heads)
};

class Model {
 public:
  // head_resident = false: the pooler and classifier are streamed per inference too
  // (elastic); pass their payload to head(). layer_program = false: only the chunk
  // programs are loaded (elastic never runs a whole layer; this saves its planned arena).
  // chunk_lanes: sets of chunk programs (0 = none). Lanes run concurrently on their own
  // threads, so each needs its own Method and planned arena. head_bits: which stored head
  // runs, 32 or fmt::kHeadCodebookBits (its pooler matrix is used as codes, never decoded).
  static Result<std::unique_ptr<Model>> create(Package* pkg, bool word_table_resident, int chunk_lanes,
                                               bool head_resident = true, bool layer_program = true,
                                               int head_bits = 32);

  // IO
  Status read_entries(const std::vector<const Entry*>& entries, RawEntries* out, BufferPool* pool);
  Status read_word_rows(const int32_t* ids, WordRows* out);
  uint64_t word_rows_bytes(const int32_t* ids) const;  // what read_word_rows will fetch
  const Entry* head_entry() const;                     // the HEAD entry at head_bits (create checked it exists)
  // The attention (kind = kAttnShard) or FFN entries of a layer plan, in plan order.
  std::vector<const Entry*> shard_entries(const LayerPlan& lp, fmt::EntryKind kind) const;

  // decode (CRC-checked): payloads in plan order, one per shard of the layer/chunk.
  Status decode_layer(const LayerPlan& lp, const uint8_t* const* attn, const uint8_t* const* ffn, Weights* w) const;
  Status decode_attn(const Entry* const* entries, const uint8_t* const* payloads, int k, Weights* w) const;
  Status decode_ffn(const Entry* const* entries, const uint8_t* const* payloads, int k, Weights* w) const;

  // Packed resident layers (load-all): the layer's weights go to the package's packed-layer
  // program as named constants, and XNNPACK packs them once, here, instead of at every call
  // (a whole-layer program given weights as inputs repacks ~7 MB per MiniLM layer per call).
  // can_pack: the package has the program and the layer runs every shard. pack_layer keeps
  // copies of the small tensors and none of w: the caller may free or reuse w afterwards.
  // Layers are numbered in the order they were packed.
  bool can_pack(const LayerPlan& lp) const;
  Status pack_layer(const Weights& w);
  size_t bias_scratch_bytes() const;  // the per-head bias buffers, every lane (0 without one)
  Status run_packed(size_t i, const float* bias, float* x);

  // compute
  Status embed(const int32_t* ids, const int32_t* types, const WordRows& rows, float* x) const;
  // `bias` is the key mask row [S] (0 for tokens, float lowest for padding). A package
  // whose attention scores also get a per-head relative position bias (manifest
  // model.position_bias "relative", store role REL_POS_BIAS) has the program calls take
  // [heads of the call's shards, S, S]: the Model gathers it from the table, per call.
  Status run_layer(const Weights& w, const float* bias, float* x);
  // Chunked layer: acc = 0; run_attn per chunk (acc += partial); finish_attn (x = LN1(x + o_b + acc));
  // acc = 0; run_ffn per chunk; finish_ffn (x = LN2(x + b2 + acc)).
  // `lane` picks the program set; calls on different lanes may run at the same time.
  Status run_attn(const Weights& w, const float* x, const float* bias, float* acc, int lane = 0);
  Status run_ffn(const Weights& w, const float* x, float* acc, int lane = 0);
  void finish_attn(int layer, const float* acc, float* x) const;
  void finish_ffn(int layer, const float* acc, float* x) const;
  // With a streamed head, `payload` is the head entry's bytes (CRC-checked by the reader).
  Status head(const float* x, float* logits, const uint8_t* payload = nullptr) const;
  // The head from any HEAD entry's payload (the profile times each stored head).
  Status head_with(const Entry& e, const uint8_t* payload, const float* x, float* logits) const;

  // The sequence length the next embed/run/finish calls work at (pipeline.h, "lengths"):
  // pkg.min_seq_len..pkg.max_seq_len. Calls on one Model are serialized by its executor.
  Status set_seq(int seq);
  int seq() const { return seq_; }
  int max_seq() const { return pkg_->max_seq_len; }
  int hidden() const { return pkg_->geom.hidden; }
  const Package& package() const { return *pkg_; }
  Store& store() { return *pkg_->store; }
  size_t program_planned_bytes() const;
  size_t chunk_planned_bytes() const;  // the attention and FFN programs' planned arenas, every lane
  int lanes() const { return static_cast<int>(lanes_.size()); }

 private:
  Model() = default;
  Status load_resident(bool head_resident);
  struct HeadPtrs {
    const float *pool_w = nullptr, *pool_b = nullptr, *cls_w = nullptr, *cls_b = nullptr;
    // pool_w == nullptr: the pooler matrix is a CODEBOOK at kHeadCodebookBits.
    const float* pool_cb = nullptr;
    const uint8_t* pool_codes = nullptr;
    const uint32_t* out_idx = nullptr;
    const float* out_val = nullptr;
    uint32_t n_out = 0;
  };
  Status head_ptrs(const Entry& e, const uint8_t* payload, HeadPtrs* out) const;
  Status run_head(const HeadPtrs& hp, const float* x, float* logits) const;
  Status decode_tensor(const Entry& e, const uint8_t* payload, fmt::Role role, uint32_t rows, uint32_t cols, float* dst,
                       size_t stride) const;
  // The score bias of a program call over `shards`: the mask row as it is ({1, 1, S}), or
  // the shards' heads' relative position bias plus the mask gathered into scratch[slot]
  // ({heads, S, S}). Slot: a lane, or lanes() for the whole-layer and packed programs.
  struct CallBias {
    const float* data;
    int32_t heads, rows;  // the tensor is {heads, rows, S}
  };
  CallBias call_bias(const std::vector<int>& shards, const float* mask, size_t slot);

  Package* pkg_ = nullptr;
  int seq_ = 0;
  int head_bits_ = 32;
  std::unique_ptr<Program> layer_;
  struct Packed {
    AlignedBuffer small;               // biases and LayerNorms: the runtime reads them at every call
    std::unique_ptr<Program> program;  // holds XNNPACK's packed copy of the matrices
    std::vector<int> shards;           // every shard, in order
    int64_t counted = 0;               // the matrices' fp32 bytes, in the resident tally while alive
    Packed() = default;
    Packed(Packed&& o) noexcept
        : small(std::move(o.small)),
          program(std::move(o.program)),
          shards(std::move(o.shards)),
          counted(std::exchange(o.counted, 0)) {}
    ~Packed() { AlignedBuffer::count_outside(-counted); }
  };
  std::unique_ptr<ProgramMemory> packed_memory_;  // one arena for all packed layers (run one at a time)
  std::vector<Packed> packed_;                    // declared after packed_memory_: destroyed before it
  struct Lane {
    std::unique_ptr<ProgramMemory> memory;  // shared by the lane's attention and FFN programs
    std::unique_ptr<Program> attn, ffn;     // declared after memory: destroyed before it
  };
  std::vector<Lane> lanes_;
  // Always resident: position/type embeddings + LN, the head, per-row CRCs, each layer's
  // shared tensors (biases and LayerNorms, a few KB per layer).
  AlignedBuffer emb_shared_, head_, row_crc_, word_table_, shared_;
  const float *pos_ = nullptr, *type_ = nullptr, *emb_g_ = nullptr, *emb_b_ = nullptr;
  HeadPtrs head_res_;  // when the head is resident
  const uint32_t* crc_ = nullptr;
  const float* word_ = nullptr;                   // only when the word table is resident
  const float* rel_ = nullptr;                    // [heads, 2 * max_seq_len - 1] when position_bias is relative
  std::vector<std::vector<float>> bias_scratch_;  // per lane, then one for whole layers
  std::vector<const float*> shared_ptr_;          // per layer: o_b, ln1_g, ln1_b, ffn2_b, ln2_g, ln2_b
  TaskPool readers_{3};                           // with the calling thread: 4 word-row reads in flight
};

}  // namespace wrx
