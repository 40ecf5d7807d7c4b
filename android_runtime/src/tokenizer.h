// The package's own tokenizer on the device: tokenizer.json's BERT normalizer, BERT
// pre-tokenizer, WordPiece and its special-token template, giving the same ids as Hugging
// Face's tokenizers library, byte for byte (docs/TOKENIZER.md). No ICU: the character
// tables come from the tokenizers wheel itself (unicode_tables.cpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"
#include "json.h"

namespace wrx {

// A read-only token -> id table in three flat arrays: the token text, one record per token
// and an open-addressing index. About 20 bytes a token, where a node-based hash map took
// about 70 (2.2 MB of a BERT vocabulary, most of an idle session's heap).
class Vocab {
 public:
  void add(std::string_view token, int32_t id);  // then build() once
  void build();
  int32_t find(std::string_view token) const;  // -1 when absent
  size_t size() const { return recs_.size(); }

 private:
  struct Rec {
    uint32_t offset, size;
    int32_t id;
  };
  static uint64_t hash(std::string_view s);
  std::string blob_;
  std::vector<Rec> recs_;
  std::vector<uint32_t> slots_;  // record index + 1; 0 is empty
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class Tokenizer {
 public:
  // Reads and checks tokenizer.json. Anything this tokenizer cannot reproduce exactly is
  // refused here (Error::kBadTokenizer naming the field), never mis-tokenized later.
  static Result<std::unique_ptr<Tokenizer>> load(const std::string& path);
  static Result<std::unique_ptr<Tokenizer>> from_json(const json::Value& v, const std::string& where);

  // UTF-8 text and an optional pair (nullptr) -> ids with the template's special tokens,
  // truncated longest-first to max_len, not padded. Invalid UTF-8 is Error::kInvalidUtf8.
  Status encode(std::string_view text, const std::string_view* pair, int max_len, Encoding* out) const;

  int pad_id() const { return pad_id_; }
  size_t vocab_size() const { return vocab_.size(); }

 private:
  Tokenizer() = default;
  struct Special {
    int32_t id = 0;
    int type_id = 0;
  };
  struct Piece {               // one element of the post-processor's template
    bool sequence = false;     // true: the input sequence (A or B); false: a special token
    int which = 0;             // sequence: 0 = A, 1 = B
    std::vector<int32_t> ids;  // special token ids
    int type_id = 0;
  };
  struct Added {
    std::u32string content;  // normalized tokens: the content as the normalizer leaves it
    int32_t id = 0;
    bool normalized = false;              // matched in the normalized text, not the raw one
    bool lstrip = false, rstrip = false;  // the match absorbs the whitespace on that side
  };

  void normalize(const std::u32string& in, std::u32string* out) const;
  void words(const std::u32string& norm, std::vector<std::u32string>* out) const;
  void wordpiece(const std::u32string& word, std::vector<int32_t>* ids) const;
  void sequence(const std::u32string& text, std::vector<int32_t>* ids) const;
  template <typename Gap>
  void split_added(const std::u32string& text, bool normalized, std::vector<int32_t>* ids, Gap gap) const;
  size_t added_count(bool pair) const;

  // BertNormalizer
  bool clean_text_ = true, chinese_ = true, strip_accents_ = true, lowercase_ = true;
  // WordPiece
  Vocab vocab_;
  int32_t unk_id_ = 0;
  std::string prefix_ = "##";
  size_t max_chars_ = 100;
  // Added tokens: normalized: false ones are matched in the raw text, normalized: true ones
  // in each normalized gap between those (leftmost, then longest).
  std::vector<Added> added_;
  // Post-processor template
  std::vector<Piece> single_, pair_;
  int pad_id_ = 0;
};

}  // namespace wrx
