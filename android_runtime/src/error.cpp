#include "error.h"

namespace wrx {

const char* error_name(Error e) {
  switch (e) {
    case Error::kOk:
      return "OK";
    case Error::kIo:
      return "IO";
    case Error::kTruncated:
      return "TRUNCATED";
    case Error::kBadMagic:
      return "BAD_MAGIC";
    case Error::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case Error::kHeaderChecksum:
      return "HEADER_CHECKSUM";
    case Error::kTableChecksum:
      return "TABLE_CHECKSUM";
    case Error::kBadCounts:
      return "BAD_COUNTS";
    case Error::kOffsetOutOfRange:
      return "OFFSET_OUT_OF_RANGE";
    case Error::kTensorOutOfRange:
      return "TENSOR_OUT_OF_RANGE";
    case Error::kUnknownEnum:
      return "UNKNOWN_ENUM";
    case Error::kEntryChecksum:
      return "ENTRY_CHECKSUM";
    case Error::kManifestField:
      return "MANIFEST_FIELD";
    case Error::kManifestMismatch:
      return "MANIFEST_MISMATCH";
    case Error::kMissingEntry:
      return "MISSING_ENTRY";
    case Error::kBadPlan:
      return "BAD_PLAN";
    case Error::kBadData:
      return "BAD_DATA";
    case Error::kMissingFile:
      return "MISSING_FILE";
    case Error::kRuntime:
      return "RUNTIME";
    case Error::kOutOfMemory:
      return "OUT_OF_MEMORY";
    case Error::kUsage:
      return "USAGE";
    case Error::kBadTokenizer:
      return "BAD_TOKENIZER";
    case Error::kInvalidUtf8:
      return "INVALID_UTF8";
    case Error::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case Error::kCancelled:
      return "CANCELLED";
    case Error::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

bool is_user_error(Error e) {
  return e != Error::kOk && e != Error::kRuntime && e != Error::kOutOfMemory;
}

}  // namespace wrx
