#include "session.h"

#include <algorithm>
#include <cmath>

#include "io.h"
#include "manifest.h"
#include "pipeline.h"
#include "plan.h"
#include "program.h"
#include "report.h"
#include "tokenizer.h"

namespace wrx {

struct Session::Impl {
  std::unique_ptr<Package> pkg;
  Plan plan;
  std::unique_ptr<Model> model;
  std::unique_ptr<Executor> exec;
  std::unique_ptr<Tokenizer> tok;
  std::vector<int32_t> ids, types;  // max_seq_len each: the padded input buffers
  uint64_t queries = 0;
};

Session::Session() : impl_(new Impl()) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::open(const std::string& dir, const SessionOptions& opt) {
  if (opt.mode != "elastic" && opt.mode != "load-all")
    return fail(Error::kInvalidArgument, "session mode '" + opt.mode + "' is not elastic or load-all");
  if (opt.threads < 1 || opt.threads > 256)
    return fail(Error::kInvalidArgument, "threads must be 1..256, got " + std::to_string(opt.threads));
  if (!(opt.io_bandwidth_mbps >= 0) || !std::isfinite(opt.io_bandwidth_mbps))
    return fail(Error::kInvalidArgument, "io_bandwidth_mbps must be a finite number >= 0");
  std::unique_ptr<Session> s(new Session());
  Impl& m = *s->impl_;
  auto pkg = open_package(dir, opt.direct_io);
  if (!pkg.ok()) return pkg.status();
  m.pkg = pkg.take();
  if (opt.io_bandwidth_mbps > 0) m.pkg->store->file().set_bandwidth(opt.io_bandwidth_mbps * 1e6);
  if (m.pkg->tokenizer_file.empty())
    return fail(Error::kManifestField,
                dir + "/manifest.json: field tokenizer.file is null: the package has no tokenizer",
                "re-package with this wrx (wrx package MODEL_DIR --task TASK -o OUT)");
  auto tok = Tokenizer::load(m.pkg->tokenizer_file);
  if (!tok.ok()) return tok.status();
  m.tok = tok.take();

  auto plan = resolve_plan(*m.pkg, opt.plan.empty() ? kDefaultPlan : opt.plan);
  if (!plan.ok()) return plan.status();
  m.plan = plan.take();
  WRX_TRY(validate_plan(m.plan, *m.pkg));
  const ResolvedKnobs rk = resolve_knobs(opt.mode, m.plan, KnobOverrides{});
  WRX_TRY(init_executorch(rk.po.lanes > 1 ? 1 : opt.threads));
  const bool elastic = opt.mode == "elastic";
  auto model =
      Model::create(m.pkg.get(), !elastic, elastic ? rk.po.lanes : 0, rk.po.head_resident, !elastic, rk.head_bits);
  if (!model.ok()) return model.status();
  m.model = model.take();
  auto exec = Executor::create(rk.po, m.model.get(), m.plan);
  if (!exec.ok()) return exec.status();
  m.exec = exec.take();
  WRX_TRY(m.exec->setup());
  m.exec->set_cancel_flag(&s->cancel_);
  m.ids.assign(size_t(m.pkg->max_seq_len), m.tok->pad_id());
  m.types.assign(size_t(m.pkg->max_seq_len), 0);
  return s;
}

Status Session::classify(std::string_view text, const std::string_view* pair, QueryResult* out) {
  std::lock_guard<std::mutex> g(call_mu_);
  cancel_.store(false);
  busy_.store(true);
  Impl& m = *impl_;
  const double t0 = now_s();
  Encoding enc;
  Status st = m.tok->encode(text, pair, m.pkg->max_seq_len, &enc);
  const double tok_ms = (now_s() - t0) * 1e3;
  if (st.ok()) {
    out->token_ids = enc.ids;
    st = run_locked(enc.ids.data(), enc.type_ids.data(), static_cast<int>(enc.ids.size()), out);
    out->timings.tokenize_ms = tok_ms;
    out->timings.total_ms = (now_s() - t0) * 1e3;
  }
  busy_.store(false);
  return st;
}

Status Session::classify_ids(const int32_t* ids, const int32_t* types, int length, QueryResult* out) {
  std::lock_guard<std::mutex> g(call_mu_);
  cancel_.store(false);
  busy_.store(true);
  const double t0 = now_s();
  Status st;
  if (ids == nullptr || length < 1 || length > impl_->pkg->max_seq_len) {
    st = fail(Error::kInvalidArgument, "input must hold 1.." + std::to_string(impl_->pkg->max_seq_len) + " token ids");
  } else {
    out->token_ids.assign(ids, ids + length);
    st = run_locked(ids, types, length, out);
    out->timings.total_ms = (now_s() - t0) * 1e3;
  }
  busy_.store(false);
  return st;
}

// The tokens go into the padded buffers the loader's dev rows have (pad id, type 0), so the
// executor sees exactly what `wrx-loader --mode elastic` sees for the same row.
Status Session::run_locked(const int32_t* ids, const int32_t* types, int length, QueryResult* out) {
  Impl& m = *impl_;
  const int C = m.pkg->geom.num_labels;
  std::fill(m.ids.begin(), m.ids.end(), m.tok->pad_id());
  std::fill(m.types.begin(), m.types.end(), 0);
  for (int i = 0; i < length; ++i) {
    if (ids[i] < 0 || ids[i] >= m.pkg->geom.vocab)
      return fail(Error::kInvalidArgument, "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    m.ids[size_t(i)] = ids[i];
    m.types[size_t(i)] = types ? types[i] : 0;
    if (m.types[size_t(i)] < 0 || m.types[size_t(i)] >= m.pkg->geom.type_vocab)
      return fail(Error::kInvalidArgument, "token type id " + std::to_string(m.types[size_t(i)]) + " is out of range");
  }
  out->logits.assign(size_t(C), 0.0f);
  Trace tr;
  const Status run = m.exec->infer(m.ids.data(), m.types.data(), length, out->logits.data(), &tr);
  release_free_heap();  // between queries, nothing the query freed stays resident
  WRX_TRY(run);
  ++m.queries;
  out->label = static_cast<int>(std::max_element(out->logits.begin(), out->logits.end()) - out->logits.begin());
  const float mx = out->logits[size_t(out->label)];
  double sum = 0;
  out->scores.resize(size_t(C));
  for (int c = 0; c < C; ++c) sum += std::exp(double(out->logits[size_t(c)]) - mx);
  for (int c = 0; c < C; ++c)
    out->scores[size_t(c)] = static_cast<float>(std::exp(double(out->logits[size_t(c)]) - mx) / sum);
  QueryTimings& t = out->timings;
  t = QueryTimings{};
  t.io_ms = tr.embed_io_ms;
  t.stall_ms = tr.embed_stall_ms + tr.head_stall_ms;
  for (const LayerTrace& l : tr.layers) {
    if (l.io_end_ms >= 0 && l.io_start_ms >= 0) t.io_ms += l.io_end_ms - l.io_start_ms;
    t.stall_ms += l.stall_ms;
    t.compute_ms += l.compute_ms;
  }
  t.bytes_read = tr.bytes_read;
  return Status::Ok();
}

void Session::cancel() {
  if (busy_.load()) cancel_.store(true);
}

SessionStats Session::stats() const {
  std::lock_guard<std::mutex> g(call_mu_);
  SessionStats s;
  s.resident_weight_bytes = AlignedBuffer::live_bytes();
  s.preload_bytes = impl_->exec->preload_bytes();
  s.rss_bytes = static_cast<int64_t>(current_rss_kb()) * 1024;
  s.peak_rss_bytes = static_cast<int64_t>(peak_rss_kb()) * 1024;
  s.queries = impl_->queries;
  return s;
}

const std::vector<std::string>& Session::labels() const {
  return impl_->pkg->labels;
}
const std::string& Session::plan_name() const {
  return impl_->plan.name;
}
int Session::max_seq_len() const {
  return impl_->pkg->max_seq_len;
}

}  // namespace wrx
