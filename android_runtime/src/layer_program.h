// The encoder-layer ExecuTorch program: one Method, weights bound as caller-owned inputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "error.h"

namespace wrx {

// Sets the process-wide ExecuTorch/XNNPACK options. Call once, before any program loads:
// the XNNPACK runtime captures the thread pool at load time.
Status init_executorch(int threads);

class LayerProgram {
 public:
  ~LayerProgram();
  static Result<std::unique_ptr<LayerProgram>> load(const std::string& path, int seq, int hidden);

  // out[S*H] = layer(x[S*H], bias[S], weights...). weights[i] points at the i-th weight input
  // (q_w .. ln2_b, program input i + 2) with the shapes implied by k shards.
  Status run(const float* x, const float* bias, const float* const* weights, int k, int attn_width, int ffn_width,
             float* out);
  size_t planned_bytes() const;

 private:
  LayerProgram() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wrx
