/* wrx.h: the C API of libwrx, the on-device runtime an app links.
 *
 * A session answers text-classification queries from a WRX package (the directory
 * `wrx package` writes and `wrx deploy` pushes) while holding only a few MB of the model:
 * the plan's preload buffer stays resident, everything else streams from flash for each
 * query through the elastic pipeline.
 *
 *   wrx_session* s = NULL;
 *   wrx_options o;
 *   wrx_options_init(&o);
 *   o.plan = "wrx-t20-m4";                      // NULL: the default plan (uniform-4-pre1)
 *   if (wrx_open("/data/local/tmp/wrx/minilm", &o, &s) != WRX_OK) {
 *     fprintf(stderr, "%s\nHINT: %s\n", wrx_last_error_message(), wrx_last_error_hint());
 *   }
 *   wrx_result* r = NULL;
 *   if (wrx_classify(s, "a gorgeous, witty film", -1, NULL, 0, &r) == WRX_OK) {
 *     printf("%s %.3f\n", r->label, r->categories[r->label_index].score);
 *     wrx_result_free(r);
 *   }
 *   wrx_close(s);
 *
 * Rules:
 * - No C++ types cross this header; every function returns a wrx_status, never throws and
 *   never aborts the process on bad input. On an error, wrx_last_error_message() and
 *   wrx_last_error_hint() (per thread, valid until this thread's next wrx call) say what
 *   went wrong, naming the file and field, and what to do.
 * - Calls on one session are serialized: a second thread's call waits for the first.
 *   wrx_cancel() may be called from any thread; the call in flight returns
 *   WRX_ERR_CANCELLED at its next layer boundary and the session stays usable.
 * - wrx_close() during a call from another thread cancels that call, waits for it, then
 *   frees the session. Any later call with the same handle returns WRX_ERR_CLOSED.
 * - Text is UTF-8; invalid UTF-8 is WRX_ERR_INVALID_UTF8, never a crash or a guess.
 */
#ifndef WRX_WRX_H_
#define WRX_WRX_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WRX_BUILDING_LIBRARY)
#define WRX_API __attribute__((visibility("default")))
#else
#define WRX_API
#endif

/* Bumped when a declaration here changes incompatibly; additions keep it. */
#define WRX_API_VERSION 1

/* A closed set; values are never renumbered (docs/FORMAT.md, "Rejection codes"). */
typedef enum wrx_status {
  WRX_OK = 0,
  /* user errors: bad input the caller can fix */
  WRX_ERR_IO = 1,
  WRX_ERR_TRUNCATED = 2,
  WRX_ERR_BAD_MAGIC = 3,
  WRX_ERR_UNSUPPORTED_VERSION = 4,
  WRX_ERR_HEADER_CHECKSUM = 5,
  WRX_ERR_TABLE_CHECKSUM = 6,
  WRX_ERR_BAD_COUNTS = 7,
  WRX_ERR_OFFSET_OUT_OF_RANGE = 8,
  WRX_ERR_TENSOR_OUT_OF_RANGE = 9,
  WRX_ERR_UNKNOWN_ENUM = 10,
  WRX_ERR_ENTRY_CHECKSUM = 11,
  WRX_ERR_MANIFEST_FIELD = 12,
  WRX_ERR_MANIFEST_MISMATCH = 13,
  WRX_ERR_MISSING_ENTRY = 14,
  WRX_ERR_BAD_PLAN = 15,
  WRX_ERR_BAD_DATA = 16,
  WRX_ERR_MISSING_FILE = 17,
  /* internal errors: not the caller's fault */
  WRX_ERR_RUNTIME = 18,
  WRX_ERR_OUT_OF_MEMORY = 19,
  WRX_ERR_USAGE = 20,
  /* the session API */
  WRX_ERR_BAD_TOKENIZER = 21,
  WRX_ERR_INVALID_UTF8 = 22,
  WRX_ERR_INVALID_ARGUMENT = 23,
  WRX_ERR_CANCELLED = 24,
  WRX_ERR_CLOSED = 25,
  /* Not statuses. They give the enum the range of a 32-bit int in C++ as well as in C, so
     any int a caller passes as a wrx_status (an unknown or future code) is a value the
     library may read; without them C++ would read, say, 999 as undefined behaviour. */
  WRX_STATUS_RANGE_MIN_ = -2147483647 - 1,
  WRX_STATUS_RANGE_MAX_ = 2147483647
} wrx_status;

typedef struct wrx_session wrx_session; /* opaque */

typedef struct wrx_options {
  uint32_t struct_size;     /* sizeof(wrx_options): set by wrx_options_init */
  const char* plan;         /* plan file, plan name in <package>/plans, or uniform-B[-preL]; NULL: default */
  int32_t threads;          /* XNNPACK threads; default 2 */
  double io_bandwidth_mbps; /* > 0: cap reads (emulates a slower device class); default 0 */
  int32_t direct_io;        /* 1: O_DIRECT reads where possible (default); 0: buffered */
  int32_t load_all;         /* 1: hold the whole model resident (the baseline); default 0 */
} wrx_options;

typedef struct wrx_category {
  int32_t index;
  const char* label; /* the package's label name */
  float score;       /* softmax probability */
} wrx_category;

typedef struct wrx_timings {
  double tokenize_ms, io_ms, compute_ms, stall_ms, total_ms;
  uint64_t bytes_read;
} wrx_timings;

typedef struct wrx_result {
  int32_t label_index;
  const char* label;
  int32_t num_categories;
  const wrx_category* categories; /* one per label, in label order */
  const float* logits;            /* num_categories */
  int32_t num_tokens;
  const int32_t* token_ids; /* what the tokenizer produced, special tokens included */
  wrx_timings timings;
} wrx_result;

typedef struct wrx_stats {
  int64_t resident_weight_bytes; /* weight buffers alive in the process now */
  int64_t preload_bytes;         /* this session's preload buffer */
  int64_t rss_bytes;             /* process RSS now (VmRSS) */
  int64_t peak_rss_bytes;        /* process RSS at its peak (VmHWM) */
  uint64_t queries;
} wrx_stats;

typedef struct wrx_info {
  const char* plan_name; /* valid until wrx_close */
  int32_t num_labels;
  int32_t max_seq_len;
} wrx_info;

WRX_API uint32_t wrx_api_version(void);
WRX_API const char* wrx_version_string(void);
WRX_API const char* wrx_status_name(wrx_status status);
/* 1 when the caller can fix the error by changing its input, 0 otherwise. */
WRX_API int wrx_status_is_user_error(wrx_status status);
WRX_API const char* wrx_last_error_message(void);
WRX_API const char* wrx_last_error_hint(void);

WRX_API void wrx_options_init(wrx_options* options);
/* options may be NULL (defaults). */
WRX_API wrx_status wrx_open(const char* package_dir, const wrx_options* options, wrx_session** out);
/* text_len / pair_len: bytes, or -1 for NUL-terminated; pair may be NULL. */
WRX_API wrx_status wrx_classify(wrx_session* session, const char* text, int64_t text_len, const char* pair,
                                int64_t pair_len, wrx_result** out);
WRX_API void wrx_result_free(wrx_result* result);
WRX_API wrx_status wrx_cancel(wrx_session* session);
WRX_API wrx_status wrx_session_stats(wrx_session* session, wrx_stats* out);
WRX_API wrx_status wrx_session_info(wrx_session* session, wrx_info* out);
WRX_API wrx_status wrx_close(wrx_session* session);

#ifdef __cplusplus
}
#endif

#endif /* WRX_WRX_H_ */
