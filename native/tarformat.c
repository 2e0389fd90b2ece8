/* The tar format's pure parts: see tarformat.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tarformat.h"

/* A tar number: octal (leading spaces, NULs; ends at a space or a non-octal byte) or GNU base-256. */
int parse_number(const unsigned char *f, size_t len, int64_t *out) {
  if (f[0] & 0x80) {
    if (f[0] != 0x80 && f[0] != 0xff) return -1;
    int negative = f[0] == 0xff;
    uint64_t v = 0;
    for (size_t i = 1; i < len; i++) {
      if (v >> 55) return -1;
      v = (v << 8) | (negative ? 0xffu - f[i] : f[i]);
    }
    if (v > INT64_MAX) return -1;
    *out = negative ? -(int64_t)v : (int64_t)v;
    return 0;
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') i++;
  size_t end = i;
  while (end < len && f[end] != ' ') end++;
  while (i < end && f[i] == 0) i++;
  int64_t v = 0;
  for (; i < end && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v > (INT64_MAX >> 3)) return -1;
    v = v * 8 + (f[i] - '0');
  }
  *out = v;
  return 0;
}

/* A decimal pax value (digits only, as Go's parsePAXTime and strconv accept them for sizes and ids). */
int parse_decimal(const char *s, size_t len, int64_t *out) {
  if (len == 0 || len > 18) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

void pax_free(pax_set *p) {
  free(p->raw);
  free(p->recs);
  memset(p, 0, sizeof(*p));
}

/* Parse "len key=value\n" records; a malformed record ends the list (as tar-stream's decodePax does). */
int pax_parse(pax_set *p, char *raw, size_t len) {
  p->raw = raw;
  size_t cap = 0;
  size_t off = 0;
  while (off < len) {
    const char *rec = raw + off;
    size_t left = len - off;
    size_t sp = 0;
    while (sp < left && rec[sp] != ' ') sp++;
    int64_t rec_len;
    if (sp == left || parse_decimal(rec, sp, &rec_len) < 0 || rec_len <= (int64_t)sp + 1 || (uint64_t)rec_len > left)
      break;
    const char *body = rec + sp + 1;
    size_t body_len = (size_t)rec_len - sp - 1;
    if (body_len > 0 && body[body_len - 1] == '\n') body_len--;
    const char *eq = memchr(body, '=', body_len);
    if (!eq) break;
    if (p->n == cap) {
      cap = cap ? cap * 2 : 8;
      pax_record *grown = realloc(p->recs, cap * sizeof(pax_record));
      if (!grown) return -ENOMEM;
      p->recs = grown;
    }
    p->recs[p->n++] = (pax_record){ body, (size_t)(eq - body), eq + 1, body_len - (size_t)(eq - body) - 1 };
    off += (size_t)rec_len;
  }
  return 0;
}

const pax_record *pax_get(const pax_set *p, const char *key) {
  size_t klen = strlen(key);
  for (size_t i = p->n; i-- > 0;) {
    const pax_record *r = &p->recs[i];
    if (r->key_len == klen && memcmp(r->key, key, klen) == 0) return r;
  }
  return NULL;
}

/* A NUL-terminated copy of a value, refusing embedded NULs (the kernel would cut a path there). */
char *dup_value(const char *v, size_t len) {
  if (memchr(v, 0, len)) return NULL;
  return strndup(v, len);
}

/*
 * `name` as a relative path inside the root: empty and "." components dropped, ".." climbing back;
 * NULL when it would climb out. As diff/apply.ts cleanEntryName.
 */
char *clean_name(const char *name) {
  size_t len = strlen(name);
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t o = 0;
  const char *p = name;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.')) {
      /* skip */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (o == 0) {
        free(out);
        return NULL;
      }
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
    } else {
      if (o > 0) out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p += n;
    if (*p == '/') p++;
  }
  out[o] = '\0';
  return out;
}
