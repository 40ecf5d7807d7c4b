package ai.wrx;

/** Where one query's time went, in milliseconds, and the bytes it read from flash. */
public final class Timings {
  public final double tokenizeMs, ioMs, computeMs, stallMs, totalMs;
  public final long bytesRead;

  Timings(double tokenizeMs, double ioMs, double computeMs, double stallMs, double totalMs, long bytesRead) {
    this.tokenizeMs = tokenizeMs;
    this.ioMs = ioMs;
    this.computeMs = computeMs;
    this.stallMs = stallMs;
    this.totalMs = totalMs;
    this.bytesRead = bytesRead;
  }
}
