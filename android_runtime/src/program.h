// An ExecuTorch program with one method whose inputs are caller-owned float tensors.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "error.h"

namespace wrx {

// Sets the process-wide ExecuTorch/XNNPACK options. Call once, before any program loads:
// the XNNPACK runtime captures the thread pool at load time.
Status init_executorch(int threads);
// Resizes the thread pool XNNPACK splits operators over (after init_executorch).
Status set_xnnpack_threads(int threads);

struct TensorArg {
  const float* data;
  std::initializer_list<int32_t> sizes;
};

// A float tensor a program reads by name instead of as an input (a program exported with
// named external constants, docs/FORMAT.md "Programs"). The caller owns the data; it must
// stay valid while the program lives, except where the backend copies it at load (XNNPACK
// packs linear weights), which Program::load cannot know: see Model::pack_layer.
struct NamedTensor {
  std::string key;
  const float* data = nullptr;
  std::vector<int32_t> sizes;
};

// Memory for programs that never run at the same time (a lane's attention and FFN programs):
// one planned arena, one method pool and one temp pool. XNNPACK keys its per-model workspace
// (runtime buffers and the packed weights of weights passed as inputs) by the method pool,
// so the programs also share one workspace: an idle lane holds one set of buffers, not two.
class ProgramMemory {
 public:
  ~ProgramMemory();
  // Sized for the largest planned memory among paths (reads only the program headers).
  static Result<std::unique_ptr<ProgramMemory>> for_programs(const std::vector<std::string>& paths);
  size_t planned_bytes() const;

 private:
  friend class Program;
  ProgramMemory() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Program {
 public:
  ~Program();
  // shared: memory shared with the other programs of the same group, which the caller never
  // runs at the same time; without it the program owns its memory. constants: what the
  // program's named external constants resolve to; a key it asks for and is not given is
  // an error naming the key.
  static Result<std::unique_ptr<Program>> load(const std::string& path, size_t n_inputs,
                                               ProgramMemory* shared = nullptr,
                                               std::vector<NamedTensor> constants = {});

  // Binds the inputs without copying, runs, and points *out at the single output (valid
  // until the next run of any program sharing the memory).
  Status run(std::initializer_list<TensorArg> inputs, const float** out, size_t out_numel);
  size_t planned_bytes() const;  // planned memory this program owns (0 when shared)
  const std::string& path() const;

 private:
  Program() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wrx
