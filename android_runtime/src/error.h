// Closed error set and a small Result type. The loader throws no exceptions.
//
// The codes mirror wrx_sdk.errors.CODES and tests/golden/cases.json; append only.
#pragma once

#include <string>
#include <utility>

namespace wrx {

enum class Error : int {
  kOk = 0,
  kIo,
  kTruncated,
  kBadMagic,
  kUnsupportedVersion,
  kHeaderChecksum,
  kTableChecksum,
  kBadCounts,
  kOffsetOutOfRange,
  kTensorOutOfRange,
  kUnknownEnum,
  kEntryChecksum,
  kManifestField,
  kManifestMismatch,
  kMissingEntry,
  kBadPlan,
  kBadData,
  kMissingFile,
  // Internal errors: not the user's fault (ExecuTorch failures, allocation failures).
  kRuntime,
  kOutOfMemory,
  kUsage,
  // The app-facing session (appended; the C API's wrx_status mirrors the whole list).
  kBadTokenizer,     // tokenizer.json uses something the device tokenizer cannot reproduce
  kInvalidUtf8,      // query text is not valid UTF-8
  kInvalidArgument,  // a null pointer or an option out of range
  kCancelled,        // wrx_cancel stopped the call; the session stays usable
  kClosed,           // the session was closed
};

const char* error_name(Error e);
// True for errors a user can fix by changing their input (vs. internal failures).
bool is_user_error(Error e);

struct [[nodiscard]] Status {
  Error code = Error::kOk;
  std::string message;  // names the file and field
  std::string hint;     // the command to re-run

  bool ok() const { return code == Error::kOk; }
  static Status Ok() { return {}; }
};

inline Status fail(Error code, std::string message, std::string hint = {}) {
  return Status{code, std::move(message), std::move(hint)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // Reading the value of a failed result is a bug in the caller: it traps rather than
  // hand back a default-constructed value.
  T& value() {
    check();
    return value_;
  }
  const T& value() const {
    check();
    return value_;
  }
  T&& take() {
    check();
    return std::move(value_);
  }

 private:
  void check() const {
    if (!status_.ok()) __builtin_trap();
  }
  T value_{};
  Status status_;
};

#define WRX_TRY(expr)          \
  do {                         \
    ::wrx::Status _s = (expr); \
    if (!_s.ok()) return _s;   \
  } while (0)

}  // namespace wrx
