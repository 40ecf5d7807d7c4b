package ai.wrx;

/** The closed set of libwrx errors; values equal the C API's {@code wrx_status} and never change. */
public enum ErrorCode {
  OK(0), IO(1), TRUNCATED(2), BAD_MAGIC(3), UNSUPPORTED_VERSION(4), HEADER_CHECKSUM(5),
  TABLE_CHECKSUM(6), BAD_COUNTS(7), OFFSET_OUT_OF_RANGE(8), TENSOR_OUT_OF_RANGE(9), UNKNOWN_ENUM(10),
  ENTRY_CHECKSUM(11), MANIFEST_FIELD(12), MANIFEST_MISMATCH(13), MISSING_ENTRY(14), BAD_PLAN(15),
  BAD_DATA(16), MISSING_FILE(17), RUNTIME(18), OUT_OF_MEMORY(19), USAGE(20), BAD_TOKENIZER(21),
  INVALID_UTF8(22), INVALID_ARGUMENT(23), CANCELLED(24), CLOSED(25), UNKNOWN(-1);

  private final int value;

  ErrorCode(int value) {
    this.value = value;
  }

  public int value() {
    return value;
  }

  /** True when the caller can fix the error by changing its input. */
  public boolean isUserError() {
    return this != OK && this != RUNTIME && this != OUT_OF_MEMORY && this != UNKNOWN;
  }

  static ErrorCode of(int value) {
    for (ErrorCode c : values()) {
      if (c.value == value) return c;
    }
    return UNKNOWN;
  }
}
