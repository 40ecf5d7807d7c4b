#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "crc32.h"
#include "decode.h"

namespace wrx {
namespace {

using fmt::Role;

// Program weight inputs, in order, and how each shard tensor lands in them.
enum class Block { kRows, kCols, kVec, kShared };
struct Slot {
  Role role;
  Block block;
};
constexpr Slot kSlots[16] = {
    {Role::kQW, Block::kRows},   {Role::kQB, Block::kVec},     {Role::kKW, Block::kRows},
    {Role::kKB, Block::kVec},    {Role::kVW, Block::kRows},    {Role::kVB, Block::kVec},
    {Role::kOW, Block::kCols},   {Role::kOB, Block::kShared},  {Role::kLn1G, Block::kShared},
    {Role::kLn1B, Block::kShared}, {Role::kFfn1W, Block::kRows}, {Role::kFfn1B, Block::kVec},
    {Role::kFfn2W, Block::kCols}, {Role::kFfn2B, Block::kShared}, {Role::kLn2G, Block::kShared},
    {Role::kLn2B, Block::kShared},
};

bool is_attn(Role r) {
  return r == Role::kQW || r == Role::kQB || r == Role::kKW || r == Role::kKB || r == Role::kVW || r == Role::kVB ||
         r == Role::kOW;
}

constexpr size_t kSlotAlign = 64;  // floats per slot are padded to 64-byte boundaries

}  // namespace

Result<std::unique_ptr<Model>> Model::create(Package* pkg, bool word_table_resident) {
  std::unique_ptr<Model> m(new Model());
  m->pkg_ = pkg;
  m->seq_ = pkg->max_seq_len;
  auto prog = LayerProgram::load(pkg->layer_program, m->seq_, pkg->geom.hidden);
  if (!prog.ok()) return prog.status();
  m->program_ = prog.take();
  WRX_TRY(m->load_resident());
  if (word_table_resident) {
    const Entry* e = pkg->store->find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
    WRX_TRY(pkg->store->read_run(*e, *e, m->word_table_));
    WRX_TRY(pkg->store->verify(*e, m->word_table_.data()));
    m->word_ = reinterpret_cast<const float*>(m->word_table_.data() + pkg->store->tensor(*e, Role::kWordEmb)->offset);
  }
  m->tmp_.resize(static_cast<size_t>(m->seq_) * pkg->geom.hidden);
  return m;
}

Status Model::load_resident() {
  Store& st = *pkg_->store;
  const Geometry& g = pkg_->geom;
  auto load = [&](fmt::EntryKind kind, AlignedBuffer& buf, const Entry** out) -> Status {
    const Entry* e = st.find(kind, -1, -1, 32);
    WRX_TRY(st.read_run(*e, *e, buf));
    WRX_TRY(st.verify(*e, buf.data()));
    *out = e;
    return Status::Ok();
  };
  auto tensor = [&](const Entry& e, const AlignedBuffer& buf, Role role, uint32_t rows, uint32_t cols,
                    const float** out) -> Status {
    const fmt::TensorRec* t = st.tensor(e, role);
    if (t == nullptr || t->encoding != uint8_t(fmt::Encoding::kF32) || t->rows != rows || t->cols != cols)
      return fail(Error::kBadCounts, "store " + st.path() + ": " + st.describe(e) + " lacks a " + std::to_string(rows) + "x" +
                                         std::to_string(cols) + " fp32 tensor of role " + std::to_string(int(role)),
                  "re-package: wrx package MODEL_DIR --task TASK -o OUT");
    *out = reinterpret_cast<const float*>(buf.data() + t->offset);
    return Status::Ok();
  };
  const Entry *es = nullptr, *eh = nullptr, *ec = nullptr;
  const uint32_t H = g.hidden;
  WRX_TRY(load(fmt::EntryKind::kEmbedShared, emb_shared_, &es));
  WRX_TRY(tensor(*es, emb_shared_, Role::kPosEmb, seq_, H, &pos_));
  WRX_TRY(tensor(*es, emb_shared_, Role::kTypeEmb, g.type_vocab, H, &type_));
  WRX_TRY(tensor(*es, emb_shared_, Role::kEmbLnG, 1, H, &emb_g_));
  WRX_TRY(tensor(*es, emb_shared_, Role::kEmbLnB, 1, H, &emb_b_));
  WRX_TRY(load(fmt::EntryKind::kHead, head_, &eh));
  WRX_TRY(tensor(*eh, head_, Role::kPoolerW, H, H, &pool_w_));
  WRX_TRY(tensor(*eh, head_, Role::kPoolerB, 1, H, &pool_b_));
  WRX_TRY(tensor(*eh, head_, Role::kClsW, g.num_labels, H, &cls_w_));
  WRX_TRY(tensor(*eh, head_, Role::kClsB, 1, g.num_labels, &cls_b_));
  WRX_TRY(load(fmt::EntryKind::kEmbedWordCrc, row_crc_, &ec));
  const fmt::TensorRec* t = st.tensor(*ec, Role::kWordEmbRowCrc);
  if (t == nullptr || t->encoding != uint8_t(fmt::Encoding::kU32) || uint64_t{t->rows} * t->cols != uint64_t(g.vocab))
    return fail(Error::kBadCounts, "store " + st.path() + ": embed_word_crc has no row CRC table of " + std::to_string(g.vocab) + " entries");
  crc_ = reinterpret_cast<const uint32_t*>(row_crc_.data() + t->offset);
  const Entry* ew = st.find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
  const fmt::TensorRec* tw = st.tensor(*ew, Role::kWordEmb);
  if (tw == nullptr || tw->encoding != uint8_t(fmt::Encoding::kF32) || tw->rows != uint32_t(g.vocab) || tw->cols != H)
    return fail(Error::kBadCounts, "store " + st.path() + ": embed_word has no fp32 vocab x hidden table");
  return Status::Ok();
}

Status Model::read_layer(const LayerPlan& lp, RawLayer* raw) {
  Store& st = *pkg_->store;
  raw->entries.clear();
  raw->payloads.clear();
  raw->bytes_read = 0;
  raw->requests = 0;
  raw->entries.push_back(st.find(fmt::EntryKind::kLayerShared, lp.layer, -1, 32));
  for (size_t i = 0; i < lp.shards.size(); ++i)
    raw->entries.push_back(st.find(fmt::EntryKind::kLayerShard, lp.layer, lp.shards[i], lp.bits[i]));
  for (const Entry* e : raw->entries)
    if (e == nullptr) return fail(Error::kBadPlan, "plan names an entry the store lacks (validate the plan first)");
  // Group entries adjacent in the file into runs, each fetched with one request.
  std::vector<size_t> order(raw->entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const Entry* base = st.entries().data();
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return raw->entries[a] < raw->entries[b]; });
  raw->payloads.assign(raw->entries.size(), nullptr);
  size_t run_count = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && raw->entries[order[j + 1]] - base == raw->entries[order[j]] - base + 1) ++j;
    const Entry& first = *raw->entries[order[i]];
    const Entry& last = *raw->entries[order[j]];
    if (raw->runs.size() <= run_count) raw->runs.emplace_back();
    AlignedBuffer& buf = raw->runs[run_count++];
    WRX_TRY(st.read_run(first, last, buf));
    raw->bytes_read += align_up(last.offset + last.length - first.offset, kIoAlign);
    raw->requests += 1;
    for (size_t k = i; k <= j; ++k) raw->payloads[order[k]] = buf.data() + (raw->entries[order[k]]->offset - first.offset);
    i = j + 1;
  }
  return Status::Ok();
}

Status Model::decode_layer(const LayerPlan& lp, const RawLayer& raw, LayerWeights* w) const {
  const Store& st = *pkg_->store;
  const Geometry& g = pkg_->geom;
  const int k = static_cast<int>(lp.shards.size());
  const size_t H = g.hidden, A = size_t(k) * pkg_->shard.attn_width(), F = size_t(k) * pkg_->shard.ffn_per_shard;
  const size_t a1 = pkg_->shard.attn_width(), f1 = pkg_->shard.ffn_per_shard;
  // Slot sizes in floats.
  size_t sizes[16];
  for (int s = 0; s < 16; ++s) {
    const Slot& sl = kSlots[s];
    const size_t width = is_attn(sl.role) ? A : F;
    sizes[s] = sl.block == Block::kShared ? H : sl.block == Block::kVec ? width : width * H;
  }
  size_t offs[16], total = 0;
  for (int s = 0; s < 16; ++s) {
    offs[s] = total;
    total += align_up(sizes[s] * sizeof(float), kSlotAlign);
  }
  WRX_TRY(w->buf.reserve(total));
  float* slot[16];
  for (int s = 0; s < 16; ++s) {
    slot[s] = reinterpret_cast<float*>(w->buf.data() + offs[s]);
    w->ptr[s] = slot[s];
  }
  w->layer = lp.layer;
  w->k = k;

  for (size_t e = 0; e < raw.entries.size(); ++e) {
    const Entry& en = *raw.entries[e];
    const uint8_t* p = raw.payloads[e];
    WRX_TRY(st.verify(en, p));
    const int pos = static_cast<int>(e) - 1;  // shard position in plan order; -1 = shared
    for (int s = 0; s < 16; ++s) {
      const Slot& sl = kSlots[s];
      if ((sl.block == Block::kShared) != (pos < 0)) continue;
      const fmt::TensorRec* t = st.tensor(en, sl.role);
      const std::string where = st.describe(en);
      if (t == nullptr) return fail(Error::kBadCounts, "store " + st.path() + ": " + where + " lacks tensor role " + std::to_string(int(sl.role)));
      const size_t w1 = is_attn(sl.role) ? a1 : f1;
      size_t rows = 0, cols = 0, stride = 0;
      float* dst = nullptr;
      switch (sl.block) {
        case Block::kShared: rows = 1; cols = H; stride = H; dst = slot[s]; break;
        case Block::kVec: rows = 1; cols = w1; stride = w1; dst = slot[s] + pos * w1; break;
        case Block::kRows: rows = w1; cols = H; stride = H; dst = slot[s] + pos * w1 * H; break;
        case Block::kCols: rows = H; cols = w1; stride = size_t(k) * w1; dst = slot[s] + pos * w1; break;
      }
      if (t->rows != rows || t->cols != cols)
        return fail(Error::kBadCounts, "store " + st.path() + ": " + where + " tensor role " + std::to_string(int(sl.role)) +
                                           " is " + std::to_string(t->rows) + "x" + std::to_string(t->cols) + ", expected " +
                                           std::to_string(rows) + "x" + std::to_string(cols));
      const uint8_t* tp = p + t->offset;
      if (t->encoding == uint8_t(fmt::Encoding::kF32)) {
        copy_f32(reinterpret_cast<const float*>(tp), t->rows, t->cols, dst, stride);
      } else if (t->encoding == uint8_t(fmt::Encoding::kCodebook)) {
        CodebookView v;
        v.bits = t->bits;
        v.rows = t->rows;
        v.cols = t->cols;
        v.n_outliers = t->n_outliers;
        v.codebook = reinterpret_cast<const float*>(tp);
        v.outlier_idx = reinterpret_cast<const uint32_t*>(tp + (size_t{4} << t->bits));
        v.outlier_val = reinterpret_cast<const float*>(tp + (size_t{4} << t->bits) + 4 * size_t{t->n_outliers});
        v.codes = tp + (size_t{4} << t->bits) + 8 * size_t{t->n_outliers};
        Status ds = decode_codebook(v, dst, stride);
        if (!ds.ok()) return fail(ds.code, "store " + st.path() + ": " + where + ": " + ds.message);
      } else {
        return fail(Error::kUnknownEnum, "store " + st.path() + ": " + where + ": unexpected encoding");
      }
    }
  }
  return Status::Ok();
}

Status Model::embed(const int32_t* ids, const int32_t* types, float* x) {
  Store& st = *pkg_->store;
  const int H = pkg_->geom.hidden;
  const size_t row_bytes = size_t(H) * sizeof(float);
  std::vector<int32_t> rows(ids, ids + seq_);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<const float*> row_ptr(rows.size());
  if (word_ != nullptr) {
    for (size_t i = 0; i < rows.size(); ++i) row_ptr[i] = word_ + size_t(rows[i]) * H;
  } else {
    // Read only the blocks holding these rows, coalescing rows whose blocks touch.
    const Entry* e = st.find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
    const uint64_t base = e->offset + st.tensor(*e, fmt::Role::kWordEmb)->offset;
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // aligned [start, end)
    for (int32_t r : rows) {
      const uint64_t s = (base + uint64_t(r) * row_bytes) / kIoAlign * kIoAlign;
      const uint64_t t = align_up(base + uint64_t(r + 1) * row_bytes, kIoAlign);
      if (!spans.empty() && s <= spans.back().second) spans.back().second = std::max(spans.back().second, t);
      else spans.emplace_back(s, t);
    }
    uint64_t total = 0;
    for (auto& sp : spans) total += sp.second - sp.first;
    WRX_TRY(scratch_.reserve(total));
    std::vector<uint64_t> at(spans.size());
    uint64_t off = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      WRX_TRY(st.file().read(spans[i].first, spans[i].second - spans[i].first, scratch_.data() + off));
      at[i] = off;
      off += spans[i].second - spans[i].first;
    }
    embed_bytes_read_ += total;
    size_t sp = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t pos = base + uint64_t(rows[i]) * row_bytes;
      while (pos >= spans[sp].second) ++sp;
      const uint8_t* p = scratch_.data() + at[sp] + (pos - spans[sp].first);
      if (crc32(p, row_bytes) != crc_[rows[i]])
        return fail(Error::kEntryChecksum, "store " + st.path() + ": crc32: checksum mismatch in word-embedding row " + std::to_string(rows[i]),
                    "re-create it with: wrx package MODEL_DIR --task TASK -o OUT");
      row_ptr[i] = reinterpret_cast<const float*>(p);
    }
  }
  const float eps = static_cast<float>(pkg_->geom.ln_eps);
  for (int t = 0; t < seq_; ++t) {
    const size_t ri = std::lower_bound(rows.begin(), rows.end(), ids[t]) - rows.begin();
    const float* w = row_ptr[ri];
    const float* p = pos_ + size_t(t) * H;
    const float* ty = type_ + size_t(types[t]) * H;
    float* o = x + size_t(t) * H;
    double mean = 0;
    for (int h = 0; h < H; ++h) {
      o[h] = w[h] + p[h] + ty[h];
      mean += o[h];
    }
    mean /= H;
    double var = 0;
    for (int h = 0; h < H; ++h) var += (o[h] - mean) * (o[h] - mean);
    var /= H;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float mu = static_cast<float>(mean);
    for (int h = 0; h < H; ++h) o[h] = (o[h] - mu) * inv * emb_g_[h] + emb_b_[h];
  }
  return Status::Ok();
}

Status Model::run_layer(const LayerWeights& w, const float* bias, float* x) {
  WRX_TRY(program_->run(x, bias, w.ptr, w.k, pkg_->shard.attn_width(), pkg_->shard.ffn_per_shard, tmp_.data()));
  std::memcpy(x, tmp_.data(), tmp_.size() * sizeof(float));
  return Status::Ok();
}

void Model::head(const float* x, float* logits) const {
  const int H = pkg_->geom.hidden, C = pkg_->geom.num_labels;
  std::vector<float> pooled(H);
  for (int i = 0; i < H; ++i) {
    float acc = 0;
    const float* row = pool_w_ + size_t(i) * H;
    for (int j = 0; j < H; ++j) acc += row[j] * x[j];  // [CLS] is token 0
    pooled[i] = std::tanh(acc + pool_b_[i]);
  }
  for (int c = 0; c < C; ++c) {
    double acc = cls_b_[c];
    const float* row = cls_w_ + size_t(c) * H;
    for (int j = 0; j < H; ++j) acc += double(row[j]) * pooled[j];
    logits[c] = static_cast<float>(acc);
  }
}

}  // namespace wrx
