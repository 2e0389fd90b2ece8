/*
 * A blob written as it downloads, beside the layer the unpack worker makes of it: each batch of chunks
 * is hashed (sha256) and written to the blob's file on libuv's threadpool, so the unpack and the blob
 * use two cores; every 16 MiB what came so far is synced there too (fdatasync), so the fsync that makes
 * the blob durable at the end finds little left to write: a device's cache flush costs in proportion to
 * what was written since the last, and at the end it would hold up the pull. The file descriptor
 * belongs to the caller.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_EVERY (16 << 20)

typedef struct {
  int fd;
  EVP_MD_CTX *sha;
  int64_t size;
  int64_t flushed; /* bytes before this offset are on disk */
  int done;
  int busy; /* a batch is being written on the threadpool */
} blob_sink;

static void sink_free(blob_sink *b) {
  if (b->sha) EVP_MD_CTX_free(b->sha);
  b->sha = NULL;
  b->done = 1;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sink_free(data);
  free(data);
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static blob_sink *arg_sink(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  blob_sink *b = data;
  return b && !b->done ? b : NULL;
}

/* blobSink(fd): a handle for blobWrite and blobEnd. */
static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_errno(env, EBADF, "blobSink");
  blob_sink *b = calloc(1, sizeof(blob_sink));
  if (!b) return throw_errno(env, ENOMEM, "blobSink");
  b->fd = fd;
  b->sha = EVP_MD_CTX_new();
  if (!b->sha || EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
    finalize(env, b, NULL);
    return throw_errno(env, ENOSYS, "sha256");
  }
  napi_value out;
  napi_create_external(env, b, finalize, NULL, &out);
  return out;
}

/* One batch of chunks hashed and written on libuv's threadpool; the chunks stay referenced until it completes. */
typedef struct {
  blob_sink *sink;
  napi_ref sink_ref;
  napi_ref *refs;
  struct {
    const char *p;
    size_t len;
  } *chunks;
  size_t count;
  int err; /* errno of a failed write, 0 when all were written */
  napi_ref callback;
  napi_async_work work;
} blob_batch;

static void batch_execute(napi_env env, void *data) {
  (void)env;
  blob_batch *w = data;
  blob_sink *b = w->sink;
  for (size_t i = 0; i < w->count && !w->err; i++) {
    const char *p = w->chunks[i].p;
    size_t len = w->chunks[i].len;
    EVP_DigestUpdate(b->sha, p, len);
    while (len > 0) {
      ssize_t n = write(b->fd, p, len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        w->err = errno;
        break;
      }
      p += n;
      len -= (size_t)n;
      b->size += n;
    }
  }
  if (!w->err && b->size - b->flushed >= FLUSH_EVERY) {
    /* Made durable as it grows: this thread waits, not the download, and the last fsync has little left. */
    if (fdatasync(b->fd) != 0) w->err = errno;
    b->flushed = b->size;
  }
}

static void batch_free(napi_env env, blob_batch *w) {
  for (size_t i = 0; i < w->count; i++)
    if (w->refs[i]) napi_delete_reference(env, w->refs[i]);
  if (w->sink_ref) napi_delete_reference(env, w->sink_ref);
  if (w->callback) napi_delete_reference(env, w->callback);
  if (w->work) napi_delete_async_work(env, w->work);
  free(w->refs);
  free(w->chunks);
  free(w);
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  blob_batch *w = data;
  w->sink->busy = 0;
  napi_value cb, global, arg;
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb) {
    if (w->err || status != napi_ok) {
      char msg[256];
      snprintf(msg, sizeof(msg), "writing the blob: %s", strerror(w->err ? w->err : ECANCELED));
      napi_value text;
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
      napi_create_error(env, NULL, text, &arg);
    } else {
      napi_get_null(env, &arg);
    }
    napi_get_global(env, &global);
    napi_call_function(env, global, cb, 1, &arg, NULL);
  }
  batch_free(env, w);
}

/*
 * blobWrite(sink, chunks, done): hash and write the chunks, in order, off this thread; `done(err)` is
 * called once they are. One batch at a time per sink: the caller waits for `done` before the next.
 */
static napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  blob_sink *b = argc == 3 ? arg_sink(env, argv[0]) : NULL;
  if (!b) return throw_errno(env, EBADF, "blobWrite");
  if (b->busy) return throw_errno(env, EBUSY, "blobWrite");
  uint32_t count = 0;
  bool is_array = false;
  napi_valuetype cb_type;
  napi_is_array(env, argv[1], &is_array);
  napi_typeof(env, argv[2], &cb_type);
  if (!is_array || cb_type != napi_function || napi_get_array_length(env, argv[1], &count) != napi_ok)
    return throw_errno(env, EINVAL, "blobWrite");
  blob_batch *w = calloc(1, sizeof(blob_batch));
  if (!w) return throw_errno(env, ENOMEM, "blobWrite");
  w->sink = b;
  w->refs = calloc(count ? count : 1, sizeof(napi_ref));
  w->chunks = calloc(count ? count : 1, sizeof(*w->chunks));
  if (!w->refs || !w->chunks) {
    batch_free(env, w);
    return throw_errno(env, ENOMEM, "blobWrite");
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value chunk;
    void *data = NULL;
    size_t len = 0;
    if (napi_get_element(env, argv[1], i, &chunk) != napi_ok ||
        napi_get_buffer_info(env, chunk, &data, &len) != napi_ok) {
      batch_free(env, w);
      return throw_errno(env, EINVAL, "blobWrite");
    }
    napi_create_reference(env, chunk, 1, &w->refs[i]);
    w->chunks[i].p = data;
    w->chunks[i].len = len;
    w->count = i + 1;
  }
  napi_value name;
  napi_create_string_utf8(env, "gantry.blobWrite", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[0], 1, &w->sink_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &w->callback) != napi_ok ||
      napi_create_async_work(env, NULL, name, batch_execute, batch_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    batch_free(env, w);
    return throw_errno(env, ENOMEM, "blobWrite");
  }
  b->busy = 1;
  return NULL;
}

/* blobEnd(handle): { digest, size } of all that was written (no batch may be in flight). */
static napi_value End(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  blob_sink *b = argc == 1 ? arg_sink(env, argv[0]) : NULL;
  if (!b) return throw_errno(env, EBADF, "blobEnd");
  if (b->busy) return throw_errno(env, EBUSY, "blobEnd");
  unsigned char digest[32];
  unsigned int dlen = 0;
  EVP_DigestFinal_ex(b->sha, digest, &dlen);
  char hex[7 + 64 + 1] = "sha256:";
  for (int i = 0; i < 32; i++) snprintf(hex + 7 + 2 * i, 3, "%02x", digest[i]);
  int64_t size = b->size;
  sink_free(b);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, hex, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "digest", v);
  napi_create_int64(env, size, &v);
  napi_set_named_property(env, out, "size", v);
  return out;
}

void blob_init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = { { "blobSink", Create }, { "blobWrite", Write }, { "blobEnd", End } };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
