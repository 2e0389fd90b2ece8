/*
 * Confined file operations: every path is resolved beneath a root directory fd with openat2(2), so no
 * component, symlink or ".." can lead out of it, and every operation acts on the last component through
 * its parent's fd without following a symlink there. Two resolution modes (the RESOLVE_* bits are passed
 * from JavaScript):
 *  - RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: no symlink may be crossed at all (layers and build contexts
 *    are unpacked into fresh directories, so a symlink on the way is always the archive's own trick);
 *  - RESOLVE_IN_ROOT: symlinks are followed as a process chrooted at the root would follow them (paths
 *    inside a container's root filesystem, as the container sees them).
 * One archive entry is applied in one call (create, owner, mode, xattrs, times), so nothing is queued to
 * run later through a path a later entry could have replaced.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "confined.h"

#define MAX_REMOVE_DEPTH 4096
#define MAX_PATH_ARG 65536

static napi_value throw_path_errno(napi_env env, int err, const char *what, const char *rel) {
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s %s: %s", what, rel, strerror(err));
  napi_value message, error, errnum, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_create_string_utf8(env, err == ELOOP ? "ELOOP" : err == EXDEV ? "EXDEV" : err == ENOENT ? "ENOENT" : err == EEXIST ? "EEXIST" : err == ENOTDIR ? "ENOTDIR" : err == EFBIG ? "EFBIG" : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

/* A string argument (NUL bytes refused: the kernel would cut the path there). */
static char *arg_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len > MAX_PATH_ARG) return NULL;
  char *buf = malloc(len + 1);
  if (!buf) return NULL;
  napi_get_value_string_utf8(env, v, buf, len + 1, &len);
  if (strlen(buf) != len) {
    free(buf);
    return NULL;
  }
  return buf;
}

static int arg_int(napi_env env, napi_value v) {
  int32_t n = 0;
  napi_get_value_int32(env, v, &n);
  return n;
}

static int64_t arg_int64(napi_env env, napi_value v) {
  int64_t n = 0;
  napi_get_value_int64(env, v, &n);
  return n;
}

static int open_beneath(int root, const char *rel, int flags, mode_t mode, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  int fd;
  do fd = (int)syscall(SYS_openat2, root, rel[0] ? rel : ".", &how, sizeof(how));
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

/*
 * The parent directory of `rel` as an O_PATH fd, and its last component in *base. Missing parents are
 * created (0755) when `create` is set. Answers -errno.
 */
static int open_parent(int root, char *rel, uint64_t resolve, int create, const char **base) {
  char *slash = strrchr(rel, '/');
  const char *parent = "";
  if (slash) {
    *slash = '\0';
    parent = rel;
    *base = slash + 1;
  } else {
    *base = rel;
  }
  int fd = open_beneath(root, parent, O_PATH | O_DIRECTORY, 0, resolve);
  if (fd < 0 && errno == ENOENT && create) {
    /* Walk down from the root, creating each missing component. */
    size_t len = strlen(parent);
    char *walk = strdup(parent);
    if (!walk) return -ENOMEM;
    for (size_t i = 0; i <= len; i++) {
      if (walk[i] != '/' && walk[i] != '\0') continue;
      char saved = walk[i];
      walk[i] = '\0';
      int probe = open_beneath(root, walk, O_PATH | O_DIRECTORY, 0, resolve);
      if (probe < 0 && errno == ENOENT) {
        char *comp = strrchr(walk, '/');
        int pfd;
        if (comp) {
          *comp = '\0';
          pfd = open_beneath(root, walk, O_PATH | O_DIRECTORY, 0, resolve);
          *comp = '/';
          comp++;
        } else {
          pfd = open_beneath(root, "", O_PATH | O_DIRECTORY, 0, resolve);
          comp = walk;
        }
        if (pfd < 0) {
          int e = errno;
          free(walk);
          return -e;
        }
        int rc = mkdirat(pfd, comp, 0755);
        int e = errno;
        close(pfd);
        if (rc < 0 && e != EEXIST) {
          free(walk);
          return -e;
        }
        probe = open_beneath(root, walk, O_PATH | O_DIRECTORY, 0, resolve);
      }
      if (probe < 0) {
        int e = errno;
        free(walk);
        return -e;
      }
      close(probe);
      walk[i] = saved;
    }
    free(walk);
    fd = open_beneath(root, parent, O_PATH | O_DIRECTORY, 0, resolve);
  }
  if (fd < 0) return -errno;
  return fd;
}

/* Remove `name` in `dirfd`, a directory with everything in it; missing is fine. Answers -errno or 0. */
static int remove_at(int dirfd, const char *name, int depth) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return -errno;
  if (depth > MAX_REMOVE_DEPTH) return -ELOOP;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return -e;
  }
  struct dirent *ent;
  int rc = 0;
  while ((ent = readdir(d)) != NULL) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    rc = remove_at(fd, ent->d_name, depth + 1);
    if (rc < 0) break;
  }
  closedir(d);
  if (rc < 0) return rc;
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) return -errno;
  return 0;
}

/* chmod of `name` in `dirfd` without following it if it is a symlink (symlinks have no mode). */
static int chmod_nofollow(int dirfd, const char *name, mode_t mode) {
  int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) < 0) rc = -errno;
  else if (!S_ISLNK(st.st_mode)) {
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (chmod(proc, mode) < 0) rc = -errno;
  }
  close(fd);
  return rc;
}

/*
 * A JavaScript list of xattrs (alternating name string, value Buffer) as C arrays. The values point into
 * the Buffers, valid for the call. Answers 0 or -errno; free with xattrs_free.
 */
static int xattrs_from_js(napi_env env, napi_value list, confined_xattrs *x) {
  memset(x, 0, sizeof(*x));
  bool is_array = false;
  uint32_t len = 0;
  napi_is_array(env, list, &is_array);
  if (is_array) napi_get_array_length(env, list, &len);
  uint32_t n = len / 2;
  if (n == 0) return 0;
  char **names = calloc(n, sizeof(char *));
  const void **values = calloc(n, sizeof(void *));
  size_t *lens = calloc(n, sizeof(size_t));
  x->names = (const char *const *)names;
  x->values = values;
  x->lens = lens;
  if (!names || !values || !lens) return -ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    napi_value nv, vv;
    napi_get_element(env, list, 2 * i, &nv);
    napi_get_element(env, list, 2 * i + 1, &vv);
    void *data = NULL;
    names[i] = arg_string(env, nv);
    x->count = i + 1;
    if (!names[i] || napi_get_buffer_info(env, vv, &data, &lens[i]) != napi_ok) return -EINVAL;
    values[i] = data;
  }
  return 0;
}

static void xattrs_free(confined_xattrs *x) {
  if (x->names)
    for (uint32_t i = 0; i < x->count; i++) free((char *)x->names[i]);
  free((void *)x->names);
  free((void *)x->values);
  free((void *)x->lens);
}

/* Set every xattr of the list on `fd` (when >= 0) or on `name` in `dirfd` without following it. */
static int set_xattrs(const confined_xattrs *x, int fd, int dirfd, const char *name) {
  char proc[PATH_MAX];
  if (fd < 0) {
    if (snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name) >= (int)sizeof(proc)) return -ENAMETOOLONG;
  }
  for (uint32_t i = 0; i < x->count; i++) {
    int rc = fd >= 0 ? fsetxattr(fd, x->names[i], x->values[i], x->lens[i], 0)
                     : lsetxattr(proc, x->names[i], x->values[i], x->lens[i], 0);
    if (rc < 0) return -errno;
  }
  return 0;
}

static void to_timespec(double ms, struct timespec ts[2]) {
  int64_t whole = (int64_t)(ms / 1000);
  if (ms < 0 && (double)whole * 1000 != ms) whole--;
  ts[0].tv_sec = whole;
  ts[0].tv_nsec = (long)((ms - (double)whole * 1000) * 1e6);
  if (ts[0].tv_nsec < 0 || ts[0].tv_nsec > 999999999) ts[0].tv_nsec = 0;
  ts[1] = ts[0];
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Make room for a new entry at `base`: an existing directory stays when the entry is one too. */
static int make_room(int pfd, const char *base, int kind, int flags) {
  struct stat st;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -errno;
  int is_dir = S_ISDIR(st.st_mode);
  if (is_dir && kind == K_DIR) return 1;
  if ((flags & F_NO_OVERWRITE_DIR_NON_DIR) && (is_dir || kind == K_DIR)) return -EEXIST;
  return remove_at(pfd, base, 0);
}

/* Owner, mode and xattrs of an entry reached through its own fd (files and directories). */
static int finish_fd(int fd, int flags, uid_t uid, gid_t gid, mode_t mode, const confined_xattrs *x) {
  if ((flags & F_CHOWN) && fchown(fd, uid, gid) < 0) return -errno;
  if (fchmod(fd, mode) < 0) return -errno;
  return x && x->count ? set_xattrs(x, fd, -1, NULL) : 0;
}

int confined_finish_file(int fd, const confined_entry *e) {
  int rc = finish_fd(fd, e->flags, e->uid, e->gid, e->mode & 07777, e->xattrs);
  if (rc == 0 && futimens(fd, e->ts) < 0) rc = -errno;
  return rc;
}

/* Owner, mode, xattrs and times of an entry reached by name (symlinks, devices, fifos). */
static int finish_name(int pfd, const char *base, int flags, uid_t uid, gid_t gid, mode_t mode, int chmod_it, const confined_xattrs *x, const struct timespec *ts) {
  int rc;
  if ((flags & F_CHOWN) && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  if (chmod_it && (rc = chmod_nofollow(pfd, base, mode)) < 0) return rc;
  if (x && x->count && (rc = set_xattrs(x, -1, pfd, base)) < 0) return rc;
  if (ts && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  return 0;
}

int confined_apply(int root, char *rel, uint64_t resolve, const confined_entry *e, const char **what, int *out_fd) {
  int rc = 0, pfd = -1, fd = -1;
  int kind = e->kind, flags = e->flags;
  mode_t mode = e->mode & 07777;
  uid_t uid = e->uid;
  gid_t gid = e->gid;
  const char *base = "";
  *what = "creating";
  *out_fd = -1;
  if ((kind == K_SYMLINK || kind == K_HARDLINK) && !e->link_target) return -EINVAL;
  if (rel[0] == '\0') {
    /* The root itself: only its metadata can change. */
    if (kind != K_DIR && kind != K_OPAQUE) return -EEXIST;
    fd = open_beneath(root, "", O_RDONLY | O_DIRECTORY, 0, resolve);
    if (fd < 0) return -errno;
    if (kind == K_OPAQUE) rc = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0 ? -errno : 0;
    else rc = finish_fd(fd, flags, uid, gid, mode, e->xattrs);
    close(fd);
    return rc;
  }
  pfd = open_parent(root, rel, resolve, flags & F_MKDIR_PARENTS, &base);
  if (pfd < 0) {
    *what = "resolving the parent of";
    return pfd;
  }
  if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
    rc = -EINVAL;
    goto done;
  }
  if (kind == K_OPAQUE) {
    char proc[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, base);
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) rc = -errno;
    else if (!S_ISDIR(st.st_mode)) rc = -ENOTDIR;
    else if (lsetxattr(proc, "trusted.overlay.opaque", "y", 1, 0) < 0) rc = -errno;
    *what = "marking opaque";
    goto done;
  }
  rc = make_room(pfd, base, kind, flags);
  if (rc < 0) {
    *what = "replacing";
    goto done;
  }
  int keep_dir = rc == 1;
  rc = 0;
  switch (kind) {
  case K_DIR:
    if (!keep_dir && mkdirat(pfd, base, 0700) < 0) {
      rc = -errno;
      break;
    }
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) rc = -errno;
    else rc = finish_fd(fd, flags, uid, gid, mode, e->xattrs);
    break;
  case K_FILE:
    fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      rc = -errno;
      break;
    }
    if (!e->has_data) {
      *out_fd = fd;
      fd = -1;
      break;
    }
    if ((rc = write_all(fd, e->data, e->data_len)) < 0) break;
    rc = confined_finish_file(fd, e);
    break;
  case K_SYMLINK:
    if (symlinkat(e->link_target, pfd, base) < 0) rc = -errno;
    else rc = finish_name(pfd, base, flags, uid, gid, 0, 0, e->xattrs, e->ts);
    break;
  case K_HARDLINK: {
    const char *target_base;
    int tfd = open_parent(root, e->link_target, resolve, 0, &target_base);
    if (tfd < 0) {
      rc = tfd;
      *what = "resolving the hardlink target of";
      break;
    }
    if (target_base[0] == '\0' || strcmp(target_base, "..") == 0 || strcmp(target_base, ".") == 0) rc = -EINVAL;
    else if (linkat(tfd, target_base, pfd, base, 0) < 0) rc = -errno;
    close(tfd);
    *what = "hardlinking";
    break;
  }
  case K_CHAR:
  case K_BLOCK:
  case K_FIFO:
  case K_WHITEOUT: {
    mode_t type = kind == K_BLOCK ? S_IFBLK : kind == K_FIFO ? S_IFIFO : S_IFCHR;
    dev_t dev = kind == K_WHITEOUT || kind == K_FIFO ? 0 : makedev(e->dev_major, e->dev_minor);
    if (kind == K_WHITEOUT) {
      mode = 0;
      uid = 0;
      gid = 0;
    }
    if (mknodat(pfd, base, type | (mode & 0777), dev) < 0) rc = -errno;
    else rc = finish_name(pfd, base, kind == K_WHITEOUT ? 0 : flags, uid, gid, mode, kind != K_WHITEOUT, e->xattrs, e->ts);
    break;
  }
  default:
    rc = -EINVAL;
  }
done:
  if (fd >= 0) close(fd);
  if (pfd >= 0) close(pfd);
  return rc;
}

/*
 * applyEntry(rootFd, rel, resolve, kind, mode, uid, gid, mtimeMs, payload, devMajor, devMinor, xattrs, flags)
 *  payload: file content (Buffer; absent: the file's fd is returned for the caller to write and then
 *  pass to finishFile), a symlink's target, or a hardlink's target path (resolved like `rel`).
 * Answers the fd of a file written by the caller, else -1.
 */
static napi_value ApplyEntry(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 13) return throw_path_errno(env, EINVAL, "applyEntry", "(arguments)");
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "entry name", "(not a path)");
  char *display = strdup(rel);
  uint64_t resolve = (uint64_t)arg_int(env, argv[2]);
  confined_entry e;
  memset(&e, 0, sizeof(e));
  e.kind = arg_int(env, argv[3]);
  e.mode = (mode_t)arg_int(env, argv[4]) & 07777;
  e.uid = (uid_t)arg_int64(env, argv[5]);
  e.gid = (gid_t)arg_int64(env, argv[6]);
  double mtime = 0;
  napi_get_value_double(env, argv[7], &mtime);
  to_timespec(mtime, e.ts);
  e.dev_major = arg_int(env, argv[9]);
  e.dev_minor = arg_int(env, argv[10]);
  e.flags = arg_int(env, argv[12]);
  confined_xattrs x;
  int rc = xattrs_from_js(env, argv[11], &x);
  e.xattrs = &x;
  napi_valuetype ptype;
  napi_typeof(env, argv[8], &ptype);
  bool has_data = false;
  if (ptype == napi_string) e.link_target = arg_string(env, argv[8]);
  else if (ptype == napi_object) napi_is_buffer(env, argv[8], &has_data);
  if (has_data) {
    void *data = NULL;
    napi_get_buffer_info(env, argv[8], &data, &e.data_len);
    e.data = data;
    e.has_data = 1;
  }
  const char *what = "creating";
  int out_fd = -1;
  if (rc == 0) rc = confined_apply(root, rel, resolve, &e, &what, &out_fd);
  xattrs_free(&x);
  free(rel);
  free(e.link_target);
  if (rc < 0) {
    napi_value r = throw_path_errno(env, -rc, what, display);
    free(display);
    return r;
  }
  free(display);
  napi_value out;
  napi_create_int32(env, out_fd, &out);
  return out;
}

/* finishFile(fd, mode, uid, gid, chown, mtimeMs, xattrs): after the caller wrote a file's content. */
static napi_value FinishFile(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd = arg_int(env, argv[0]);
  confined_entry e;
  memset(&e, 0, sizeof(e));
  e.mode = (mode_t)arg_int(env, argv[1]) & 07777;
  e.uid = (uid_t)arg_int64(env, argv[2]);
  e.gid = (gid_t)arg_int64(env, argv[3]);
  bool chown_it = false;
  napi_get_value_bool(env, argv[4], &chown_it);
  e.flags = chown_it ? F_CHOWN : 0;
  double mtime = 0;
  napi_get_value_double(env, argv[5], &mtime);
  to_timespec(mtime, e.ts);
  confined_xattrs x;
  int rc = xattrs_from_js(env, argv[6], &x);
  e.xattrs = &x;
  if (rc == 0) rc = confined_finish_file(fd, &e);
  xattrs_free(&x);
  if (rc < 0) return throw_path_errno(env, -rc, "finishing", "file");
  return NULL;
}

/* open(rootFd, rel, resolve, flags, mode): an fd for `rel` resolved beneath the root. */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "opening", "(not a path)");
  int fd = open_beneath(root, rel, arg_int(env, argv[3]), (mode_t)arg_int(env, argv[4]), (uint64_t)arg_int(env, argv[2]));
  int e = errno;
  if (fd < 0) {
    napi_value r = throw_path_errno(env, e, "opening", rel);
    free(rel);
    return r;
  }
  free(rel);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

int confined_mkdir_all(int root, char *rel, uint64_t resolve, mode_t mode) {
  int fd = open_beneath(root, rel, O_PATH | O_DIRECTORY, 0, resolve);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  if (errno != ENOENT) return -errno;
  if (rel[0] == '\0') return 0;
  const char *base;
  int pfd = open_parent(root, rel, resolve, 1, &base);
  if (pfd < 0) return pfd;
  int rc = mkdirat(pfd, base, mode) < 0 && errno != EEXIST ? -errno : 0;
  close(pfd);
  return rc;
}

/* mkdirAll(rootFd, rel, resolve, mode): `rel` and its missing parents as directories. */
static napi_value MkdirAll(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "creating", "(not a path)");
  char *display = strdup(rel);
  int rc = confined_mkdir_all(root, rel, (uint64_t)arg_int(env, argv[2]), (mode_t)arg_int(env, argv[3]) & 07777);
  free(rel);
  if (rc < 0) {
    napi_value r = throw_path_errno(env, -rc, "creating directory", display);
    free(display);
    return r;
  }
  free(display);
  return NULL;
}

/* remove(rootFd, rel, resolve): `rel` and everything under it; missing is fine. */
static napi_value Remove(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "removing", "(not a path)");
  char *display = strdup(rel);
  const char *base;
  int rc = 0;
  int pfd = rel[0] ? open_parent(root, rel, (uint64_t)arg_int(env, argv[2]), 0, &base) : -EINVAL;
  if (pfd == -ENOENT) rc = 0;
  else if (pfd < 0) rc = pfd;
  else {
    rc = remove_at(pfd, base, 0);
    close(pfd);
  }
  free(rel);
  if (rc < 0) {
    napi_value r = throw_path_errno(env, -rc, "removing", display);
    free(display);
    return r;
  }
  free(display);
  return NULL;
}

int confined_utimes(int root, char *rel, uint64_t resolve, const struct timespec ts[2]) {
  int rc = 0;
  if (rel[0] == '\0') {
    int fd = open_beneath(root, "", O_RDONLY | O_DIRECTORY, 0, resolve);
    if (fd < 0 || futimens(fd, ts) < 0) rc = -errno;
    if (fd >= 0) close(fd);
    return rc;
  }
  const char *base = "";
  int pfd = open_parent(root, rel, resolve, 0, &base);
  if (pfd < 0) return pfd;
  if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) rc = -errno;
  close(pfd);
  return rc;
}

/* utimes(rootFd, rel, resolve, mtimeMs): times of `rel`, not followed if it is a symlink. */
static napi_value Utimes(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "setting times of", "(not a path)");
  double mtime = 0;
  napi_get_value_double(env, argv[3], &mtime);
  struct timespec ts[2];
  to_timespec(mtime, ts);
  char *display = strdup(rel);
  int rc = confined_utimes(root, rel, (uint64_t)arg_int(env, argv[2]), ts);
  free(rel);
  if (rc < 0) {
    napi_value r = throw_path_errno(env, -rc, "setting times of", display);
    free(display);
    return r;
  }
  free(display);
  return NULL;
}

/*
 * readFile(rootFd, rel, resolve, maxBytes): the content of a regular file, or null when `rel` is
 * missing or is not a regular file (a FIFO, a device, a directory). The file is first opened O_PATH and
 * checked, so opening never blocks and never touches a device; a file over maxBytes is an EFBIG error.
 */
static napi_value ReadFile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int root = arg_int(env, argv[0]);
  char *rel = arg_string(env, argv[1]);
  if (!rel) return throw_path_errno(env, EINVAL, "reading", "(not a path)");
  int64_t max = arg_int64(env, argv[3]);
  napi_value out;
  napi_get_null(env, &out);
  int rc = 0;
  int pathfd = open_beneath(root, rel, O_PATH, 0, (uint64_t)arg_int(env, argv[2]));
  if (pathfd < 0) {
    if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) rc = -errno;
    goto done;
  }
  struct stat st;
  if (fstat(pathfd, &st) < 0) {
    rc = -errno;
    close(pathfd);
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    close(pathfd);
    goto done;
  }
  if (st.st_size > max) {
    rc = -EFBIG;
    close(pathfd);
    goto done;
  }
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
  int fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  close(pathfd);
  if (fd < 0) {
    rc = -errno;
    goto done;
  }
  size_t cap = (size_t)max + 1;
  char *buf = malloc(cap ? cap : 1);
  size_t len = 0;
  while (buf && len < cap) {
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (!buf) rc = -ENOMEM;
  else if (len > (size_t)max) rc = -EFBIG;
  else {
    void *dest;
    napi_create_buffer_copy(env, len, buf, &dest, &out);
  }
  free(buf);
done:
  if (rc < 0) {
    napi_value r = throw_path_errno(env, -rc, "reading", rel);
    free(rel);
    return r;
  }
  free(rel);
  return out;
}

/*
 * closeFd(fd): close an fd this module opened. Node's fs.closeSync warns in worker threads about fds
 * it did not open itself, and layers are unpacked on worker threads.
 */
static napi_value CloseFd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_path_errno(env, EINVAL, "closeFd", "(arguments)");
  if (close(arg_int(env, argv[0])) < 0) return throw_path_errno(env, errno, "closing", "(fd)");
  return NULL;
}

void confined_init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
    { "applyEntry", ApplyEntry }, { "finishFile", FinishFile }, { "openBeneath", Open }, { "mkdirAll", MkdirAll },
    { "removeBeneath", Remove }, { "utimesBeneath", Utimes }, { "readFileBeneath", ReadFile },
    { "closeFd", CloseFd },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
