#include "pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "concurrency.h"

namespace wrx {
namespace {

double ms(double t, double t0) {
  return (t - t0) * 1e3;
}

void fill_bias(int S, int length, float* bias) {
  for (int t = 0; t < S; ++t) bias[t] = t < length ? 0.0f : std::numeric_limits<float>::lowest();
}

// Shared by the modes: embedding, layers given as whole Weights, head.
class Base : public Executor {
 public:
  Base(Model* m, Plan plan, const PipelineOptions& opt) : m_(m), plan_(std::move(plan)), opt_(opt) {
    x_.resize(size_t(m->max_seq()) * m->hidden());
    bias_.resize(m->max_seq());
  }

 protected:
  Model* m_;
  Plan plan_;
  PipelineOptions opt_;
  std::vector<float> x_, bias_;

  // The length this query runs at: its own where the programs allow, else max_seq_len;
  // the bias masks only the padding, if any.
  Status start(int length) {
    const Package& p = m_->package();
    if (length < 1 || length > p.max_seq_len)
      return fail(Error::kInvalidArgument,
                  "query length " + std::to_string(length) + " is outside 1.." + std::to_string(p.max_seq_len));
    const int S = opt_.pad_to_max ? p.max_seq_len : std::max(length, p.min_seq_len);
    WRX_TRY(m_->set_seq(S));
    fill_bias(S, length, bias_.data());
    return Status::Ok();
  }
  size_t seq_floats() const { return size_t(m_->seq()) * m_->hidden(); }

 public:
  size_t activation_bytes() const override {
    return (x_.size() + bias_.size()) * sizeof(float) + m_->bias_scratch_bytes();
  }

 protected:
  // A cancelled call stops at the next layer (half) boundary with Error::kCancelled.
  Status check_cancel() const {
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed))
      return fail(Error::kCancelled, "the call was cancelled", "call again; cancel only stops the call in flight");
    return Status::Ok();
  }
  Trace fresh_trace() const { return fresh_trace(plan_.layers); }
  Trace fresh_trace(const std::vector<LayerPlan>& layers) const {
    Trace t;
    for (const auto& lp : layers) {
      LayerTrace lt;
      lt.layer = lp.layer;
      t.layers.push_back(lt);
    }
    return t;
  }
  std::vector<const Entry*> all_entries(const LayerPlan& lp) const {
    auto a = m_->shard_entries(lp, fmt::EntryKind::kAttnShard);
    auto f = m_->shard_entries(lp, fmt::EntryKind::kFfnShard);
    a.insert(a.end(), f.begin(), f.end());
    return a;
  }
  // Embedding, every layer with the whole-layer program, head (weights already decoded).
  // packed: per layer, its index among the Model's packed layers, or -1 (run from weights).
  Status run_whole(const int32_t* ids, const int32_t* types, const WordRows& rows, const std::vector<Weights>& weights,
                   float* logits, Trace* tr, double t0, const std::vector<int>* packed = nullptr) {
    WRX_TRY(m_->embed(ids, types, rows, x_.data()));
    for (size_t i = 0; i < weights.size(); ++i) {
      WRX_TRY(check_cancel());
      LayerTrace& lt = tr->layers[i];
      lt.compute_start_ms = ms(now_s(), t0);
      if (packed != nullptr && (*packed)[i] >= 0)
        WRX_TRY(m_->run_packed(size_t((*packed)[i]), bias_.data(), x_.data()));
      else
        WRX_TRY(m_->run_layer(weights[i], bias_.data(), x_.data()));
      lt.compute_end_ms = ms(now_s(), t0);
      lt.compute_ms = lt.compute_end_ms - lt.compute_start_ms;
    }
    WRX_TRY(m_->head(x_.data(), logits));
    tr->latency_ms = ms(now_s(), t0);
    return Status::Ok();
  }

  // Waits for the IO thread's word rows (the wait is the embedding stall), then embeds.
  template <typename Chan>
  Status embed_when_read(Chan& words, const int32_t* ids, const int32_t* types, const WordRows& rows, Trace* tr) {
    Status err;
    int w = 0;
    const double tw = now_s();
    if (!words.pop(&w, &err)) return err;
    tr->embed_stall_ms = ms(now_s(), tw);
    return m_->embed(ids, types, rows, x_.data());
  }

  Status decode_whole(const LayerPlan& lp, const RawEntries& raw, Weights* w) const {
    const size_t k = lp.shards.size();
    return m_->decode_layer(lp, raw.payloads.data(), raw.payloads.data() + k, w);
  }
};

// ---------------------------------------------------------------- load-all
class LoadAll : public Base {
 public:
  using Base::Base;
  // A layer that runs every shard is packed (Model::pack_layer): decoded into one scratch
  // buffer that every such layer reuses, so load-all holds XNNPACK's packed copy and no
  // decoded one. Other layers (or packages without the packed program) stay decoded.
  Status setup() override {
    weights_.resize(plan_.layers.size());
    packed_.assign(plan_.layers.size(), -1);
    Weights scratch;
    int n_packed = 0;
    for (size_t i = 0; i < plan_.layers.size(); ++i) {
      const LayerPlan& lp = plan_.layers[i];
      RawEntries raw;
      WRX_TRY(m_->read_entries(all_entries(lp), &raw, nullptr));
      if (!m_->can_pack(lp)) {
        WRX_TRY(decode_whole(lp, raw, &weights_[i]));
        continue;
      }
      WRX_TRY(decode_whole(lp, raw, &scratch));
      WRX_TRY(m_->pack_layer(scratch));
      packed_[i] = n_packed++;
    }
    return Status::Ok();
  }
  Status infer(const int32_t* ids, const int32_t* types, int length, float* logits, Trace* tr) override {
    WRX_TRY(start(length));
    *tr = fresh_trace();
    const double t0 = now_s();
    WordRows rows;
    WRX_TRY(m_->read_word_rows(ids, &rows));  // resident table: no IO
    return run_whole(ids, types, rows, weights_, logits, tr, t0, &packed_);
  }

 private:
  std::vector<Weights> weights_;
  std::vector<int> packed_;  // per layer: its packed index, or -1
};

// ---------------------------------------------------------------- load-then-exec
class LoadThenExec : public Base {
 public:
  using Base::Base;
  Status setup() override { return Status::Ok(); }
  Status infer(const int32_t* ids, const int32_t* types, int length, float* logits, Trace* tr) override {
    WRX_TRY(start(length));
    *tr = fresh_trace();
    const double t0 = now_s();
    WordRows rows;
    WRX_TRY(m_->read_word_rows(ids, &rows));
    tr->embed_io_ms = ms(now_s(), t0);
    tr->bytes_read = rows.bytes;
    std::vector<Weights> weights(plan_.layers.size());
    for (size_t i = 0; i < plan_.layers.size(); ++i) {
      WRX_TRY(check_cancel());
      LayerTrace& lt = tr->layers[i];
      RawEntries raw;
      lt.io_start_ms = ms(now_s(), t0);
      WRX_TRY(m_->read_entries(all_entries(plan_.layers[i]), &raw, nullptr));
      lt.io_end_ms = ms(now_s(), t0);
      lt.bytes = raw.bytes;
      lt.requests = raw.requests;
      tr->bytes_read += raw.bytes;
      const double td = now_s();
      WRX_TRY(decode_whole(plan_.layers[i], raw, &weights[i]));
      lt.decode_ms = ms(now_s(), td);
    }
    return run_whole(ids, types, rows, weights, logits, tr, t0);
  }
};

uint64_t run_bytes(const std::vector<const Entry*>& es) {
  // Upper bound of what read_entries fetches: each entry rounded up to the block size.
  uint64_t n = 0;
  for (const Entry* e : es) n += align_up(e->length, kIoAlign);
  return n;
}

// ---------------------------------------------------------------- stdpl
class StdPL : public Base {
 public:
  using Base::Base;
  Status setup() override { return Status::Ok(); }

  Status infer(const int32_t* ids, const int32_t* types, int length, float* logits, Trace* tr) override {
    WRX_TRY(start(length));
    *tr = fresh_trace();
    const double t0 = now_s();
    const size_t n = plan_.layers.size();
    WordRows rows;
    Channel<int> words;
    Channel<size_t> ready;
    Budget slots(2);  // two whole-layer weight slots: one computing, one being filled
    std::thread io([&] {
      const double te = now_s();
      Status s = m_->read_word_rows(ids, &rows);
      tr->embed_io_ms = ms(now_s(), te);
      if (!s.ok()) return words.fail(s);
      words.push(0);
      for (size_t i = 0; i < n; ++i) {
        if (!slots.acquire(1)) return;
        LayerTrace& lt = tr->layers[i];
        RawEntries raw;
        lt.io_start_ms = ms(now_s(), t0);
        s = m_->read_entries(all_entries(plan_.layers[i]), &raw, &pool_);
        lt.io_end_ms = ms(now_s(), t0);
        if (!s.ok()) return ready.fail(s);
        lt.bytes = raw.bytes;
        lt.requests = raw.requests;
        const double td = now_s();
        s = decode_whole(plan_.layers[i], raw, &slot_[i % 2]);
        lt.decode_ms = ms(now_s(), td);
        raw.release(&pool_);
        if (!s.ok()) return ready.fail(s);
        ready.push(i);
      }
    });
    auto compute = [&]() -> Status {
      Status err;
      WRX_TRY(embed_when_read(words, ids, types, rows, tr));
      double tw = 0;
      for (size_t i = 0; i < n; ++i) {
        WRX_TRY(check_cancel());
        size_t got = 0;
        tw = now_s();
        if (!ready.pop(&got, &err)) return err;
        LayerTrace& lt = tr->layers[i];
        lt.stall_ms = ms(now_s(), tw);
        lt.compute_start_ms = ms(now_s(), t0);
        WRX_TRY(m_->run_layer(slot_[got % 2], bias_.data(), x_.data()));
        lt.compute_end_ms = ms(now_s(), t0);
        lt.compute_ms = lt.compute_end_ms - lt.compute_start_ms;
        slots.release(1);
      }
      WRX_TRY(m_->head(x_.data(), logits));
      return Status::Ok();
    };
    const Status st = compute();
    slots.stop();
    io.join();
    pool_.clear();
    slot_[0].buf.release();
    slot_[1].buf.release();
    tr->bytes_read = rows.bytes;
    for (const auto& lt : tr->layers) tr->bytes_read += lt.bytes;
    tr->latency_ms = ms(now_s(), t0);
    return st;
  }

 private:
  BufferPool pool_;
  Weights slot_[2];
};

// ---------------------------------------------------------------- elastic
class Elastic : public Base {
 public:
  Elastic(Model* m, Plan plan, const PipelineOptions& opt) : Base(m, std::move(plan), opt) {
    const Package& p = m->package();
    const size_t H = p.geom.hidden, a1 = p.shard.attn_width(), f1 = p.shard.ffn_per_shard;
    const size_t attn_shard = (4 * a1 * H + 3 * a1) * sizeof(float);
    const size_t ffn_shard = (2 * f1 * H + f1) * sizeof(float);
    g_attn_ = std::max<size_t>(1, opt.chunk_bytes / attn_shard);
    g_ffn_ = std::max<size_t>(1, opt.chunk_bytes / ffn_shard);
    const size_t lanes = size_t(std::max(1, std::min(opt.lanes, m->lanes())));
    acc_.assign(lanes, std::vector<float>(x_.size()));
    chunk_.resize(lanes);
  }
  std::pair<int, int> chunk_shards() const override { return {int(g_attn_), int(g_ffn_)}; }
  size_t activation_bytes() const override {
    return Base::activation_bytes() + acc_.size() * x_.size() * sizeof(float);
  }

  Status setup() override {
    // The preload buffer: raw (still encoded) halves of the preloaded shards, read once.
    std::vector<const Entry*> es;
    for (const auto& [layer, shard] : plan_.preload) {
      for (const auto& lp : plan_.layers) {
        if (lp.layer != layer) continue;
        for (size_t i = 0; i < lp.shards.size(); ++i) {
          if (lp.shards[i] != shard) continue;
          es.push_back(m_->package().store->find(fmt::EntryKind::kAttnShard, layer, shard, lp.bits[i]));
          es.push_back(m_->package().store->find(fmt::EntryKind::kFfnShard, layer, shard, lp.bits[i]));
        }
      }
    }
    if (!es.empty()) WRX_TRY(m_->read_entries(es, &preload_, nullptr));
    for (size_t i = 0; i < preload_.entries.size(); ++i) preloaded_[preload_.entries[i]] = preload_.payloads[i];
    // What streams per layer and half: the plan's shards minus the preloaded ones; one
    // list per length bucket (the preload is shared), the top-level layers last.
    for (size_t b = 0; b <= plan_.by_length.size(); ++b) {
      streamed_.emplace_back();
      for (const auto& lp : plan_.bucket_layers(b)) {
        for (auto kind : {fmt::EntryKind::kAttnShard, fmt::EntryKind::kFfnShard}) {
          std::vector<const Entry*> st;
          for (const Entry* e : m_->shard_entries(lp, kind))
            if (preloaded_.count(e) == 0) st.push_back(e);
          streamed_.back().push_back(st);
        }
      }
    }
    crew_ = std::make_unique<Crew>(static_cast<int>(acc_.size()));
    return Status::Ok();
  }

  int64_t preload_bytes() const override {
    int64_t n = 0;
    for (const auto& r : preload_.runs) n += static_cast<int64_t>(r.capacity());
    return n;
  }

  Status infer(const int32_t* ids, const int32_t* types, int length, float* logits, Trace* tr) override {
    WRX_TRY(start(length));
    // The plan's layers for the length the query runs at (its bucket's, or the top-level
    // ones: a padded query is a long one), and what streams for them.
    const size_t set = plan_.bucket(m_->seq());
    const std::vector<LayerPlan>& layers = plan_.bucket_layers(set);
    const std::vector<std::vector<const Entry*>>& streamed = streamed_[set];
    *tr = fresh_trace(layers);
    const double t0 = now_s();
    const size_t n = layers.size();
    WordRows rows;
    Channel<int> words;
    struct Item {
      size_t part = 0;  // 2 * layer index + (0 attention, 1 FFN)
      std::shared_ptr<RawEntries> raw;
      size_t budget = 0;
    };
    Channel<Item> parts;
    Budget budget(opt_.readahead_bytes);
    uint64_t embed_bytes = 0, head_bytes = 0, word_budget = 0;
    std::thread io([&] {
      // Everything streamed shares one byte budget: the word rows, the layer halves, the head.
      const double te = now_s();
      word_budget = m_->word_rows_bytes(ids);
      if (!budget.acquire(word_budget)) return;
      Status s = m_->read_word_rows(ids, &rows);
      tr->embed_io_ms = ms(now_s(), te);
      if (!s.ok()) return words.fail(s);
      words.push(0);
      for (size_t p = 0; p <= 2 * n; ++p) {
        Item it;
        it.part = p;
        it.raw = std::make_shared<RawEntries>();
        std::vector<const Entry*> head;
        if (!opt_.head_resident) head.push_back(m_->head_entry());
        const auto& es = p < 2 * n ? streamed[p] : head;
        if (!es.empty()) {
          it.budget = run_bytes(es);
          if (!budget.acquire(it.budget)) return;
          const double ts = now_s();
          s = m_->read_entries(es, it.raw.get(), nullptr);  // no pool: live bytes = budgeted bytes
          if (!s.ok()) return parts.fail(s);
          if (p < 2 * n) {
            LayerTrace& lt = tr->layers[p / 2];
            if (lt.io_start_ms < 0) lt.io_start_ms = ms(ts, t0);
            lt.io_end_ms = ms(now_s(), t0);
            lt.bytes += it.raw->bytes;
            lt.requests += it.raw->requests;
          } else {
            head_bytes = it.raw->bytes;
          }
        }
        parts.push(std::move(it));
      }
    });
    auto compute = [&]() -> Status {
      Status err;
      WRX_TRY(embed_when_read(words, ids, types, rows, tr));
      double tw = 0;
      embed_bytes = rows.bytes;
      rows.buf.release();  // the rows are in x now
      budget.release(word_budget);
      for (size_t i = 0; i < n; ++i) {
        const LayerPlan& lp = layers[i];
        LayerTrace& lt = tr->layers[i];
        for (int half = 0; half < 2; ++half) {
          WRX_TRY(check_cancel());
          Item it;
          tw = now_s();
          if (!parts.pop(&it, &err)) return err;
          const double tc = now_s();
          lt.stall_ms += ms(tc, tw);
          if (half == 0) lt.compute_start_ms = ms(tc, t0);
          const auto kind = half == 0 ? fmt::EntryKind::kAttnShard : fmt::EntryKind::kFfnShard;
          // Payloads in plan order: preloaded, or from this half's streamed run.
          const std::vector<const Entry*> es = m_->shard_entries(lp, kind);
          std::vector<const uint8_t*> pl(es.size());
          size_t si = 0;
          for (size_t k = 0; k < es.size(); ++k) {
            auto pre = preloaded_.find(es[k]);
            pl[k] = pre != preloaded_.end() ? pre->second : it.raw->payloads[si++];
          }
          // Chunk c goes to lane c % lanes; each lane sums its chunks into its own
          // accumulator, added up in lane order (the same sums every run).
          const size_t g = half == 0 ? g_attn_ : g_ffn_, L = acc_.size();
          const size_t chunks = (es.size() + g - 1) / g;
          auto lane_job = [&](int lane) -> Status {
            std::vector<float>& acc = acc_[size_t(lane)];
            std::fill(acc.begin(), acc.begin() + std::ptrdiff_t(seq_floats()), 0.0f);
            for (size_t ci = size_t(lane); ci < chunks; ci += L) {
              const size_t c = ci * g;
              const int k = static_cast<int>(std::min(g, es.size() - c));
              Weights& w = chunk_[size_t(lane)];
              const double td = now_s();
              WRX_TRY(half == 0 ? m_->decode_attn(es.data() + c, pl.data() + c, k, &w)
                                : m_->decode_ffn(es.data() + c, pl.data() + c, k, &w));
              if (lane == 0) lt.decode_ms += ms(now_s(), td);  // the compute thread's own
              WRX_TRY(half == 0 ? m_->run_attn(w, x_.data(), bias_.data(), acc.data(), lane)
                                : m_->run_ffn(w, x_.data(), acc.data(), lane));
            }
            return Status::Ok();
          };
          WRX_TRY(crew_->run(lane_job));
          for (size_t l = 1; l < L; ++l)
            for (size_t j = 0, n = seq_floats(); j < n; ++j) acc_[0][j] += acc_[l][j];
          lt.chunks += static_cast<int>(chunks);
          it.raw->release(nullptr);
          budget.release(it.budget);
          if (half == 0)
            m_->finish_attn(lp.layer, acc_[0].data(), x_.data());
          else
            m_->finish_ffn(lp.layer, acc_[0].data(), x_.data());
          lt.compute_ms += ms(now_s(), tc);
        }
        lt.compute_end_ms = ms(now_s(), t0);
      }
      Item it;
      tw = now_s();
      if (!parts.pop(&it, &err)) return err;
      tr->head_stall_ms = ms(now_s(), tw);
      WRX_TRY(m_->head(x_.data(), logits, opt_.head_resident ? nullptr : it.raw->payloads[0]));
      it.raw->release(nullptr);
      budget.release(it.budget);
      return Status::Ok();
    };
    const Status st = compute();
    budget.stop();
    io.join();
    // Between inferences only the preload buffer (and the always-resident tensors) stay.
    for (Weights& w : chunk_) w.buf.release();
    tr->bytes_read = embed_bytes + head_bytes;
    for (const auto& lt : tr->layers) tr->bytes_read += lt.bytes;
    tr->latency_ms = ms(now_s(), t0);
    return st;
  }

 private:
  size_t g_attn_ = 1, g_ffn_ = 1;
  RawEntries preload_;
  std::map<const Entry*, const uint8_t*> preloaded_;
  std::vector<std::vector<std::vector<const Entry*>>> streamed_;  // per layer set, per (layer, half)
  std::vector<Weights> chunk_;                                    // per lane: the decode buffer of its current chunk
  std::vector<std::vector<float>> acc_;                           // per lane
  std::unique_ptr<Crew> crew_;
};

}  // namespace

ResolvedKnobs resolve_knobs(const std::string& mode, const Plan& plan, const KnobOverrides& o) {
  ResolvedKnobs k;
  k.po.mode = mode;
  const bool elastic = mode == "elastic";
  k.readahead_kb = o.readahead_kb      ? o.readahead_kb
                   : plan.readahead_kb ? plan.readahead_kb
                                       : static_cast<size_t>(knobs::kReadaheadKb);
  k.chunk_kb = o.chunk_kb ? o.chunk_kb : plan.chunk_kb ? plan.chunk_kb : static_cast<size_t>(knobs::kChunkKb);
  k.po.readahead_bytes = k.readahead_kb << 10;
  k.po.chunk_bytes = k.chunk_kb << 10;
  k.po.head_resident = !elastic || (o.head_resident >= 0      ? o.head_resident == 1
                                    : plan.head_resident >= 0 ? plan.head_resident == 1
                                                              : knobs::kHeadResident);
  k.po.lanes = !elastic ? 1 : o.lanes > 0 ? o.lanes : plan.lanes > 0 ? plan.lanes : knobs::kLanes;
  // The other modes measure the model as trained: fp32 head.
  k.head_bits = !elastic ? 32 : o.head_bits > 0 ? o.head_bits : plan.head_bits > 0 ? plan.head_bits : knobs::kHeadBits;
  return k;
}

Result<std::unique_ptr<Executor>> Executor::create(const PipelineOptions& opt, Model* model, const Plan& plan) {
  std::unique_ptr<Executor> e;
  if (opt.mode == "load-all")
    e.reset(new LoadAll(model, plan, opt));
  else if (opt.mode == "load-then-exec")
    e.reset(new LoadThenExec(model, plan, opt));
  else if (opt.mode == "stdpl")
    e.reset(new StdPL(model, plan, opt));
  else if (opt.mode == "elastic")
    e.reset(new Elastic(model, plan, opt));
  else
    return fail(Error::kUsage, "unknown mode '" + opt.mode + "'", "use load-all, load-then-exec, stdpl or elastic");
  return e;
}

}  // namespace wrx
