package ai.wrx;

/** A libwrx error: its code, what went wrong (naming the file and field) and what to do. */
public class WrxException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final ErrorCode code;
  private final String hint;

  public WrxException(ErrorCode code, String message, String hint) {
    super(code + ": " + message + (hint == null || hint.isEmpty() ? "" : "\nHINT: " + hint));
    this.code = code;
    this.hint = hint == null ? "" : hint;
  }

  /** Called from JNI with the C API's status value. */
  WrxException(int status, String message, String hint) {
    this(ErrorCode.of(status), message, hint);
  }

  public ErrorCode code() {
    return code;
  }

  public String hint() {
    return hint;
  }

  public boolean isUserError() {
    return code.isUserError();
  }
}
