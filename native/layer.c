/*
 * An image layer unpacked in one pass, off the JavaScript heap: the bytes (gzip or a plain tar) are
 * inflated, hashed for the diff ID, parsed as a tar and applied through the confined primitives of
 * confined.c as they arrive. It does what the JavaScript path (diff/apply.ts extractTar over tar-stream
 * and zlib streams) did, in overlay form, without a stream hop and a copy per chunk at each stage.
 *
 * The tar is read as Go's archive/tar reads it (what Docker unpacks with): ustar and GNU headers, GNU
 * long names and link names, pax records (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*; global
 * ones are skipped, as Docker skips them), and header-only types (links, devices, directories, FIFOs) carry no data whatever their size field says.
 * Sizes of long headers are capped as tar-stream caps them; numbers, pax records and names are read by
 * tarformat.c. Everything here is hostile input: every
 * length is checked before it is used, every name is cleaned, and only confined.c touches the disk.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "confined.h"

#define BLOCK 512
#define LONG_HEADER_MAX (4 << 20)
#define INFLATE_CHUNK (256 << 10)
#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_WHITEOUT ".wh..wh..opq"

enum { ST_HEADER, ST_LONG, ST_FILE, ST_SKIP, ST_END };

#include "tarformat.h"


typedef struct {
  char *rel;
  struct timespec ts[2];
} dir_time;

typedef struct {
  int root;
  uint64_t resolve;
  int64_t max_bytes, max_entries; /* -1: no limit */
  int64_t size, entries;
  EVP_MD_CTX *sha;
  int gzip, z_ready, z_between, z_trailing;
  z_stream z;
  unsigned char *out;
  int state;
  unsigned char block[BLOCK];
  size_t block_fill;
  int zero_blocks;
  uint64_t remaining, padding;
  /* a long header (GNU name, pax records) being gathered */
  char *long_buf;
  size_t long_fill;
  int long_type;
  char *gnu_path, *gnu_link;
  pax_set pax;
  /* the regular file being written */
  int fd;
  char *file_rel;
  confined_entry file;
  confined_xattrs file_x;
  dir_time *dirs;
  size_t ndirs, cap_dirs;
  int done;
  /* the first failure: every later call reports it again */
  int failed;
  char reason[16];
  char code[12];
  char *err_rel;
  char message[1024];
} unpacker;

static const char *errno_code(int err) {
  switch (err) {
  case ELOOP: return "ELOOP";
  case EXDEV: return "EXDEV";
  case ENOENT: return "ENOENT";
  case EEXIST: return "EEXIST";
  case ENOTDIR: return "ENOTDIR";
  case ENOSPC: return "ENOSPC";
  default: return "EIO";
  }
}

/* Record the failure; `rel` is copied. Answers -1 for the callers to return. */
static int fail(unpacker *u, const char *reason, const char *rel, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(unpacker *u, const char *reason, const char *rel, const char *code, const char *fmt, ...) {
  if (u->failed) return -1;
  u->failed = 1;
  snprintf(u->reason, sizeof(u->reason), "%s", reason);
  snprintf(u->code, sizeof(u->code), "%s", code ? code : "");
  u->err_rel = rel ? strdup(rel) : NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(u->message, sizeof(u->message), fmt, ap);
  va_end(ap);
  return -1;
}

static int fail_errno(unpacker *u, int err, const char *what, const char *rel) {
  return fail(u, "entry", rel, errno_code(err), "%s %s: %s", what, rel, strerror(err));
}

static int fail_tar(unpacker *u, const char *message) {
  return fail(u, "tar", NULL, NULL, "%s", message);
}

static void free_file_xattrs(unpacker *u) {
  for (uint32_t i = 0; i < u->file_x.count; i++) {
    free((void *)u->file_x.names[i]);
    free((void *)u->file_x.values[i]);
  }
  free((void *)u->file_x.names);
  free((void *)u->file_x.values);
  free((void *)u->file_x.lens);
  memset(&u->file_x, 0, sizeof(u->file_x));
}

/* The entry's SCHILY.xattr.* records, copied (a file's are set after its content is written). */
static int collect_xattrs(unpacker *u) {
  static const char prefix[] = "SCHILY.xattr.";
  const size_t plen = sizeof(prefix) - 1;
  size_t n = 0;
  for (size_t i = 0; i < u->pax.n; i++)
    if (u->pax.recs[i].key_len > plen && memcmp(u->pax.recs[i].key, prefix, plen) == 0) n++;
  if (n == 0) return 0;
  char **names = calloc(n, sizeof(char *));
  void **values = calloc(n, sizeof(void *));
  size_t *lens = calloc(n, sizeof(size_t));
  u->file_x.names = (const char *const *)names;
  u->file_x.values = (const void *const *)values;
  u->file_x.lens = lens;
  if (!names || !values || !lens) return -ENOMEM;
  for (size_t i = 0; i < u->pax.n; i++) {
    const pax_record *r = &u->pax.recs[i];
    if (r->key_len <= plen || memcmp(r->key, prefix, plen) != 0) continue;
    uint32_t k = u->file_x.count;
    names[k] = dup_value(r->key + plen, r->key_len - plen);
    values[k] = malloc(r->value_len ? r->value_len : 1);
    lens[k] = r->value_len;
    u->file_x.count = k + 1;
    if (!names[k] || !values[k]) return -EINVAL;
    memcpy(values[k], r->value, r->value_len);
  }
  return 0;
}

static int remember_dir(unpacker *u, const char *rel, const struct timespec ts[2]) {
  if (u->ndirs == u->cap_dirs) {
    size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 64;
    dir_time *grown = realloc(u->dirs, cap * sizeof(dir_time));
    if (!grown) return -ENOMEM;
    u->dirs = grown;
    u->cap_dirs = cap;
  }
  char *copy = strdup(rel);
  if (!copy) return -ENOMEM;
  u->dirs[u->ndirs].rel = copy;
  u->dirs[u->ndirs].ts[0] = ts[0];
  u->dirs[u->ndirs].ts[1] = ts[1];
  u->ndirs++;
  return 0;
}

/* The regular file's content is all written: owner, mode, xattrs, times, then close it. */
static int finish_file(unpacker *u) {
  int rc = confined_finish_file(u->fd, &u->file);
  close(u->fd);
  u->fd = -1;
  int out = rc < 0 ? fail_errno(u, -rc, "finishing", u->file_rel) : 0;
  free(u->file_rel);
  u->file_rel = NULL;
  free_file_xattrs(u);
  return out;
}

/* Apply `e` at `rel` (a copy is handed to confined_apply, which cuts it up). */
static int apply_at(unpacker *u, const char *rel, confined_entry *e, int *out_fd) {
  char *work = strdup(rel);
  if (!work) return fail_errno(u, ENOMEM, "creating", rel);
  const char *what = "creating";
  int fd = -1;
  int rc = confined_apply(u->root, work, u->resolve, e, &what, &fd);
  free(work);
  if (rc < 0) return fail_errno(u, -rc, what, rel);
  if (out_fd) *out_fd = fd;
  else if (fd >= 0) close(fd);
  return 0;
}

static int kind_of(int typeflag) {
  switch (typeflag) {
  case '0': case 0: case '7': return K_FILE;
  case '1': return K_HARDLINK;
  case '2': return K_SYMLINK;
  case '3': return K_CHAR;
  case '4': return K_BLOCK;
  case '5': return K_DIR;
  case '6': return K_FIFO;
  default: return 0;
  }
}

/* After the body (size bytes), the padding to the next block. */
static void expect_body(unpacker *u, int state, uint64_t size) {
  u->state = size ? state : ST_HEADER;
  u->remaining = size;
  u->padding = size ? (BLOCK - size % BLOCK) % BLOCK : 0;
}

/* One entry whose header (and long headers) are read: apply it, and say how its body is read. */
static int entry(unpacker *u, int typeflag, const char *name, const char *linkname, int64_t mode, int64_t uid,
                 int64_t gid, int64_t size, int64_t mtime, int64_t dev_major, int64_t dev_minor) {
  if (++u->entries > u->max_entries && u->max_entries >= 0) return fail(u, "entries", NULL, NULL, "too many entries");
  int kind = kind_of(typeflag);
  /* Old tars mark directories with a trailing slash on a regular file entry. */
  size_t nlen = strlen(name);
  if ((typeflag == '0' || typeflag == 0) && nlen && name[nlen - 1] == '/') kind = K_DIR;
  uint64_t body = kind == K_FILE || kind == 0 ? (uint64_t)size : 0;
  char *rel = clean_name(name);
  if (!rel) return fail(u, "escape", name, NULL, "escapes the extraction root");
  const char *slash = strrchr(rel, '/');
  const char *base = slash ? slash + 1 : rel;
  size_t parent_len = slash ? (size_t)(slash - rel) : 0;
  confined_entry e;
  memset(&e, 0, sizeof(e));
  e.mode = (mode_t)(mode & 07777);
  e.uid = (uid_t)uid;
  e.gid = (gid_t)gid;
  e.ts[0].tv_sec = mtime;
  e.ts[1] = e.ts[0];
  e.flags = F_CHOWN | F_MKDIR_PARENTS;
  int rc = 0;

  if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
    expect_body(u, ST_SKIP, body);
    char *parent = strndup(rel, parent_len);
    if (!parent) rc = fail_errno(u, ENOMEM, "creating", rel);
    else if (strcmp(base, OPAQUE_WHITEOUT) == 0) {
      char *work = strdup(parent);
      int mk = work ? confined_mkdir_all(u->root, work, u->resolve, 0755) : -ENOMEM;
      free(work);
      e.kind = K_OPAQUE;
      rc = mk < 0 ? fail_errno(u, -mk, "creating directory", parent) : apply_at(u, parent, &e, NULL);
    } else {
      const char *target = base + strlen(WHITEOUT_PREFIX);
      if (!target[0] || strcmp(target, ".") == 0 || strcmp(target, "..") == 0) {
        rc = fail(u, "whiteout", rel, NULL, "invalid whiteout");
      } else {
        size_t tlen = parent_len + 1 + strlen(target) + 1;
        char *path = malloc(tlen);
        if (!path) rc = fail_errno(u, ENOMEM, "creating", rel);
        else {
          if (parent_len) snprintf(path, tlen, "%s/%s", parent, target);
          else snprintf(path, tlen, "%s", target);
          e.kind = K_WHITEOUT;
          rc = apply_at(u, path, &e, NULL);
          free(path);
        }
      }
    }
    free(parent);
    free(rel);
    return rc;
  }
  if (!kind) {
    /* pax globals, volume labels and other metadata-only entries carry nothing to unpack */
    expect_body(u, ST_SKIP, body);
    free(rel);
    return 0;
  }
  e.kind = kind;
  if (collect_xattrs(u) < 0) {
    free_file_xattrs(u);
    free(rel);
    return fail_tar(u, "Invalid pax xattr record");
  }
  e.xattrs = &u->file_x;
  if (kind == K_FILE) {
    if (u->max_bytes >= 0 && u->size + size > u->max_bytes) {
      free_file_xattrs(u);
      free(rel);
      return fail(u, "bytes", NULL, NULL, "too large");
    }
    int fd = -1;
    if (apply_at(u, rel, &e, &fd) < 0) {
      free_file_xattrs(u);
      free(rel);
      return -1;
    }
    u->fd = fd;
    u->file = e;
    u->file.xattrs = &u->file_x;
    u->file_rel = rel;
    expect_body(u, ST_FILE, body);
    return body ? 0 : finish_file(u);
  }
  expect_body(u, ST_SKIP, body);
  char *link = NULL;
  if (kind == K_SYMLINK) link = strdup(linkname);
  if (kind == K_HARDLINK) {
    link = clean_name(linkname);
    if (!link) {
      free_file_xattrs(u);
      free(rel);
      return fail(u, "escape", linkname, NULL, "escapes the extraction root");
    }
  }
  if ((kind == K_SYMLINK || kind == K_HARDLINK) && !link) rc = fail_errno(u, ENOMEM, "creating", rel);
  else {
    e.link_target = link;
    e.dev_major = (int)dev_major;
    e.dev_minor = (int)dev_minor;
    rc = apply_at(u, rel, &e, NULL);
    if (rc == 0 && kind == K_DIR && remember_dir(u, rel, e.ts) < 0) rc = fail_errno(u, ENOMEM, "creating", rel);
  }
  free(link);
  free_file_xattrs(u);
  free(rel);
  return rc;
}

/* A long header's body is read: keep what it says for the next entry. */
static int long_header_done(unpacker *u) {
  char *buf = u->long_buf;
  size_t len = u->long_fill;
  u->long_buf = NULL;
  u->long_fill = 0;
  switch (u->long_type) {
  case 'L':
  case 'K': {
    /* the name ends at its first NUL */
    char **slot = u->long_type == 'L' ? &u->gnu_path : &u->gnu_link;
    free(*slot);
    buf[len] = '\0';
    *slot = buf;
    return 0;
  }
  case 'g':
    free(buf);
    return 0;
  default:
    pax_free(&u->pax);
    if (pax_parse(&u->pax, buf, len) < 0) return fail_tar(u, "out of memory");
    return 0;
  }
}

static int header(unpacker *u) {
  const unsigned char *b = u->block;
  unsigned sum = 8 * 32;
  for (int i = 0; i < 148; i++) sum += b[i];
  for (int i = 156; i < BLOCK; i++) sum += b[i];
  if (sum == 8 * 32) {
    /* an empty block: two in a row end the archive, and what follows is only hashed */
    if (++u->zero_blocks >= 2) u->state = ST_END;
    return 0;
  }
  u->zero_blocks = 0;
  int64_t stored;
  if (parse_number(b + 148, 8, &stored) < 0 || stored != (int64_t)sum)
    return fail_tar(u, "Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?");
  int ustar = memcmp(b + 257, "ustar\0", 6) == 0;
  int gnu = memcmp(b + 257, "ustar ", 6) == 0 && memcmp(b + 263, " \0", 2) == 0;
  if (!ustar && !gnu) return fail_tar(u, "Invalid tar header: unknown format.");
  int typeflag = b[156];
  int64_t mode, uid, gid, size, mtime, dev_major = 0, dev_minor = 0;
  if (parse_number(b + 100, 8, &mode) < 0 || parse_number(b + 108, 8, &uid) < 0 || parse_number(b + 116, 8, &gid) < 0 ||
      parse_number(b + 124, 12, &size) < 0 || parse_number(b + 136, 12, &mtime) < 0 || size < 0)
    return fail_tar(u, "Invalid header");
  if ((typeflag == '3' || typeflag == '4') && (parse_number(b + 329, 8, &dev_major) < 0 || parse_number(b + 337, 8, &dev_minor) < 0))
    return fail_tar(u, "Invalid header");

  if (typeflag == 'L' || typeflag == 'K' || typeflag == 'x' || typeflag == 'g') {
    if (size > LONG_HEADER_MAX) return fail_tar(u, "Header exceeds max size");
    u->long_buf = malloc((size_t)size + 1);
    if (!u->long_buf) return fail_tar(u, "out of memory");
    u->long_fill = 0;
    u->long_type = typeflag;
    expect_body(u, ST_LONG, (uint64_t)size);
    return size ? 0 : long_header_done(u);
  }

  char name[256 + 2];
  size_t nlen = strnlen((const char *)b, 100);
  size_t plen = ustar ? strnlen((const char *)b + 345, 155) : 0;
  if (plen) {
    memcpy(name, b + 345, plen);
    name[plen] = '/';
    memcpy(name + plen + 1, b, nlen);
    name[plen + 1 + nlen] = '\0';
  } else {
    memcpy(name, b, nlen);
    name[nlen] = '\0';
  }
  char linkname[101];
  size_t llen = strnlen((const char *)b + 157, 100);
  memcpy(linkname, b + 157, llen);
  linkname[llen] = '\0';

  /* What the long headers before this one said replaces the header's own fields. */
  char *long_name = NULL, *long_link = NULL;
  int rc = 0;
  if (u->gnu_path) {
    long_name = u->gnu_path;
    u->gnu_path = NULL;
  }
  if (u->gnu_link) {
    long_link = u->gnu_link;
    u->gnu_link = NULL;
  }
  const pax_record *r;
  if (u->pax.n) {
    if ((r = pax_get(&u->pax, "path")) && r->value_len) {
      free(long_name);
      if (!(long_name = dup_value(r->value, r->value_len))) rc = fail_tar(u, "Invalid pax path");
    }
    if (!rc && (r = pax_get(&u->pax, "linkpath")) && r->value_len) {
      free(long_link);
      if (!(long_link = dup_value(r->value, r->value_len))) rc = fail_tar(u, "Invalid pax linkpath");
    }
    if (!rc && (r = pax_get(&u->pax, "size")) && r->value_len && parse_decimal(r->value, r->value_len, &size) < 0)
      rc = fail_tar(u, "Invalid header");
    if (!rc && (r = pax_get(&u->pax, "uid")) && parse_decimal(r->value, r->value_len, &uid) < 0) rc = fail_tar(u, "Invalid pax uid");
    if (!rc && (r = pax_get(&u->pax, "gid")) && parse_decimal(r->value, r->value_len, &gid) < 0) rc = fail_tar(u, "Invalid pax gid");
    if (!rc && (r = pax_get(&u->pax, "mtime"))) {
      /* seconds, with an optional fraction (dropped: times are kept to the second as tar headers keep them) */
      const char *dot = memchr(r->value, '.', r->value_len);
      size_t whole = dot ? (size_t)(dot - r->value) : r->value_len;
      if (parse_decimal(r->value, whole, &mtime) < 0) rc = fail_tar(u, "Invalid pax mtime");
    }
  }
  if (!rc)
    rc = entry(u, typeflag, long_name ? long_name : name, long_link ? long_link : linkname, mode, uid, gid, size, mtime,
               dev_major, dev_minor);
  free(long_name);
  free(long_link);
  /* pax records are for the one entry they precede */
  pax_free(&u->pax);
  return rc;
}

/* Tar bytes (already inflated): hashed for the diff ID, then parsed and applied. */
static int tar_feed(unpacker *u, const unsigned char *p, size_t n) {
  EVP_DigestUpdate(u->sha, p, n);
  while (n > 0 && !u->failed) {
    if (u->state == ST_END) return 0;
    if (u->state == ST_HEADER) {
      size_t take = BLOCK - u->block_fill < n ? BLOCK - u->block_fill : n;
      memcpy(u->block + u->block_fill, p, take);
      u->block_fill += take;
      p += take;
      n -= take;
      if (u->block_fill < BLOCK) return 0;
      u->block_fill = 0;
      if (header(u) < 0) return -1;
      continue;
    }
    if (u->remaining > 0) {
      size_t take = u->remaining < n ? (size_t)u->remaining : n;
      if (u->state == ST_LONG) {
        memcpy(u->long_buf + u->long_fill, p, take);
        u->long_fill += take;
      } else if (u->state == ST_FILE) {
        const unsigned char *w = p;
        size_t left = take;
        while (left > 0) {
          ssize_t wrote = write(u->fd, w, left);
          if (wrote < 0 && errno == EINTR) continue;
          if (wrote < 0) return fail_errno(u, errno, "writing", u->file_rel);
          w += wrote;
          left -= (size_t)wrote;
        }
        u->size += (int64_t)take;
      }
      u->remaining -= take;
      p += take;
      n -= take;
      if (u->remaining > 0) return 0;
      if (u->state == ST_FILE && finish_file(u) < 0) return -1;
      if (u->state == ST_LONG && long_header_done(u) < 0) return -1;
    }
    if (u->padding > 0) {
      size_t take = u->padding < n ? (size_t)u->padding : n;
      u->padding -= take;
      p += take;
      n -= take;
      if (u->padding > 0) return 0;
    }
    u->state = ST_HEADER;
  }
  return u->failed ? -1 : 0;
}

/* Compressed bytes: inflated member after member (as gunzip reads concatenated members), then fed on. */
static int gzip_feed(unpacker *u, const unsigned char *p, size_t n) {
  if (u->z_trailing) return 0;
  u->z.next_in = (Bytef *)p;
  u->z.avail_in = (uInt)n;
  for (;;) {
    if (u->z_between) {
      if (u->z.avail_in == 0) return 0;
      if (u->z.next_in[0] != 0x1f) {
        /* bytes after the last member that start no other: ignored, as Node's gunzip ignores them */
        u->z_trailing = 1;
        return 0;
      }
      inflateReset(&u->z);
      inflateValidate(&u->z, 0);
      u->z_between = 0;
    }
    u->z.next_out = u->out;
    u->z.avail_out = INFLATE_CHUNK;
    int rc = inflate(&u->z, Z_NO_FLUSH);
    size_t produced = INFLATE_CHUNK - u->z.avail_out;
    if (produced && tar_feed(u, u->out, produced) < 0) return -1;
    if (rc == Z_STREAM_END) {
      u->z_between = 1;
      continue;
    }
    if (rc == Z_BUF_ERROR) return 0;
    if (rc != Z_OK) return fail(u, "gzip", NULL, NULL, "%s", u->z.msg ? u->z.msg : "invalid gzip data");
    if (u->z.avail_in == 0 && u->z.avail_out != 0) return 0;
  }
}

static void unpacker_free(unpacker *u) {
  if (u->fd >= 0) close(u->fd);
  u->fd = -1;
  if (u->z_ready) inflateEnd(&u->z);
  u->z_ready = 0;
  if (u->sha) EVP_MD_CTX_free(u->sha);
  u->sha = NULL;
  free(u->out);
  u->out = NULL;
  free(u->long_buf);
  u->long_buf = NULL;
  free(u->gnu_path);
  free(u->gnu_link);
  u->gnu_path = u->gnu_link = NULL;
  pax_free(&u->pax);
  free(u->file_rel);
  u->file_rel = NULL;
  free_file_xattrs(u);
  for (size_t i = 0; i < u->ndirs; i++) free(u->dirs[i].rel);
  free(u->dirs);
  u->dirs = NULL;
  u->ndirs = u->cap_dirs = 0;
  free(u->err_rel);
  u->err_rel = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unpacker_free(data);
  free(data);
}

static int deeper_first(const void *a, const void *b) {
  size_t la = strlen(((const dir_time *)a)->rel), lb = strlen(((const dir_time *)b)->rel);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

static napi_value throw_failure(napi_env env, unpacker *u) {
  napi_value message, error, v;
  napi_create_string_utf8(env, u->message, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_string_utf8(env, u->reason, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "reason", v);
  if (u->code[0]) {
    napi_create_string_utf8(env, u->code, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "code", v);
  }
  if (u->err_rel) {
    napi_create_string_utf8(env, u->err_rel, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "rel", v);
  }
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_message(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static unpacker *arg_unpacker(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  unpacker *u = data;
  return u && !u->done ? u : NULL;
}

/* layerUnpacker(rootFd, resolve, gzip, maxBytes, maxEntries): a handle for layerWrite and layerEnd. */
static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_message(env, "layerUnpacker: missing arguments");
  unpacker *u = calloc(1, sizeof(unpacker));
  if (!u) return throw_message(env, "out of memory");
  u->fd = -1;
  int32_t root = -1, resolve = 0;
  bool gzip = false;
  napi_get_value_int32(env, argv[0], &root);
  napi_get_value_int32(env, argv[1], &resolve);
  napi_get_value_bool(env, argv[2], &gzip);
  napi_get_value_int64(env, argv[3], &u->max_bytes);
  napi_get_value_int64(env, argv[4], &u->max_entries);
  u->root = root;
  u->resolve = (uint64_t)resolve;
  u->gzip = gzip;
  u->sha = EVP_MD_CTX_new();
  if (!u->sha || EVP_DigestInit_ex(u->sha, EVP_sha256(), NULL) != 1) {
    finalize(env, u, NULL);
    return throw_message(env, "sha256 unavailable");
  }
  if (gzip) {
    u->out = malloc(INFLATE_CHUNK);
    if (!u->out || inflateInit2(&u->z, 16 + MAX_WBITS) != Z_OK) {
      finalize(env, u, NULL);
      return throw_message(env, "zlib unavailable");
    }
    u->z_ready = 1;
    /*
     * No CRC-32 over the inflated bytes: the diff ID (sha256 of the same bytes) is checked at the end,
     * and the CRC cost about a sixth of the inflating.
     */
    inflateValidate(&u->z, 0);
  }
  napi_value out;
  napi_create_external(env, u, finalize, NULL, &out);
  return out;
}

/* layerWrite(handle, chunk): unpack what the chunk completes; throws the first failure. */
static napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unpacker *u = argc == 2 ? arg_unpacker(env, argv[0]) : NULL;
  if (!u) return throw_message(env, "layerWrite: not an open layer unpacker");
  if (u->failed) return throw_failure(env, u);
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_message(env, "layerWrite: not a Buffer");
  while (len > 0) {
    /* zlib counts input in uInt */
    size_t part = len > (1u << 30) ? (1u << 30) : len;
    int rc = u->gzip ? gzip_feed(u, data, part) : tar_feed(u, data, part);
    if (rc < 0) return throw_failure(env, u);
    data = (char *)data + part;
    len -= part;
  }
  return NULL;
}

/* layerEnd(handle): { diffId, size, entries } once all input is in; directory times set last. */
static napi_value End(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unpacker *u = argc == 1 ? arg_unpacker(env, argv[0]) : NULL;
  if (!u) return throw_message(env, "layerEnd: not an open layer unpacker");
  if (u->failed) return throw_failure(env, u);
  if (u->gzip && !u->z_between && !u->z_trailing) {
    fail(u, "gzip", NULL, NULL, "unexpected end of file");
    return throw_failure(env, u);
  }
  if (u->state != ST_END && (u->state != ST_HEADER || u->block_fill != 0)) {
    fail_tar(u, "Unexpected end of data");
    return throw_failure(env, u);
  }
  /* Directory times last, deepest first, since creating children changes them; a replaced one is skipped. */
  if (u->ndirs) qsort(u->dirs, u->ndirs, sizeof(dir_time), deeper_first);
  for (size_t i = 0; i < u->ndirs; i++) confined_utimes(u->root, u->dirs[i].rel, u->resolve, u->dirs[i].ts);
  unsigned char digest[32];
  unsigned int dlen = 0;
  EVP_DigestFinal_ex(u->sha, digest, &dlen);
  char hex[7 + 64 + 1] = "sha256:";
  for (int i = 0; i < 32; i++) snprintf(hex + 7 + 2 * i, 3, "%02x", digest[i]);
  u->done = 1;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, hex, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "diffId", v);
  napi_create_int64(env, u->size, &v);
  napi_set_named_property(env, out, "size", v);
  napi_create_int64(env, u->entries, &v);
  napi_set_named_property(env, out, "entries", v);
  return out;
}

/* layerClose(handle): release what the unpacker holds now (an open file, zlib's state) rather than at GC. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  if (argc == 1 && napi_get_value_external(env, argv[0], &data) == napi_ok && data) {
    unpacker *u = data;
    unpacker_free(u);
    u->done = 1;
  }
  return NULL;
}

void layer_init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
    { "layerUnpacker", Create }, { "layerWrite", Write }, { "layerEnd", End }, { "layerClose", Close },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
