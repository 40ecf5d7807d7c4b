#include "runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "devdata.h"
#include "json.h"
#include "pipeline.h"
#include "report.h"
#include "version.h"

namespace wrx {
namespace {

double ms_since(double t0) {
  return (now_s() - t0) * 1e3;
}

std::string stats(std::vector<double> v) {
  if (v.empty()) return "null";
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  JsonObject o;
  o.num("mean", mean)
      .num("p50", q(0.5))
      .num("p90", q(0.9))
      .num("p99", q(0.99))
      .num("min", v.front())
      .num("max", v.back());
  return o.text();
}

std::string trace_json(const Trace& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.layers.size(); ++i) {
    const LayerTrace& l = t.layers[i];
    JsonObject o;
    o.integer("layer", l.layer)
        .num("io_start_ms", l.io_start_ms)
        .num("io_end_ms", l.io_end_ms)
        .num("decode_ms", l.decode_ms)
        .num("compute_start_ms", l.compute_start_ms)
        .num("compute_end_ms", l.compute_end_ms)
        .num("compute_ms", l.compute_ms)
        .num("stall_ms", l.stall_ms)
        .integer("bytes", static_cast<long long>(l.bytes))
        .integer("requests", l.requests)
        .integer("chunks", l.chunks);
    s += (i ? ", " : "") + o.text();
  }
  return s + "]";
}

}  // namespace

Status run(const RunOptions& opt, std::string* report) {
  const double t_start = now_s();
  PipelineOptions po;
  po.mode = opt.mode;
  if (po.mode != "load-all" && po.mode != "load-then-exec" && po.mode != "stdpl" && po.mode != "elastic")
    return fail(Error::kUsage, "unknown mode '" + opt.mode + "'", "use --mode load-all|load-then-exec|stdpl|elastic");
  auto pkg_r = open_package(opt.package, opt.direct);
  if (!pkg_r.ok()) return pkg_r.status();
  std::unique_ptr<Package> pkg = pkg_r.take();
  if (opt.bandwidth_mbps > 0) pkg->store->file().set_bandwidth(opt.bandwidth_mbps * 1e6);

  Plan plan;
  if (!opt.plan_file.empty()) {
    auto p = load_plan(opt.plan_file);
    if (!p.ok()) return p.status();
    plan = p.take();
  } else {
    if (!pkg->has_bits(opt.bits))
      return fail(Error::kBadPlan, "--bits " + std::to_string(opt.bits) + " is not stored in this package",
                  "wrx inspect OUT lists the stored bitwidths");
    if (opt.preload_layers > pkg->geom.layers)
      return fail(Error::kBadPlan, "--preload-layers " + std::to_string(opt.preload_layers) + " exceeds the model's " +
                                       std::to_string(pkg->geom.layers) + " layers");
    plan = uniform_plan(*pkg, opt.bits, opt.preload_layers);
  }
  WRX_TRY(validate_plan(plan, *pkg));
  KnobOverrides ov;
  ov.readahead_kb = opt.readahead_kb;
  ov.chunk_kb = opt.chunk_kb;
  ov.head_resident = opt.head_resident;
  ov.lanes = opt.lanes;
  ov.head_bits = opt.head_bits;
  const ResolvedKnobs rk = resolve_knobs(opt.mode, plan, ov);
  po = rk.po;
  po.pad_to_max = opt.pad_to_max;
  const size_t readahead_kb = rk.readahead_kb, chunk_kb = rk.chunk_kb;
  const int head_bits = rk.head_bits;
  // Lanes bring their own parallelism; XNNPACK splitting each small operator again on
  // top of them only adds hand-offs.
  const int xnn_threads = po.lanes > 1 ? 1 : opt.threads;
  WRX_TRY(init_executorch(xnn_threads));
  if (!plan.preload.empty() && opt.mode != "elastic")
    std::fprintf(stderr, "note: mode %s ignores the plan's preload list\n", opt.mode.c_str());

  const std::string data_file = opt.split == "calib" ? pkg->calib_file : pkg->dev_file;
  if (data_file.empty()) return fail(Error::kManifestField, "the manifest has no data." + opt.split + " file");
  auto data_r = load_devdata(data_file, pkg->geom.vocab, pkg->geom.type_vocab);
  if (!data_r.ok()) return data_r.status();
  const DevData data = data_r.take();
  if (data.seq != static_cast<uint32_t>(pkg->max_seq_len))
    return fail(Error::kManifestMismatch,
                data_file + ": seq_len " + std::to_string(data.seq) + " differs from the manifest's max_seq_len");

  const double t_setup = now_s();
  const bool elastic = opt.mode == "elastic";
  auto model_r =
      Model::create(pkg.get(), opt.mode == "load-all", elastic ? po.lanes : 0, po.head_resident, !elastic, head_bits);
  if (!model_r.ok()) return model_r.status();
  std::unique_ptr<Model> model = model_r.take();
  auto exec_r = Executor::create(po, model.get(), plan);
  if (!exec_r.ok()) return exec_r.status();
  std::unique_ptr<Executor> exec = exec_r.take();
  const uint64_t read_before = pkg->store->file().bytes_read();
  WRX_TRY(exec->setup());
  const double setup_ms = ms_since(t_setup);
  const uint64_t setup_bytes = pkg->store->file().bytes_read() - read_before;
  const int64_t resident_after_setup = AlignedBuffer::live_bytes();

  const int S = static_cast<int>(data.seq), C = pkg->geom.num_labels;  // rows are stored padded
  const uint32_t n = opt.limit > 0 ? std::min<uint32_t>(opt.limit, data.n) : data.n;
  std::vector<float> logits(C);
  std::vector<double> lat, stall, compute, bytes;
  std::string rows = "[";
  int correct = 0;
  double stall_sum = 0, lat_sum = 0;
  const uint32_t step = std::max<uint32_t>(1, n / 100);
  for (uint32_t r = 0; r < n; ++r) {
    Trace tr;
    WRX_TRY(exec->infer(data.input_ids.data() + size_t(r) * S, data.token_types.data() + size_t(r) * S, data.lengths[r],
                        logits.data(), &tr));
    double st = tr.embed_stall_ms + tr.head_stall_ms, co = 0;
    for (const auto& l : tr.layers) {
      st += l.stall_ms;
      co += l.compute_ms;
    }
    lat.push_back(tr.latency_ms);
    stall.push_back(st);
    compute.push_back(co);
    bytes.push_back(static_cast<double>(tr.bytes_read));
    stall_sum += st;
    lat_sum += tr.latency_ms;
    const int pred = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    correct += pred == data.labels[r];
    JsonObject row;
    row.num("latency_ms", tr.latency_ms)
        .integer("length", data.lengths[r])
        .integer("seq_len", model->seq())
        .integer("pred", pred)
        .integer("label", data.labels[r])
        .raw("logits", json_array(std::vector<double>(logits.begin(), logits.end())))
        .num("stall_ms", st)
        .num("compute_ms", co)
        .integer("bytes_read", static_cast<long long>(tr.bytes_read))
        .num("embed_io_ms", tr.embed_io_ms)
        .num("embed_stall_ms", tr.embed_stall_ms)
        .num("head_stall_ms", tr.head_stall_ms);
    if (opt.trace_rows < 0 || static_cast<int>(r) < opt.trace_rows) row.raw("layers", trace_json(tr));
    rows += (r ? ", " : "") + row.text();
    if (opt.progress && (r % step == 0 || r + 1 == n)) std::fprintf(stderr, "PROGRESS %u %u\n", r + 1, n);
  }
  rows += "]";

  const DeviceInfo dev = device_info();
  const auto chunks = exec->chunk_shards();
  JsonObject device, build, io, memory, summary, pk, pipe, out;
  device.str("cpu", dev.cpu)
      .integer("cores", dev.cores)
      .str("kernel", dev.kernel)
      .str("arch", dev.arch)
      .str("hostname", dev.hostname);
  build.str("loader_version", kLoaderVersion)
      .str("executorch", kExecutorchVersion)
      .str("compiler", kCompiler)
      .str("build_type", kBuildType)
      .str("target", kTarget)
      .str("sanitizers", kSanitizers);
  io.str("mode", pkg->store->file().mode_name())
      .num("bandwidth_cap_mbps", opt.bandwidth_mbps > 0 ? opt.bandwidth_mbps : NAN)
      .boolean("bandwidth_emulated", opt.bandwidth_mbps > 0)
      .str("note", opt.bandwidth_mbps > 0 ? "read rate capped by a token bucket to emulate a slower device class" : "")
      .integer("setup_bytes", static_cast<long long>(setup_bytes));
  pipe.integer("readahead_kb", static_cast<long long>(readahead_kb))
      .integer("chunk_kb", static_cast<long long>(chunk_kb))
      .boolean("head_resident", po.head_resident)
      .integer("head_bits", head_bits)
      .integer("lanes", po.lanes)
      .boolean("pad_to_max", po.pad_to_max)
      .integer("min_seq_len", pkg->min_seq_len)
      .integer("xnnpack_threads", xnn_threads)
      .integer("attn_shards_per_call", chunks.first)
      .integer("ffn_shards_per_call", chunks.second)
      .integer("preloaded_shards", static_cast<long long>(opt.mode == "elastic" ? plan.preload.size() : 0));
  memory.integer("peak_rss_kb", peak_rss_kb())
      .integer("weight_bytes_peak", AlignedBuffer::peak_bytes())
      .integer("weight_bytes_resident_after_setup", resident_after_setup)
      .integer("program_planned_bytes", static_cast<long long>(model->program_planned_bytes()))
      .integer("activation_bytes", static_cast<long long>(exec->activation_bytes() + model->program_planned_bytes()));
  summary.integer("n", n)
      .num("accuracy", n ? double(correct) / n : NAN)
      .raw("latency_ms", stats(lat))
      .raw("stall_ms", stats(stall))
      .raw("compute_ms", stats(compute))
      .raw("bytes_read", stats(bytes))
      .num("stall_fraction", lat_sum > 0 ? stall_sum / lat_sum : NAN);
  pk.str("root", pkg->root)
      .str("model", pkg->model_name)
      .str("task", pkg->task_name)
      .str("split", opt.split)
      .integer("max_seq_len", S)
      .integer("layers", pkg->geom.layers)
      .integer("shards_per_layer", pkg->shard.shards_per_layer);
  out.str("format", "wrx-report")
      .integer("format_version", 1)
      .boolean("ok", true)
      .str("mode", opt.mode)
      .str("plan_name", plan.name)
      .raw("plan", plan_to_json(plan))
      .integer("threads", opt.threads)
      .raw("device", device.text())
      .raw("build", build.text())
      .raw("package", pk.text())
      .raw("io", io.text())
      .raw("pipeline", pipe.text())
      .num("setup_ms", setup_ms)
      .num("total_ms", ms_since(t_start))
      .raw("memory", memory.text())
      .raw("summary", summary.text())
      .raw("inferences", rows)
      .raw("error", "null");
  *report = out.text();
  return Status::Ok();
}

}  // namespace wrx
