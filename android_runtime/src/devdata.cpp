#include "devdata.h"

#include <cstring>

#include "crc32.h"
#include "manifest.h"

namespace wrx {

// One check list, in the order and with the codes of the Python reader
// (wrx_sdk/formats/devdata.py, read): the same file gets the same verdict from both.
Result<DevData> load_devdata(const std::string& path, int vocab, int type_vocab) {
  const char* hint = "re-package (wrx package) or re-deploy (wrx deploy)";
  const std::string where = "data file " + path + ": ";
  auto text = read_file(path);
  if (!text.ok()) return fail(Error::kMissingFile, "data file " + path + " does not exist", hint);
  const std::string& raw = text.value();
  struct {
    char magic[8];
    uint32_t version, n, seq, num_labels, reserved, crc;
  } h{};
  static_assert(sizeof(h) == 32, "data header");
  if (raw.size() < sizeof(h))
    return fail(Error::kTruncated, where + std::to_string(raw.size()) + " bytes, shorter than its header (32)", hint);
  std::memcpy(&h, raw.data(), sizeof(h));
  if (std::memcmp(h.magic, "WRXDATA\0", 8) != 0) return fail(Error::kBadMagic, where + "bad magic", hint);
  if (h.version != 1)
    return fail(Error::kUnsupportedVersion, where + "version " + std::to_string(h.version) + ", this wrx reads 1",
                hint);
  // Bounded before the size is computed: n * seq * 8 stays far below 2^64.
  constexpr uint32_t kMaxRows = 1u << 24, kMaxSeq = 1u << 16;
  if (h.n < 1 || h.n > kMaxRows || h.seq < 1 || h.seq > kMaxSeq || h.num_labels < 1)
    return fail(Error::kBadCounts,
                where + "field n_rows " + std::to_string(h.n) + ", seq_len " + std::to_string(h.seq) +
                    " or num_labels " + std::to_string(h.num_labels) + " out of range",
                hint);
  const uint64_t want = sizeof(h) + 4ull * (2ull * h.n + 2ull * uint64_t{h.n} * h.seq);
  if (raw.size() != want)
    return fail(Error::kTruncated,
                where + "file_bytes " + std::to_string(raw.size()) + ", expected " + std::to_string(want), hint);
  if (crc32(raw.data() + sizeof(h), raw.size() - sizeof(h)) != h.crc)
    return fail(Error::kBadData, where + "body_crc32 mismatch (corrupt)", hint);
  DevData d;
  d.n = h.n;
  d.seq = h.seq;
  d.num_labels = h.num_labels;
  const char* p = raw.data() + sizeof(h);
  auto take = [&](std::vector<int32_t>* v, size_t count) {
    v->resize(count);
    std::memcpy(v->data(), p, count * 4);
    p += count * 4;
  };
  take(&d.labels, d.n);
  take(&d.lengths, d.n);
  take(&d.input_ids, size_t{d.n} * d.seq);
  take(&d.token_types, size_t{d.n} * d.seq);
  for (uint32_t i = 0; i < d.n; ++i)
    if (d.labels[i] < 0 || static_cast<uint32_t>(d.labels[i]) >= d.num_labels)
      return fail(Error::kBadData,
                  where + "labels: row " + std::to_string(i) + " has label " + std::to_string(d.labels[i]) +
                      ", outside 0.." + std::to_string(d.num_labels - 1),
                  hint);
  for (uint32_t i = 0; i < d.n; ++i)
    if (d.lengths[i] < 1 || static_cast<uint32_t>(d.lengths[i]) > d.seq)
      return fail(Error::kBadData,
                  where + "lengths: row " + std::to_string(i) + " has length " + std::to_string(d.lengths[i]) +
                      ", outside 1.." + std::to_string(d.seq),
                  hint);
  for (size_t i = 0; i < d.input_ids.size(); ++i)
    if (d.input_ids[i] < 0 || d.input_ids[i] >= vocab)
      return fail(Error::kBadData,
                  where + "input_ids: token " + std::to_string(i) + " is " + std::to_string(d.input_ids[i]) +
                      ", outside 0.." + std::to_string(vocab - 1),
                  hint);
  for (size_t i = 0; i < d.token_types.size(); ++i)
    if (d.token_types[i] < 0 || d.token_types[i] >= type_vocab)
      return fail(Error::kBadData,
                  where + "token_type_ids: token " + std::to_string(i) + " is " + std::to_string(d.token_types[i]) +
                      ", outside 0.." + std::to_string(type_vocab - 1),
                  hint);
  return d;
}

}  // namespace wrx
