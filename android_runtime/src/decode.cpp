#include "decode.h"

#include <cstring>
#include <string>
#include <vector>

namespace wrx {
namespace {

// Decode `groups` groups of 8 codes (each group is BITS bytes) into out[0 .. 8*groups).
template <int BITS>
inline void decode_group(uint64_t w, const float* cb, float* o) {
  constexpr uint64_t kMask = (uint64_t{1} << BITS) - 1;
  o[0] = cb[w & kMask];
  o[1] = cb[(w >> (1 * BITS)) & kMask];
  o[2] = cb[(w >> (2 * BITS)) & kMask];
  o[3] = cb[(w >> (3 * BITS)) & kMask];
  o[4] = cb[(w >> (4 * BITS)) & kMask];
  o[5] = cb[(w >> (5 * BITS)) & kMask];
  o[6] = cb[(w >> (6 * BITS)) & kMask];
  o[7] = cb[(w >> (7 * BITS)) & kMask];
}

// Decode `groups` groups of 8 codes (each group is BITS bytes) into out[0 .. 8*groups).
// All but the last two groups load a full 8-byte word (one unaligned load instead of a
// BITS-byte copy); the tail never reads past the codes.
template <int BITS>
inline void decode_groups(const uint8_t* codes, size_t groups, const float* cb, float* out) {
  size_t g = 0;
  for (; g + 2 < groups; ++g) {
    uint64_t w;
    std::memcpy(&w, codes + g * BITS, 8);  // little-endian hosts
    decode_group<BITS>(w, cb, out + 8 * g);
  }
  for (; g < groups; ++g) {
    uint64_t w = 0;
    std::memcpy(&w, codes + g * BITS, BITS);
    decode_group<BITS>(w, cb, out + 8 * g);
  }
}

// 8-bit codes: one byte per code, no shifting.
template <>
inline void decode_groups<8>(const uint8_t* codes, size_t groups, const float* cb, float* out) {
  const size_t n = groups * 8;
  for (size_t i = 0; i < n; ++i) out[i] = cb[codes[i]];
}

template <int BITS>
Status decode_impl(const CodebookView& v, float* dst, size_t stride) {
  const size_t n = size_t{v.rows} * v.cols;
  if (v.cols % 8 == 0) {
    // Every row starts on a group boundary: decode rows in place, no staging.
    const size_t gpr = v.cols / 8;
    for (uint32_t r = 0; r < v.rows; ++r)
      decode_groups<BITS>(v.codes + size_t{r} * gpr * BITS, gpr, v.codebook, dst + r * stride);
  } else {
    std::vector<float> tmp((n + 7) / 8 * 8);
    decode_groups<BITS>(v.codes, (n + 7) / 8, v.codebook, tmp.data());
    for (uint32_t r = 0; r < v.rows; ++r)
      std::memcpy(dst + r * stride, tmp.data() + size_t{r} * v.cols, v.cols * sizeof(float));
  }
  for (uint32_t i = 0; i < v.n_outliers; ++i) {
    const uint32_t idx = v.outlier_idx[i];
    if (idx >= n)
      return fail(Error::kBadData, "outlier index " + std::to_string(idx) + " >= " + std::to_string(n) + " elements");
    dst[(idx / v.cols) * stride + idx % v.cols] = v.outlier_val[i];
  }
  return Status::Ok();
}

}  // namespace

Status decode_codebook(const CodebookView& v, float* dst, size_t dst_stride) {
  if (dst_stride < v.cols) return fail(Error::kRuntime, "decode: stride < cols");
  switch (v.bits) {
    case 2:
      return decode_impl<2>(v, dst, dst_stride);
    case 3:
      return decode_impl<3>(v, dst, dst_stride);
    case 4:
      return decode_impl<4>(v, dst, dst_stride);
    case 5:
      return decode_impl<5>(v, dst, dst_stride);
    case 6:
      return decode_impl<6>(v, dst, dst_stride);
    case 8:
      return decode_impl<8>(v, dst, dst_stride);
    default:
      return fail(Error::kUnknownEnum, "decode: unsupported bitwidth " + std::to_string(v.bits));
  }
}

void copy_f32(const float* src, uint32_t rows, uint32_t cols, float* dst, size_t dst_stride) {
  if (dst_stride == cols) {
    std::memcpy(dst, src, size_t{rows} * cols * sizeof(float));
    return;
  }
  for (uint32_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + size_t{r} * cols, cols * sizeof(float));
}

}  // namespace wrx
