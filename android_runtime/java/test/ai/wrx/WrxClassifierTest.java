package ai.wrx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The Java binding on a desktop JVM with the host-built JNI library (tests/test_java.py runs
 * it): -Dwrx.test.package=GOOD -Dwrx.test.corrupt=CORRUPT -Djava.library.path=bundle/lib.
 */
class WrxClassifierTest {
  static final String PKG = System.getProperty("wrx.test.package");
  static final String CORRUPT = System.getProperty("wrx.test.corrupt");

  @Test
  void classifiesTextAndPairs() {
    try (WrxClassifier c = WrxClassifier.open(PKG)) {
      assertEquals("uniform-4-pre1", c.planName());
      Classification r = c.classify("the film is good and bright");
      float sum = 0;
      for (Category cat : r.categories()) sum += cat.score();
      assertEquals(1.0f, sum, 1e-4f);
      assertEquals(r.top().label(), r.categories().get(r.top().index()).label());
      assertTrue(r.tokenIds().length >= 2);
      assertTrue(r.timings().totalMs > 0 && r.timings().bytesRead > 0);
      Classification p = c.classify("good", "bad");
      assertTrue(p.tokenIds().length > r.tokenIds().length - 10);
      Classification again = c.classify("the film is good and bright");
      assertArrayEquals(r.logits(), again.logits(), 0f);
      SessionStats s = c.stats();
      assertTrue(s.queries == 3 && s.rssBytes > 0 && s.preloadBytes > 0);
    }
  }

  @Test
  void everyErrorHasItsCodeMessageAndHint() {
    WrxException missing = assertThrows(WrxException.class, () -> WrxClassifier.open("/nonexistent/wrx"));
    assertEquals(ErrorCode.MISSING_FILE, missing.code());
    assertTrue(missing.getMessage().contains("/nonexistent/wrx") && !missing.hint().isEmpty());
    assertTrue(missing.isUserError());

    WrxException corrupt = assertThrows(WrxException.class, () -> WrxClassifier.open(CORRUPT));
    assertTrue(corrupt.isUserError());

    WrxException plan =
        assertThrows(WrxException.class, () -> WrxClassifier.open(PKG, new WrxClassifier.Options().plan("nope")));
    assertEquals(ErrorCode.BAD_PLAN, plan.code());

    WrxException threads =
        assertThrows(WrxException.class, () -> WrxClassifier.open(PKG, new WrxClassifier.Options().threads(0)));
    assertEquals(ErrorCode.INVALID_ARGUMENT, threads.code());

    assertThrows(IllegalArgumentException.class, () -> WrxClassifier.open(null));
    try (WrxClassifier c = WrxClassifier.open(PKG)) {
      WrxException utf8 =
          assertThrows(WrxException.class, () -> c.classifyUtf8(new byte[] {(byte) 0xff, (byte) 0xfe}, null));
      assertEquals(ErrorCode.INVALID_UTF8, utf8.code());
      assertThrows(IllegalArgumentException.class, () -> c.classify(null));
      assertNotNull(c.classify("still fine after errors"));
    }
  }

  @Test
  void closedClassifierThrowsIllegalState() {
    WrxClassifier c = WrxClassifier.open(PKG);
    c.close();
    c.close();  // idempotent
    assertTrue(c.isClosed());
    assertThrows(IllegalStateException.class, () -> c.classify("x"));
    assertThrows(IllegalStateException.class, c::stats);
    c.cancel();  // harmless after close
  }

  @Test
  void callsFromTwoThreadsAreSerialized() throws Exception {
    try (WrxClassifier c = WrxClassifier.open(PKG)) {
      float[] want = c.classify("the film is good").logits();
      AtomicInteger same = new AtomicInteger();
      List<Thread> ts = new ArrayList<>();
      for (int t = 0; t < 2; ++t) {
        Thread th = new Thread(() -> {
          for (int i = 0; i < 20; ++i) {
            if (java.util.Arrays.equals(want, c.classify("the film is good").logits())) same.incrementAndGet();
          }
        });
        ts.add(th);
        th.start();
      }
      for (Thread th : ts) th.join();
      assertEquals(40, same.get());
    }
  }

  @Test
  void cancelStopsTheCallInFlightAndLeavesTheClassifierUsable() throws Exception {
    try (WrxClassifier c = WrxClassifier.open(PKG, new WrxClassifier.Options().ioBandwidthMbps(0.05).threads(1))) {
      AtomicReference<Throwable> got = new AtomicReference<>();
      CountDownLatch started = new CountDownLatch(1);
      Thread t = new Thread(() -> {
        started.countDown();
        try {
          c.classify("a slow query over a capped device", "with a pair");
        } catch (Throwable e) {
          got.set(e);
        }
      });
      t.start();
      started.await();
      Thread.sleep(30);
      c.cancel();
      t.join();
      assertTrue(got.get() instanceof WrxException, String.valueOf(got.get()));
      assertEquals(ErrorCode.CANCELLED, ((WrxException) got.get()).code());
      assertNotNull(c.classify("usable again"));
    }
  }

  @Test
  void closeDuringACallIsSafe() throws Exception {
    WrxClassifier c = WrxClassifier.open(PKG, new WrxClassifier.Options().ioBandwidthMbps(0.05).threads(1));
    AtomicReference<Throwable> got = new AtomicReference<>();
    CountDownLatch started = new CountDownLatch(1);
    Thread t = new Thread(() -> {
      started.countDown();
      try {
        for (int i = 0; i < 3; ++i) c.classify("a slow query over a capped device", "with a pair");
      } catch (Throwable e) {
        got.set(e);
      }
    });
    t.start();
    started.await();
    Thread.sleep(30);
    c.close();
    t.join();
    Throwable e = got.get();
    assertTrue(
        e instanceof IllegalStateException
            || (e instanceof WrxException && ((WrxException) e).code() == ErrorCode.CANCELLED),
        String.valueOf(e));
    assertThrows(IllegalStateException.class, () -> c.classify("x"));
  }
}
