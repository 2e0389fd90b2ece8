/*
 * connectInNetns: a TCP connection to 127.0.0.1:port inside another network namespace (a pod's), for
 * `kubectl port-forward`, as containerd does it. Only socket(2) runs in the target namespace — a
 * socket keeps the namespace it was made in — and the calling thread returns to its own at once. The
 * connect is non-blocking: on loopback it completes (or is refused) at once, otherwise it finishes
 * under libuv's poll, so the event loop never waits on it.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_value fail(napi_env env, int err, const char *what) {
  napi_value message, error, errnum;
  char text[256];
  strncpy(text, what, sizeof(text) - 64);
  text[sizeof(text) - 64] = 0;
  strcat(text, ": ");
  strcat(text, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

napi_value ConnectInNetns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char netns[4096];
  size_t len = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], netns, sizeof(netns), &len) != napi_ok || len == 0)
    return fail(env, EINVAL, "connectInNetns");
  int32_t port = 0;
  napi_get_value_int32(env, argv[1], &port);
  if (port < 1 || port > 65535) return fail(env, EINVAL, "connectInNetns port");

  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return fail(env, errno, "open own network namespace");
  int target = open(netns, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    return fail(env, e, "open pod network namespace");
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    close(target);
    return fail(env, e, "enter pod network namespace");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int socket_errno = errno;
  int back = setns(self, CLONE_NEWNET);
  close(self);
  close(target);
  if (back < 0) abort(); /* Staying in a pod's namespace would be far worse than a crash. */
  if (fd < 0) return fail(env, socket_errno, "socket");

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return fail(env, e, "connect");
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}
