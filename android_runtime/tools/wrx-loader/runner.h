// Runs a plan over the dev set in one of the execution modes and builds the report.
#pragma once

#include <string>

#include "error.h"

namespace wrx {

struct RunOptions {
  std::string package;    // package directory (manifest.json, store.wrx, programs/, data/)
  std::string plan_file;  // plan JSON; empty = uniform `bits`
  int bits = 32;
  std::string mode = "load-all";
  std::string split = "dev";
  std::string report;  // report path; empty = <package>/report.json
  int threads = 2;
  int limit = 0;              // first N rows only (0 = all)
  bool direct = true;         // O_DIRECT where the filesystem allows it
  bool pad_to_max = false;    // every row at max_seq_len (the fixed-length baseline)
  double bandwidth_mbps = 0;  // emulated device read cap; 0 = none
  int preload_layers = 0;     // with --bits: preload the first L layers (elastic)
  // Elastic knobs; 0 = the plan's `pipeline` value, else the default (2048 KB, 400 KB, streamed head).
  size_t readahead_kb = 0;  // raw bytes in flight ahead of compute
  size_t chunk_kb = 0;      // decoded fp32 bytes per program call
  int head_resident = -1;   // 1: pooler/classifier stay resident; 0: streamed per inference
  int lanes = 0;            // threads a layer half's chunks are dealt to (0 = the plan's, else 1)
  int head_bits = 0;        // 32 or 8: which stored head the elastic mode runs (0 = the plan's, else 32)
  int trace_rows = -1;      // per-layer traces for the first N rows (-1 = all)
  bool progress = true;     // "PROGRESS i n" lines on stderr
  bool profile = false;     // --profile: measure the device instead of running the dev set
  int profile_reps = 20;
};

// Runs and fills *report (JSON). On failure the status says why; the caller writes an
// error report.
Status run(const RunOptions& opt, std::string* report);

}  // namespace wrx
