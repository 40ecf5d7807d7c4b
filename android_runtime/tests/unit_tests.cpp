// C++ unit tests over the golden files that the Python tests also read: the store reader
// (one broken file per rejection path, tests/golden/cases.json), the decoder against
// vectors from the Python encoder, CRC-32 and the JSON reader.
// Usage: wrx-unit-tests <tests/golden>. Prints "N passed, M failed".
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "crc32.h"
#include "decode.h"
#include "devdata.h"
#include "json.h"
#include "manifest.h"
#include "plan.h"
#include "sha256.h"
#include "store.h"

namespace fs = std::filesystem;
using namespace wrx;

namespace {
int g_pass = 0, g_fail = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_pass;
  } else {
    ++g_fail;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

void test_crc() {
  check(crc32("123456789", 9) == 0xCBF43926u, "crc32 check value");
  check(crc32("", 0) == 0, "crc32 of nothing");
  std::vector<uint8_t> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  check(crc32(big.data() + 3, 997, crc32(big.data(), 3)) == crc32(big.data(), 1000), "crc32 is incremental");
}

void test_sha256() {
  // FIPS 180-4 examples, and a message that spans blocks unevenly.
  auto hex = [](const std::string& m) {
    wrx::Sha256 h;
    h.update(m.data(), m.size());
    return h.hex();
  };
  check(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty");
  check(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
  check(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "sha256 two blocks");
  wrx::Sha256 h;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(a.data(), a.size());
  check(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "sha256 a million a");
}

void test_json() {
  auto v = json::parse(R"({"a": [1, 2.5, -3e2], "b": {"c": "x\"\u00e9"}, "t": true, "n": null})");
  check(v.ok(), "json parses");
  if (!v.ok()) return;
  int64_t i = 0;
  check(v.value().get("a")->items()[0].as_int(&i) && i == 1, "json int");
  check(!v.value().get("a")->items()[1].as_int(&i), "json non-int");
  check(v.value().get("a")->items()[2].number() == -300, "json exponent");
  check(v.value().get("b")->get("c")->str() == "x\"\xc3\xa9", "json escapes");
  for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "01x", "\"abc", "[1] x", "{\"a\":tru}"})
    check(!json::parse(bad).ok(), std::string("json rejects ") + bad);
  std::string deep(100, '[');
  check(!json::parse(deep).ok(), "json depth limit");
  // What RFC 8259 leaves open and WRX rejects, each with the offset and the field's path.
  struct Bad {
    std::string text, want;
  };
  const Bad bads[] = {
      {"[01]", "byte 2"},
      {"[-00]", "byte 3"},
      {"[1e999]", "byte 1"},
      {"[NaN]", "byte 1"},
      {R"({"a": 1, "a": 2})", "duplicate key \"a\" at the top level"},
      {R"({"x": {"b": [0, {"c": 1, "c": 1}]}})", "duplicate key \"c\" at x.b[1]"},
      {R"(["\ud800"])", "byte"},
      {R"(["\ud800\u0041"])", "byte"},
      {R"(["\udc00"])", "string is not valid UTF-8 (byte 0 of it) at [0]"},
      {R"({"p": "a\u0000b"})", "string contains U+0000 at p"},
      {"[\"\xc3\x28\"]", "byte 2"},
      {"[\"\xed\xa0\x80\"]", "byte"},
      {std::string("[1]\0", 4), "NUL byte outside a string"},
      {std::string(65, '[') + std::string(65, ']'), "nesting deeper than 64"},
  };
  for (const Bad& b : bads) {
    auto r = json::parse(b.text, Error::kBadPlan);
    check(!r.ok() && r.status().code == Error::kBadPlan, "json rejects " + b.text);
    check(r.status().message.find(b.want) != std::string::npos,
          "json error for " + b.text + " names '" + b.want + "': " + r.status().message);
  }
  // Integers: exact in int64, never a float-to-int cast out of range.
  int64_t big = 0;
  auto mx = json::parse("[9223372036854775807, 9223372036854775808, -9223372036854775808, 1e300, 2.0]");
  check(mx.ok(), "json big numbers parse");
  if (mx.ok()) {
    const auto& it = mx.value().items();
    check(it[0].as_int(&big) && big == INT64_MAX, "json int64 max is exact");
    check(!it[1].as_int(&big), "json 2^63 is not an int64");
    check(it[2].as_int(&big) && big == INT64_MIN, "json int64 min is exact");
    check(!it[3].as_int(&big) && !it[4].as_int(&big), "json floats are not ints");
  }
  auto deep_ok = json::parse(std::string(64, '[') + std::string(64, ']'));
  check(deep_ok.ok(), "json nesting of exactly 64 parses");
  auto u = json::parse(R"(["\ud83d\ude00", "\u00e9"])");
  check(u.ok() && u.value().items()[0].str() == "\xf0\x9f\x98\x80", "json surrogate pair decodes");
}

void test_decode(const fs::path& golden) {
  auto raw = read_file((golden / "decode_vectors.bin").string());
  check(raw.ok(), "decode vectors present");
  if (!raw.ok()) return;
  const std::string& b = raw.value();
  size_t p = 0;
  int cases = 0;
  while (p + 16 <= b.size()) {
    uint32_t h[4];
    std::memcpy(h, b.data() + p, 16);
    p += 16;
    const uint32_t bits = h[0], rows = h[1], cols = h[2], nout = h[3];
    uint64_t payload = 0;
    fmt::codebook_bytes(bits, uint64_t{rows} * cols, nout, &payload);
    // Copy to aligned storage, as the loader's IO buffers are.
    std::vector<uint32_t> pay((payload + 3) / 4 + 1);
    std::memcpy(pay.data(), b.data() + p, payload);
    const auto* pp = reinterpret_cast<const uint8_t*>(pay.data());
    p += payload;
    std::vector<float> want(size_t{rows} * cols);
    std::memcpy(want.data(), b.data() + p, want.size() * 4);
    p += want.size() * 4;
    CodebookView v;
    v.bits = bits;
    v.rows = rows;
    v.cols = cols;
    v.n_outliers = nout;
    v.codebook = reinterpret_cast<const float*>(pp);
    v.outlier_idx = reinterpret_cast<const uint32_t*>(pp + (4u << bits));
    v.outlier_val = reinterpret_cast<const float*>(pp + (4u << bits) + 4 * nout);
    v.codes = pp + (4u << bits) + 8 * nout;
    // Decode as a column block: into columns [3, 3+cols) of a wider matrix.
    const size_t stride = cols + 5;
    std::vector<float> got(rows * stride, -7.0f);
    const Status st = decode_codebook(v, got.data() + 3, stride);
    bool same = st.ok();
    for (uint32_t r = 0; r < rows && same; ++r)
      for (uint32_t c = 0; c < cols; ++c) same &= got[r * stride + 3 + c] == want[size_t{r} * cols + c];
    bool untouched = true;
    for (uint32_t r = 0; r < rows; ++r)
      for (uint32_t c : {0u, 1u, 2u, uint32_t(cols + 3), uint32_t(cols + 4)}) untouched &= got[r * stride + c] == -7.0f;
    check(same, "decode " + std::to_string(bits) + "-bit " + std::to_string(rows) + "x" + std::to_string(cols) +
                    " equals the Python decode");
    check(untouched, "decode " + std::to_string(bits) + "-bit stays inside its column block");
    if (nout > 0) {  // a corrupt outlier index is caught, not written out of bounds
      std::vector<uint32_t> idx(v.outlier_idx, v.outlier_idx + nout);
      idx[0] = rows * cols;
      v.outlier_idx = idx.data();
      check(decode_codebook(v, got.data() + 3, stride).code == Error::kBadData,
            "decode rejects an outlier index out of range");
    }
    ++cases;
  }
  check(cases == 12, "decode vectors: 2 shapes x 6 bitwidths (got " + std::to_string(cases) + ")");
}

void test_golden_store(const fs::path& golden) {
  auto s = Store::open((golden / "pkg" / "store.wrx").string());
  check(s.ok(), "golden store opens: " + s.status().message);
  if (!s.ok()) return;
  Store& st = *s.value();
  check(st.entries().size() == st.header().n_entries, "entry count");
  for (const Entry& e : st.entries()) {
    AlignedBuffer buf;
    const Status r = st.read_run(e, e, buf);
    check(r.ok() && st.verify(e, buf.data()).ok(), "golden entry verifies: " + st.describe(e));
  }
  check(st.find(fmt::EntryKind::kFfnShard, 0, 1, 4) != nullptr, "find layer 0 shard 1 4-bit");
  check(st.find(fmt::EntryKind::kAttnShard, 0, 1, 3) == nullptr, "3-bit is not in the golden store");
  auto pkg = open_package((golden / "pkg").string());
  check(pkg.ok(), "golden package opens: " + pkg.status().message);
}

Status open_and_verify(const std::string& store) {
  auto s = Store::open(store);
  if (!s.ok()) return s.status();
  return s.value()->verify_all();
}

void test_cases(const fs::path& golden) {
  auto text = read_file((golden / "cases.json").string());
  auto cases = json::parse(text.value());
  check(cases.ok(), "cases.json parses");
  if (!cases.ok()) return;
  const fs::path tmp = fs::temp_directory_path() / ("wrx-unit-" + std::to_string(::getpid()));
  int n = 0;
  for (const auto& c : cases.value().get("cases")->items()) {
    const std::string name = c.get("name")->str(), want = c.get("error")->str();
    const std::string field = c.get("field")->str(), contains = c.get("message_contains")->str();
    if (const json::Value* r = c.get("reader"); r != nullptr && r->str() == "python") continue;  // reports
    Status st;
    const json::Value* data = c.get("data");  // evaluation data: replaces the golden pkg's dev.bin
    const json::Value* plan = c.get("plan");  // a plan for the golden pkg
    if (plan != nullptr) {
      auto p = open_package((golden / "pkg").string());
      check(p.ok(), name + ": the golden package opens");
      if (!p.ok()) continue;
      auto pl = load_plan((golden / plan->str()).string());
      st = pl.ok() ? validate_plan(pl.value(), *p.value()) : pl.status();
    } else if (data != nullptr) {
      auto p = open_package((golden / "pkg").string());
      check(p.ok(), name + ": the golden package opens");
      if (!p.ok()) continue;
      auto d = load_devdata((golden / data->str()).string(), p.value()->geom.vocab, p.value()->geom.type_vocab);
      st = d.status();
    } else if (c.get("manifest")->is_null()) {
      st = open_and_verify((golden / c.get("store")->str()).string());
    } else {
      fs::remove_all(tmp);
      const json::Value* base = c.get("pkg");  // the package the manifest belongs to (default: pkg)
      fs::copy(golden / (base != nullptr ? base->str() : std::string("pkg")), tmp, fs::copy_options::recursive);
      fs::copy_file(golden / c.get("manifest")->str(), tmp / "manifest.json", fs::copy_options::overwrite_existing);
      auto p = open_package(tmp.string());
      st = p.status();
    }
    check(error_name(st.code) == want,
          name + ": expected " + want + ", got " + error_name(st.code) + " (" + st.message + ")");
    check(st.message.find(field) != std::string::npos, name + ": message names field '" + field + "': " + st.message);
    check(st.message.find(contains) != std::string::npos,
          name + ": message contains '" + contains + "': " + st.message);
    check(!st.hint.empty(), name + ": has a hint");
    ++n;
  }
  fs::remove_all(tmp);
  check(n >= 17, "all golden cases ran");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: wrx-unit-tests <tests/golden>\n");
    return 2;
  }
  const fs::path golden = argv[1];
  test_crc();
  test_json();
  test_sha256();
  test_decode(golden);
  test_golden_store(golden);
  test_cases(golden);
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
