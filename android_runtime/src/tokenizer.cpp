#include "tokenizer.h"

#include <algorithm>
#include <cstring>

#include "manifest.h"  // read_file
#include "unicode_tables.h"
#include "utf8.h"

namespace wrx {
namespace {

using unicode::Range;

bool in_ranges(const Range* r, size_t n, uint32_t c) {
  const Range* end = r + n;
  const Range* it = std::upper_bound(r, end, c, [](uint32_t v, const Range& x) { return v < x.lo; });
  return it != r && c <= (it - 1)->hi;
}

const unicode::Mapping* find_map(const unicode::Mapping* m, size_t n, uint32_t c) {
  const unicode::Mapping* end = m + n;
  const unicode::Mapping* it =
      std::lower_bound(m, end, c, [](const unicode::Mapping& x, uint32_t v) { return x.cp < v; });
  return it != end && it->cp == c ? it : nullptr;
}

uint8_t ccc(uint32_t c) {
  const unicode::Ccc* end = unicode::kCcc + unicode::kCccSize;
  const unicode::Ccc* it =
      std::lower_bound(unicode::kCcc, end, c, [](const unicode::Ccc& x, uint32_t v) { return x.cp < v; });
  return it != end && it->cp == c ? it->ccc : 0;
}

void nfd(uint32_t c, std::u32string* out) {
  if (c >= 0xAC00 && c <= 0xD7A3) {  // Hangul syllables: the arithmetic decomposition
    const uint32_t s = c - 0xAC00;
    out->push_back(0x1100 + s / 588);
    out->push_back(0x1161 + (s % 588) / 28);
    if (s % 28) out->push_back(0x11A7 + s % 28);
    return;
  }
  if (const unicode::Mapping* m = find_map(unicode::kNfd, unicode::kNfdSize, c)) {
    out->append(reinterpret_cast<const char32_t*>(unicode::kMapData + m->offset), m->size);
    return;
  }
  out->push_back(c);
}

// NFD's canonical ordering: every run of non-starters is stably sorted by combining class.
void reorder(std::u32string* s) {
  size_t i = 0;
  while (i < s->size()) {
    if (ccc((*s)[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s->size() && ccc((*s)[j]) != 0) ++j;
    std::stable_sort(s->begin() + i, s->begin() + j, [](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
}

Status bad(const std::string& where, const std::string& field, const std::string& why) {
  return fail(Error::kBadTokenizer, where + ": field " + field + " " + why,
              "re-package with a Hugging Face BERT-style tokenizer.json (wrx package; docs/TOKENIZER.md lists what "
              "the device tokenizer supports)");
}

const json::Value* member(const json::Value& v, const char* k) {
  return v.is_object() ? v.get(k) : nullptr;
}

bool get_bool(const json::Value& v, const char* k, bool dflt, bool* out) {
  const json::Value* x = member(v, k);
  if (x == nullptr || x->is_null()) {
    *out = dflt;
    return true;
  }
  if (!x->is_bool()) return false;
  *out = x->boolean();
  return true;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok())
    return fail(Error::kMissingFile, "tokenizer file " + path + " does not exist",
                "re-package (wrx package) so the package holds its tokenizer.json");
  auto v = json::parse(text.value(), Error::kBadTokenizer);
  if (!v.ok()) return fail(Error::kBadTokenizer, path + ": " + v.status().message, "re-package (wrx package)");
  return from_json(v.value(), path);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json(const json::Value& v, const std::string& where) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  if (!v.is_object()) return bad(where, "(top level)", "must be an object");

  // model: WordPiece
  const json::Value* model = member(v, "model");
  const json::Value* mt = model ? member(*model, "type") : nullptr;
  if (mt == nullptr || !mt->is_string() || mt->str() != "WordPiece")
    return bad(where, "model.type", "must be \"WordPiece\" (BPE and Unigram models are not supported on the device)");
  const json::Value* vocab = member(*model, "vocab");
  if (vocab == nullptr || !vocab->is_object() || vocab->members().empty())
    return bad(where, "model.vocab", "must be a non-empty object of token -> id");
  for (const auto& [tok, id] : vocab->members()) {
    int64_t n = 0;
    if (!id.as_int(&n) || n < 0 || n > INT32_MAX) return bad(where, "model.vocab." + tok, "must be an id in 0..2^31-1");
    t->vocab_.add(tok, static_cast<int32_t>(n));
  }
  t->vocab_.build();
  const json::Value* unk = member(*model, "unk_token");
  if (unk == nullptr || !unk->is_string() || t->vocab_.find(unk->str()) < 0)
    return bad(where, "model.unk_token", "must name a token of the vocabulary");
  t->unk_id_ = t->vocab_.find(unk->str());
  if (const json::Value* p = member(*model, "continuing_subword_prefix"); p != nullptr) {
    if (!p->is_string()) return bad(where, "model.continuing_subword_prefix", "must be a string");
    t->prefix_ = p->str();
  }
  if (const json::Value* m = member(*model, "max_input_chars_per_word"); m != nullptr) {
    int64_t n = 0;
    if (!m->as_int(&n) || n < 0 || n > (1 << 20))
      return bad(where, "model.max_input_chars_per_word", "must be 0..2^20");
    t->max_chars_ = static_cast<size_t>(n);
  }

  // normalizer: BertNormalizer
  const json::Value* norm = member(v, "normalizer");
  const json::Value* nt = norm ? member(*norm, "type") : nullptr;
  if (nt == nullptr || !nt->is_string() || nt->str() != "BertNormalizer")
    return bad(where, "normalizer.type", "must be \"BertNormalizer\"");
  bool strip_given = false;
  if (!get_bool(*norm, "clean_text", true, &t->clean_text_))
    return bad(where, "normalizer.clean_text", "must be a boolean");
  if (!get_bool(*norm, "handle_chinese_chars", true, &t->chinese_))
    return bad(where, "normalizer.handle_chinese_chars", "must be a boolean");
  if (!get_bool(*norm, "lowercase", true, &t->lowercase_))
    return bad(where, "normalizer.lowercase", "must be a boolean");
  const json::Value* sa = member(*norm, "strip_accents");
  if (sa != nullptr && !sa->is_null()) {
    if (!sa->is_bool()) return bad(where, "normalizer.strip_accents", "must be a boolean or null");
    strip_given = true;
    t->strip_accents_ = sa->boolean();
  }
  if (!strip_given) t->strip_accents_ = t->lowercase_;  // null: "the same as lowercase"

  // pre_tokenizer: BertPreTokenizer
  const json::Value* pre = member(v, "pre_tokenizer");
  const json::Value* pt = pre ? member(*pre, "type") : nullptr;
  if (pt == nullptr || !pt->is_string() || pt->str() != "BertPreTokenizer")
    return bad(where, "pre_tokenizer.type", "must be \"BertPreTokenizer\"");

  // added tokens: split out of the raw text before normalization
  if (const json::Value* added = member(v, "added_tokens"); added != nullptr && !added->is_null()) {
    if (!added->is_array()) return bad(where, "added_tokens", "must be a list");
    for (size_t i = 0; i < added->items().size(); ++i) {
      const json::Value& a = added->items()[i];
      const std::string f = "added_tokens[" + std::to_string(i) + "]";
      const json::Value* content = member(a, "content");
      int64_t id = 0;
      const json::Value* idv = member(a, "id");
      if (content == nullptr || !content->is_string() || content->str().empty())
        return bad(where, f + ".content", "must be a non-empty string");
      if (idv == nullptr || !idv->as_int(&id) || id < 0 || id > INT32_MAX)
        return bad(where, f + ".id", "must be an id");
      bool normalized = true, single_word = false, lstrip = false, rstrip = false;
      if (!get_bool(a, "normalized", true, &normalized) || !get_bool(a, "single_word", false, &single_word) ||
          !get_bool(a, "lstrip", false, &lstrip) || !get_bool(a, "rstrip", false, &rstrip))
        return bad(where, f, "flags must be booleans");
      if (single_word) return bad(where, f, "(\"" + content->str() + "\") must have single_word false on the device");
      if (!utf8::valid(content->str())) return bad(where, f + ".content", "must be valid UTF-8");
      Added ad;
      size_t k = 0;
      while (k < content->str().size()) ad.content.push_back(utf8::next(content->str().data(), &k));
      if (normalized) {  // matched as the normalizer leaves it, as tokenizers does
        std::u32string raw = std::move(ad.content);
        t->normalize(raw, &ad.content);
        if (ad.content.empty())
          return bad(where, f + ".content", "normalizes to nothing, so it cannot be matched (set normalized false)");
      }
      ad.id = static_cast<int32_t>(id);
      ad.normalized = normalized;
      ad.lstrip = lstrip;
      ad.rstrip = rstrip;
      t->added_.push_back(std::move(ad));
    }
  }

  // post_processor: the template
  const json::Value* post = member(v, "post_processor");
  const json::Value* ppt = post ? member(*post, "type") : nullptr;
  if (ppt == nullptr || !ppt->is_string()) return bad(where, "post_processor.type", "must be a string");
  auto special_id = [&](const std::string& tok, int32_t* id) {
    const int32_t found = t->vocab_.find(tok);
    if (found < 0) return false;
    *id = found;
    return true;
  };
  if (ppt->str() == "TemplateProcessing") {
    const json::Value* specials = member(*post, "special_tokens");
    for (const char* which : {"single", "pair"}) {
      const json::Value* tmpl = member(*post, which);
      if (tmpl == nullptr || !tmpl->is_array())
        return bad(where, std::string("post_processor.") + which, "must be a list");
      std::vector<Piece>& out = std::string(which) == "single" ? t->single_ : t->pair_;
      for (size_t i = 0; i < tmpl->items().size(); ++i) {
        const json::Value& e = tmpl->items()[i];
        const std::string f = std::string("post_processor.") + which + "[" + std::to_string(i) + "]";
        Piece pc;
        int64_t type_id = 0;
        if (const json::Value* seq = member(e, "Sequence"); seq != nullptr) {
          const json::Value* id = member(*seq, "id");
          if (id == nullptr || !id->is_string() || (id->str() != "A" && id->str() != "B"))
            return bad(where, f + ".Sequence.id", "must be \"A\" or \"B\"");
          pc.sequence = true;
          pc.which = id->str() == "A" ? 0 : 1;
          const json::Value* ty = member(*seq, "type_id");
          if (ty == nullptr || !ty->as_int(&type_id) || type_id < 0 || type_id > 255)
            return bad(where, f + ".Sequence.type_id", "must be 0..255");
        } else if (const json::Value* sp = member(e, "SpecialToken"); sp != nullptr) {
          const json::Value* id = member(*sp, "id");
          const json::Value* ty = member(*sp, "type_id");
          if (id == nullptr || !id->is_string()) return bad(where, f + ".SpecialToken.id", "must be a string");
          if (ty == nullptr || !ty->as_int(&type_id) || type_id < 0 || type_id > 255)
            return bad(where, f + ".SpecialToken.type_id", "must be 0..255");
          const json::Value* rec = specials ? member(*specials, id->str().c_str()) : nullptr;
          const json::Value* ids = rec ? member(*rec, "ids") : nullptr;
          if (ids == nullptr || !ids->is_array() || ids->items().empty())
            return bad(where, "post_processor.special_tokens." + id->str() + ".ids", "must be a non-empty list");
          for (const json::Value& x : ids->items()) {
            int64_t n = 0;
            if (!x.as_int(&n) || n < 0 || n > INT32_MAX)
              return bad(where, "post_processor.special_tokens." + id->str() + ".ids", "must hold ids");
            pc.ids.push_back(static_cast<int32_t>(n));
          }
        } else {
          return bad(where, f, "must be a Sequence or a SpecialToken");
        }
        pc.type_id = static_cast<int>(type_id);
        out.push_back(pc);
      }
    }
  } else if (ppt->str() == "BertProcessing" || ppt->str() == "RobertaProcessing") {
    // [CLS] A [SEP] / [CLS] A [SEP] B [SEP] (type ids 0.. then 1..); RoBERTa: <s> A </s></s> B </s>, all type 0.
    const bool roberta = ppt->str() == "RobertaProcessing";
    int32_t ids[2] = {0, 0};
    const char* names[2] = {"cls", "sep"};
    for (int k = 0; k < 2; ++k) {
      const json::Value* pair = member(*post, names[k]);
      int64_t n = 0;
      if (pair == nullptr || !pair->is_array() || pair->items().size() != 2 || !pair->items()[1].as_int(&n) || n < 0 ||
          n > INT32_MAX)
        return bad(where, std::string("post_processor.") + names[k], "must be [token, id]");
      ids[k] = static_cast<int32_t>(n);
    }
    auto sp = [](int32_t id, int ty) {
      Piece p;
      p.ids = {id};
      p.type_id = ty;
      return p;
    };
    auto sq = [](int which, int ty) {
      Piece p;
      p.sequence = true;
      p.which = which;
      p.type_id = ty;
      return p;
    };
    t->single_ = {sp(ids[0], 0), sq(0, 0), sp(ids[1], 0)};
    if (roberta)
      t->pair_ = {sp(ids[0], 0), sq(0, 0), sp(ids[1], 0), sp(ids[1], 0), sq(1, 0), sp(ids[1], 0)};
    else
      t->pair_ = {sp(ids[0], 0), sq(0, 0), sp(ids[1], 0), sq(1, 1), sp(ids[1], 1)};
  } else {
    return bad(where, "post_processor.type", "must be TemplateProcessing, BertProcessing or RobertaProcessing");
  }
  int32_t pad = 0;
  for (const char* p : {"[PAD]", "<pad>"})
    if (special_id(p, &pad)) {
      t->pad_id_ = pad;
      break;
    }
  return t;
}

void Tokenizer::normalize(const std::u32string& in, std::u32string* out) const {
  std::u32string a;
  a.reserve(in.size());
  for (char32_t c : in) {
    if (clean_text_) {
      if (in_ranges(unicode::kCleanDelete, unicode::kCleanDeleteSize, c)) continue;
      if (in_ranges(unicode::kCleanSpace, unicode::kCleanSpaceSize, c)) c = U' ';
    }
    if (chinese_ && in_ranges(unicode::kChinese, unicode::kChineseSize, c)) {
      a.push_back(U' ');
      a.push_back(c);
      a.push_back(U' ');
    } else {
      a.push_back(c);
    }
  }
  if (strip_accents_) {
    std::u32string d;
    d.reserve(a.size());
    for (char32_t c : a) nfd(c, &d);
    reorder(&d);
    a.clear();
    for (char32_t c : d)
      if (!in_ranges(unicode::kMn, unicode::kMnSize, c)) a.push_back(c);
  }
  out->clear();
  out->reserve(a.size());
  for (char32_t c : a) {
    const unicode::Mapping* m = lowercase_ ? find_map(unicode::kLower, unicode::kLowerSize, c) : nullptr;
    if (m)
      out->append(reinterpret_cast<const char32_t*>(unicode::kMapData + m->offset), m->size);
    else
      out->push_back(c);
  }
}

void Tokenizer::words(const std::u32string& norm, std::vector<std::u32string>* out) const {
  std::u32string cur;
  for (char32_t c : norm) {
    if (in_ranges(unicode::kPretokSpace, unicode::kPretokSpaceSize, c)) {
      if (!cur.empty()) out->push_back(std::move(cur));
      cur.clear();
    } else if (in_ranges(unicode::kPretokPunct, unicode::kPretokPunctSize, c)) {
      if (!cur.empty()) out->push_back(std::move(cur));
      cur.clear();
      out->push_back(std::u32string(1, c));
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out->push_back(std::move(cur));
}

// Greedy longest-match-first; a word with no full cover, or longer than
// max_input_chars_per_word characters, is one unknown token.
void Tokenizer::wordpiece(const std::u32string& word, std::vector<int32_t>* ids) const {
  if (word.size() > max_chars_) {
    ids->push_back(unk_id_);
    return;
  }
  std::string bytes;  // the word in UTF-8, and where each character starts in it
  std::vector<size_t> at;
  at.reserve(word.size() + 1);
  for (char32_t c : word) {
    at.push_back(bytes.size());
    utf8::append(&bytes, c);
  }
  at.push_back(bytes.size());
  std::vector<int32_t> pieces;
  std::string cand;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      std::string_view sub(bytes.data() + at[start], at[end] - at[start]);
      if (start > 0) {
        cand.assign(prefix_).append(sub);
        sub = cand;
      }
      found = vocab_.find(sub);
      if (found >= 0) break;
      --end;
    }
    if (found < 0) {
      ids->push_back(unk_id_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids->insert(ids->end(), pieces.begin(), pieces.end());
}

// Leftmost match, the longest at that position, as tokenizers' leftmost-longest
// Aho-Corasick; lstrip/rstrip absorb the whitespace beside a match, and the search resumes
// at the match's own end (as tokenizers' find_iter does). gap(b, e) gets the text between.
template <typename Gap>
void Tokenizer::split_added(const std::u32string& text, bool normalized, std::vector<int32_t>* ids, Gap gap) const {
  auto space = [](char32_t c) { return in_ranges(unicode::kPretokSpace, unicode::kPretokSpaceSize, c); };
  size_t done = 0;  // end of the last match, its stripped whitespace included
  size_t i = 0;
  while (i < text.size()) {
    const Added* hit = nullptr;
    for (const Added& a : added_) {
      if (a.normalized == normalized && a.content.size() <= text.size() - i &&
          text.compare(i, a.content.size(), a.content) == 0 &&
          (hit == nullptr || a.content.size() > hit->content.size()))
        hit = &a;
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (b > done && space(text[b - 1])) --b;
    b = std::max(b, done);
    if (hit->rstrip)
      while (e < text.size() && space(text[e])) ++e;
    gap(done, b);
    ids->push_back(hit->id);
    done = e;
    i += hit->content.size();
  }
  gap(done, text.size());
}

// Added tokens with normalized: false are cut out of the raw text first; each gap between
// them is normalized, the normalized: true tokens are cut out of that, and each piece left
// is pre-tokenized and run through WordPiece on its own, as tokenizers does.
void Tokenizer::sequence(const std::u32string& text, std::vector<int32_t>* ids) const {
  auto piece = [&](const std::u32string& norm, size_t b, size_t e) {
    if (b >= e) return;
    std::vector<std::u32string> ws;
    words(norm.substr(b, e - b), &ws);
    for (const auto& w : ws) wordpiece(w, ids);
  };
  split_added(text, false, ids, [&](size_t b, size_t e) {
    if (b >= e) return;
    std::u32string norm;
    normalize(text.substr(b, e - b), &norm);
    split_added(norm, true, ids, [&](size_t nb, size_t ne) { piece(norm, nb, ne); });
  });
}

size_t Tokenizer::added_count(bool pair) const {
  size_t n = 0;
  for (const Piece& p : pair ? pair_ : single_)
    if (!p.sequence) n += p.ids.size();
  return n;
}

Status Tokenizer::encode(std::string_view text, const std::string_view* pair, int max_len, Encoding* out) const {
  std::u32string u[2];
  const std::string_view* in_[2] = {&text, pair};
  for (int k = 0; k < (pair ? 2 : 1); ++k) {
    const std::string_view s = *in_[k];
    const size_t bad_at = utf8::first_invalid(s.data(), s.size());
    if (bad_at != s.size())
      return fail(Error::kInvalidUtf8,
                  std::string(k == 0 ? "text" : "pair") + " is not valid UTF-8 (byte " + std::to_string(bad_at) + ")",
                  "pass UTF-8 text");
    size_t i = 0;
    while (i < s.size()) u[k].push_back(utf8::next(s.data(), &i));
  }
  std::vector<int32_t> seq[2];
  for (int k = 0; k < (pair ? 2 : 1); ++k) sequence(u[k], &seq[k]);

  // Truncation, as tokenizers' LongestFirst with stride 0 (right side): the room left
  // after the template's special tokens, in size_t arithmetic like the original (a
  // max_len below the special-token count wraps around and truncates nothing).
  const size_t room = static_cast<size_t>(max_len) - added_count(pair != nullptr);
  const size_t a = seq[0].size(), b = seq[1].size();
  if (room == 0) {
    seq[0].clear();
    seq[1].clear();
  } else if (a + b > room) {
    if (pair == nullptr) {
      seq[0].resize(room);
    } else {
      const bool swap = a > b;
      size_t n1 = std::min(a, b), n2 = std::max(a, b);
      n2 = n1 > room ? n1 : std::max(n1, room - n1);
      if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
      }
      if (swap) std::swap(n1, n2);
      seq[0].resize(std::min(a, n1));
      seq[1].resize(std::min(b, n2));
    }
  }

  out->ids.clear();
  out->type_ids.clear();
  for (const Piece& p : pair ? pair_ : single_) {
    const std::vector<int32_t>& ids = p.sequence ? seq[p.which] : p.ids;
    out->ids.insert(out->ids.end(), ids.begin(), ids.end());
    out->type_ids.insert(out->type_ids.end(), ids.size(), p.type_id);
  }
  return Status::Ok();
}

uint64_t Vocab::hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

void Vocab::add(std::string_view token, int32_t id) {
  recs_.push_back({static_cast<uint32_t>(blob_.size()), static_cast<uint32_t>(token.size()), id});
  blob_.append(token);
}

void Vocab::build() {
  size_t n = 16;
  while (n < 2 * recs_.size()) n *= 2;  // load factor <= 1/2
  slots_.assign(n, 0);
  for (uint32_t i = 0; i < recs_.size(); ++i) {
    size_t j = hash(std::string_view(blob_.data() + recs_[i].offset, recs_[i].size)) & (n - 1);
    while (slots_[j] != 0) j = (j + 1) & (n - 1);
    slots_[j] = i + 1;
  }
  blob_.shrink_to_fit();
  recs_.shrink_to_fit();
}

int32_t Vocab::find(std::string_view token) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t j = hash(token) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    const Rec& r = recs_[slots_[j] - 1];
    if (r.size == token.size() && std::memcmp(blob_.data() + r.offset, token.data(), r.size) == 0) return r.id;
  }
  return -1;
}

}  // namespace wrx
