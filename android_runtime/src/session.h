// A resident session: what an app holds between queries. Opening one validates the package,
// loads the programs, the tokenizer and the plan's preload buffer; each classify() then
// tokenizes the text and streams the plan's other shards through the elastic pipeline,
// exactly as `wrx-loader --mode elastic` does (same executor, same bytes, same sums).
// Between queries the session holds the always-resident tensors, the preload buffer, the
// program state and bounded buffers; nothing streamed stays resident.
//
// Calls on one session are serialized (a mutex): a second caller waits. cancel() may be
// called from any thread: the call in flight returns Error::kCancelled at its next layer
// boundary, and the session stays usable. Several sessions may coexist in a process.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"

namespace wrx {

struct SessionOptions {
  // A plan file, a plan name in <package>/plans/, or a preset uniform-B[-preL];
  // empty: kDefaultPlan.
  std::string plan;
  std::string mode = "elastic";  // or "load-all": everything resident (the baseline)
  int threads = 2;               // XNNPACK threads (lanes > 1 use one each)
  double io_bandwidth_mbps = 0;  // > 0: reads capped to emulate a slower device class
  bool direct_io = true;         // O_DIRECT where the filesystem allows it
};

// The plan a session runs when none is named: every shard at 4 bits, the first layer preloaded.
constexpr const char* kDefaultPlan = "uniform-4-pre1";

struct QueryTimings {
  double tokenize_ms = 0, io_ms = 0, compute_ms = 0, stall_ms = 0, total_ms = 0;
  uint64_t bytes_read = 0;
};

struct QueryResult {
  int label = -1;
  std::vector<float> logits, scores;  // scores: softmax of the logits
  std::vector<int32_t> token_ids;     // what the tokenizer produced (special tokens included)
  QueryTimings timings;
};

struct SessionStats {
  int64_t resident_weight_bytes = 0;          // weight buffers alive in the process now
  int64_t preload_bytes = 0;                  // this session's preload buffer
  int64_t rss_bytes = 0, peak_rss_bytes = 0;  // the process's (VmRSS, VmHWM)
  uint64_t queries = 0;
};

class Session {
 public:
  ~Session();
  static Result<std::unique_ptr<Session>> open(const std::string& package_dir, const SessionOptions& opt);

  // UTF-8 text and an optional pair (nullptr): tokenized with the package's tokenizer,
  // truncated to its max_seq_len.
  Status classify(std::string_view text, const std::string_view* pair, QueryResult* out);
  // Pre-tokenized input (ids and type ids of `length` tokens, length <= max_seq_len).
  Status classify_ids(const int32_t* ids, const int32_t* types, int length, QueryResult* out);
  void cancel();

  SessionStats stats() const;
  const std::vector<std::string>& labels() const;
  const std::string& plan_name() const;
  int max_seq_len() const;

 private:
  Session();
  struct Impl;
  Status run_locked(const int32_t* ids, const int32_t* types, int length, QueryResult* out);
  std::unique_ptr<Impl> impl_;
  mutable std::mutex call_mu_;
  std::atomic<bool> cancel_{false}, busy_{false};
};

}  // namespace wrx
