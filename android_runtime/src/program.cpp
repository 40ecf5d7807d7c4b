#include "program.h"

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/core/named_data_map.h>
#include <executorch/runtime/core/tensor_layout.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <string_view>

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

std::string et_error(et::Error e) {
  char b[32];
  std::snprintf(b, sizeof(b), "ExecuTorch error 0x%x", static_cast<unsigned>(e));
  return b;
}

// A non-owning tensor over caller memory: TensorImpl needs its sizes/strides to outlive it.
struct Blob {
  std::array<int32_t, 4> sizes{}, strides{};
  std::array<uint8_t, 4> order{};
  std::unique_ptr<TensorImpl> impl;

  bool set(const float* data, std::initializer_list<int32_t> s) {
    const size_t d = s.size();
    if (d == 0 || d > 4) return false;
    size_t i = 0;
    for (int32_t v : s) sizes[i++] = v;
    int32_t st = 1;
    for (size_t j = d; j-- > 0;) {
      strides[j] = st;
      st *= sizes[j];
      order[j] = static_cast<uint8_t>(j);
    }
    impl =
        std::make_unique<TensorImpl>(ScalarType::Float, static_cast<ssize_t>(d), sizes.data(), const_cast<float*>(data),
                                     order.data(), strides.data(), et::TensorShapeDynamism::DYNAMIC_BOUND);
    return true;
  }
};

// Serves a program's named external constants from caller-owned float tensors. The buffers
// handed out are views: freeing them frees nothing.
class TensorMap final : public et::NamedDataMap {
 public:
  explicit TensorMap(std::vector<NamedTensor> t) : t_(std::move(t)) {
    order_.resize(t_.size());
    for (size_t i = 0; i < t_.size(); ++i) {
      order_[i].resize(t_[i].sizes.size());
      for (size_t d = 0; d < order_[i].size(); ++d) order_[i][d] = static_cast<uint8_t>(d);
    }
  }
  et::Result<const et::TensorLayout> get_tensor_layout(std::string_view key) const override {
    const size_t i = find(key);
    if (i == t_.size()) return et::Error::NotFound;
    return et::TensorLayout::create(et::Span<const int32_t>(t_[i].sizes.data(), t_[i].sizes.size()),
                                    et::Span<const uint8_t>(order_[i].data(), order_[i].size()), ScalarType::Float);
  }
  et::Result<et::FreeableBuffer> get_data(std::string_view key) const override {
    const size_t i = find(key);
    if (i == t_.size()) {
      missing_ = std::string(key);
      return et::Error::NotFound;
    }
    return et::FreeableBuffer(t_[i].data, bytes(i), nullptr);
  }
  et::Error load_data_into(std::string_view key, void* buffer, size_t size) const override {
    const size_t i = find(key);
    if (i == t_.size()) return et::Error::NotFound;
    if (size != bytes(i)) return et::Error::InvalidArgument;
    std::memcpy(buffer, t_[i].data, size);
    return et::Error::Ok;
  }
  et::Result<uint32_t> get_num_keys() const override { return static_cast<uint32_t>(t_.size()); }
  et::Result<const char*> get_key(uint32_t index) const override {
    if (index >= t_.size()) return et::Error::InvalidArgument;
    return t_[index].key.c_str();
  }
  const std::string& missing() const { return missing_; }

 private:
  size_t find(std::string_view key) const {
    size_t i = 0;
    while (i < t_.size() && t_[i].key != key) ++i;
    return i;
  }
  size_t bytes(size_t i) const {
    size_t n = sizeof(float);
    for (int32_t v : t_[i].sizes) n *= static_cast<size_t>(v);
    return n;
  }
  std::vector<NamedTensor> t_;
  std::vector<std::vector<uint8_t>> order_;
  mutable std::string missing_;  // the last key asked for and not found (for the error)
};

}  // namespace

struct ProgramMemory::Impl {
  // Default-initialised, never zero-filled: only the pages load_method and execute really
  // touch become resident (zero-filled pools made 5 MB per program resident, most of an idle
  // session's RSS).
  std::unique_ptr<uint8_t[]> planned, method_pool, temp_pool;
  size_t planned_size = 0;
  std::unique_ptr<et::MemoryAllocator> method_alloc, temp_alloc;
};

struct Program::Impl {
  std::string path;
  size_t n_inputs = 0;
  std::unique_ptr<executorch::extension::FileDataLoader> loader;
  std::unique_ptr<et::Program> program;
  std::unique_ptr<ProgramMemory> own;    // when the program shares no memory
  std::unique_ptr<TensorMap> constants;  // outlives the method, which may keep views into it
  std::vector<et::Span<uint8_t>> spans;
  std::unique_ptr<et::HierarchicalAllocator> planned_alloc;
  std::unique_ptr<et::MemoryManager> mm;
  std::unique_ptr<et::Method> method;
  std::vector<Blob> blobs;
};

Status set_xnnpack_threads(int threads) {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr || !pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads)))
    return fail(Error::kRuntime, "cannot set the ExecuTorch thread pool to " + std::to_string(threads) + " threads");
  return Status::Ok();
}

Status init_executorch(int threads) {
  et::runtime_init();
  WRX_TRY(set_xnnpack_threads(threads));
  // Per-model workspaces (mode 1), keyed by the method pool: programs sharing a ProgramMemory
  // share one; programs on different threads never do, so lanes do not serialize (the global
  // mode would make every delegate call in the process take one mutex).
  et::BackendOptions<1> opts;
  if (opts.set_option("workspace_sharing_mode", 1) != et::Error::Ok ||
      et::set_option("XnnpackBackend", opts.view()) != et::Error::Ok)
    return fail(Error::kRuntime, "cannot set XnnpackBackend workspace_sharing_mode=1 (is the XNNPACK backend linked?)");
  return Status::Ok();
}

Program::~Program() = default;

const std::string& Program::path() const {
  return impl_->path;
}

namespace {

Result<size_t> planned_size(const std::string& path) {
  auto loader = executorch::extension::FileDataLoader::from(path.c_str());
  if (!loader.ok()) return fail(Error::kMissingFile, path + ": cannot open program (" + et_error(loader.error()) + ")");
  auto program = et::Program::load(&loader.get());
  if (!program.ok()) return fail(Error::kBadData, path + ": not a valid ExecuTorch program");
  auto meta = program->method_meta("forward");
  if (!meta.ok()) return fail(Error::kBadData, path + ": no method 'forward'");
  size_t n = 0;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i)
    n += static_cast<size_t>(meta->memory_planned_buffer_size(i).get());
  return n;
}

}  // namespace

ProgramMemory::~ProgramMemory() = default;

size_t ProgramMemory::planned_bytes() const {
  return impl_->planned_size;
}

Result<std::unique_ptr<ProgramMemory>> ProgramMemory::for_programs(const std::vector<std::string>& paths) {
  size_t need = 0;
  for (const std::string& path : paths) {
    auto n = planned_size(path);
    if (!n.ok()) return n.status();
    need = std::max(need, n.value());
  }
  std::unique_ptr<ProgramMemory> pm(new ProgramMemory());
  pm->impl_ = std::make_unique<Impl>();
  Impl& m = *pm->impl_;
  constexpr uint32_t kMethodPool = 4u << 20, kTempPool = 1u << 20;
  m.planned_size = need;
  m.planned.reset(new uint8_t[std::max<size_t>(need, 1)]);
  m.method_pool.reset(new uint8_t[kMethodPool]);
  m.temp_pool.reset(new uint8_t[kTempPool]);
  m.method_alloc = std::make_unique<et::MemoryAllocator>(kMethodPool, m.method_pool.get());
  m.temp_alloc = std::make_unique<et::MemoryAllocator>(kTempPool, m.temp_pool.get());
  return pm;
}

Result<std::unique_ptr<Program>> Program::load(const std::string& path, size_t n_inputs, ProgramMemory* shared,
                                               std::vector<NamedTensor> constants) {
  std::unique_ptr<Program> p(new Program());
  p->impl_ = std::make_unique<Impl>();
  Impl& m = *p->impl_;
  m.path = path;
  m.n_inputs = n_inputs;
  m.blobs.resize(n_inputs);
  const char* hint = "re-package: wrx package MODEL_DIR --task TASK -o OUT";
  auto loader = executorch::extension::FileDataLoader::from(path.c_str());
  if (!loader.ok())
    return fail(Error::kMissingFile, path + ": cannot open program (" + et_error(loader.error()) + ")", hint);
  m.loader = std::make_unique<executorch::extension::FileDataLoader>(std::move(loader.get()));
  auto program = et::Program::load(m.loader.get());
  if (!program.ok())
    return fail(Error::kBadData, path + ": not a valid ExecuTorch program (" + et_error(program.error()) + ")", hint);
  m.program = std::make_unique<et::Program>(std::move(program.get()));
  auto meta = m.program->method_meta("forward");
  if (!meta.ok()) return fail(Error::kBadData, path + ": no method 'forward'", hint);
  if (meta->num_inputs() != n_inputs)
    return fail(
        Error::kBadData,
        path + ": program has " + std::to_string(meta->num_inputs()) + " inputs, expected " + std::to_string(n_inputs),
        hint);
  if (shared == nullptr) {
    auto own = ProgramMemory::for_programs({path});
    if (!own.ok()) return own.status();
    m.own = own.take();
    shared = m.own.get();
  }
  ProgramMemory::Impl& pm = *shared->impl_;
  // The method's planned buffers sit one after another at the start of the shared arena.
  size_t used = 0;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    const size_t n = static_cast<size_t>(meta->memory_planned_buffer_size(i).get());
    if (n > pm.planned_size - used)
      return fail(Error::kRuntime, path + ": planned memory larger than its shared arena", hint);
    m.spans.emplace_back(pm.planned.get() + used, n);
    used += n;
  }
  m.planned_alloc =
      std::make_unique<et::HierarchicalAllocator>(et::Span<et::Span<uint8_t>>(m.spans.data(), m.spans.size()));
  m.mm = std::make_unique<et::MemoryManager>(pm.method_alloc.get(), m.planned_alloc.get(), pm.temp_alloc.get());
  if (!constants.empty()) m.constants = std::make_unique<TensorMap>(std::move(constants));
  auto method = m.program->load_method("forward", m.mm.get(), nullptr, m.constants.get());
  if (!method.ok()) {
    if (m.constants != nullptr && !m.constants->missing().empty())
      return fail(Error::kManifestMismatch,
                  path + ": the program asks for the named constant '" + m.constants->missing() +
                      "', which manifest field programs.layer_packed.constants does not name",
                  hint);
    return fail(Error::kRuntime, path + ": load_method failed (" + et_error(method.error()) +
                                     "); a missing operator means the program was not fully delegated to XNNPACK");
  }
  m.method = std::make_unique<et::Method>(std::move(method.get()));
  return p;
}

size_t Program::planned_bytes() const {
  return impl_->own ? impl_->own->planned_bytes() : 0;
}

Status Program::run(std::initializer_list<TensorArg> inputs, const float** out, size_t out_numel) {
  Impl& m = *impl_;
  if (inputs.size() != m.n_inputs) return fail(Error::kRuntime, m.path + ": wrong number of inputs");
  size_t i = 0;
  for (const TensorArg& a : inputs) {
    if (!m.blobs[i].set(a.data, a.sizes)) return fail(Error::kRuntime, m.path + ": bad input rank");
    const et::Error e = m.method->set_input(et::EValue(Tensor(m.blobs[i].impl.get())), i);
    if (e != et::Error::Ok)
      return fail(Error::kRuntime, m.path + ": set_input " + std::to_string(i) + ": " + et_error(e));
    ++i;
  }
  const et::Error e = m.method->execute();
  if (e != et::Error::Ok) return fail(Error::kRuntime, m.path + ": execute failed: " + et_error(e));
  const Tensor o = m.method->get_output(0).toTensor();
  if (static_cast<size_t>(o.numel()) != out_numel) return fail(Error::kRuntime, m.path + ": unexpected output size");
  *out = o.const_data_ptr<float>();
  return Status::Ok();
}

}  // namespace wrx
