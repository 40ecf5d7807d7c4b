#include "profile.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "crc32.h"
#include "model.h"
#include "report.h"
#include "version.h"

namespace wrx {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

// Runs fn `reps` times after one warm-up; median milliseconds.
template <typename F>
Result<double> time_ms(int reps, F fn) {
  WRX_TRY(fn());
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    WRX_TRY(fn());
    t.push_back((now_s() - t0) * 1e3);
  }
  return median(t);
}

// The lengths compute is timed at: max_seq_len and its half, quarter, eighth and sixteenth,
// those the programs take (only max_seq_len for fixed-length programs). The planner
// interpolates; a sixteenth (8 of 128 tokens) keeps the shortest queries off the eighth's
// timings (a bucket of 1-16 tokens has its median near 11).
std::vector<int> profile_lengths(const Package& p) {
  std::vector<int> out;
  for (int d : {16, 8, 4, 2}) {
    const int s = p.max_seq_len / d;
    if (s >= std::max(1, p.min_seq_len) && (out.empty() || out.back() != s)) out.push_back(s);
  }
  if (out.empty() || out.back() != p.max_seq_len) out.push_back(p.max_seq_len);
  return out;
}

// What one length's compute costs: per program and shard count, the lane calls, and the
// per-inference C++ work.
struct LengthTimings {
  std::vector<double> layer, attn, ffn, lane[2];
  double finish_ms = 0, embed_ms = 0;
};

}  // namespace

Status run_profile(const RunOptions& opt, std::string* report) {
  const double t_start = now_s();
  WRX_TRY(init_executorch(opt.threads));
  auto pkg_r = open_package(opt.package, opt.direct);
  if (!pkg_r.ok()) return pkg_r.status();
  std::unique_ptr<Package> pkg = pkg_r.take();
  if (opt.bandwidth_mbps > 0) pkg->store->file().set_bandwidth(opt.bandwidth_mbps * 1e6);
  auto model_r = Model::create(pkg.get(), false, 1, true);
  if (!model_r.ok()) return model_r.status();
  Model& m = *model_r.value();
  Store& st = *pkg->store;
  // What an elastic run always holds: resident tensors without the (here resident) head.
  const int64_t resident_base = AlignedBuffer::live_bytes() - int64_t(align_up(m.head_entry()->length, kIoAlign));
  const int M = pkg->shard.shards_per_layer, reps = std::max(3, opt.profile_reps);

  // 1. Cold reads: aligned requests of each size at spread-out offsets of the store.
  JsonObject reads;
  const uint64_t span = st.header().file_bytes - st.header().data_offset;
  for (uint64_t size : {4096ull, 16384ull, 65536ull, 262144ull, 1048576ull, 4194304ull}) {
    if (size > span) break;
    AlignedBuffer buf;
    WRX_TRY(buf.reserve(size));
    const int n = static_cast<int>(std::max<uint64_t>(4, std::min<uint64_t>(64, (16ull << 20) / size)));
    uint64_t x = 0x9E3779B97F4A7C15ull;
    const double t0 = now_s();
    for (int i = 0; i < n; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const uint64_t off = st.header().data_offset + (x % ((span - size) / kIoAlign + 1)) * kIoAlign;
      WRX_TRY(st.file().read(off, size, buf.data()));
    }
    reads.num(std::to_string(size), size * n / (now_s() - t0) / 1e6);
  }

  // 1b. Checksum throughput: the IO thread verifies every entry it reads before handing
  // it on, between one read and the next.
  double crc_gbps = 0;
  {
    std::vector<uint8_t> buf(size_t(4) << 20);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 131u);
    uint32_t sink = 0;
    auto t = time_ms(reps, [&] {
      sink ^= crc32(buf.data(), buf.size());
      return Status::Ok();
    });
    if (!t.ok()) return t.status();
    crc_gbps = double(buf.size()) / (t.value() * 1e-3) / 1e9 + (sink == 1 ? 1e-12 : 0.0);
  }

  // 2. Decode throughput per bitwidth: layer 0, every shard, both halves (fp32 output GB/s).
  LayerPlan full;
  full.layer = 0;
  for (int j = 0; j < M; ++j) full.shards.push_back(j);
  JsonObject decode;
  std::vector<int> bits = pkg->bitwidths;
  bits.push_back(32);
  const size_t H = pkg->geom.hidden;
  for (int b : bits) {
    full.bits.assign(M, b);
    RawEntries ra, rf;
    WRX_TRY(m.read_entries(m.shard_entries(full, fmt::EntryKind::kAttnShard), &ra, nullptr));
    WRX_TRY(m.read_entries(m.shard_entries(full, fmt::EntryKind::kFfnShard), &rf, nullptr));
    Weights w;
    auto t = time_ms(reps, [&] {
      WRX_TRY(m.decode_attn(ra.entries.data(), ra.payloads.data(), M, &w));
      return m.decode_ffn(rf.entries.data(), rf.payloads.data(), M, &w);
    });
    if (!t.ok()) return t.status();
    const double floats = double(M) * (4.0 * pkg->shard.attn_width() * H + 2.0 * pkg->shard.ffn_per_shard * H);
    decode.num(std::to_string(b), floats * 4 / (t.value() * 1e-3) / 1e9);
  }

  // 3. Compute per program and shard count, on real fp32 weights of layer 0.
  full.bits.assign(M, 32);
  RawEntries ra, rf;
  WRX_TRY(m.read_entries(m.shard_entries(full, fmt::EntryKind::kAttnShard), &ra, nullptr));
  WRX_TRY(m.read_entries(m.shard_entries(full, fmt::EntryKind::kFfnShard), &rf, nullptr));
  std::vector<float> x(size_t(m.seq()) * H, 0.1f), bias(m.seq(), 0.0f), acc(x.size());
  // Round robin over (program, k), so a slow spell of the device spreads over every entry
  // and each call follows a differently shaped one, as calls do inside the elastic pipeline.
  std::vector<Weights> wl(M), wa(M), wf(M);
  for (int k = 1; k <= M; ++k) {
    LayerPlan lp;
    lp.layer = 0;
    for (int j = 0; j < k; ++j) {
      lp.shards.push_back(j);
      lp.bits.push_back(32);
    }
    WRX_TRY(m.decode_layer(lp, ra.payloads.data(), rf.payloads.data(), &wl[k - 1]));
    WRX_TRY(m.decode_attn(ra.entries.data(), ra.payloads.data(), k, &wa[k - 1]));
    WRX_TRY(m.decode_ffn(rf.entries.data(), rf.payloads.data(), k, &wf[k - 1]));
  }
  const std::vector<int> lengths = profile_lengths(*pkg);
  std::vector<LengthTimings> by_len(lengths.size());
  for (size_t li = 0; li < lengths.size(); ++li) {
    WRX_TRY(m.set_seq(lengths[li]));
    std::vector<std::vector<double>> tl(M), ta(M), tf(M);
    for (int r = 0; r <= reps; ++r) {  // round 0 warms up
      for (int k = 1; k <= M; ++k) {
        double t0 = now_s();
        WRX_TRY(m.run_layer(wl[k - 1], bias.data(), x.data()));
        double t1 = now_s();
        WRX_TRY(m.run_attn(wa[k - 1], x.data(), bias.data(), acc.data()));
        double t2 = now_s();
        WRX_TRY(m.run_ffn(wf[k - 1], x.data(), acc.data()));
        double t3 = now_s();
        std::fill(x.begin(), x.end(), 0.1f);
        if (r == 0) continue;
        tl[k - 1].push_back((t1 - t0) * 1e3);
        ta[k - 1].push_back((t2 - t1) * 1e3);
        tf[k - 1].push_back((t3 - t2) * 1e3);
      }
    }
    for (int k = 0; k < M; ++k) {
      by_len[li].layer.push_back(median(tl[k]));
      by_len[li].attn.push_back(median(ta[k]));
      by_len[li].ffn.push_back(median(tf[k]));
    }
  }

  // 3b. The same calls in the elastic pipeline's lane mode: XNNPACK single-threaded, and
  // another lane running the same program on the other core meanwhile (they share the
  // memory bus and caches). Timed on lane 0. XNNPACK runtimes keep the thread pool they
  // were created with, so the lanes get a model of their own, made after the resize;
  // m's programs are not run again.
  constexpr int kLanes = 2;
  WRX_TRY(set_xnnpack_threads(1));
  auto lane_r = Model::create(pkg.get(), false, kLanes, true, false);
  if (!lane_r.ok()) return lane_r.status();
  Model& lm = *lane_r.value();
  // Like the round robin above, each timed call follows a call of another shape (which
  // makes XNNPACK re-plan the graph), as chunk calls mostly do in the pipeline.
  std::vector<float> acc1(x.size());
  for (size_t li = 0; li < lengths.size(); ++li) {
    WRX_TRY(lm.set_seq(lengths[li]));
    for (int half = 0; half < 2; ++half) {
      for (int k = 1; k <= M; ++k) {
        auto call = [&](int lane, int kk, float* a) {
          const Weights& w = half == 0 ? wa[kk - 1] : wf[kk - 1];
          return half == 0 ? lm.run_attn(w, x.data(), bias.data(), a, lane) : lm.run_ffn(w, x.data(), a, lane);
        };
        std::atomic<bool> done{false};
        Status other;
        std::thread bg([&] {
          while (!done.load() && other.ok()) other = call(1, k, acc1.data());
        });
        std::vector<double> after;
        Status st;
        for (int r = 0; r <= reps && st.ok(); ++r) {  // round 0 warms up
          st = call(0, k % M + 1, acc.data());
          const double t0 = now_s();
          if (st.ok()) st = call(0, k, acc.data());
          if (r > 0) after.push_back((now_s() - t0) * 1e3);
        }
        done = true;
        bg.join();
        if (!st.ok()) return st;
        if (!other.ok()) return other;
        by_len[li].lane[half].push_back(median(after));
      }
    }
  }

  // 4. Fixed per-inference work outside the programs, per length.
  std::vector<int32_t> ids(m.max_seq()), types(m.max_seq(), 0);
  for (int t = 0; t < m.max_seq(); ++t) ids[t] = t % pkg->geom.vocab;
  for (size_t li = 0; li < lengths.size(); ++li) {
    WRX_TRY(m.set_seq(lengths[li]));
    auto finish = time_ms(reps, [&] {
      m.finish_attn(0, acc.data(), x.data());
      m.finish_ffn(0, acc.data(), x.data());
      return Status::Ok();
    });
    if (!finish.ok()) return finish.status();
    WordRows rows;
    WRX_TRY(m.read_word_rows(ids.data(), &rows));
    auto embed = time_ms(reps, [&] { return m.embed(ids.data(), types.data(), rows, x.data()); });
    if (!embed.ok()) return embed.status();
    by_len[li].finish_ms = finish.value();
    by_len[li].embed_ms = embed.value();
  }
  WRX_TRY(m.set_seq(m.max_seq()));
  std::vector<float> logits(pkg->geom.num_labels);
  // Each stored head (fp32, and the 8-bit one where the store has it): its time and the
  // block-aligned bytes it costs streamed or resident.
  JsonObject head_ms, head_bytes;
  for (int bits : {32, fmt::kHeadCodebookBits}) {
    const Entry* e = st.find(fmt::EntryKind::kHead, -1, -1, bits);
    if (e == nullptr) continue;
    AlignedBuffer buf;
    WRX_TRY(st.read_run(*e, *e, buf));
    WRX_TRY(st.verify(*e, buf.data()));
    auto t = time_ms(reps, [&] { return m.head_with(*e, buf.data(), x.data(), logits.data()); });
    if (!t.ok()) return t.status();
    head_ms.num(std::to_string(bits), t.value());
    head_bytes.integer(std::to_string(bits), static_cast<long long>(align_up(e->length, kIoAlign)));
  }

  const DeviceInfo dev = device_info();
  JsonObject device, build, io, over, out;
  device.str("cpu", dev.cpu)
      .integer("cores", dev.cores)
      .str("kernel", dev.kernel)
      .str("arch", dev.arch)
      .str("hostname", dev.hostname);
  build.str("loader_version", kLoaderVersion).str("executorch", kExecutorchVersion).str("target", kTarget);
  io.str("mode", st.file().mode_name())
      .num("bandwidth_cap_mbps", opt.bandwidth_mbps > 0 ? opt.bandwidth_mbps : NAN)
      .boolean("bandwidth_emulated", opt.bandwidth_mbps > 0)
      .raw("read_mbps_by_request_bytes", reads.text());
  // Top level: the timings at max_seq_len (as in version 4); by_length: every length.
  auto compute_json = [&](const LengthTimings& t) {
    JsonObject c;
    c.raw("layer", json_array(t.layer)).raw("attn", json_array(t.attn)).raw("ffn", json_array(t.ffn));
    return c.text();
  };
  auto lane_json = [&](const LengthTimings& t) {
    JsonObject l;
    l.integer("lanes", kLanes).raw("attn", json_array(t.lane[0])).raw("ffn", json_array(t.lane[1]));
    return l.text();
  };
  JsonObject by_length;
  for (size_t li = 0; li < lengths.size(); ++li) {
    JsonObject one;
    one.raw("compute_ms_by_shards", compute_json(by_len[li]))
        .raw("lane_compute_ms_by_shards", lane_json(by_len[li]))
        .num("finish_layer_ms", by_len[li].finish_ms)
        .num("embed_ms", by_len[li].embed_ms);
    by_length.raw(std::to_string(lengths[li]), one.text());
  }
  const LengthTimings& top = by_len.back();
  over.num("finish_layer_ms", top.finish_ms).raw("head_ms_by_bits", head_ms.text()).num("embed_ms", top.embed_ms);
  JsonObject mem;
  // Same as a one-lane elastic run reports: hidden state, accumulator, mask, chunk
  // program arenas. Each further lane adds an accumulator and its own arenas.
  const size_t lane_bytes = x.size() * sizeof(float) + lm.chunk_planned_bytes() / kLanes;
  const size_t act = (x.size() + bias.size()) * sizeof(float) + lane_bytes;
  mem.integer("resident_base_bytes", resident_base)
      .integer("lane_bytes", static_cast<long long>(lane_bytes))
      .raw("head_bytes_by_bits", head_bytes.text())
      .integer("activation_bytes", static_cast<long long>(act));
  out.str("format", "wrx-profile")
      .integer("format_version", 5)
      .boolean("ok", true)
      .str("mode", "profile")
      .integer("threads", opt.threads)
      .integer("shards_per_layer", M)
      .integer("seq_len", m.seq())
      .raw("device", device.text())
      .raw("storage", storage_json(st.path()))
      .raw("build", build.text())
      .raw("io", io.text())
      .raw("decode_gbps", decode.text())
      .num("crc_gbps", crc_gbps)
      .raw("compute_ms_by_shards", compute_json(top))
      .raw("lane_compute_ms_by_shards", lane_json(top))
      .raw("by_length", by_length.text())
      .raw("overheads", over.text())
      .raw("memory", mem.text())
      .num("total_ms", (now_s() - t_start) * 1e3)
      .raw("error", "null");
  *report = out.text();
  return Status::Ok();
}

}  // namespace wrx
