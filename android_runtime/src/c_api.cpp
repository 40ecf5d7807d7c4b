// The C API (include/wrx/wrx.h) over wrx::Session.
//
// Handles are ids, not pointers: a wrx_session* is a number from a counter that never
// repeats, looked up in a registry on every call. So a closed (or never opened, or
// garbage) handle is WRX_ERR_CLOSED instead of a use-after-free, and a call holds a
// shared_ptr to its session, so wrx_close() from another thread cannot free it under the
// call: close cancels the call, waits for it, and the last reference frees the session.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "session.h"
#include "version.h"
#include "wrx/wrx.h"

namespace {

using wrx::Error;

static_assert(static_cast<int>(Error::kUsage) == WRX_ERR_USAGE, "wrx_status mirrors wrx::Error");
static_assert(static_cast<int>(Error::kBadTokenizer) == WRX_ERR_BAD_TOKENIZER, "wrx_status mirrors wrx::Error");
static_assert(static_cast<int>(Error::kClosed) == WRX_ERR_CLOSED, "wrx_status mirrors wrx::Error");

thread_local std::string t_message, t_hint;

wrx_status set_error(const wrx::Status& s) {
  t_message = s.message;
  t_hint = s.hint;
  return static_cast<wrx_status>(s.code);
}

wrx_status set_error(Error code, const std::string& message, const std::string& hint = {}) {
  return set_error(wrx::fail(code, message, hint));
}

wrx_status ok() {
  t_message.clear();
  t_hint.clear();
  return WRX_OK;
}

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, std::shared_ptr<wrx::Session>> live;
  uintptr_t next = 1;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: calls may outlive static destructors
  return *r;
}

std::shared_ptr<wrx::Session> lookup(wrx_session* h) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  auto it = r.live.find(reinterpret_cast<uintptr_t>(h));
  return it == r.live.end() ? nullptr : it->second;
}

wrx_status closed(wrx_session* h) {
  if (h == nullptr)
    return set_error(Error::kInvalidArgument, "the session handle is NULL", "pass the handle wrx_open gave");
  return set_error(Error::kClosed, "the session is closed (or the handle is not one wrx_open gave)",
                   "open a new session with wrx_open");
}

// Every entry point runs its body here: no exception ever crosses the C boundary.
template <typename F>
wrx_status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return set_error(Error::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    return set_error(Error::kRuntime, std::string("internal error: ") + e.what(), "report this as a wrx bug");
  } catch (...) {
    return set_error(Error::kRuntime, "internal error", "report this as a wrx bug");
  }
}

// The result and the storage its pointers point into; wrx_result_free gets it back by a
// static_cast from the base.
struct ResultBox : wrx_result {
  ResultBox() : wrx_result() {}
  std::vector<wrx_category> cats;
  std::vector<float> logits;
  std::vector<int32_t> tokens;
  std::vector<std::string> labels;
};

}  // namespace

extern "C" {

uint32_t wrx_api_version(void) {
  return WRX_API_VERSION;
}

const char* wrx_version_string(void) {
  return wrx::kLoaderVersion;
}

const char* wrx_status_name(wrx_status status) {
  if (status < WRX_OK || status > WRX_ERR_CLOSED) return "UNKNOWN";
  return wrx::error_name(static_cast<Error>(status));
}

int wrx_status_is_user_error(wrx_status status) {
  if (status < WRX_OK || status > WRX_ERR_CLOSED) return 0;
  return wrx::is_user_error(static_cast<Error>(status)) ? 1 : 0;
}

const char* wrx_last_error_message(void) {
  return t_message.c_str();
}
const char* wrx_last_error_hint(void) {
  return t_hint.c_str();
}

void wrx_options_init(wrx_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof(*o));
  o->struct_size = sizeof(wrx_options);
  o->threads = 2;
  o->direct_io = 1;
}

wrx_status wrx_open(const char* package_dir, const wrx_options* options, wrx_session** out) {
  return guarded([&]() -> wrx_status {
    if (out == nullptr) return set_error(Error::kInvalidArgument, "wrx_open: out is NULL");
    *out = nullptr;
    if (package_dir == nullptr) return set_error(Error::kInvalidArgument, "wrx_open: package_dir is NULL");
    wrx_options o;
    wrx_options_init(&o);
    if (options != nullptr) {
      if (options->struct_size < sizeof(uint32_t) || options->struct_size > sizeof(wrx_options))
        return set_error(Error::kInvalidArgument, "wrx_open: options->struct_size is " +
                                                      std::to_string(options->struct_size) +
                                                      "; initialise options with wrx_options_init");
      std::memcpy(&o, options, options->struct_size);
    }
    wrx::SessionOptions so;
    so.plan = o.plan ? o.plan : "";
    so.threads = o.threads;
    so.io_bandwidth_mbps = o.io_bandwidth_mbps;
    so.direct_io = o.direct_io != 0;
    so.mode = o.load_all ? "load-all" : "elastic";
    auto s = wrx::Session::open(package_dir, so);
    if (!s.ok()) return set_error(s.status());
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    const uintptr_t id = r.next++;
    r.live[id] = std::shared_ptr<wrx::Session>(s.take().release());
    *out = reinterpret_cast<wrx_session*>(id);
    return ok();
  });
}

wrx_status wrx_classify(wrx_session* session, const char* text, int64_t text_len, const char* pair, int64_t pair_len,
                        wrx_result** out) {
  return guarded([&]() -> wrx_status {
    if (out == nullptr) return set_error(Error::kInvalidArgument, "wrx_classify: out is NULL");
    *out = nullptr;
    auto s = lookup(session);
    if (!s) return closed(session);
    if (text == nullptr) return set_error(Error::kInvalidArgument, "wrx_classify: text is NULL", "pass UTF-8 text");
    if (text_len < -1 || pair_len < -1) return set_error(Error::kInvalidArgument, "wrx_classify: a length below -1");
    const std::string_view tv(text, text_len < 0 ? std::strlen(text) : size_t(text_len));
    std::string_view pv;
    if (pair != nullptr) pv = std::string_view(pair, pair_len < 0 ? std::strlen(pair) : size_t(pair_len));
    wrx::QueryResult q;
    const wrx::Status st = s->classify(tv, pair ? &pv : nullptr, &q);
    if (!st.ok()) return set_error(st);
    auto box = std::make_unique<ResultBox>();
    box->labels = s->labels();
    box->logits = q.logits;
    box->tokens = q.token_ids;
    for (size_t c = 0; c < q.scores.size(); ++c)
      box->cats.push_back({static_cast<int32_t>(c), box->labels[c].c_str(), q.scores[c]});
    wrx_result& r = *box;
    r.label_index = q.label;
    r.label = box->labels[size_t(q.label)].c_str();
    r.num_categories = static_cast<int32_t>(box->cats.size());
    r.categories = box->cats.data();
    r.logits = box->logits.data();
    r.num_tokens = static_cast<int32_t>(box->tokens.size());
    r.token_ids = box->tokens.data();
    r.timings = {q.timings.tokenize_ms, q.timings.io_ms,    q.timings.compute_ms,
                 q.timings.stall_ms,    q.timings.total_ms, q.timings.bytes_read};
    *out = box.release();
    return ok();
  });
}

void wrx_result_free(wrx_result* result) {
  if (result == nullptr) return;
  delete static_cast<ResultBox*>(result);
}

wrx_status wrx_cancel(wrx_session* session) {
  return guarded([&]() -> wrx_status {
    auto s = lookup(session);
    if (!s) return closed(session);
    s->cancel();
    return ok();
  });
}

wrx_status wrx_session_stats(wrx_session* session, wrx_stats* out) {
  return guarded([&]() -> wrx_status {
    if (out == nullptr) return set_error(Error::kInvalidArgument, "wrx_session_stats: out is NULL");
    auto s = lookup(session);
    if (!s) return closed(session);
    const wrx::SessionStats st = s->stats();
    *out = {st.resident_weight_bytes, st.preload_bytes, st.rss_bytes, st.peak_rss_bytes, st.queries};
    return ok();
  });
}

wrx_status wrx_session_info(wrx_session* session, wrx_info* out) {
  return guarded([&]() -> wrx_status {
    if (out == nullptr) return set_error(Error::kInvalidArgument, "wrx_session_info: out is NULL");
    auto s = lookup(session);
    if (!s) return closed(session);
    out->plan_name = s->plan_name().c_str();
    out->num_labels = static_cast<int32_t>(s->labels().size());
    out->max_seq_len = s->max_seq_len();
    return ok();
  });
}

wrx_status wrx_close(wrx_session* session) {
  return guarded([&]() -> wrx_status {
    std::shared_ptr<wrx::Session> s;
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> g(r.mu);
      auto it = r.live.find(reinterpret_cast<uintptr_t>(session));
      if (it == r.live.end()) return closed(session);
      s = std::move(it->second);
      r.live.erase(it);
    }
    s->cancel();
    s->stats();  // takes the call lock: returns once the call in flight (if any) is done
    s.reset();   // frees the session unless a call that raced the lookup still holds it
    return ok();
  });
}

}  // extern "C"
