// Codebook decoding (docs/FORMAT.md, "CODEBOOK tensor payload"): one templated loop per
// bitwidth, writing straight into the assembled layer buffer (row or column block).
#pragma once

#include <cstddef>
#include <cstdint>

#include "error.h"

namespace wrx {

struct CodebookView {
  uint32_t bits = 0;
  uint32_t rows = 0, cols = 0;
  const float* codebook = nullptr;        // 2^bits entries
  const uint32_t* outlier_idx = nullptr;  // n_outliers flat indices
  const float* outlier_val = nullptr;
  uint32_t n_outliers = 0;
  const uint8_t* codes = nullptr;  // packed, ceil(rows*cols/8)*bits bytes
};

// Decode into dst[r * dst_stride + c]. dst_stride >= cols. Outlier indices are checked.
Status decode_codebook(const CodebookView& v, float* dst, size_t dst_stride);

// Copy an fp32 [rows, cols] matrix into dst with a row stride.
void copy_f32(const float* src, uint32_t rows, uint32_t cols, float* dst, size_t dst_stride);

}  // namespace wrx
