#include "store.h"

#include <cstring>

#include "crc32.h"

namespace wrx {
namespace {

const char* kRepackage = "re-create it with: wrx package MODEL_DIR --task TASK -o OUT";

uint64_t key_of(int kind, int layer, int shard, int bits) {
  return (uint64_t(kind) << 48) | (uint64_t(uint16_t(layer)) << 32) | (uint64_t(uint16_t(shard)) << 16) |
         uint64_t(bits);
}

std::string u(uint64_t v) {
  return std::to_string(v);
}

}  // namespace

Status Store::bad(Error code, const std::string& field, const std::string& why) const {
  return fail(code, "store " + path_ + ": " + field + ": " + why, kRepackage);
}

std::string Store::describe(const Entry& e) const {
  std::string s = fmt::kind_name(e.kind);
  if (e.layer >= 0) s += ", layer " + std::to_string(e.layer);
  if (e.shard >= 0) s += ", shard " + std::to_string(e.shard);
  s += e.bits == 32 ? ", fp32" : ", " + std::to_string(e.bits) + "-bit";
  return s;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, bool try_direct) {
  std::unique_ptr<Store> s(new Store());
  s->path_ = path;
  auto f = BlockFile::open(path, try_direct);
  if (!f.ok()) {
    Status st = f.status();
    st.hint = kRepackage;
    return st;
  }
  s->file_ = f.take();
  WRX_TRY(s->read_header());
  WRX_TRY(s->read_table());
  return s;
}

Status Store::read_header() {
  const uint64_t size = file_->size();
  if (size < fmt::kHeaderBytes)
    return bad(Error::kTruncated, "header",
               "file is " + u(size) + " bytes, shorter than the 64-byte header (truncated, or not a store)");
  // A file shorter than one block can only be read buffered; O_DIRECT reads whole blocks.
  AlignedBuffer buf;
  WRX_TRY(buf.reserve(kIoAlign));
  if (size >= kIoAlign) {
    WRX_TRY(file_->read(0, kIoAlign, buf.data()));
  } else {
    auto plain = BlockFile::open(path_, false);
    if (!plain.ok()) return plain.status();
    std::memset(buf.data(), 0, kIoAlign);
    WRX_TRY(plain.value()->read(0, 0, buf.data()));  // validates nothing; fall through
    FILE* fp = fopen(path_.c_str(), "rb");
    if (fp == nullptr || fread(buf.data(), 1, fmt::kHeaderBytes, fp) != fmt::kHeaderBytes) {
      if (fp) fclose(fp);
      return bad(Error::kIo, "header", "cannot read");
    }
    fclose(fp);
  }
  std::memcpy(&header_, buf.data(), sizeof(header_));
  const fmt::Header& h = header_;
  if (std::memcmp(h.magic, fmt::kMagic, 8) != 0)
    return bad(Error::kBadMagic, "magic", "expected 'WRXSTOR\\0': not a wrx store");
  if (h.version != fmt::kVersion) {
    const bool newer = h.version > fmt::kVersion;
    Status st =
        bad(Error::kUnsupportedVersion, "version",
            "format version " + u(h.version) + " is " +
                (newer ? "newer than this wrx reads" : "older than this wrx reads") + " (" + u(fmt::kVersion) + ")");
    if (newer) st.hint = "upgrade wrx-loader, or re-package with the matching wrx-sdk";
    return st;
  }
  if (crc32(buf.data(), 60) != h.header_crc32)
    return bad(Error::kHeaderChecksum, "header_crc32", "header checksum mismatch (header bytes corrupt)");
  if (h.header_bytes != fmt::kHeaderBytes)
    return bad(Error::kBadCounts, "header_bytes", u(h.header_bytes) + ", expected 64");
  if (h.file_bytes != size)
    return bad(Error::kTruncated, "file_bytes",
               "header says " + u(h.file_bytes) + " bytes but the file has " + u(size) + ": the store is " +
                   (size < h.file_bytes ? "truncated" : "longer than written"));
  // 64-bit products of 32-bit counts cannot overflow.
  const uint64_t want = uint64_t{h.n_entries} * fmt::kEntryBytes + uint64_t{h.n_tensors} * fmt::kTensorBytes;
  if (h.table_offset != fmt::kHeaderBytes || h.table_bytes != want || want > size - fmt::kHeaderBytes)
    return bad(Error::kBadCounts, "table_bytes",
               "table at " + u(h.table_offset) + "+" + u(h.table_bytes) + ", expected 64+" + u(want) + " for " +
                   u(h.n_entries) + " entries and " + u(h.n_tensors) + " tensors, within " + u(size) + " bytes");
  if (h.data_offset % fmt::kAlign != 0 || h.data_offset < fmt::kHeaderBytes + want || h.data_offset > size)
    return bad(Error::kOffsetOutOfRange, "data_offset", u(h.data_offset) + " is not an aligned offset after the table");
  return Status::Ok();
}

Status Store::read_table() {
  const fmt::Header& h = header_;
  AlignedBuffer buf;
  WRX_TRY(buf.reserve(h.data_offset));  // table + padding, bounded by the file size (checked)
  WRX_TRY(file_->read(0, h.data_offset, buf.data()));
  const uint8_t* table = buf.data() + h.table_offset;
  if (crc32(table, h.table_bytes) != h.table_crc32)
    return bad(Error::kTableChecksum, "table_crc32", "entry table checksum mismatch (table bytes corrupt)");
  tensors_.resize(h.n_tensors);
  std::memcpy(tensors_.data(), table + uint64_t{h.n_entries} * fmt::kEntryBytes,
              uint64_t{h.n_tensors} * fmt::kTensorBytes);
  entries_.reserve(h.n_entries);
  uint64_t prev_end = h.data_offset;
  uint32_t next_tensor = 0;
  for (uint32_t i = 0; i < h.n_entries; ++i) {
    fmt::EntryRec r{};
    std::memcpy(&r, table + uint64_t{i} * fmt::kEntryBytes, sizeof(r));
    if (!fmt::valid_kind(r.kind))
      return bad(Error::kUnknownEnum, "entry " + u(i) + ".kind", "unknown entry kind " + u(r.kind));
    Entry e{static_cast<fmt::EntryKind>(r.kind),
            r.bits,
            r.layer == fmt::kNone16 ? -1 : int(r.layer),
            r.shard == fmt::kNone16 ? -1 : int(r.shard),
            r.offset,
            r.length,
            r.crc32,
            r.first_tensor,
            r.n_tensors};
    const std::string where = "entry " + u(i) + " (" + describe(e) + ")";
    if (!fmt::valid_bits(r.bits)) return bad(Error::kUnknownEnum, where + ".bits", "invalid bitwidth " + u(r.bits));
    if (r.offset > h.file_bytes)
      return bad(Error::kOffsetOutOfRange, where + ".offset",
                 u(r.offset) + " is past the end of the file (" + u(h.file_bytes) + " bytes)");
    if (r.length > h.file_bytes - r.offset)
      return bad(Error::kOffsetOutOfRange, where + ".length",
                 u(r.offset) + "+" + u(r.length) + " runs past the end of the file (" + u(h.file_bytes) + " bytes)");
    if (r.offset % fmt::kAlign != 0 || r.offset < prev_end)
      return bad(Error::kOffsetOutOfRange, where + ".offset",
                 u(r.offset) + " is unaligned or overlaps the previous entry");
    if (r.first_tensor != next_tensor || r.n_tensors > h.n_tensors - r.first_tensor)
      return bad(Error::kBadCounts, where + ".n_tensors",
                 "tensors " + u(r.first_tensor) + "+" + u(r.n_tensors) + " out of sequence");
    next_tensor = r.first_tensor + r.n_tensors;
    uint64_t t_end = 0;
    for (uint32_t k = 0; k < r.n_tensors; ++k) {
      const fmt::TensorRec& t = tensors_[r.first_tensor + k];
      if (!fmt::valid_role(t.role) || !fmt::valid_encoding(t.encoding))
        return bad(Error::kUnknownEnum, where + ".tensor",
                   "unknown role " + u(t.role) + " or encoding " + u(t.encoding));
      const std::string tw = where + ".tensor " + u(k);
      const uint64_t n = uint64_t{t.rows} * t.cols;
      uint64_t want = 0;
      if (t.encoding == uint8_t(fmt::Encoding::kCodebook)) {
        if (t.bits < 2 || t.bits > 8 || t.bits == 7 || t.n_outliers > n ||
            !fmt::codebook_bytes(t.bits, n, t.n_outliers, &want))
          return bad(
              Error::kBadCounts, tw,
              "codebook at " + u(t.bits) + " bits with " + u(t.n_outliers) + " outliers of " + u(n) + " elements");
      } else {
        want = 4 * n;  // n < 2^64 / 4 since rows, cols < 2^32
      }
      if (t.bytes != want) return bad(Error::kBadCounts, tw + ".bytes", u(t.bytes) + ", expected " + u(want));
      if (t.offset < t_end || t.offset % fmt::kTensorAlign != 0 || t.offset > r.length || t.bytes > r.length - t.offset)
        return bad(Error::kTensorOutOfRange, tw + ".offset",
                   u(t.offset) + "+" + u(t.bytes) + " is outside the entry (" + u(r.length) +
                       " bytes) or overlaps the previous tensor");
      t_end = t.offset + t.bytes;
    }
    prev_end = r.offset + r.length;
    const uint64_t key = key_of(r.kind, e.layer, e.shard, r.bits);
    if (!index_.emplace(key, i).second)
      return bad(Error::kBadCounts, where, "two entries share the same (kind, layer, shard, bits)");
    entries_.push_back(e);
  }
  if (next_tensor != h.n_tensors)
    return bad(Error::kBadCounts, "n_tensors",
               "entries use " + u(next_tensor) + " tensors, header says " + u(h.n_tensors));
  return Status::Ok();
}

const Entry* Store::find(fmt::EntryKind kind, int layer, int shard, int bits) const {
  auto it = index_.find(key_of(int(kind), layer, shard, bits));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const fmt::TensorRec* Store::tensor(const Entry& e, fmt::Role role) const {
  for (uint32_t k = 0; k < e.n_tensors; ++k)
    if (tensors_[e.first_tensor + k].role == uint16_t(role)) return &tensors_[e.first_tensor + k];
  return nullptr;
}

Status Store::read_run(const Entry& first, const Entry& last, AlignedBuffer& buf) {
  if (last.offset < first.offset) return fail(Error::kRuntime, "read_run: entries out of order");
  const uint64_t len = last.offset - first.offset + last.length;
  WRX_TRY(buf.reserve(align_up(len, kIoAlign)));
  return file_->read(first.offset, len, buf.data());
}

Status Store::verify_all() {
  for (const Entry& e : entries()) {
    AlignedBuffer buf;
    WRX_TRY(read_run(e, e, buf));
    WRX_TRY(verify(e, buf.data()));
  }
  return Status::Ok();
}

Status Store::verify(const Entry& e, const uint8_t* p) const {
  if (crc32(p, e.length) != e.crc32)
    return fail(Error::kEntryChecksum,
                "store " + path_ + ": crc32: checksum mismatch in " + describe(e) + " (offset " + u(e.offset) + ", " +
                    u(e.length) + " bytes): the entry is corrupt",
                kRepackage);
  return Status::Ok();
}

}  // namespace wrx
