/*
 * Confined file operations for other native code (native/layer.c): the same primitives confined.c
 * offers JavaScript, taking C values. Every function answers 0 (or a result >= 0) or -errno.
 */
#ifndef GANTRY_CONFINED_H
#define GANTRY_CONFINED_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum { K_DIR = 1, K_FILE, K_SYMLINK, K_HARDLINK, K_CHAR, K_BLOCK, K_FIFO, K_WHITEOUT, K_OPAQUE };
enum { F_CHOWN = 1, F_NO_OVERWRITE_DIR_NON_DIR = 2, F_MKDIR_PARENTS = 4 };

typedef struct {
  uint32_t count;
  const char *const *names;
  const void *const *values;
  const size_t *lens;
} confined_xattrs;

/* One archive entry: what applyEntry takes from JavaScript. */
typedef struct {
  int kind;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec ts[2];
  const void *data; /* a file's content when has_data; else the file's fd is answered */
  size_t data_len;
  int has_data;
  char *link_target; /* a symlink's target or a hardlink's target path (resolved like rel; modified) */
  int dev_major, dev_minor;
  const confined_xattrs *xattrs;
  int flags;
} confined_entry;

/* Apply `e` at `rel` (modified) beneath `root`; *what names the failed step; *out_fd a file to write, or -1. */
int confined_apply(int root, char *rel, uint64_t resolve, const confined_entry *e, const char **what, int *out_fd);
/* Owner (with F_CHOWN), mode, xattrs and times of a file written through `fd`. */
int confined_finish_file(int fd, const confined_entry *e);
int confined_mkdir_all(int root, char *rel, uint64_t resolve, mode_t mode);
int confined_utimes(int root, char *rel, uint64_t resolve, const struct timespec ts[2]);
#endif
