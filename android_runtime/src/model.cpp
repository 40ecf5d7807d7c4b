#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "crc32.h"
#include "decode.h"

namespace wrx {
namespace {

using fmt::Role;
const char* kRepackage = "re-create it with: wrx package MODEL_DIR --task TASK -o OUT";
constexpr size_t kSlotAlign = 64;

// Lays out n float slots of the given sizes in one aligned buffer.
Status layout(AlignedBuffer* buf, const size_t* sizes, int n, float** slots) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += align_up(sizes[i] * sizeof(float), kSlotAlign);
  WRX_TRY(buf->reserve(total));
  size_t off = 0;
  for (int i = 0; i < n; ++i) {
    slots[i] = reinterpret_cast<float*>(buf->data() + off);
    off += align_up(sizes[i] * sizeof(float), kSlotAlign);
  }
  return Status::Ok();
}

void layer_norm(const float* in, const float* g, const float* b, float eps, int H, float* out) {
  double mean = 0;
  for (int h = 0; h < H; ++h) mean += in[h];
  mean /= H;
  double var = 0;
  for (int h = 0; h < H; ++h) var += (in[h] - mean) * (in[h] - mean);
  var /= H;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
  const float mu = static_cast<float>(mean);
  for (int h = 0; h < H; ++h) out[h] = (in[h] - mu) * inv * g[h] + b[h];
}

}  // namespace

AlignedBuffer BufferPool::take(size_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  // Best fit among free buffers that are large enough.
  size_t best = free_.size();
  for (size_t i = 0; i < free_.size(); ++i)
    if (free_[i].capacity() >= bytes && (best == free_.size() || free_[i].capacity() < free_[best].capacity()))
      best = i;
  if (best == free_.size()) return AlignedBuffer();
  AlignedBuffer b = std::move(free_[best]);
  free_.erase(free_.begin() + static_cast<long>(best));
  return b;
}

void BufferPool::give(AlignedBuffer&& b) {
  if (b.capacity() == 0) return;
  std::lock_guard<std::mutex> g(mu_);
  free_.push_back(std::move(b));
}

void BufferPool::clear() {
  std::lock_guard<std::mutex> g(mu_);
  free_.clear();
}

void RawEntries::release(BufferPool* pool) {
  for (auto& r : runs) {
    if (pool != nullptr)
      pool->give(std::move(r));
    else
      r.release();
  }
  runs.clear();
  entries.clear();
  payloads.clear();
}

Result<std::unique_ptr<Model>> Model::create(Package* pkg, bool word_table_resident, int chunk_lanes,
                                             bool head_resident, bool layer_program, int head_bits) {
  std::unique_ptr<Model> m(new Model());
  m->pkg_ = pkg;
  m->seq_ = pkg->max_seq_len;
  m->head_bits_ = head_bits;
  if (m->head_entry() == nullptr)
    return fail(Error::kMissingEntry,
                "store " + pkg->store->path() + " has no head entry at " + std::to_string(head_bits) +
                    " bits (stores from before the 8-bit head have only the fp32 one)",
                "re-package the model (wrx package), or run the fp32 head (--head-bits 32)");
  if (layer_program) {
    auto layer = Program::load(pkg->layer_program, 18);
    if (!layer.ok()) return layer.status();
    m->layer_ = layer.take();
  }
  if (chunk_lanes > 0) {
    m->lanes_.resize(static_cast<size_t>(chunk_lanes));
    for (Lane& lane : m->lanes_) {
      // A lane's two chunk programs never run at once: they share one ProgramMemory.
      auto mem = ProgramMemory::for_programs({pkg->attn_program, pkg->ffn_program});
      if (!mem.ok()) return mem.status();
      lane.memory = mem.take();
      auto attn = Program::load(pkg->attn_program, 9, lane.memory.get());
      if (!attn.ok()) return attn.status();
      lane.attn = attn.take();
      auto ffn = Program::load(pkg->ffn_program, 4, lane.memory.get());
      if (!ffn.ok()) return ffn.status();
      lane.ffn = ffn.take();
    }
  }
  WRX_TRY(m->load_resident(head_resident));
  if (m->rel_ != nullptr) m->bias_scratch_.resize(m->lanes_.size() + 1);
  if (word_table_resident) {
    const Entry* e = pkg->store->find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
    WRX_TRY(pkg->store->read_run(*e, *e, m->word_table_));
    WRX_TRY(pkg->store->verify(*e, m->word_table_.data()));
    m->word_ = reinterpret_cast<const float*>(m->word_table_.data() + pkg->store->tensor(*e, Role::kWordEmb)->offset);
  }
  return m;
}

Status Model::set_seq(int seq) {
  if (seq < pkg_->min_seq_len || seq > pkg_->max_seq_len)
    return fail(Error::kInvalidArgument, "sequence length " + std::to_string(seq) + " is outside the programs' " +
                                             std::to_string(pkg_->min_seq_len) + ".." +
                                             std::to_string(pkg_->max_seq_len));
  seq_ = seq;
  return Status::Ok();
}

size_t Model::program_planned_bytes() const {
  return (layer_ ? layer_->planned_bytes() : 0) + (packed_memory_ ? packed_memory_->planned_bytes() : 0) +
         chunk_planned_bytes();
}

size_t Model::chunk_planned_bytes() const {
  size_t n = 0;
  for (const Lane& l : lanes_) n += l.memory->planned_bytes();
  return n;
}

const Entry* Model::head_entry() const {
  return pkg_->store->find(fmt::EntryKind::kHead, -1, -1, head_bits_);
}

Status Model::head_ptrs(const Entry& e, const uint8_t* payload, HeadPtrs* out) const {
  const Store& st = *pkg_->store;
  const uint32_t H = pkg_->geom.hidden, C = pkg_->geom.num_labels;
  const std::pair<fmt::Role, std::pair<uint32_t, uint32_t>> want[4] = {
      {Role::kPoolerW, {H, H}}, {Role::kPoolerB, {1, H}}, {Role::kClsW, {C, H}}, {Role::kClsB, {1, C}}};
  const float** dst[4] = {&out->pool_w, &out->pool_b, &out->cls_w, &out->cls_b};
  *out = HeadPtrs();
  for (int i = 0; i < 4; ++i) {
    const fmt::TensorRec* t = st.tensor(e, want[i].first);
    // Only the pooler matrix may be a codebook, and only at kHeadCodebookBits (whole-byte codes).
    const bool codes = i == 0 && e.bits == fmt::kHeadCodebookBits && t != nullptr &&
                       t->encoding == uint8_t(fmt::Encoding::kCodebook) && t->bits == fmt::kHeadCodebookBits;
    if (t == nullptr || (t->encoding != uint8_t(fmt::Encoding::kF32) && !codes) || t->rows != want[i].second.first ||
        t->cols != want[i].second.second)
      return fail(Error::kBadCounts,
                  "store " + st.path() + ": " + st.describe(e) + " lacks a " + std::to_string(want[i].second.first) +
                      "x" + std::to_string(want[i].second.second) + " tensor of role " +
                      std::to_string(int(want[i].first)) +
                      (i == 0 ? " (fp32, or 8-bit codebook in the 8-bit head)" : " (fp32)"),
                  kRepackage);
    const uint8_t* tp = payload + t->offset;
    if (!codes) {
      *dst[i] = reinterpret_cast<const float*>(tp);
      continue;
    }
    // The store reader checked the tensor's size against these counts; the indices are
    // data, so each is checked before the matvec trusts it.
    out->pool_cb = reinterpret_cast<const float*>(tp);
    out->out_idx = reinterpret_cast<const uint32_t*>(tp + (size_t{4} << t->bits));
    out->out_val = reinterpret_cast<const float*>(tp + (size_t{4} << t->bits) + 4 * size_t{t->n_outliers});
    out->pool_codes = tp + (size_t{4} << t->bits) + 8 * size_t{t->n_outliers};
    out->n_out = t->n_outliers;
    for (uint32_t k = 0; k < out->n_out; ++k)
      if (out->out_idx[k] >= uint64_t{H} * H)
        return fail(Error::kBadCounts,
                    "store " + st.path() + ": " + st.describe(e) + ": pooler outlier index " +
                        std::to_string(out->out_idx[k]) + " is outside the matrix",
                    kRepackage);
  }
  return Status::Ok();
}

Status Model::load_resident(bool head_resident) {
  Store& st = *pkg_->store;
  const Geometry& g = pkg_->geom;
  const uint32_t H = g.hidden;
  auto load = [&](fmt::EntryKind kind, AlignedBuffer& buf, const Entry** out, int bits = 32) -> Status {
    const Entry* e = st.find(kind, -1, -1, bits);
    WRX_TRY(st.read_run(*e, *e, buf));
    WRX_TRY(st.verify(*e, buf.data()));
    *out = e;
    return Status::Ok();
  };
  auto tensor = [&](const Entry& e, const uint8_t* base, Role role, uint32_t rows, uint32_t cols, const float** out) {
    const fmt::TensorRec* t = st.tensor(e, role);
    if (t == nullptr || t->encoding != uint8_t(fmt::Encoding::kF32) || t->rows != rows || t->cols != cols)
      return fail(Error::kBadCounts,
                  "store " + st.path() + ": " + st.describe(e) + " lacks a " + std::to_string(rows) + "x" +
                      std::to_string(cols) + " fp32 tensor of role " + std::to_string(int(role)),
                  kRepackage);
    *out = reinterpret_cast<const float*>(base + t->offset);
    return Status::Ok();
  };
  const Entry *es = nullptr, *eh = nullptr, *ec = nullptr;
  WRX_TRY(load(fmt::EntryKind::kEmbedShared, emb_shared_, &es));
  WRX_TRY(tensor(*es, emb_shared_.data(), Role::kPosEmb, pkg_->max_seq_len, H, &pos_));
  WRX_TRY(tensor(*es, emb_shared_.data(), Role::kTypeEmb, g.type_vocab, H, &type_));
  WRX_TRY(tensor(*es, emb_shared_.data(), Role::kEmbLnG, 1, H, &emb_g_));
  WRX_TRY(tensor(*es, emb_shared_.data(), Role::kEmbLnB, 1, H, &emb_b_));
  if (pkg_->relative_bias)
    WRX_TRY(tensor(*es, emb_shared_.data(), Role::kRelPosBias, g.heads, 2 * pkg_->max_seq_len - 1, &rel_));
  if (head_resident) {
    WRX_TRY(load(fmt::EntryKind::kHead, head_, &eh, head_bits_));  // create checked it exists
    WRX_TRY(head_ptrs(*eh, head_.data(), &head_res_));
  }
  WRX_TRY(load(fmt::EntryKind::kEmbedWordCrc, row_crc_, &ec));
  const fmt::TensorRec* t = st.tensor(*ec, Role::kWordEmbRowCrc);
  if (t == nullptr || t->encoding != uint8_t(fmt::Encoding::kU32) || uint64_t{t->rows} * t->cols != uint64_t(g.vocab))
    return fail(
        Error::kBadCounts,
        "store " + st.path() + ": embed_word_crc has no row CRC table of " + std::to_string(g.vocab) + " entries",
        kRepackage);
  crc_ = reinterpret_cast<const uint32_t*>(row_crc_.data() + t->offset);
  const Entry* ew = st.find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
  const fmt::TensorRec* tw = st.tensor(*ew, Role::kWordEmb);
  if (tw == nullptr || tw->encoding != uint8_t(fmt::Encoding::kF32) || tw->rows != uint32_t(g.vocab) || tw->cols != H)
    return fail(Error::kBadCounts, "store " + st.path() + ": embed_word has no fp32 vocab x hidden table", kRepackage);

  // Each layer's shared tensors, copied into one small resident block.
  constexpr Role kShared[6] = {Role::kOB, Role::kLn1G, Role::kLn1B, Role::kFfn2B, Role::kLn2G, Role::kLn2B};
  WRX_TRY(shared_.reserve(size_t(g.layers) * 6 * H * sizeof(float)));
  float* dst = reinterpret_cast<float*>(shared_.data());
  AlignedBuffer tmp;
  for (int l = 0; l < g.layers; ++l) {
    const Entry* e = st.find(fmt::EntryKind::kLayerShared, l, -1, 32);
    WRX_TRY(st.read_run(*e, *e, tmp));
    WRX_TRY(st.verify(*e, tmp.data()));
    for (int i = 0; i < 6; ++i) {
      const float* src = nullptr;
      WRX_TRY(tensor(*e, tmp.data(), kShared[i], 1, H, &src));
      std::memcpy(dst + (size_t(l) * 6 + i) * H, src, H * sizeof(float));
    }
  }
  for (int l = 0; l < g.layers; ++l) shared_ptr_.push_back(dst + size_t(l) * 6 * H);
  return Status::Ok();
}

std::vector<const Entry*> Model::shard_entries(const LayerPlan& lp, fmt::EntryKind kind) const {
  std::vector<const Entry*> out;
  for (size_t i = 0; i < lp.shards.size(); ++i)
    out.push_back(pkg_->store->find(kind, lp.layer, lp.shards[i], lp.bits[i]));
  return out;
}

Status Model::read_entries(const std::vector<const Entry*>& entries, RawEntries* out, BufferPool* pool) {
  Store& st = *pkg_->store;
  out->entries = entries;
  out->payloads.assign(entries.size(), nullptr);
  out->bytes = 0;
  out->requests = 0;
  for (const Entry* e : entries)
    if (e == nullptr) return fail(Error::kBadPlan, "plan names an entry the store lacks (validate the plan first)");
  // Group entries adjacent in the file into runs, each fetched with one request.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a] < entries[b]; });
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && entries[order[j + 1]] == entries[order[j]] + 1) ++j;
    const Entry& first = *entries[order[i]];
    const Entry& last = *entries[order[j]];
    const uint64_t len = align_up(last.offset + last.length - first.offset, kIoAlign);
    AlignedBuffer buf = pool != nullptr ? pool->take(len) : AlignedBuffer();
    WRX_TRY(buf.reserve(len));
    double ready = 0;
    WRX_TRY(st.file().read_start(first.offset, len, buf.data(), &ready));
    out->bytes += len;
    out->requests += 1;
    for (size_t k = i; k <= j; ++k) {
      const uint8_t* p = buf.data() + (entries[order[k]]->offset - first.offset);
      WRX_TRY(st.verify(*entries[order[k]], p));  // on the IO side, so compute never re-checks
      out->payloads[order[k]] = p;
    }
    BlockFile::wait_until(ready);
    out->runs.push_back(std::move(buf));
    i = j + 1;
  }
  return Status::Ok();
}

namespace {
// Aligned [start, end) block spans covering the rows, coalescing rows whose blocks touch.
std::vector<std::pair<uint64_t, uint64_t>> row_spans(const std::vector<int32_t>& rows, uint64_t base,
                                                     size_t row_bytes) {
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (int32_t r : rows) {
    const uint64_t s = (base + uint64_t(r) * row_bytes) / kIoAlign * kIoAlign;
    const uint64_t t = align_up(base + uint64_t(r + 1) * row_bytes, kIoAlign);
    if (!spans.empty() && s <= spans.back().second)
      spans.back().second = std::max(spans.back().second, t);
    else
      spans.emplace_back(s, t);
  }
  return spans;
}
std::vector<int32_t> unique_rows(const int32_t* ids, int n) {
  std::vector<int32_t> rows(ids, ids + n);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}
}  // namespace

uint64_t Model::word_rows_bytes(const int32_t* ids) const {
  if (word_ != nullptr) return 0;
  const Store& st = *pkg_->store;
  const Entry* e = st.find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
  const uint64_t base = e->offset + st.tensor(*e, fmt::Role::kWordEmb)->offset;
  uint64_t total = 0;
  for (auto& sp : row_spans(unique_rows(ids, seq_), base, size_t(pkg_->geom.hidden) * sizeof(float)))
    total += sp.second - sp.first;
  return total;
}

Status Model::read_word_rows(const int32_t* ids, WordRows* out) {
  Store& st = *pkg_->store;
  const int H = pkg_->geom.hidden;
  const size_t row_bytes = size_t(H) * sizeof(float);
  out->rows = unique_rows(ids, seq_);
  out->ptrs.assign(out->rows.size(), nullptr);
  out->bytes = 0;
  if (word_ != nullptr) {
    for (size_t i = 0; i < out->rows.size(); ++i) out->ptrs[i] = word_ + size_t(out->rows[i]) * H;
    return Status::Ok();
  }
  // Read only the blocks holding these rows, coalescing rows whose blocks touch.
  const Entry* e = st.find(fmt::EntryKind::kEmbedWord, -1, -1, 32);
  const uint64_t base = e->offset + st.tensor(*e, fmt::Role::kWordEmb)->offset;
  const std::vector<std::pair<uint64_t, uint64_t>> spans = row_spans(out->rows, base, row_bytes);
  uint64_t total = 0;
  for (auto& sp : spans) total += sp.second - sp.first;
  WRX_TRY(out->buf.reserve(total));
  std::vector<uint64_t> at(spans.size());
  uint64_t off = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    at[i] = off;
    off += spans[i].second - spans[i].first;
  }
  // Rows are random reads: issue them from a few threads at once, so their latencies
  // overlap the way queued requests do on flash.
  std::vector<double> ready(spans.size(), 0.0);
  WRX_TRY(readers_.run(spans.size(), [&](size_t i) {
    return st.file().read_start(spans[i].first, spans[i].second - spans[i].first, out->buf.data() + at[i], &ready[i]);
  }));
  BlockFile::wait_until(*std::max_element(ready.begin(), ready.end()));
  out->bytes = total;
  size_t sp = 0;
  for (size_t i = 0; i < out->rows.size(); ++i) {
    const uint64_t pos = base + uint64_t(out->rows[i]) * row_bytes;
    while (pos >= spans[sp].second) ++sp;
    const uint8_t* p = out->buf.data() + at[sp] + (pos - spans[sp].first);
    if (crc32(p, row_bytes) != crc_[out->rows[i]])
      return fail(
          Error::kEntryChecksum,
          "store " + st.path() + ": crc32: checksum mismatch in word-embedding row " + std::to_string(out->rows[i]),
          kRepackage);
    out->ptrs[i] = reinterpret_cast<const float*>(p);
  }
  return Status::Ok();
}

Status Model::decode_tensor(const Entry& e, const uint8_t* payload, Role role, uint32_t rows, uint32_t cols, float* dst,
                            size_t stride) const {
  const Store& st = *pkg_->store;
  const fmt::TensorRec* t = st.tensor(e, role);
  if (t == nullptr || t->rows != rows || t->cols != cols)
    return fail(Error::kBadCounts,
                "store " + st.path() + ": " + st.describe(e) + ": tensor role " + std::to_string(int(role)) +
                    " is missing or not " + std::to_string(rows) + "x" + std::to_string(cols),
                kRepackage);
  const uint8_t* tp = payload + t->offset;
  if (t->encoding == uint8_t(fmt::Encoding::kF32)) {
    copy_f32(reinterpret_cast<const float*>(tp), rows, cols, dst, stride);
    return Status::Ok();
  }
  if (t->encoding != uint8_t(fmt::Encoding::kCodebook))
    return fail(Error::kUnknownEnum, "store " + st.path() + ": " + st.describe(e) + ": unexpected encoding",
                kRepackage);
  CodebookView v;
  v.bits = t->bits;
  v.rows = rows;
  v.cols = cols;
  v.n_outliers = t->n_outliers;
  v.codebook = reinterpret_cast<const float*>(tp);
  v.outlier_idx = reinterpret_cast<const uint32_t*>(tp + (size_t{4} << t->bits));
  v.outlier_val = reinterpret_cast<const float*>(tp + (size_t{4} << t->bits) + 4 * size_t{t->n_outliers});
  v.codes = tp + (size_t{4} << t->bits) + 8 * size_t{t->n_outliers};
  Status s = decode_codebook(v, dst, stride);
  if (!s.ok()) return fail(s.code, "store " + st.path() + ": " + st.describe(e) + ": " + s.message, kRepackage);
  return Status::Ok();
}

// q_w q_b k_w k_b v_w v_b o_w for k shards, into 7 slots.
Status Model::decode_attn(const Entry* const* entries, const uint8_t* const* payloads, int k, Weights* w) const {
  const size_t H = pkg_->geom.hidden, a1 = pkg_->shard.attn_width(), A = a1 * k;
  const size_t sizes[7] = {A * H, A, A * H, A, A * H, A, H * A};
  float* s[7];
  WRX_TRY(layout(&w->buf, sizes, 7, s));
  for (int p = 0; p < k; ++p) {
    const Entry& e = *entries[p];
    const uint8_t* pl = payloads[p];
    WRX_TRY(decode_tensor(e, pl, Role::kQW, a1, H, s[0] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, pl, Role::kQB, 1, a1, s[1] + p * a1, a1));
    WRX_TRY(decode_tensor(e, pl, Role::kKW, a1, H, s[2] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, pl, Role::kKB, 1, a1, s[3] + p * a1, a1));
    WRX_TRY(decode_tensor(e, pl, Role::kVW, a1, H, s[4] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, pl, Role::kVB, 1, a1, s[5] + p * a1, a1));
    WRX_TRY(decode_tensor(e, pl, Role::kOW, H, a1, s[6] + p * a1, A));
  }
  for (int i = 0; i < 7; ++i) w->ptr[i] = s[i];
  w->k = k;
  w->shards.clear();
  for (int p = 0; p < k; ++p) w->shards.push_back(entries[p]->shard);
  return Status::Ok();
}

// ffn1_w ffn1_b ffn2_w for k shards, into 3 slots.
Status Model::decode_ffn(const Entry* const* entries, const uint8_t* const* payloads, int k, Weights* w) const {
  const size_t H = pkg_->geom.hidden, f1 = pkg_->shard.ffn_per_shard, F = f1 * k;
  const size_t sizes[3] = {F * H, F, H * F};
  float* s[3];
  WRX_TRY(layout(&w->buf, sizes, 3, s));
  for (int p = 0; p < k; ++p) {
    WRX_TRY(decode_tensor(*entries[p], payloads[p], Role::kFfn1W, f1, H, s[0] + p * f1 * H, H));
    WRX_TRY(decode_tensor(*entries[p], payloads[p], Role::kFfn1B, 1, f1, s[1] + p * f1, f1));
    WRX_TRY(decode_tensor(*entries[p], payloads[p], Role::kFfn2W, H, f1, s[2] + p * f1, F));
  }
  for (int i = 0; i < 3; ++i) w->ptr[i] = s[i];
  w->k = k;
  w->shards.clear();
  for (int p = 0; p < k; ++p) w->shards.push_back(entries[p]->shard);
  return Status::Ok();
}

// The 16 weight inputs of the layer program, for the plan's k shards.
Status Model::decode_layer(const LayerPlan& lp, const uint8_t* const* attn, const uint8_t* const* ffn,
                           Weights* w) const {
  const int k = static_cast<int>(lp.shards.size());
  const size_t H = pkg_->geom.hidden, A = size_t(pkg_->shard.attn_width()) * k,
               F = size_t(pkg_->shard.ffn_per_shard) * k;
  const size_t sizes[16] = {A * H, A, A * H, A, A * H, A, H * A, H, H, H, F * H, F, H * F, H, H, H};
  float* s[16];
  WRX_TRY(layout(&w->buf, sizes, 16, s));
  const std::vector<const Entry*> ea = shard_entries(lp, fmt::EntryKind::kAttnShard);
  const std::vector<const Entry*> ef = shard_entries(lp, fmt::EntryKind::kFfnShard);
  const size_t a1 = pkg_->shard.attn_width(), f1 = pkg_->shard.ffn_per_shard;
  for (int p = 0; p < k; ++p) {
    const Entry& e = *ea[p];
    WRX_TRY(decode_tensor(e, attn[p], Role::kQW, a1, H, s[0] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, attn[p], Role::kQB, 1, a1, s[1] + p * a1, a1));
    WRX_TRY(decode_tensor(e, attn[p], Role::kKW, a1, H, s[2] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, attn[p], Role::kKB, 1, a1, s[3] + p * a1, a1));
    WRX_TRY(decode_tensor(e, attn[p], Role::kVW, a1, H, s[4] + p * a1 * H, H));
    WRX_TRY(decode_tensor(e, attn[p], Role::kVB, 1, a1, s[5] + p * a1, a1));
    WRX_TRY(decode_tensor(e, attn[p], Role::kOW, H, a1, s[6] + p * a1, A));
    WRX_TRY(decode_tensor(*ef[p], ffn[p], Role::kFfn1W, f1, H, s[10] + p * f1 * H, H));
    WRX_TRY(decode_tensor(*ef[p], ffn[p], Role::kFfn1B, 1, f1, s[11] + p * f1, f1));
    WRX_TRY(decode_tensor(*ef[p], ffn[p], Role::kFfn2W, H, f1, s[12] + p * f1, F));
  }
  const float* sh = shared_ptr_[lp.layer];  // o_b ln1_g ln1_b ffn2_b ln2_g ln2_b
  const int dst[6] = {7, 8, 9, 13, 14, 15};
  for (int i = 0; i < 6; ++i) std::memcpy(s[dst[i]], sh + size_t(i) * H, H * sizeof(float));
  for (int i = 0; i < 16; ++i) w->ptr[i] = s[i];
  w->k = k;
  w->shards = lp.shards;
  return Status::Ok();
}

Status Model::embed(const int32_t* ids, const int32_t* types, const WordRows& rows, float* x) const {
  const int H = pkg_->geom.hidden;
  const float eps = static_cast<float>(pkg_->geom.ln_eps);
  std::vector<float> sum(H);
  for (int t = 0; t < seq_; ++t) {
    const size_t ri = std::lower_bound(rows.rows.begin(), rows.rows.end(), ids[t]) - rows.rows.begin();
    if (ri >= rows.rows.size() || rows.rows[ri] != ids[t])
      return fail(Error::kRuntime, "embed: token row was not read");
    const float* w = rows.ptrs[ri];
    const float* p = pos_ + size_t(t) * H;
    const float* ty = type_ + size_t(types[t]) * H;
    for (int h = 0; h < H; ++h) sum[h] = w[h] + p[h] + ty[h];
    layer_norm(sum.data(), emb_g_, emb_b_, eps, H, x + size_t(t) * H);
  }
  return Status::Ok();
}

Status Model::run_layer(const Weights& w, const float* bias, float* x) {
  const int S = seq_, H = pkg_->geom.hidden;
  const int A = w.k * pkg_->shard.attn_width(), F = w.k * pkg_->shard.ffn_per_shard;
  const float* const* p = w.ptr;
  const size_t n = size_t(S) * H;
  const float* o = nullptr;
  if (layer_ == nullptr) return fail(Error::kRuntime, "run_layer: the whole-layer program was not loaded");
  const CallBias b = call_bias(w.shards, bias, lanes_.size());
  WRX_TRY(layer_->run({{x, {1, S, H}},
                       {b.data, {b.heads, b.rows, S}},
                       {p[0], {A, H}},
                       {p[1], {A}},
                       {p[2], {A, H}},
                       {p[3], {A}},
                       {p[4], {A, H}},
                       {p[5], {A}},
                       {p[6], {H, A}},
                       {p[7], {H}},
                       {p[8], {H}},
                       {p[9], {H}},
                       {p[10], {F, H}},
                       {p[11], {F}},
                       {p[12], {H, F}},
                       {p[13], {H}},
                       {p[14], {H}},
                       {p[15], {H}}},
                      &o, n));
  std::memcpy(x, o, n * sizeof(float));
  return Status::Ok();
}

bool Model::can_pack(const LayerPlan& lp) const {
  return !pkg_->layer_packed_program.empty() && int(lp.shards.size()) == pkg_->shard.shards_per_layer;
}

Status Model::pack_layer(const Weights& w) {
  const int H = pkg_->geom.hidden, A = w.k * pkg_->shard.attn_width(), F = w.k * pkg_->shard.ffn_per_shard;
  if (w.k != pkg_->shard.shards_per_layer || pkg_->layer_packed_program.empty())
    return fail(Error::kRuntime,
                "pack_layer: the layer does not run every shard, or the package has no packed program");
  const std::vector<int32_t> sizes[16] = {{A, H}, {A}, {A, H}, {A}, {A, H}, {A}, {H, A}, {H},
                                          {H},    {H}, {F, H}, {F}, {H, F}, {H}, {H},    {H}};
  // The 1-D tensors are copied: XNNPACK and ExecuTorch read them at every call. The matrices
  // are packed at load and never read again (a test reuses one buffer for every layer).
  size_t small = 0;
  for (int i = 0; i < 16; ++i)
    if (sizes[i].size() == 1) small += size_t(sizes[i][0]);
  Packed p;
  WRX_TRY(p.small.reserve(small * sizeof(float)));
  float* dst = reinterpret_cast<float*>(p.small.data());
  std::vector<NamedTensor> named;
  int64_t matrices = 0;
  for (int i = 0; i < 16; ++i) {
    const float* data = w.ptr[i];
    if (sizes[i].size() == 1) {
      std::memcpy(dst, w.ptr[i], size_t(sizes[i][0]) * sizeof(float));
      data = dst;
      dst += sizes[i][0];
    } else {
      matrices += int64_t(sizes[i][0]) * sizes[i][1] * int64_t(sizeof(float));
    }
    named.push_back({pkg_->layer_packed_keys[size_t(i)], data, sizes[i]});
  }
  if (packed_memory_ == nullptr) {
    auto mem = ProgramMemory::for_programs({pkg_->layer_packed_program});
    if (!mem.ok()) return mem.status();
    packed_memory_ = mem.take();
  }
  auto prog = Program::load(pkg_->layer_packed_program, 2, packed_memory_.get(), std::move(named));
  if (!prog.ok()) return prog.status();
  p.program = prog.take();
  p.shards = w.shards;
  p.counted = matrices;
  AlignedBuffer::count_outside(matrices);
  packed_.push_back(std::move(p));
  return Status::Ok();
}

Status Model::run_packed(size_t i, const float* bias, float* x) {
  const int S = seq_, H = pkg_->geom.hidden;
  const size_t n = size_t(S) * H;
  if (i >= packed_.size()) return fail(Error::kRuntime, "run_packed: layer " + std::to_string(i) + " was not packed");
  const float* o = nullptr;
  const CallBias b = call_bias(packed_[i].shards, bias, lanes_.size());
  WRX_TRY(packed_[i].program->run({{x, {1, S, H}}, {b.data, {b.heads, b.rows, S}}}, &o, n));
  std::memcpy(x, o, n * sizeof(float));
  return Status::Ok();
}

Model::CallBias Model::call_bias(const std::vector<int>& shards, const float* mask, size_t slot) {
  if (rel_ == nullptr) return {mask, 1, 1};
  const int S = seq_, hps = pkg_->shard.heads_per_shard, span = 2 * pkg_->max_seq_len - 1;
  const int mid = pkg_->max_seq_len - 1;
  std::vector<float>& out = bias_scratch_[slot];
  out.resize(shards.size() * size_t(hps) * S * S);
  float* o = out.data();
  for (int s : shards) {
    for (int j = 0; j < hps; ++j) {
      const float* t = rel_ + size_t(s * hps + j) * span;
      for (int q = 0; q < S; ++q, o += S)
        for (int k = 0; k < S; ++k) o[k] = t[k - q + mid] + mask[k];
    }
  }
  return {out.data(), int32_t(shards.size()) * hps, S};
}

size_t Model::bias_scratch_bytes() const {
  if (rel_ == nullptr) return 0;
  // Each lane's largest call, and the whole layer: every head at the longest length.
  const size_t full = size_t(pkg_->geom.heads) * pkg_->max_seq_len * pkg_->max_seq_len * sizeof(float);
  return full * bias_scratch_.size();
}

Status Model::run_attn(const Weights& w, const float* x, const float* bias, float* acc, int lane) {
  const int S = seq_, H = pkg_->geom.hidden, A = w.k * pkg_->shard.attn_width();
  const float* const* p = w.ptr;
  const size_t n = size_t(S) * H;
  const float* o = nullptr;  // in the program arena: added to acc before the next call
  if (lane < 0 || lane >= lanes())
    return fail(Error::kRuntime, "run_attn: lane " + std::to_string(lane) + " not loaded");
  const CallBias b = call_bias(w.shards, bias, size_t(lane));
  WRX_TRY(lanes_[size_t(lane)].attn->run({{x, {1, S, H}},
                                          {b.data, {b.heads, b.rows, S}},
                                          {p[0], {A, H}},
                                          {p[1], {A}},
                                          {p[2], {A, H}},
                                          {p[3], {A}},
                                          {p[4], {A, H}},
                                          {p[5], {A}},
                                          {p[6], {H, A}}},
                                         &o, n));
  for (size_t i = 0; i < n; ++i) acc[i] += o[i];
  return Status::Ok();
}

Status Model::run_ffn(const Weights& w, const float* x, float* acc, int lane) {
  const int S = seq_, H = pkg_->geom.hidden, F = w.k * pkg_->shard.ffn_per_shard;
  const float* const* p = w.ptr;
  const size_t n = size_t(S) * H;
  const float* o = nullptr;
  if (lane < 0 || lane >= lanes())
    return fail(Error::kRuntime, "run_ffn: lane " + std::to_string(lane) + " not loaded");
  WRX_TRY(lanes_[size_t(lane)].ffn->run({{x, {1, S, H}}, {p[0], {F, H}}, {p[1], {F}}, {p[2], {H, F}}}, &o, n));
  for (size_t i = 0; i < n; ++i) acc[i] += o[i];
  return Status::Ok();
}

void Model::finish_attn(int layer, const float* acc, float* x) const {
  const int H = pkg_->geom.hidden;
  const float* sh = shared_ptr_[layer];  // o_b ln1_g ln1_b ffn2_b ln2_g ln2_b
  std::vector<float> row(H);
  for (int t = 0; t < seq_; ++t) {
    float* xt = x + size_t(t) * H;
    const float* at = acc + size_t(t) * H;
    for (int h = 0; h < H; ++h) row[h] = xt[h] + at[h] + sh[h];
    layer_norm(row.data(), sh + H, sh + 2 * H, static_cast<float>(pkg_->geom.ln_eps), H, xt);
  }
}

void Model::finish_ffn(int layer, const float* acc, float* x) const {
  const int H = pkg_->geom.hidden;
  const float* sh = shared_ptr_[layer];
  std::vector<float> row(H);
  for (int t = 0; t < seq_; ++t) {
    float* xt = x + size_t(t) * H;
    const float* at = acc + size_t(t) * H;
    for (int h = 0; h < H; ++h) row[h] = xt[h] + at[h] + sh[3 * H + h];
    layer_norm(row.data(), sh + 4 * H, sh + 5 * H, static_cast<float>(pkg_->geom.ln_eps), H, xt);
  }
}

Status Model::head(const float* x, float* logits, const uint8_t* payload) const {
  if (payload != nullptr) return head_with(*head_entry(), payload, x, logits);
  if (head_res_.pool_b == nullptr) return fail(Error::kRuntime, "head: not resident and no payload given");
  return run_head(head_res_, x, logits);
}

Status Model::head_with(const Entry& e, const uint8_t* payload, const float* x, float* logits) const {
  HeadPtrs hp;
  WRX_TRY(head_ptrs(e, payload, &hp));
  return run_head(hp, x, logits);
}

Status Model::run_head(const HeadPtrs& hp, const float* x, float* logits) const {
  const int H = pkg_->geom.hidden, C = pkg_->geom.num_labels;
  std::vector<float> pooled(H);
  for (int i = 0; i < H; ++i) {  // [CLS] is token 0
    float acc = 0;
    if (hp.pool_w != nullptr) {
      const float* row = hp.pool_w + size_t(i) * H;
      for (int j = 0; j < H; ++j) acc += row[j] * x[j];
    } else {  // 8-bit codes: one byte per weight, looked up in the codebook
      const uint8_t* row = hp.pool_codes + size_t(i) * H;
      for (int j = 0; j < H; ++j) acc += hp.pool_cb[row[j]] * x[j];
    }
    pooled[i] = acc;
  }
  // Outliers replace their codebook value (FORMAT.md, CODEBOOK): add the difference.
  for (uint32_t k = 0; k < hp.n_out; ++k) {
    const uint32_t r = hp.out_idx[k] / uint32_t(H), c = hp.out_idx[k] % uint32_t(H);
    pooled[r] += (hp.out_val[k] - hp.pool_cb[hp.pool_codes[hp.out_idx[k]]]) * x[c];
  }
  for (int i = 0; i < H; ++i) pooled[i] = std::tanh(pooled[i] + hp.pool_b[i]);
  for (int c = 0; c < C; ++c) {
    double acc = hp.cls_b[c];
    const float* row = hp.cls_w + size_t(c) * H;
    for (int j = 0; j < H; ++j) acc += double(row[j]) * pooled[j];
    logits[c] = static_cast<float>(acc);
  }
  return Status::Ok();
}

}  // namespace wrx
