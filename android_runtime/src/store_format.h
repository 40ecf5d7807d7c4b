// Binary layout of store.wrx, version 1. docs/FORMAT.md is normative; this mirrors
// wrx_sdk/formats/store_layout.py. Enum values are part of the format: never renumber.
#pragma once

#include <cstdint>

namespace wrx::fmt {

constexpr char kMagic[8] = {'W', 'R', 'X', 'S', 'T', 'O', 'R', '\0'};
constexpr uint32_t kVersion = 2;
constexpr uint64_t kAlign = 4096;
constexpr uint64_t kTensorAlign = 16;
constexpr uint16_t kNone16 = 0xFFFF;
// The HEAD entry's second copy: the pooler matrix as a CODEBOOK at 8 bits (one code per byte).
constexpr int kHeadCodebookBits = 8;
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kEntryBytes = 40;
constexpr uint64_t kTensorBytes = 32;

enum class EntryKind : uint16_t {
  kLayerShard = 1,  // version 1 only (a whole shard); rejected in version 2
  kLayerShared = 2,
  kEmbedWord = 3,
  kEmbedWordCrc = 4,
  kEmbedShared = 5,
  kHead = 6,
  kAttnShard = 7,  // attention half of a (layer, shard) at one bitwidth
  kFfnShard = 8,   // FFN half
};

enum class Encoding : uint8_t { kF32 = 0, kCodebook = 1, kU32 = 2 };

enum class Role : uint16_t {
  kQW = 1,
  kQB = 2,
  kKW = 3,
  kKB = 4,
  kVW = 5,
  kVB = 6,
  kOW = 7,
  kFfn1W = 8,
  kFfn1B = 9,
  kFfn2W = 10,
  kOB = 20,
  kLn1G = 21,
  kLn1B = 22,
  kFfn2B = 23,
  kLn2G = 24,
  kLn2B = 25,
  kWordEmb = 40,
  kPosEmb = 41,
  kTypeEmb = 42,
  kEmbLnG = 43,
  kEmbLnB = 44,
  kWordEmbRowCrc = 45,
  kRelPosBias = 46,  // [heads, 2 * max_seq_len - 1] (mpnet): read by no loader yet
  kPoolerW = 60,
  kPoolerB = 61,
  kClsW = 62,
  kClsB = 63,
};

bool valid_kind(uint16_t v);
bool valid_role(uint16_t v);
bool valid_encoding(uint8_t v);
bool valid_bits(uint8_t v);  // 2,3,4,5,6,8,32
const char* kind_name(EntryKind k);

#pragma pack(push, 1)
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t file_bytes;
  uint32_t n_entries;
  uint32_t n_tensors;
  uint64_t table_offset;
  uint64_t table_bytes;
  uint64_t data_offset;
  uint32_t table_crc32;
  uint32_t header_crc32;
};
struct EntryRec {
  uint16_t kind;
  uint8_t bits;
  uint8_t reserved0;
  uint16_t layer;
  uint16_t shard;
  uint64_t offset;
  uint64_t length;
  uint32_t crc32;
  uint32_t first_tensor;
  uint32_t n_tensors;
  uint32_t reserved1;
};
struct TensorRec {
  uint16_t role;
  uint8_t encoding;
  uint8_t bits;
  uint32_t rows;
  uint32_t cols;
  uint32_t n_outliers;
  uint64_t offset;
  uint64_t bytes;
};
#pragma pack(pop)
static_assert(sizeof(Header) == kHeaderBytes, "header layout");
static_assert(sizeof(EntryRec) == kEntryBytes, "entry layout");
static_assert(sizeof(TensorRec) == kTensorBytes, "tensor layout");

// Bytes of a CODEBOOK payload; false on overflow.
bool codebook_bytes(uint32_t bits, uint64_t n, uint64_t n_outliers, uint64_t* out);

}  // namespace wrx::fmt
