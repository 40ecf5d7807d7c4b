// wrx-loader: runs a packaged model from its store on the ExecuTorch runtime and writes
// report.json. Exit status: 0 ok, 2 user error (bad input; see the report's error), 3
// internal error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "plan.h"
#include "profile.h"
#include "report.h"
#include "runner.h"
#include "version.h"

namespace {

const char* kHelp = R"(usage: wrx-loader --package DIR [options]

Runs the dev set of a wrx package (wrx package) through the encoder-layer ExecuTorch
program and writes a JSON report (docs/FORMAT.md, "Report").

options:
  --package DIR        package directory: manifest.json, store.wrx, programs/, data/
  --plan FILE          plan JSON (docs/FORMAT.md, "Plan")
  --bits B             uniform plan at B bits (2,3,4,5,6,8 or 32); default 32
  --mode MODE          load-all        everything decoded and resident before the timed loop
                       load-then-exec  per inference: read everything, decode, then run
                       stdpl           layerwise pipeline: an IO thread reads and decodes
                                       whole layers while compute runs the previous one
                       elastic         preload buffer resident; the other shards stream in
                                       plan order through a bounded read-ahead
  --preload-layers L   with --bits: preload the first L layers (elastic)
  --readahead-kb N     elastic: raw bytes in flight ahead of compute (default: the
                       plan's pipeline.readahead_kb, else %d)
  --chunk-kb N         elastic: decoded fp32 bytes per program call (default: the
                       plan's pipeline.chunk_kb, else %d)
  --head-resident      elastic: keep the pooler and classifier resident instead of
                       streaming them per inference (default: the plan's choice, else off)
  --head-bits B        elastic: run the fp32 head (32) or the one whose pooler is stored
                       at 8 bits (8) (default: the plan's pipeline.head_bits, else %d)
  --lanes N            elastic: deal each layer half's chunks to N threads, each running
                       its own programs single-threaded (default: the plan's
                       pipeline.lanes, else %d); with N > 1 XNNPACK gets 1 thread
  --pad-to-max         run every row at the package's max_seq_len, padded (the fixed-length
                       baseline); default: each row at its own length where the programs
                       take the length as a dynamic dimension
  --trace-rows N       per-layer timelines for the first N rows only (default: all)
  --profile            measure this device for the planner instead of running the dev
                       set: read bandwidth per request size, compute per program and
                       shard count, decode GB/s per bitwidth, fixed overheads
  --split S            dev (default) or calib
  --limit N            run only the first N rows
  --threads N          ExecuTorch/XNNPACK threads (default 2)
  --report PATH        where to write the report (default DIR/report.json); written
                       atomically, so a killed run leaves no partial report
  --io-bandwidth MBPS  cap store reads at MBPS (emulates a slower device class)
  --no-direct          buffered reads + fadvise(DONTNEED) instead of O_DIRECT
  --quiet              no progress lines on stderr
  --print-defaults     print the pipeline knobs' defaults and ranges as JSON and exit
  --version            print the version and exit
  --help               this text

exit status: 0 success; 2 user error (bad input, named in the report's "error");
3 internal error.
)";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "wrx-loader: %s\nHINT: wrx-loader --help\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  wrx::RunOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* what) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)what;
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::printf(kHelp, wrx::knobs::kReadaheadKb, wrx::knobs::kChunkKb, wrx::knobs::kHeadBits, wrx::knobs::kLanes);
      return 0;
    } else if (a == "--print-defaults") {
      std::printf("%s\n", wrx::knob_defaults_json().c_str());
      return 0;
    } else if (a == "--version") {
      std::printf("wrx-loader %s (executorch %s, %s, %s)\n", wrx::kLoaderVersion, wrx::kExecutorchVersion, wrx::kTarget,
                  wrx::kCompiler);
      return 0;
    } else if (a == "--quiet") {
      opt.progress = false;
    } else if (a == "--profile") {
      opt.profile = true;
      opt.mode = "profile";
    } else if (a == "--no-direct") {
      opt.direct = false;
    } else if (a == "--head-resident") {
      opt.head_resident = 1;
    } else if (a == "--pad-to-max") {
      opt.pad_to_max = true;
    } else if (a == "--package" || a == "--plan" || a == "--bits" || a == "--mode" || a == "--split" ||
               a == "--limit" || a == "--threads" || a == "--report" || a == "--io-bandwidth" ||
               a == "--preload-layers" || a == "--readahead-kb" || a == "--chunk-kb" || a == "--trace-rows" ||
               a == "--lanes" || a == "--head-bits") {
      if ((v = next(a.c_str())) == nullptr) return usage_error(a + " needs a value");
      char* end = nullptr;
      if (a == "--package")
        opt.package = v;
      else if (a == "--plan")
        opt.plan_file = v;
      else if (a == "--mode")
        opt.mode = v;
      else if (a == "--split")
        opt.split = v;
      else if (a == "--report")
        opt.report = v;
      else if (a == "--io-bandwidth") {
        opt.bandwidth_mbps = std::strtod(v, &end);
        if (*end != '\0' || opt.bandwidth_mbps < 0) return usage_error("--io-bandwidth needs a number >= 0");
      } else {
        const long n = std::strtol(v, &end, 10);
        if (*end != '\0' || n < 0 || n > 1 << 30) return usage_error(a + " needs a non-negative integer");
        if (a == "--bits")
          opt.bits = static_cast<int>(n);
        else if (a == "--limit")
          opt.limit = static_cast<int>(n);
        else if (a == "--preload-layers")
          opt.preload_layers = static_cast<int>(n);
        else if (a == "--readahead-kb")
          opt.readahead_kb = static_cast<size_t>(n);
        else if (a == "--chunk-kb")
          opt.chunk_kb = static_cast<size_t>(n);
        else if (a == "--trace-rows")
          opt.trace_rows = static_cast<int>(n);
        else if (a == "--lanes")
          opt.lanes = static_cast<int>(n);
        else if (a == "--head-bits")
          opt.head_bits = static_cast<int>(n);
        else
          opt.threads = static_cast<int>(n);
      }
    } else {
      return usage_error("unknown argument '" + a + "'");
    }
  }
  if (opt.package.empty()) return usage_error("--package DIR is required");
  if (opt.threads < 1) return usage_error("--threads must be >= 1");
  if (opt.head_bits != 0 && opt.head_bits != 32 && opt.head_bits != wrx::fmt::kHeadCodebookBits)
    return usage_error("--head-bits must be 32 or " + std::to_string(wrx::fmt::kHeadCodebookBits));
  if (opt.lanes > wrx::kMaxLanes) return usage_error("--lanes must be 1.." + std::to_string(wrx::kMaxLanes));
  if (opt.split != "dev" && opt.split != "calib") return usage_error("--split must be dev or calib");
  if (opt.report.empty()) opt.report = opt.package + "/report.json";

  std::string report;
  wrx::Status st = opt.profile ? wrx::run_profile(opt, &report) : wrx::run(opt, &report);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", wrx::error_name(st.code), st.message.c_str());
    if (!st.hint.empty()) std::fprintf(stderr, "HINT: %s\n", st.hint.c_str());
    wrx::JsonObject o;
    o.str("format", "wrx-report")
        .integer("format_version", 1)
        .boolean("ok", false)
        .str("mode", opt.mode)
        .raw("error", wrx::error_json(st));
    wrx::Status ws = wrx::write_atomic(opt.report, o.text());
    if (!ws.ok()) std::fprintf(stderr, "error: cannot write the error report: %s\n", ws.message.c_str());
    return wrx::is_user_error(st.code) ? 2 : 3;
  }
  wrx::Status ws = wrx::write_atomic(opt.report, report);
  if (!ws.ok()) {
    std::fprintf(stderr, "error: %s\n", ws.message.c_str());
    return 2;
  }
  return 0;
}
