/*
 * The tar format as Go's archive/tar reads it: numbers (octal or GNU base-256), pax records, and entry
 * names cleaned to paths inside the extraction root. Pure functions over bytes, for native/layer.c.
 */
#ifndef GANTRY_TARFORMAT_H
#define GANTRY_TARFORMAT_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} pax_record;

typedef struct {
  char *raw; /* the records' bytes, which the record fields point into */
  pax_record *recs;
  size_t n;
} pax_set;

/* A tar number: octal (leading spaces, NULs; ends at a space or a non-octal byte) or GNU base-256. */
int parse_number(const unsigned char *f, size_t len, int64_t *out);
/* A decimal pax value (digits only). */
int parse_decimal(const char *s, size_t len, int64_t *out);
/* Parse "len key=value\n" records of `raw` (kept, and freed by pax_free); a malformed record ends the list. */
int pax_parse(pax_set *p, char *raw, size_t len);
void pax_free(pax_set *p);
/* The last value of `key` in the records. */
const pax_record *pax_get(const pax_set *p, const char *key);
/* A NUL-terminated copy of a value, or NULL when it holds a NUL (the kernel would cut a path there). */
char *dup_value(const char *v, size_t len);
/* `name` as a relative path inside the root, or NULL when it would climb out. */
char *clean_name(const char *name);
#endif
