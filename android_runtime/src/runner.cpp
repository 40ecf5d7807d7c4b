#include "runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <vector>

#include "devdata.h"
#include "json.h"
#include "model.h"
#include "report.h"
#include "version.h"

namespace wrx {
namespace {

double ms_since(double t0) { return (now_s() - t0) * 1e3; }

std::string latency_summary(std::vector<double> v) {
  if (v.empty()) return "null";
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  JsonObject o;
  o.num("mean", mean).num("p50", q(0.5)).num("p90", q(0.9)).num("p99", q(0.99)).num("min", v.front()).num("max", v.back());
  return o.text();
}

}  // namespace

Status run(const RunOptions& opt, std::string* report) {
  const double t_start = now_s();
  if (opt.mode != "load-all")
    return fail(Error::kUsage, "mode '" + opt.mode + "' is not available in this build", "use --mode load-all");
  WRX_TRY(init_executorch(opt.threads));
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
      return fail(Error::kBadPlan, "--bits " + std::to_string(opt.bits) + " is not stored in this package", "wrx inspect OUT lists the stored bitwidths");
    plan = uniform_plan(*pkg, opt.bits);
  }
  WRX_TRY(validate_plan(plan, *pkg));

  const std::string data_file = opt.split == "calib" ? pkg->calib_file : pkg->dev_file;
  if (data_file.empty()) return fail(Error::kManifestField, "the manifest has no data." + opt.split + " file");
  auto data_r = load_devdata(data_file, pkg->geom.vocab, pkg->geom.type_vocab);
  if (!data_r.ok()) return data_r.status();
  const DevData data = data_r.take();
  if (data.seq != static_cast<uint32_t>(pkg->max_seq_len))
    return fail(Error::kManifestMismatch, data_file + ": seq_len " + std::to_string(data.seq) + " differs from the manifest's max_seq_len");

  const double t_setup = now_s();
  auto model_r = Model::create(pkg.get(), /*word_table_resident=*/true);
  if (!model_r.ok()) return model_r.status();
  std::unique_ptr<Model> model = model_r.take();

  // load-all: every planned layer read, decoded and resident before the timed loop.
  std::vector<LayerWeights> weights(plan.layers.size());
  RawLayer raw;
  uint64_t bytes_read = 0;
  double io_ms = 0, decode_ms = 0;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    double t = now_s();
    WRX_TRY(model->read_layer(plan.layers[i], &raw));
    io_ms += ms_since(t);
    t = now_s();
    WRX_TRY(model->decode_layer(plan.layers[i], raw, &weights[i]));
    decode_ms += ms_since(t);
    bytes_read += raw.bytes_read;
  }
  raw = RawLayer();  // IO buffers are not needed once decoded
  const double load_ms = ms_since(t_setup);
  const int64_t weight_bytes_resident = AlignedBuffer::live_bytes();

  const int S = model->seq(), H = model->hidden(), C = pkg->geom.num_labels;
  const uint32_t n = opt.limit > 0 ? std::min<uint32_t>(opt.limit, data.n) : data.n;
  std::vector<float> x(size_t(S) * H), bias(S), logits(C);
  std::vector<double> lat;
  std::string rows = "[";
  int correct = 0;
  const uint32_t step = std::max<uint32_t>(1, n / 100);
  for (uint32_t r = 0; r < n; ++r) {
    const double t0 = now_s();
    const int32_t* ids = data.input_ids.data() + size_t(r) * S;
    const int32_t* types = data.token_types.data() + size_t(r) * S;
    for (int t = 0; t < S; ++t) bias[t] = t < data.lengths[r] ? 0.0f : std::numeric_limits<float>::lowest();
    WRX_TRY(model->embed(ids, types, x.data()));
    for (const LayerWeights& w : weights) WRX_TRY(model->run_layer(w, bias.data(), x.data()));
    model->head(x.data(), logits.data());
    const double ms = ms_since(t0);
    lat.push_back(ms);
    const int pred = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    correct += pred == data.labels[r];
    JsonObject row;
    row.num("latency_ms", ms).integer("pred", pred).integer("label", data.labels[r])
        .raw("logits", json_array(std::vector<double>(logits.begin(), logits.end())));
    rows += (r ? ", " : "") + row.text();
    if (opt.progress && (r % step == 0 || r + 1 == n)) std::fprintf(stderr, "PROGRESS %u %u\n", r + 1, n);
  }
  rows += "]";

  const DeviceInfo dev = device_info();
  JsonObject device, build, io, memory, summary, pk, out;
  device.str("cpu", dev.cpu).integer("cores", dev.cores).str("kernel", dev.kernel).str("arch", dev.arch).str("hostname", dev.hostname);
  build.str("loader_version", kLoaderVersion).str("executorch", kExecutorchVersion).str("compiler", kCompiler)
      .str("build_type", kBuildType).str("target", kTarget).str("sanitizers", kSanitizers);
  io.str("mode", pkg->store->file().mode_name()).num("bandwidth_cap_mbps", opt.bandwidth_mbps > 0 ? opt.bandwidth_mbps : NAN)
      .boolean("bandwidth_emulated", opt.bandwidth_mbps > 0).integer("bytes_read_setup", static_cast<long long>(bytes_read))
      .num("io_ms_setup", io_ms).num("decode_ms_setup", decode_ms);
  memory.integer("peak_rss_kb", peak_rss_kb()).integer("weight_bytes_peak", AlignedBuffer::peak_bytes())
      .integer("weight_bytes_resident", weight_bytes_resident).integer("program_planned_bytes", static_cast<long long>(model->program_planned_bytes()));
  summary.integer("n", n).num("accuracy", n ? double(correct) / n : NAN).raw("latency_ms", latency_summary(lat));
  pk.str("root", pkg->root).str("model", pkg->model_name).str("task", pkg->task_name).str("split", opt.split)
      .integer("max_seq_len", S);
  out.str("format", "wrx-report").integer("format_version", 1).boolean("ok", true).str("mode", opt.mode)
      .str("plan_name", plan.name).raw("plan", plan_to_json(plan)).integer("threads", opt.threads)
      .raw("device", device.text()).raw("build", build.text()).raw("package", pk.text()).raw("io", io.text())
      .num("setup_ms", load_ms).num("total_ms", ms_since(t_start)).raw("memory", memory.text())
      .raw("summary", summary.text()).raw("inferences", rows).raw("error", "null");
  *report = out.text();
  return Status::Ok();
}

}  // namespace wrx
