// wrx-query: one session, one JSON answer per query. Built on the C API (include/wrx/wrx.h),
// the same calls an app makes. `wrx query` runs it locally or through adb.
//
//   wrx-query --package DIR [--plan P] [--threads N] [--io-bandwidth MBPS] [--no-direct]
//             [--load-all] [--text T [--pair T2]]
//
// With --text it answers that one query. Otherwise it opens the session once, prints a
// {"ready": ...} line, and answers each stdin line as it comes: a JSON object
// {"text": ..., "pair": ...} or a plain line of text. Every answer is one JSON line with
// "ok"; a failed query ({"ok": false, "error": ...}) does not end the stream.
// Exit status: 0; 2 when the session cannot be opened or the arguments are wrong.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "json.h"
#include "report.h"
#include "wrx/wrx.h"

namespace {

const char* kHelp = R"(usage: wrx-query --package DIR [options] [--text T [--pair T2]]

Answers text-classification queries with a libwrx session (docs/SESSION.md): one JSON
line per query on stdout. Without --text, one query per stdin line: a JSON object
{"text": ..., "pair": ...} or a plain line of text.

options:
  --package DIR        package directory (wrx package, wrx deploy)
  --plan P             plan file, plan name in DIR/plans, or uniform-B[-preL]
                       (default: uniform-4-pre1)
  --threads N          XNNPACK threads (default 2)
  --io-bandwidth MBPS  cap store reads at MBPS (emulates a slower device class)
  --no-direct          buffered reads instead of O_DIRECT
  --load-all           hold the whole model resident (the baseline)
  --text T, --pair T2  answer this one query and exit
  --version, --help
)";

std::string error_line(wrx_status st) {
  wrx::JsonObject e, o;
  e.str("code", wrx_status_name(st))
      .str("message", wrx_last_error_message())
      .str("hint", wrx_last_error_hint())
      .boolean("user_error", wrx_status_is_user_error(st) != 0);
  o.boolean("ok", false).raw("error", e.text());
  return o.text();
}

std::string answer_line(wrx_session* s, const wrx_result& r) {
  wrx::JsonObject scores, timings, stats, o;
  std::string logits = "[", tokens = "[";
  for (int32_t c = 0; c < r.num_categories; ++c) {
    scores.num(r.categories[c].label, r.categories[c].score);
    logits += (c ? ", " : "") + wrx::json_num(r.logits[c]);
  }
  for (int32_t i = 0; i < r.num_tokens; ++i) tokens += (i ? ", " : "") + std::to_string(r.token_ids[i]);
  timings.num("tokenize", r.timings.tokenize_ms)
      .num("io", r.timings.io_ms)
      .num("compute", r.timings.compute_ms)
      .num("stall", r.timings.stall_ms)
      .num("total", r.timings.total_ms);
  wrx_stats st{};
  if (wrx_session_stats(s, &st) == WRX_OK)
    stats.integer("rss_bytes", st.rss_bytes)
        .integer("peak_rss_bytes", st.peak_rss_bytes)
        .integer("resident_weight_bytes", st.resident_weight_bytes)
        .integer("preload_bytes", st.preload_bytes);
  o.boolean("ok", true)
      .str("label", r.label)
      .integer("label_index", r.label_index)
      .raw("scores", scores.text())
      .raw("logits", logits + "]")
      .raw("token_ids", tokens + "]")
      .raw("timings_ms", timings.text())
      .integer("bytes_read", static_cast<long long>(r.timings.bytes_read))
      .raw("stats", stats.text());
  return o.text();
}

void emit(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void answer(wrx_session* s, const std::string& text, const std::string* pair) {
  wrx_result* r = nullptr;
  const wrx_status st = wrx_classify(s, text.data(), static_cast<int64_t>(text.size()), pair ? pair->data() : nullptr,
                                     pair ? static_cast<int64_t>(pair->size()) : 0, &r);
  if (st != WRX_OK) return emit(error_line(st));
  emit(answer_line(s, *r));
  wrx_result_free(r);
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "wrx-query: %s\nHINT: wrx-query --help\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  wrx_options o;
  wrx_options_init(&o);
  std::string package, plan, text, pair;
  bool have_text = false, have_pair = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("wrx-query %s (C API %u)\n", wrx_version_string(), wrx_api_version());
      return 0;
    }
    if (a == "--no-direct") {
      o.direct_io = 0;
      continue;
    }
    if (a == "--load-all") {
      o.load_all = 1;
      continue;
    }
    if (i + 1 >= argc)
      return usage_error(a == "--package" || a == "--plan" || a == "--threads" || a == "--text" || a == "--pair" ||
                                 a == "--io-bandwidth"
                             ? a + " needs a value"
                             : "unknown argument '" + a + "'");
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--package")
      package = v;
    else if (a == "--plan")
      plan = v;
    else if (a == "--text")
      text = v, have_text = true;
    else if (a == "--pair")
      pair = v, have_pair = true;
    else if (a == "--threads") {
      o.threads = static_cast<int32_t>(std::strtol(v, &end, 10));
      if (*end != '\0' || o.threads < 1) return usage_error("--threads needs a positive integer");
    } else if (a == "--io-bandwidth") {
      o.io_bandwidth_mbps = std::strtod(v, &end);
      if (*end != '\0' || o.io_bandwidth_mbps < 0) return usage_error("--io-bandwidth needs a number >= 0");
    } else {
      return usage_error("unknown argument '" + a + "'");
    }
  }
  if (package.empty()) return usage_error("--package DIR is required");
  if (have_pair && !have_text) return usage_error("--pair needs --text");
  if (!plan.empty()) o.plan = plan.c_str();

  wrx_session* s = nullptr;
  const wrx_status st = wrx_open(package.c_str(), &o, &s);
  if (st != WRX_OK) {
    emit(error_line(st));
    std::fprintf(stderr, "error: %s: %s\n", wrx_status_name(st), wrx_last_error_message());
    if (*wrx_last_error_hint()) std::fprintf(stderr, "HINT: %s\n", wrx_last_error_hint());
    return 2;
  }
  wrx_info info{};
  (void)wrx_session_info(s, &info);
  if (have_text) {
    answer(s, text, have_pair ? &pair : nullptr);
    wrx_close(s);
    return 0;
  }
  wrx::JsonObject ready;
  ready.boolean("ready", true)
      .str("plan", info.plan_name)
      .integer("num_labels", info.num_labels)
      .integer("max_seq_len", info.max_seq_len);
  emit(ready.text());
  std::string line;
  char buf[65536];
  while (std::fgets(buf, sizeof(buf), stdin) != nullptr) {
    line += buf;
    if (line.empty() || line.back() != '\n') {
      if (!std::feof(stdin)) continue;  // a line longer than the buffer: keep reading it
    } else {
      line.pop_back();
      if (!line.empty() && line.back() == '\r') line.pop_back();
    }
    if (!line.empty() && line[0] == '{') {
      auto v = wrx::json::parse(line, wrx::Error::kInvalidArgument);
      const wrx::json::Value* t = v.ok() ? v.value().get("text") : nullptr;
      const wrx::json::Value* p = v.ok() ? v.value().get("pair") : nullptr;
      if (!v.ok() || t == nullptr || !t->is_string() || (p != nullptr && !p->is_null() && !p->is_string())) {
        wrx::JsonObject e, out;
        e.str("code", "INVALID_ARGUMENT")
            .str("message", v.ok() ? "a JSON query needs \"text\" (a string) and optionally \"pair\" (a string)"
                                   : v.status().message)
            .str("hint", "send {\"text\": \"...\"} or a plain line of text")
            .boolean("user_error", true);
        out.boolean("ok", false).raw("error", e.text());
        emit(out.text());
      } else {
        const bool has_pair = p != nullptr && p->is_string();
        const std::string pv = has_pair ? p->str() : std::string();
        answer(s, t->str(), has_pair ? &pv : nullptr);
      }
    } else {
      answer(s, line, nullptr);
    }
    line.clear();
  }
  wrx_close(s);
  return 0;
}
