// JSON for the manifest, plans, evaluation metadata and tokenizer.json: a strict reader on
// RapidJSON (RFC 8259 plus: no duplicate keys, no NUL or invalid UTF-8 in strings, numbers
// finite, nesting bounded) and a string quoter for the report. No exceptions: parse()
// returns an error with the byte offset and the path of the field.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "error.h"

namespace wrx::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Value() = default;
  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  double number() const { return num_; }
  // True and sets *out when the number is an integer representable as int64.
  bool as_int(int64_t* out) const;
  bool boolean() const { return b_; }
  const std::string& str() const { return str_; }
  const std::vector<Value>& items() const { return arr_; }
  const std::vector<std::pair<std::string, Value>>& members() const { return obj_; }
  const Value* get(const std::string& key) const;  // nullptr if absent or not an object

  static Value make_null() { return Value(); }
  static Value make_bool(bool b);
  static Value make_number(double d, bool integral);
  static Value make_int(int64_t i);
  static Value make_string(std::string s);
  static Value make_array(std::vector<Value> v);
  static Value make_object(std::vector<std::pair<std::string, Value>> m);

 private:
  Type type_ = Type::kNull;
  bool b_ = false;
  bool integral_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  std::string str_;
  std::vector<Value> arr_;
  std::vector<std::pair<std::string, Value>> obj_;
};

// Deepest nesting of arrays and objects a file may have.
constexpr int kMaxDepth = 64;

// `code` is the error a failure is reported as (the caller's format: a manifest field, a
// bad plan, bad data).
Result<Value> parse(const std::string& text, Error code = Error::kManifestField);

// Escape a string for JSON output (quotes included).
std::string quote(const std::string& s);

}  // namespace wrx::json
