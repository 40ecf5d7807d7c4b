// The JSON reader is RapidJSON's SAX reader (Debian's rapidjson-dev, header-only, so the
// host, aarch64 and Android builds share it): iterative parsing (the call stack does not
// grow with nesting), UTF-8 validation, no exceptions, exact error offsets. This file adds
// what RFC 8259 leaves to the reader and WRX requires: duplicate keys, NUL in strings,
// lone surrogates (RapidJSON 1.1 lets an escaped low surrogate through) and nesting
// deeper than kMaxDepth are rejected, each with the byte offset and the field's path.
#include "json.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

// RapidJSON asserts on API misuse only; a reader fed any bytes never reaches one. Make a
// violated one a clean trap instead of a dependency on NDEBUG.
#define RAPIDJSON_ASSERT(x)     \
  do {                          \
    if (!(x)) __builtin_trap(); \
  } while (0)
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "utf8.h"

namespace wrx::json {

bool Value::as_int(int64_t* out) const {
  if (type_ != Type::kNumber || !integral_) return false;
  *out = int_;
  return true;
}

const Value* Value::get(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& kv : obj_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Value Value::make_bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.b_ = b;
  return v;
}
Value Value::make_number(double d, bool integral) {
  Value v;
  v.type_ = Type::kNumber;
  v.num_ = d;
  // Only integers exactly representable as int64 count as integral (no out-of-range cast).
  v.integral_ =
      integral && std::isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::floor(d);
  v.int_ = v.integral_ ? static_cast<int64_t>(d) : 0;
  return v;
}
Value Value::make_int(int64_t i) {
  Value v;
  v.type_ = Type::kNumber;
  v.num_ = static_cast<double>(i);
  v.integral_ = true;
  v.int_ = i;
  return v;
}
Value Value::make_string(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.str_ = std::move(s);
  return v;
}
Value Value::make_array(std::vector<Value> a) {
  Value v;
  v.type_ = Type::kArray;
  v.arr_ = std::move(a);
  return v;
}
Value Value::make_object(std::vector<std::pair<std::string, Value>> m) {
  Value v;
  v.type_ = Type::kObject;
  v.obj_ = std::move(m);
  return v;
}

namespace {

// Builds the Value tree with an explicit stack, so neither parsing nor building recurses.
class Builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
 public:
  bool Null() { return put(Value::make_null()); }
  bool Bool(bool b) { return put(Value::make_bool(b)); }
  bool Int(int i) { return put(Value::make_int(i)); }
  bool Uint(unsigned u) { return put(Value::make_int(u)); }
  bool Int64(int64_t i) { return put(Value::make_int(i)); }
  bool Uint64(uint64_t u) {
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return put(Value::make_number(static_cast<double>(u), false));
    return put(Value::make_int(static_cast<int64_t>(u)));
  }
  bool Double(double d) {
    if (!std::isfinite(d)) return stop("number out of range");
    return put(Value::make_number(d, false));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (!check_text(s, n, "string")) return false;
    return put(Value::make_string(std::string(s, n)));
  }
  bool StartObject() { return open(true); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (!check_text(s, n, "key")) return false;
    Frame& f = stack_.back();
    std::string key(s, n);
    if (!f.keys.insert(key).second) return stop("duplicate key \"" + key + "\"");
    f.key = std::move(key);
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  Value root;
  std::string error;  // set when the handler stopped the parse

 private:
  struct Frame {
    bool object = false;
    std::vector<Value> items;
    std::vector<std::pair<std::string, Value>> members;
    std::set<std::string> keys;
    std::string key;
  };
  std::vector<Frame> stack_;

  bool stop(const std::string& why) {
    error = why + " at " + path();
    return false;
  }
  bool check_text(const char* s, size_t n, const char* what) {
    const size_t bad = utf8::first_invalid(s, n);
    if (bad != n) return stop(std::string(what) + " is not valid UTF-8 (byte " + std::to_string(bad) + " of it)");
    for (size_t i = 0; i < n; ++i)
      if (s[i] == '\0') return stop(std::string(what) + " contains U+0000");
    return true;
  }
  bool put(Value v) {
    if (stack_.empty()) {
      root = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.object)
      f.members.emplace_back(std::move(f.key), std::move(v));
    else
      f.items.push_back(std::move(v));
    return true;
  }
  bool open(bool object) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth))
      return stop("nesting deeper than " + std::to_string(kMaxDepth));
    stack_.emplace_back();
    stack_.back().object = object;
    return true;
  }
  bool close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    return put(f.object ? Value::make_object(std::move(f.members)) : Value::make_array(std::move(f.items)));
  }
  std::string path() const {
    std::string p;
    for (const Frame& f : stack_) {
      if (f.object) {
        if (!f.key.empty()) p += (p.empty() ? "" : ".") + f.key;
      } else {
        p += "[" + std::to_string(f.items.size()) + "]";
      }
    }
    return p.empty() ? "the top level" : p;
  }
};

}  // namespace

Result<Value> parse(const std::string& text, Error code) {
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  Builder b;
  rapidjson::Reader reader;
  // RapidJSON 1.1.0 validates a UTF-8 sequence by taking all its continuation bytes before
  // it checks them, so text that ends inside a sequence (a 0xF4 lead byte last) made it
  // read up to 3 bytes past the terminating NUL (found by fuzz_plan; golden case
  // plan_truncated_utf8). Padding with NULs keeps those reads inside the buffer, where
  // they fail validation.
  std::string padded;
  padded.reserve(text.size() + 4);
  padded.append(text).append(4, '\0');
  rapidjson::StringStream in(padded.c_str());
  const rapidjson::ParseResult r = reader.Parse<kFlags>(in, b);
  // StringStream stops at a NUL byte: the text must end where the parse did.
  if (r && in.Tell() != text.size())
    return fail(code, "invalid JSON at byte " + std::to_string(in.Tell()) + ": a NUL byte outside a string");
  if (!r) {
    const std::string why = b.error.empty() ? rapidjson::GetParseError_En(r.Code()) : b.error;
    return fail(code, "invalid JSON at byte " + std::to_string(r.Offset()) + ": " + why);
  }
  return std::move(b.root);
}

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          o += buf;
        } else {
          o.push_back(c);
        }
    }
  }
  return o + "\"";
}

}  // namespace wrx::json
