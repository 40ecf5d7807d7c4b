/* Tests of the C API as an app sees it: the shared libwrx, C only.
 *   wrx-c-api-tests GOOD_PACKAGE CORRUPT_PACKAGE
 * Prints one line per check and "N passed, M failed"; exits non-zero on a failure.
 * tests/test_session.py runs it on the release build and under ASan + UBSan. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wrx/wrx.h"

static int g_pass = 0, g_fail = 0;

static void check(int ok, const char* what) {
  if (ok) {
    ++g_pass;
  } else {
    ++g_fail;
    printf("FAIL: %s (last error: %s | %s)\n", what, wrx_last_error_message(), wrx_last_error_hint());
  }
}

static const char* g_pkg;

static wrx_session* open_slow(double mbps) {
  wrx_options o;
  wrx_options_init(&o);
  o.io_bandwidth_mbps = mbps;
  o.threads = 1;
  wrx_session* s = NULL;
  return wrx_open(g_pkg, &o, &s) == WRX_OK ? s : NULL;
}

/* --- two threads, one session: calls are serialized and all succeed with the same answer */
typedef struct {
  wrx_session* s;
  int n, ok, same, label;
} Worker;

static void* classify_loop(void* arg) {
  Worker* w = (Worker*)arg;
  for (int i = 0; i < w->n; ++i) {
    wrx_result* r = NULL;
    if (wrx_classify(w->s, "the film is good and bright", -1, NULL, 0, &r) == WRX_OK) {
      ++w->ok;
      w->same += r->label_index == w->label;
      wrx_result_free(r);
    }
  }
  return NULL;
}

/* --- a caller whose statuses are recorded, for cancel and close */
typedef struct {
  wrx_session* s;
  int n;
  int cancelled, ok, closed, other;
  atomic_int started;
} Caller;

static void* call_until(void* arg) {
  Caller* c = (Caller*)arg;
  for (int i = 0; i < c->n; ++i) {
    wrx_result* r = NULL;
    atomic_store(&c->started, 1);
    const wrx_status st = wrx_classify(c->s, "a slow query over a capped device", -1, "with a pair", -1, &r);
    if (st == WRX_OK)
      ++c->ok, wrx_result_free(r);
    else if (st == WRX_ERR_CANCELLED)
      ++c->cancelled;
    else if (st == WRX_ERR_CLOSED)
      ++c->closed;
    else
      ++c->other;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: wrx-c-api-tests GOOD_PACKAGE CORRUPT_PACKAGE\n");
    return 2;
  }
  g_pkg = argv[1];
  check(wrx_api_version() == WRX_API_VERSION, "api version");
  check(strcmp(wrx_status_name(WRX_ERR_CANCELLED), "CANCELLED") == 0, "status names");
  check(wrx_status_is_user_error(WRX_ERR_INVALID_UTF8) && !wrx_status_is_user_error(WRX_ERR_RUNTIME),
        "user errors are apart from internal ones");
  check(!wrx_status_is_user_error((wrx_status)999), "an unknown status is not a user error");
  check(!wrx_status_is_user_error((wrx_status)-1), "a negative status is not a user error");
  check(strcmp(wrx_status_name((wrx_status)999), "UNKNOWN") == 0, "an unknown status has no name");
  check(strcmp(wrx_status_name((wrx_status)257), "UNKNOWN") == 0, "a code past the last has no name");

  /* open: every bad input has its own error, nothing aborts */
  wrx_session* s = NULL;
  check(wrx_open(g_pkg, NULL, NULL) == WRX_ERR_INVALID_ARGUMENT, "open: out NULL");
  check(wrx_open(NULL, NULL, &s) == WRX_ERR_INVALID_ARGUMENT && s == NULL, "open: dir NULL");
  check(wrx_open("/nonexistent/wrx/pkg", NULL, &s) == WRX_ERR_MISSING_FILE && s == NULL, "open: missing dir");
  check(strstr(wrx_last_error_message(), "/nonexistent/wrx/pkg") != NULL, "open: the message names the path");
  check(strlen(wrx_last_error_hint()) > 0, "open: a hint");
  wrx_status st = wrx_open(argv[2], NULL, &s);
  check(st != WRX_OK && wrx_status_is_user_error(st) && s == NULL, "open: a corrupt package is a user error");
  wrx_options bad;
  wrx_options_init(&bad);
  bad.struct_size = 3;
  check(wrx_open(g_pkg, &bad, &s) == WRX_ERR_INVALID_ARGUMENT, "open: options not initialised");
  wrx_options_init(&bad);
  bad.plan = "no-such-plan";
  check(wrx_open(g_pkg, &bad, &s) == WRX_ERR_BAD_PLAN, "open: unknown plan");
  wrx_options_init(&bad);
  bad.threads = 0;
  check(wrx_open(g_pkg, &bad, &s) == WRX_ERR_INVALID_ARGUMENT, "open: zero threads");

  check(wrx_open(g_pkg, NULL, &s) == WRX_OK && s != NULL, "open: the package");
  if (s == NULL) goto done;
  wrx_info info;
  check(wrx_session_info(s, &info) == WRX_OK && strcmp(info.plan_name, "uniform-4-pre1") == 0,
        "info: the default plan answers");

  /* classify */
  wrx_result* r = NULL;
  check(wrx_classify(s, "the film is good and bright", -1, NULL, 0, &r) == WRX_OK && r != NULL, "classify");
  int label = -1;
  if (r != NULL) {
    float sum = 0;
    for (int c = 0; c < r->num_categories; ++c) sum += r->categories[c].score;
    check(r->num_categories == info.num_labels && sum > 0.999f && sum < 1.001f, "classify: scores sum to 1");
    check(r->label_index >= 0 && strcmp(r->label, r->categories[r->label_index].label) == 0, "classify: label name");
    check(r->num_tokens >= 2 && r->token_ids != NULL, "classify: token ids");
    check(r->timings.total_ms > 0 && r->timings.bytes_read > 0, "classify: timings and bytes");
    label = r->label_index;
    wrx_result_free(r);
  }
  wrx_result_free(NULL);
  check(wrx_classify(s, "\xff\xfe", -1, NULL, 0, &r) == WRX_ERR_INVALID_UTF8 && r == NULL, "classify: invalid UTF-8");
  check(wrx_classify(s, "ok", -1, "\xed\xa0\x80", 3, &r) == WRX_ERR_INVALID_UTF8, "classify: a surrogate in the pair");
  check(wrx_classify(s, NULL, -1, NULL, 0, &r) == WRX_ERR_INVALID_ARGUMENT, "classify: text NULL");
  check(wrx_classify(s, "x", -1, NULL, 0, NULL) == WRX_ERR_INVALID_ARGUMENT, "classify: out NULL");
  check(wrx_classify(s, "x", -7, NULL, 0, &r) == WRX_ERR_INVALID_ARGUMENT, "classify: bad length");
  check(wrx_classify(s, "a\0b", 3, NULL, 0, &r) == WRX_OK, "classify: embedded NUL with a length");
  wrx_result_free(r);

  /* two threads on one session: serialized, identical answers */
  Worker w1 = {s, 20, 0, 0, label}, w2 = {s, 20, 0, 0, label};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, classify_loop, &w1);
  pthread_create(&t2, NULL, classify_loop, &w2);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  check(w1.ok == 20 && w2.ok == 20 && w1.same == 20 && w2.same == 20, "two threads: all calls answer the same");

  wrx_stats stats;
  check(wrx_session_stats(s, &stats) == WRX_OK && stats.queries >= 42 && stats.rss_bytes > 0 &&
            stats.peak_rss_bytes >= stats.rss_bytes && stats.preload_bytes > 0,
        "stats");
  check(wrx_session_stats(s, NULL) == WRX_ERR_INVALID_ARGUMENT, "stats: out NULL");
  check(wrx_close(s) == WRX_OK, "close");
  check(wrx_close(s) == WRX_ERR_CLOSED, "close twice");
  check(wrx_classify(s, "x", -1, NULL, 0, &r) == WRX_ERR_CLOSED, "classify after close");
  check(wrx_cancel(s) == WRX_ERR_CLOSED && wrx_session_stats(s, &stats) == WRX_ERR_CLOSED, "cancel/stats after close");
  check(wrx_classify((wrx_session*)0x12345, "x", -1, NULL, 0, &r) == WRX_ERR_CLOSED, "a handle never opened");
  check(wrx_classify(NULL, "x", -1, NULL, 0, &r) == WRX_ERR_INVALID_ARGUMENT, "a NULL handle");

  /* cancel from another thread: the call in flight stops, the session stays usable */
  s = open_slow(0.05);
  check(s != NULL, "open: capped IO");
  if (s != NULL) {
    Caller c = {s, 1, 0, 0, 0, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, call_until, &c);
    while (!atomic_load(&c.started)) usleep(1000);
    usleep(20000);
    check(wrx_cancel(s) == WRX_OK, "cancel");
    pthread_join(t, NULL);
    check(c.cancelled == 1 && c.other == 0, "cancel: the call in flight returns CANCELLED");
    check(wrx_classify(s, "still usable", -1, NULL, 0, &r) == WRX_OK, "cancel: the session answers again");
    wrx_result_free(r);
    check(wrx_cancel(s) == WRX_OK, "cancel with nothing in flight");
    check(wrx_classify(s, "not cancelled by the idle cancel", -1, NULL, 0, &r) == WRX_OK,
          "cancel: an idle cancel does not stop the next call");
    wrx_result_free(r);

    /* close during a call */
    Caller d = {s, 3, 0, 0, 0, 0, 0};
    pthread_create(&t, NULL, call_until, &d);
    while (!atomic_load(&d.started)) usleep(1000);
    usleep(20000);
    check(wrx_close(s) == WRX_OK, "close during a call");
    pthread_join(t, NULL);
    check(d.other == 0 && d.closed >= 1 && d.ok + d.cancelled + d.closed == 3,
          "close during a call: the call ends cleanly, later calls see CLOSED");
  }

  /* several sessions coexist */
  wrx_session *a = NULL, *b = NULL;
  check(wrx_open(g_pkg, NULL, &a) == WRX_OK && wrx_open(g_pkg, NULL, &b) == WRX_OK && a != b, "two sessions");
  check(wrx_classify(a, "one", -1, NULL, 0, &r) == WRX_OK, "two sessions: first answers");
  wrx_result_free(r);
  check(wrx_close(a) == WRX_OK && wrx_classify(b, "two", -1, NULL, 0, &r) == WRX_OK,
        "two sessions: closing one leaves the other");
  wrx_result_free(r);
  wrx_close(b);

done:
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
