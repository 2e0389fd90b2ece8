/*
 * A blob written as it downloads, on the unpack worker beside the layer it unpacks: each chunk is
 * hashed (sha256) and written to the blob's file, and every 16 MiB the kernel is asked to start
 * writing what came so far (sync_file_range, which does not wait), so the fsync that makes the blob
 * durable at the end finds little left to write. The file descriptor belongs to the caller.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
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
  int64_t flushed; /* bytes before this offset have had their writeback started */
  int done;
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

/* blobWrite(handle, chunk): hash and append the chunk. */
static napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  blob_sink *b = argc == 2 ? arg_sink(env, argv[0]) : NULL;
  if (!b) return throw_errno(env, EBADF, "blobWrite");
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_errno(env, EINVAL, "blobWrite");
  EVP_DigestUpdate(b->sha, data, len);
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(b->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return throw_errno(env, errno, "writing the blob");
    p += n;
    len -= (size_t)n;
    b->size += n;
  }
  if (b->size - b->flushed >= FLUSH_EVERY) {
    /* Only a hint to start writeback: a failure here is found by the final fsync. */
    sync_file_range(b->fd, b->flushed, b->size - b->flushed, SYNC_FILE_RANGE_WRITE);
    b->flushed = b->size;
  }
  return NULL;
}

/* blobEnd(handle): { digest, size } of all that was written. */
static napi_value End(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  blob_sink *b = argc == 1 ? arg_sink(env, argv[0]) : NULL;
  if (!b) return throw_errno(env, EBADF, "blobEnd");
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
