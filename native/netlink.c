/*
 * vethAttach: a container's interface on a bridge in one call and without any process start (each
 * `ip` or CNI plugin run costs 12-20 ms on these machines). Over rtnetlink it creates a veth pair whose
 * peer is born in the container's network namespace with its name and MAC, puts the host end on the
 * bridge and up, then, through a netlink socket opened inside that namespace, gives the peer its
 * address, brings it up and adds the default route.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct nlreq {
  char buf[1024];
  struct nlmsghdr *hdr;
};

static void nl_init(struct nlreq *r, int type, int flags, const void *body, size_t body_len) {
  memset(r->buf, 0, sizeof(r->buf));
  r->hdr = (struct nlmsghdr *)r->buf;
  r->hdr->nlmsg_len = NLMSG_LENGTH(body_len);
  r->hdr->nlmsg_type = type;
  r->hdr->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memcpy(NLMSG_DATA(r->hdr), body, body_len);
}

static struct rtattr *nl_attr(struct nlreq *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->hdr->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->hdr->nlmsg_len = NLMSG_ALIGN(r->hdr->nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void nl_nest_end(struct nlreq *r, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((r->buf + r->hdr->nlmsg_len) - (char *)nest);
}

/* Send one request and wait for its acknowledgement; 0 or -errno. */
static int nl_talk(int fd, struct nlreq *r) {
  static unsigned int seq = 1;
  r->hdr->nlmsg_seq = ++seq;
  if (send(fd, r->buf, r->hdr->nlmsg_len, 0) < 0) return -errno;
  char reply[4096];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->hdr->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

static int set_up(int fd, int index) {
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  struct nlreq r;
  nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  return nl_talk(fd, &r);
}

/* Hairpin mode on a bridge port, so a container reaches its own published ports through the host. */
static int set_hairpin(int fd, unsigned int index) {
  struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = (int)index};
  struct nlreq r;
  nl_init(&r, RTM_SETLINK, 0, &ifi, sizeof(ifi));
  struct rtattr *protinfo = nl_attr(&r, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
  unsigned char on = 1;
  nl_attr(&r, IFLA_BRPORT_MODE, &on, sizeof(on));
  nl_nest_end(&r, protinfo);
  return nl_talk(fd, &r);
}

static int parse_mac(const char *s, unsigned char out[6]) {
  unsigned int b[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) out[i] = (unsigned char)b[i];
  return 0;
}

/*
 * The steps; on failure *step names the one that failed. Returns 0 or -errno. On failure after the
 * pair exists, the host end is deleted again (which removes the peer too).
 */
static int attach(int pid, const char *netns, const char *host, const char *peer, const char *mac_text, const char *bridge, const char *address, int prefix, const char *gateway, unsigned int mtu, const char **step) {
  unsigned char mac[6];
  struct in_addr addr, gw;
  *step = "arguments";
  if (parse_mac(mac_text, mac) < 0 || inet_pton(AF_INET, address, &addr) != 1) return -EINVAL;
  int want_route = gateway && gateway[0];
  if (want_route && inet_pton(AF_INET, gateway, &gw) != 1) return -EINVAL;
  *step = "bridge";
  unsigned int master = if_nametoindex(bridge);
  if (!master) return -errno;

  *step = "netlink socket";
  int fd = nl_open();
  if (fd < 0) return fd;
  int rc;
  struct nlreq r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  nl_attr(&r, IFLA_IFNAME, host, strlen(host) + 1);
  nl_attr(&r, IFLA_MASTER, &master, sizeof(master));
  if (mtu) nl_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
  struct rtattr *linkinfo = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
  nl_attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer_info = nl_attr(&r, VETH_INFO_PEER, NULL, 0);
  /* The peer's attributes follow an ifinfomsg of its own. */
  r.hdr->nlmsg_len += sizeof(struct ifinfomsg);
  nl_attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
  nl_attr(&r, IFLA_ADDRESS, mac, 6);
  if (mtu) nl_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
  unsigned int nspid = (unsigned int)pid;
  nl_attr(&r, IFLA_NET_NS_PID, &nspid, sizeof(nspid));
  nl_nest_end(&r, peer_info);
  nl_nest_end(&r, data);
  nl_nest_end(&r, linkinfo);
  *step = "create veth pair";
  rc = nl_talk(fd, &r);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  unsigned int host_index = if_nametoindex(host);
  *step = "host end up";
  rc = host_index ? set_up(fd, (int)host_index) : -errno;
  if (rc < 0) goto undo;
  *step = "hairpin";
  rc = set_hairpin(fd, host_index);
  if (rc < 0) goto undo;

  /* A netlink socket inside the container's namespace; this thread goes back to its own at once. */
  *step = "enter namespace";
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(netns, O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0) {
    rc = -errno;
    if (self >= 0) close(self);
    if (target >= 0) close(target);
    goto undo;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    rc = -errno;
    close(self);
    close(target);
    goto undo;
  }
  int inner = nl_open();
  unsigned int peer_index = if_nametoindex(peer);
  int back = setns(self, CLONE_NEWNET);
  close(self);
  close(target);
  if (back < 0) abort(); /* Staying in a container's namespace would be far worse than a crash. */
  if (inner < 0 || !peer_index) {
    rc = inner < 0 ? inner : -ENODEV;
    if (inner >= 0) close(inner);
    goto undo;
  }

  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = peer_index};
  nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
  nl_attr(&r, IFA_LOCAL, &addr, sizeof(addr));
  nl_attr(&r, IFA_ADDRESS, &addr, sizeof(addr));
  if (prefix < 31) {
    struct in_addr brd = {.s_addr = addr.s_addr | htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1)};
    nl_attr(&r, IFA_BROADCAST, &brd, sizeof(brd));
  }
  *step = "container address";
  rc = nl_talk(inner, &r);
  if (rc == 0) {
    *step = "container interface up";
    rc = set_up(inner, (int)peer_index);
  }
  if (rc == 0 && want_route) {
    struct rtmsg rtm = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
    nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof(rtm));
    nl_attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
    nl_attr(&r, RTA_OIF, &peer_index, sizeof(peer_index));
    *step = "default route";
    rc = nl_talk(inner, &r);
  }
  close(inner);
  if (rc == 0) {
    close(fd);
    return 0;
  }
undo:;
  struct ifinfomsg del = {.ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex(host)};
  if (del.ifi_index) {
    struct nlreq d;
    nl_init(&d, RTM_DELLINK, 0, &del, sizeof(del));
    nl_talk(fd, &d);
  }
  close(fd);
  return rc;
}

static char *arg_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *buf = malloc(len + 1);
  if (buf) napi_get_value_string_utf8(env, v, buf, len + 1, &len);
  return buf;
}

/* vethAttach(pid, netnsPath, hostVeth, peerName, mac, bridge, address, prefix, gateway, mtu) */
napi_value VethAttach(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0, prefix = 0;
  uint32_t mtu = 0;
  napi_get_value_int32(env, argv[0], &pid);
  napi_get_value_int32(env, argv[7], &prefix);
  if (argc >= 10) napi_get_value_uint32(env, argv[9], &mtu);
  char *netns = arg_string(env, argv[1]), *host = arg_string(env, argv[2]), *peer = arg_string(env, argv[3]);
  char *mac = arg_string(env, argv[4]), *bridge = arg_string(env, argv[5]), *address = arg_string(env, argv[6]), *gateway = arg_string(env, argv[8]);
  const char *step = "arguments";
  int rc = (netns && host && peer && mac && bridge && address && gateway) ? attach(pid, netns, host, peer, mac, bridge, address, prefix, gateway, mtu, &step) : -ENOMEM;
  free(netns);
  free(host);
  free(peer);
  free(mac);
  free(bridge);
  free(address);
  free(gateway);
  if (rc < 0) {
    char msg[256];
    snprintf(msg, sizeof(msg), "network setup (%s): %s", step, strerror(-rc));
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}
