/*
 * The few system calls Node has no API for and Gantry needs on hot or essential paths:
 *  - seqpacketRelay: conmon's attach sockets are SOCK_SEQPACKET unix sockets, which libuv cannot
 *    handle. A small thread relays between such a socket and one end of a stream socketpair, framing
 *    each packet as [u32 big-endian length][packet]; Node wraps the other end in a net.Socket.
 *  - mount / umount2: the overlay root of every container start, without spawning mount(8).
 *  - vethAttach (netlink.c): a container's bridge interface without spawning ip(8).
 *  - connectInNetns (portforward.c): a TCP connection to a port on a pod's loopback.
 *  - confined.c: file operations resolved beneath a root with openat2(2), for everything Gantry unpacks
 *    or reads from images, build contexts and containers.
 */
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *buf = malloc(len + 1);
  if (!buf) return NULL;
  napi_get_value_string_utf8(env, v, buf, len + 1, &len);
  return buf;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

/* Connect a SOCK_SEQPACKET unix socket; returns the fd, or -errno. */
static int seqpacket_connect(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

struct relay {
  int packet_fd;
  int stream_fd;
};

static void *relay_thread(void *arg) {
  struct relay *r = arg;
  char buf[65536 + 4];
  struct pollfd fds[2];
  int packet_open = 1, stream_open = 1;
  while (packet_open) {
    int n = 0;
    fds[n].fd = r->packet_fd;
    fds[n].events = POLLIN;
    n++;
    if (stream_open) {
      fds[n].fd = r->stream_fd;
      fds[n].events = POLLIN;
      n++;
    }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = recv(r->packet_fd, buf + 4, 65536, 0);
      if (got <= 0) {
        packet_open = 0;
      } else {
        uint32_t len = (uint32_t)got;
        buf[0] = (char)(len >> 24);
        buf[1] = (char)(len >> 16);
        buf[2] = (char)(len >> 8);
        buf[3] = (char)len;
        if (write_all(r->stream_fd, buf, (size_t)got + 4) < 0) break;
      }
    }
    if (stream_open && n > 1 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(r->stream_fd, buf, 65536);
      if (got <= 0) {
        stream_open = 0;
        shutdown(r->packet_fd, SHUT_WR);
      } else if (send(r->packet_fd, buf, (size_t)got, MSG_NOSIGNAL) < 0) {
        stream_open = 0;
      }
    }
  }
  shutdown(r->stream_fd, SHUT_WR);
  close(r->packet_fd);
  close(r->stream_fd);
  free(r);
  return NULL;
}

static napi_value SeqpacketRelay(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = get_string(env, argv[0]);
  if (!path) return throw_errno(env, EINVAL, "seqpacketRelay");
  int packet_fd = seqpacket_connect(path);
  free(path);
  if (packet_fd < 0) return throw_errno(env, -packet_fd, "connect");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
    int e = errno;
    close(packet_fd);
    return throw_errno(env, e, "socketpair");
  }
  struct relay *r = malloc(sizeof(*r));
  r->packet_fd = packet_fd;
  r->stream_fd = pair[1];
  pthread_t t;
  if (pthread_create(&t, NULL, relay_thread, r) != 0) {
    close(packet_fd);
    close(pair[0]);
    close(pair[1]);
    free(r);
    return throw_errno(env, EAGAIN, "pthread_create");
  }
  pthread_detach(t);
  napi_value out;
  napi_create_int32(env, pair[0], &out);
  return out;
}

static napi_value Mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *source = get_string(env, argv[0]);
  char *target = get_string(env, argv[1]);
  char *fstype = get_string(env, argv[2]);
  int64_t flags = 0;
  napi_get_value_int64(env, argv[3], &flags);
  char *data = get_string(env, argv[4]);
  int rc = mount(source, target, fstype, (unsigned long)flags, data && data[0] ? data : NULL);
  int e = errno;
  free(source);
  free(target);
  free(fstype);
  free(data);
  if (rc < 0) return throw_errno(env, e, "mount");
  return NULL;
}

static napi_value Umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *target = get_string(env, argv[0]);
  int32_t flags = 0;
  napi_get_value_int32(env, argv[1], &flags);
  int rc = umount2(target, flags);
  int e = errno;
  free(target);
  if (rc < 0) return throw_errno(env, e, "umount2");
  return NULL;
}

napi_value VethAttach(napi_env env, napi_callback_info info);
napi_value ConnectInNetns(napi_env env, napi_callback_info info);
void confined_init(napi_env env, napi_value exports);
void layer_init(napi_env env, napi_value exports);
void blob_init(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "vethAttach", NAPI_AUTO_LENGTH, VethAttach, NULL, &fn);
  napi_set_named_property(env, exports, "vethAttach", fn);
  napi_create_function(env, "seqpacketRelay", NAPI_AUTO_LENGTH, SeqpacketRelay, NULL, &fn);
  napi_set_named_property(env, exports, "seqpacketRelay", fn);
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, Mount, NULL, &fn);
  napi_set_named_property(env, exports, "mount", fn);
  napi_create_function(env, "umount2", NAPI_AUTO_LENGTH, Umount, NULL, &fn);
  napi_set_named_property(env, exports, "umount2", fn);
  napi_create_function(env, "connectInNetns", NAPI_AUTO_LENGTH, ConnectInNetns, NULL, &fn);
  napi_set_named_property(env, exports, "connectInNetns", fn);
  confined_init(env, exports);
  layer_init(env, exports);
  blob_init(env, exports);
  return exports;
}
