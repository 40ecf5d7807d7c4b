#include "layer_program.h"

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <array>
#include <cstring>

// Exported by libexecutorch_threadpool.so; the wheel ships no header for it.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace wrx {
namespace et = executorch::runtime;
using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;

namespace {

constexpr int kInputs = 18;

std::string et_error(et::Error e) { return "ExecuTorch error 0x" + [&] {
    char b[16];
    std::snprintf(b, sizeof(b), "%x", static_cast<unsigned>(e));
    return std::string(b);
  }(); }

// A non-owning tensor over caller memory: TensorImpl needs its sizes/strides to outlive it.
struct Blob {
  std::array<int32_t, 3> sizes{}, strides{};
  std::array<uint8_t, 3> order{};
  std::unique_ptr<TensorImpl> impl;

  void set(const float* data, std::initializer_list<int32_t> s) {
    const size_t d = s.size();
    size_t i = 0;
    for (int32_t v : s) sizes[i++] = v;
    int32_t st = 1;
    for (size_t j = d; j-- > 0;) {
      strides[j] = st;
      st *= sizes[j];
      order[j] = static_cast<uint8_t>(j);
    }
    impl = std::make_unique<TensorImpl>(ScalarType::Float, static_cast<ssize_t>(d), sizes.data(),
                                        const_cast<float*>(data), order.data(), strides.data(),
                                        et::TensorShapeDynamism::DYNAMIC_BOUND);
  }
};

}  // namespace

struct LayerProgram::Impl {
  int seq = 0, hidden = 0;
  std::unique_ptr<executorch::extension::FileDataLoader> loader;
  std::unique_ptr<et::Program> program;
  std::vector<std::vector<uint8_t>> planned;
  std::vector<et::Span<uint8_t>> spans;
  std::unique_ptr<et::HierarchicalAllocator> planned_alloc;
  std::vector<uint8_t> method_pool, temp_pool;
  std::unique_ptr<et::MemoryAllocator> method_alloc, temp_alloc;
  std::unique_ptr<et::MemoryManager> mm;
  std::unique_ptr<et::Method> method;
  std::array<Blob, kInputs> blobs;
};

Status init_executorch(int threads) {
  et::runtime_init();
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr || !pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads)))
    return fail(Error::kRuntime, "cannot set the ExecuTorch thread pool to " + std::to_string(threads) + " threads");
  // Workspace sharing off: the IO thread's load/packing and compute must not serialize.
  et::BackendOptions<1> opts;
  if (opts.set_option("workspace_sharing_mode", 0) != et::Error::Ok ||
      et::set_option("XnnpackBackend", opts.view()) != et::Error::Ok)
    return fail(Error::kRuntime, "cannot set XnnpackBackend workspace_sharing_mode=0 (is the XNNPACK backend linked?)");
  return Status::Ok();
}

LayerProgram::~LayerProgram() = default;

Result<std::unique_ptr<LayerProgram>> LayerProgram::load(const std::string& path, int seq, int hidden) {
  std::unique_ptr<LayerProgram> lp(new LayerProgram());
  lp->impl_ = std::make_unique<Impl>();
  Impl& m = *lp->impl_;
  m.seq = seq;
  m.hidden = hidden;
  auto loader = executorch::extension::FileDataLoader::from(path.c_str());
  if (!loader.ok()) return fail(Error::kMissingFile, path + ": cannot open program (" + et_error(loader.error()) + ")");
  m.loader = std::make_unique<executorch::extension::FileDataLoader>(std::move(loader.get()));
  auto program = et::Program::load(m.loader.get());
  if (!program.ok())
    return fail(Error::kBadData, path + ": not a valid ExecuTorch program (" + et_error(program.error()) + ")",
                "re-package: wrx package MODEL_DIR --task TASK -o OUT");
  m.program = std::make_unique<et::Program>(std::move(program.get()));
  auto meta = m.program->method_meta("forward");
  if (!meta.ok()) return fail(Error::kBadData, path + ": no method 'forward'");
  if (meta->num_inputs() != kInputs)
    return fail(Error::kBadData, path + ": program has " + std::to_string(meta->num_inputs()) + " inputs, expected 18");
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    const size_t n = static_cast<size_t>(meta->memory_planned_buffer_size(i).get());
    m.planned.emplace_back(n);
    m.spans.emplace_back(m.planned.back().data(), n);
  }
  m.planned_alloc = std::make_unique<et::HierarchicalAllocator>(et::Span<et::Span<uint8_t>>(m.spans.data(), m.spans.size()));
  m.method_pool.resize(4 << 20);
  m.temp_pool.resize(1 << 20);
  m.method_alloc = std::make_unique<et::MemoryAllocator>(static_cast<uint32_t>(m.method_pool.size()), m.method_pool.data());
  m.temp_alloc = std::make_unique<et::MemoryAllocator>(static_cast<uint32_t>(m.temp_pool.size()), m.temp_pool.data());
  m.mm = std::make_unique<et::MemoryManager>(m.method_alloc.get(), m.planned_alloc.get(), m.temp_alloc.get());
  auto method = m.program->load_method("forward", m.mm.get());
  if (!method.ok())
    return fail(Error::kRuntime, path + ": load_method failed (" + et_error(method.error()) +
                                     "); a missing operator means the program was not fully delegated to XNNPACK");
  m.method = std::make_unique<et::Method>(std::move(method.get()));
  return lp;
}

size_t LayerProgram::planned_bytes() const {
  size_t n = 0;
  for (const auto& b : impl_->planned) n += b.size();
  return n;
}

Status LayerProgram::run(const float* x, const float* bias, const float* const* w, int k, int attn_width, int ffn_width,
                         float* out) {
  Impl& m = *impl_;
  const int S = m.seq, H = m.hidden, A = k * attn_width, F = k * ffn_width;
  m.blobs[0].set(x, {1, S, H});
  m.blobs[1].set(bias, {1, 1, S});
  // q_w q_b k_w k_b v_w v_b o_w o_b ln1_g ln1_b ffn1_w ffn1_b ffn2_w ffn2_b ln2_g ln2_b
  m.blobs[2].set(w[0], {A, H});
  m.blobs[3].set(w[1], {A});
  m.blobs[4].set(w[2], {A, H});
  m.blobs[5].set(w[3], {A});
  m.blobs[6].set(w[4], {A, H});
  m.blobs[7].set(w[5], {A});
  m.blobs[8].set(w[6], {H, A});
  m.blobs[9].set(w[7], {H});
  m.blobs[10].set(w[8], {H});
  m.blobs[11].set(w[9], {H});
  m.blobs[12].set(w[10], {F, H});
  m.blobs[13].set(w[11], {F});
  m.blobs[14].set(w[12], {H, F});
  m.blobs[15].set(w[13], {H});
  m.blobs[16].set(w[14], {H});
  m.blobs[17].set(w[15], {H});
  for (int i = 0; i < kInputs; ++i) {
    const et::Error e = m.method->set_input(et::EValue(Tensor(m.blobs[i].impl.get())), i);
    if (e != et::Error::Ok) return fail(Error::kRuntime, "layer program: set_input " + std::to_string(i) + ": " + et_error(e));
  }
  const et::Error e = m.method->execute();
  if (e != et::Error::Ok) return fail(Error::kRuntime, "layer program: execute failed: " + et_error(e));
  const Tensor o = m.method->get_output(0).toTensor();
  if (o.numel() != static_cast<ssize_t>(S) * H) return fail(Error::kRuntime, "layer program: unexpected output size");
  std::memcpy(out, o.const_data_ptr<float>(), sizeof(float) * S * H);
  return Status::Ok();
}

}  // namespace wrx
