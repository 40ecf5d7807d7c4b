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

class Program {
 public:
  ~Program();
  // shared_arena: when given (and large enough), the program's planned memory lives there, so
  // programs that never run at the same time share one arena.
  static Result<std::unique_ptr<Program>> load(const std::string& path, size_t n_inputs,
                                               std::vector<uint8_t>* shared_arena = nullptr);
  // Planned-memory bytes the program's method needs (reads only the program header).
  static Result<size_t> planned_size(const std::string& path);

  // Binds the inputs without copying, runs, and points *out at the single output (valid
  // until the next run of any program sharing the arena).
  Status run(std::initializer_list<TensorArg> inputs, const float** out, size_t out_numel);
  size_t planned_bytes() const;
  const std::string& path() const;

 private:
  Program() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wrx
