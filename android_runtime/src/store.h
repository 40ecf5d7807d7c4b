// Validated, read-only access to store.wrx. open() checks magic, version, header CRC,
// counts, the table CRC and every offset before it allocates anything sized by the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "error.h"
#include "io.h"
#include "store_format.h"

namespace wrx {

struct Entry {
  fmt::EntryKind kind;
  uint8_t bits;
  int layer;  // -1 when none
  int shard;  // -1 when none
  uint64_t offset;
  uint64_t length;
  uint32_t crc32;
  uint32_t first_tensor;
  uint32_t n_tensors;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path, bool try_direct = true);

  const fmt::Header& header() const { return header_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<fmt::TensorRec>& tensors() const { return tensors_; }
  BlockFile& file() { return *file_; }
  const std::string& path() const { return path_; }

  // nullptr when absent.
  const Entry* find(fmt::EntryKind kind, int layer, int shard, int bits) const;
  const fmt::TensorRec* tensor(const Entry& e, fmt::Role role) const;
  std::string describe(const Entry& e) const;

  // Reads one entry (or a run of entries adjacent in the file, first..last inclusive) into
  // buf with one request; payload of entry i starts at buf + (e_i.offset - first.offset).
  Status read_run(const Entry& first, const Entry& last, AlignedBuffer& buf);
  // CRC check of one entry whose payload is at p.
  Status verify(const Entry& e, const uint8_t* p) const;
  // Reads and checksums every entry, one at a time: the whole store checked, as the golden
  // tests, the differential tool and the store fuzzer need it.
  Status verify_all();

 private:
  Status read_header();
  Status read_table();
  Status bad(Error code, const std::string& field, const std::string& why) const;

  std::string path_;
  std::unique_ptr<BlockFile> file_;
  fmt::Header header_{};
  std::vector<Entry> entries_;
  std::vector<fmt::TensorRec> tensors_;
  std::unordered_map<uint64_t, uint32_t> index_;
};

}  // namespace wrx
