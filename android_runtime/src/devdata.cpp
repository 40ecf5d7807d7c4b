#include "devdata.h"

#include <cstring>

#include "crc32.h"
#include "manifest.h"

namespace wrx {

Result<DevData> load_devdata(const std::string& path, int vocab, int type_vocab) {
  const char* hint = "re-package (wrx package) or re-deploy (wrx deploy)";
  auto text = read_file(path);
  if (!text.ok()) return fail(Error::kMissingFile, "data file " + path + " does not exist", hint);
  const std::string& raw = text.value();
  struct {
    char magic[8];
    uint32_t version, n, seq, num_labels, reserved, crc;
  } h{};
  static_assert(sizeof(h) == 32, "data header");
  if (raw.size() < sizeof(h)) return fail(Error::kBadData, "data file " + path + ": shorter than its header", hint);
  std::memcpy(&h, raw.data(), sizeof(h));
  if (std::memcmp(h.magic, "WRXDATA\0", 8) != 0)
    return fail(Error::kBadMagic, "data file " + path + ": bad magic", hint);
  if (h.version != 1)
    return fail(Error::kUnsupportedVersion, "data file " + path + ": version " + std::to_string(h.version), hint);
  const uint64_t want = sizeof(h) + 4ull * (2ull * h.n + 2ull * uint64_t{h.n} * h.seq);
  if (raw.size() != want)
    return fail(Error::kTruncated,
                "data file " + path + ": " + std::to_string(raw.size()) + " bytes, expected " + std::to_string(want),
                hint);
  if (crc32(raw.data() + sizeof(h), raw.size() - sizeof(h)) != h.crc)
    return fail(Error::kBadData, "data file " + path + ": body checksum mismatch (corrupt)", hint);
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
    if (d.lengths[i] < 1 || d.lengths[i] > static_cast<int32_t>(d.seq))
      return fail(Error::kBadData, "data file " + path + ": row " + std::to_string(i) + " length out of range", hint);
  for (size_t i = 0; i < d.input_ids.size(); ++i)
    if (d.input_ids[i] < 0 || d.input_ids[i] >= vocab || d.token_types[i] < 0 || d.token_types[i] >= type_vocab)
      return fail(Error::kBadData, "data file " + path + ": token " + std::to_string(i) + " is outside the vocabulary",
                  hint);
  return d;
}

}  // namespace wrx
