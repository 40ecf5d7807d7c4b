package ai.wrx;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A text classifier on a WRX package: the plan's preload buffer stays resident, the rest of
 * the model streams from flash for each query.
 *
 * <pre>{@code
 * try (WrxClassifier c = WrxClassifier.open("/data/local/tmp/wrx/minilm",
 *                                           new WrxClassifier.Options().plan("wrx-t20-m4"))) {
 *   Classification r = c.classify("a gorgeous, witty film");
 *   System.out.println(r.top().label() + " " + r.top().score());
 * }
 * }</pre>
 *
 * <p>Calls are serialized: a second thread's call waits for the first. {@link #cancel()} may be
 * called from any thread and makes the call in flight throw a {@link WrxException} with
 * {@link ErrorCode#CANCELLED}; the classifier stays usable. {@link #close()} during a call
 * cancels it and waits for it; every call after close throws {@link IllegalStateException}.
 * Errors are {@link WrxException}s carrying a code, a message and a hint.
 *
 * <p>This class has no {@code android.*} imports: the same sources run on a desktop JVM.
 */
public final class WrxClassifier implements AutoCloseable {
  static {
    System.loadLibrary("wrx_jni");
  }

  /** Session options; every field has a default. */
  public static final class Options {
    String plan;
    int threads = 2;
    double ioBandwidthMbps = 0;
    boolean directIo = true;
    boolean loadAll = false;

    /** A plan file, a plan name in the package's plans/, or uniform-B[-preL]; null: the default. */
    public Options plan(String plan) {
      this.plan = plan;
      return this;
    }

    public Options threads(int threads) {
      this.threads = threads;
      return this;
    }

    /** Cap reads at this many MB/s to emulate a slower device class (0: no cap). */
    public Options ioBandwidthMbps(double mbps) {
      this.ioBandwidthMbps = mbps;
      return this;
    }

    public Options directIo(boolean direct) {
      this.directIo = direct;
      return this;
    }

    /** Hold the whole model resident (the baseline the elastic pipeline is measured against). */
    public Options loadAll(boolean loadAll) {
      this.loadAll = loadAll;
      return this;
    }
  }

  private final ReentrantLock lock = new ReentrantLock();
  private final long handle;
  private final String planName;
  private volatile boolean closed;

  private WrxClassifier(long handle) {
    this.handle = handle;
    this.planName = nativePlanName(handle);
  }

  public static WrxClassifier open(String packageDir, Options options) {
    if (packageDir == null) throw new IllegalArgumentException("packageDir is null");
    Options o = options == null ? new Options() : options;
    return new WrxClassifier(nativeOpen(packageDir, o.plan, o.threads, o.ioBandwidthMbps, o.directIo, o.loadAll));
  }

  public static WrxClassifier open(String packageDir) {
    return open(packageDir, null);
  }

  public Classification classify(String text) {
    return classify(text, null);
  }

  public Classification classify(String text, String pair) {
    if (text == null) throw new IllegalArgumentException("text is null");
    byte[] t = text.getBytes(StandardCharsets.UTF_8);
    byte[] p = pair == null ? null : pair.getBytes(StandardCharsets.UTF_8);
    lock.lock();
    try {
      ensureOpen();
      return nativeClassify(handle, t, p);
    } finally {
      lock.unlock();
    }
  }

  /** For callers that hold UTF-8 bytes already (and for tests of invalid input). */
  public Classification classifyUtf8(byte[] text, byte[] pair) {
    if (text == null) throw new IllegalArgumentException("text is null");
    lock.lock();
    try {
      ensureOpen();
      return nativeClassify(handle, text, pair);
    } finally {
      lock.unlock();
    }
  }

  /** Stops the call in flight, if any; safe from any thread, and after close. */
  public void cancel() {
    if (!closed) nativeCancel(handle);
  }

  public SessionStats stats() {
    lock.lock();
    try {
      ensureOpen();
      return new SessionStats(nativeStats(handle));
    } finally {
      lock.unlock();
    }
  }

  /** The plan that answers this classifier's queries. */
  public String planName() {
    return planName;
  }

  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (closed) return;
    nativeCancel(handle);  // without the lock: the call holding it must stop first
    lock.lock();
    try {
      if (!closed) {
        closed = true;
        nativeClose(handle);
      }
    } finally {
      lock.unlock();
    }
  }

  private void ensureOpen() {
    if (closed) throw new IllegalStateException("the WrxClassifier is closed");
  }

  private static native long nativeOpen(
      String dir, String plan, int threads, double ioBandwidthMbps, boolean directIo, boolean loadAll);

  private static native Classification nativeClassify(long handle, byte[] text, byte[] pair);

  private static native void nativeCancel(long handle);

  private static native long[] nativeStats(long handle);

  private static native String nativePlanName(long handle);

  private static native void nativeClose(long handle);
}
