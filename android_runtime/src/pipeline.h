// Execution modes. Each runs one inference at a time over the same store and programs, at
// the query's own sequence length when the programs take it as a dynamic dimension
// (package min_seq_len..max_seq_len), else padded to max_seq_len:
//   load-all        every planned layer decoded and resident before the timed loop
//   load-then-exec  per inference: read everything the plan needs, decode, then run
//   stdpl           per inference: a layerwise pipeline; an IO thread reads and decodes
//                   whole layers into two slots while compute runs the previous one
//   elastic         the preload buffer stays resident; an IO thread streams the other
//                   shards' attention and FFN halves in plan order into a bounded
//                   read-ahead; compute decodes a few shards at a time just before
//                   running them (decode runs at 15+ GB/s) and waits only for its own
//                   layer's bytes. With lanes > 1, the chunks of a half are dealt
//                   round-robin to that many threads, each decoding and running its
//                   own chunks with its own programs (XNNPACK single-threaded): on a
//                   few cores this beats splitting every small operator across threads
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "model.h"
#include "plan.h"

namespace wrx {

struct LayerTrace {
  int layer = 0;
  double io_start_ms = -1, io_end_ms = -1;  // relative to the start of the inference
  double decode_ms = 0;
  double compute_start_ms = -1, compute_end_ms = -1;
  double stall_ms = 0;    // compute waiting for this layer's bytes
  double compute_ms = 0;  // time the compute thread spent on this layer, waits excluded
  uint64_t bytes = 0;
  int requests = 0;
  int chunks = 0;
};

struct Trace {
  double latency_ms = 0;
  double embed_io_ms = 0, embed_stall_ms = 0;
  double head_stall_ms = 0;  // elastic: compute waiting for the streamed head
  uint64_t bytes_read = 0;
  std::vector<LayerTrace> layers;
};

struct PipelineOptions {
  std::string mode = "load-all";
  size_t readahead_bytes = size_t{knobs::kReadaheadKb} << 10;  // elastic: raw bytes in flight ahead of compute
  size_t chunk_bytes = size_t{knobs::kChunkKb} << 10;          // elastic: decoded fp32 bytes per program call
  bool head_resident = knobs::kHeadResident;                   // elastic: the head stays resident instead of streaming
  int lanes = knobs::kLanes;  // elastic: chunks of a layer half run on this many threads
  // Every query runs at max_seq_len, padded, as before length-aware programs (the benches'
  // fixed-length baseline). Off: a query runs at its own length where the programs allow.
  bool pad_to_max = false;
};

// Knobs given on the command line or by an app; 0 / -1 = the plan's value, else the default.
struct KnobOverrides {
  size_t readahead_kb = 0, chunk_kb = 0;
  int head_resident = -1, lanes = 0, head_bits = 0;
};
struct ResolvedKnobs {
  PipelineOptions po;
  size_t readahead_kb = 0, chunk_kb = 0;
  int head_bits = 32;
};
// The pipeline options for a mode and plan: the overrides, else the plan's `pipeline`,
// else the defaults (plan.h, knobs). Modes other than elastic run the fp32 head, resident.
ResolvedKnobs resolve_knobs(const std::string& mode, const Plan& plan, const KnobOverrides& o);

class Executor {
 public:
  virtual ~Executor() = default;
  static Result<std::unique_ptr<Executor>> create(const PipelineOptions& opt, Model* model, const Plan& plan);
  virtual Status setup() = 0;
  virtual Status infer(const int32_t* ids, const int32_t* types, int length, float* logits, Trace* trace) = 0;
  // Shards per program call in the elastic mode (attention, FFN); 0 when not chunked.
  virtual std::pair<int, int> chunk_shards() const { return {0, 0}; }
  // Activation buffers the executor owns (hidden state, accumulators, mask), in bytes.
  virtual size_t activation_bytes() const = 0;
  // Bytes of the preload buffer (elastic; 0 otherwise).
  virtual int64_t preload_bytes() const { return 0; }
  // While *flag is true, infer() returns Error::kCancelled at its next layer boundary.
  void set_cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }

 protected:
  const std::atomic<bool>* cancel_ = nullptr;
};

}  // namespace wrx
