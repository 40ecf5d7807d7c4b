#include "json.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

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
  v.integral_ = integral;
  v.int_ = integral ? static_cast<int64_t>(d) : 0;
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

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  Status run(Value* out) {
    WRX_TRY(value(out, 0));
    ws();
    if (i_ != s_.size()) return err("trailing characters");
    return Status::Ok();
  }

 private:
  static constexpr int kMaxDepth = 64;
  const std::string& s_;
  size_t i_ = 0;

  Status err(const std::string& what) const {
    return fail(Error::kManifestField, "invalid JSON at byte " + std::to_string(i_) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(const char* w) {
    size_t n = 0;
    while (w[n]) ++n;
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }

  Status value(Value* out, int depth) {
    if (depth > kMaxDepth) return err("nesting too deep");
    ws();
    if (i_ >= s_.size()) return err("unexpected end");
    const char c = s_[i_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      std::string str;
      WRX_TRY(string(&str));
      *out = Value::make_string(std::move(str));
      return Status::Ok();
    }
    if (lit("true")) { *out = Value::make_bool(true); return Status::Ok(); }
    if (lit("false")) { *out = Value::make_bool(false); return Status::Ok(); }
    if (lit("null")) { *out = Value(); return Status::Ok(); }
    return number(out);
  }

  Status number(Value* out) {
    const size_t start = i_;
    bool integral = true;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) return err("expected a value");
    while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == '.') {
      integral = false;
      ++i_;
      if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) return err("bad number");
      while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) return err("bad exponent");
      while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    const std::string tok = s_.substr(start, i_ - start);
    if (integral) {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(tok.c_str(), &end, 10);
      if (errno == 0) {
        Value n = Value::make_number(static_cast<double>(v), true);
        n.int_ = v;
        *out = n;
        return Status::Ok();
      }
    }
    *out = Value::make_number(std::strtod(tok.c_str(), nullptr), false);
    return Status::Ok();
  }

  static void utf8(uint32_t cp, std::string* o) {
    if (cp < 0x80) {
      o->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      o->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      o->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      o->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status hex4(uint32_t* cp) {
    if (i_ + 4 > s_.size()) return err("bad \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else return err("bad \\u escape");
    }
    *cp = v;
    return Status::Ok();
  }

  Status string(std::string* out) {
    ++i_;  // opening quote
    while (true) {
      if (i_ >= s_.size()) return err("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return Status::Ok();
      if (static_cast<unsigned char>(c) < 0x20) return err("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return err("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          WRX_TRY(hex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t lo = 0;
            WRX_TRY(hex4(&lo));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(cp, out);
          break;
        }
        default: return err("bad escape");
      }
    }
  }

  Status array(Value* out, int depth) {
    ++i_;
    std::vector<Value> items;
    ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      *out = Value::make_array(std::move(items));
      return Status::Ok();
    }
    while (true) {
      Value v;
      WRX_TRY(value(&v, depth + 1));
      items.push_back(std::move(v));
      ws();
      if (i_ >= s_.size()) return err("unterminated array");
      if (s_[i_] == ',') { ++i_; continue; }
      if (s_[i_] == ']') { ++i_; break; }
      return err("expected ',' or ']'");
    }
    *out = Value::make_array(std::move(items));
    return Status::Ok();
  }

  Status object(Value* out, int depth) {
    ++i_;
    std::vector<std::pair<std::string, Value>> m;
    ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      *out = Value::make_object(std::move(m));
      return Status::Ok();
    }
    while (true) {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"') return err("expected a key");
      std::string key;
      WRX_TRY(string(&key));
      ws();
      if (i_ >= s_.size() || s_[i_] != ':') return err("expected ':'");
      ++i_;
      Value v;
      WRX_TRY(value(&v, depth + 1));
      m.emplace_back(std::move(key), std::move(v));
      ws();
      if (i_ >= s_.size()) return err("unterminated object");
      if (s_[i_] == ',') { ++i_; continue; }
      if (s_[i_] == '}') { ++i_; break; }
      return err("expected ',' or '}'");
    }
    *out = Value::make_object(std::move(m));
    return Status::Ok();
  }
};

Result<Value> parse(const std::string& text) {
  Value v;
  Parser p(text);
  Status st = p.run(&v);
  if (!st.ok()) return st;
  return v;
}

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          o += buf;
        } else {
          o.push_back(c);
        }
    }
  }
  return o + "\"";
}

}  // namespace wrx::json
