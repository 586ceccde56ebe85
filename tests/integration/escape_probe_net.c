// escape_probe's network probes: host services, host unix sockets, the host's network
// namespace (setns, and through the netns id the kernel gives the veth's peer). See
// escape_probe.c for the output and the arguments.
#define _GNU_SOURCE  // strerrorname_np, setns, struct file_handle
#include "escape_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_timeout(int fd, const struct sockaddr* sa, socklen_t len) {
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return connect(fd, sa, len);
}

// The verdict of a failed connect: refusal and timeouts mean "no way there".
static const char* connect_verdict(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ENOENT:
    case ETIMEDOUT:
    case EINPROGRESS:  // connect(2) past SO_SNDTIMEO: no answer (a dropped SYN)
    case EAGAIN:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return "refused";
    default:
      return verdict_of_errno(err);
  }
}

void probe_host_tcp_service(void) {
  const char* ip = arg("host_ip", NULL);
  const char* port = arg("port", NULL);
  if (!ip || !port) return report("host_tcp_service", "not-present", "no host listener given");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  inet_pton(AF_INET, ip, &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect_timeout(fd, (struct sockaddr*)&sa, sizeof(sa)) != 0) {
    report("host_tcp_service", connect_verdict(errno), "connect %s:%s: %s", ip, port,
           strerrorname_np(errno));
  } else {
    char banner[64] = "";
    ssize_t n = read(fd, banner, sizeof(banner) - 1);
    if (n > 0) banner[n] = '\0';
    for (char* p = banner; *p; ++p)
      if (*p == '\n') *p = '\0';
    report("host_tcp_service", "allowed", "connected to %s:%s (0.0.0.0 listener), banner \"%s\"",
           ip, port, banner);
  }
  close(fd);
}

static void unix_connect(const char* probe, const char* name, int abstract) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(name);
  if (n >= sizeof(sa.sun_path) - 1) return report(probe, "not-present", "name too long");
  memcpy(sa.sun_path + (abstract ? 1 : 0), name, n);
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect_timeout(fd, (struct sockaddr*)&sa, len) == 0) {
    report(probe, "allowed", "connected to %s%s", abstract ? "@" : "", name);
  } else {
    report(probe, connect_verdict(errno), "connect %s%s: %s", abstract ? "@" : "", name,
           strerrorname_np(errno));
  }
  close(fd);
}

void probe_unix_sockets(void) {
  const char* abstract = arg("abstract", NULL);
  if (abstract)
    unix_connect("unix_abstract_host", abstract, 1);
  else
    report("unix_abstract_host", "not-present", "no host socket given");
  const char* path = arg("unix_path", NULL);
  if (path)
    unix_connect("unix_path_host", path, 0);
  else
    report("unix_path_host", "not-present", "no host socket given");
}

void probe_netns_setns(void) {
  const char* host = arg("host_netns", NULL);
  int fd = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    report("netns_setns_pid1", verdict_of_errno(errno), "setns(/proc/1/ns/net): %s",
           strerrorname_np(errno));
  } else {
    struct stat st;
    stat("/proc/self/ns/net", &st);
    int on_host = host && (unsigned long)st.st_ino == strtoul(host, NULL, 10);
    report("netns_setns_pid1", on_host ? "allowed" : "refused",
           "setns(/proc/1/ns/net) works but %s (inode %lu)",
           on_host ? "joins the host's network namespace" : "is the instance's own PID 1",
           (unsigned long)st.st_ino);
  }
  if (fd >= 0) close(fd);
}

// ---- rtnetlink ----------------------------------------------------------------------------

struct link_req {
  struct nlmsghdr nh;
  struct ifinfomsg ifi;
  char attrs[256];
};

static void add_attr(struct link_req* r, unsigned short type, const void* data, size_t len) {
  struct nlmsghdr* nh = &r->nh;
  struct rtattr* rta = (struct rtattr*)((char*)r + NLMSG_ALIGN(nh->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static void link_req_init(struct link_req* r, unsigned short type, unsigned short flags) {
  memset(r, 0, sizeof(*r));
  r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  r->nh.nlmsg_type = type;
  r->nh.nlmsg_flags = NLM_F_REQUEST | flags;
  r->ifi.ifi_family = AF_UNSPEC;
}

// Sends R and waits for its acknowledgement: 0 or -errno.
static int nl_ack(struct link_req* r) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  r->nh.nlmsg_flags |= NLM_F_ACK;
  int rc = -EIO;
  if (send(fd, r, r->nh.nlmsg_len, 0) >= 0) {
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    struct nlmsghdr* h = (struct nlmsghdr*)buf;
    if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type == NLMSG_ERROR) {
      rc = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
    }
  } else {
    rc = -errno;
  }
  close(fd);
  return rc;
}

struct link {
  int index;
  int link_nsid;  // IFLA_LINK_NETNSID, -1 if none
  unsigned flags;
  char name[IFNAMSIZ];
};

// Dumps the links of our network namespace, or of the one NSID names (-1: ours). Returns
// the count (at most MAX) or -errno.
static int dump_links(int nsid, struct link* out, int max) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct link_req r;
  link_req_init(&r, RTM_GETLINK, NLM_F_DUMP);
  if (nsid >= 0) add_attr(&r, IFLA_TARGET_NETNSID, &nsid, sizeof(nsid));
  int count = 0, rc = 0;
  if (send(fd, &r, r.nh.nlmsg_len, 0) < 0) rc = -errno;
  for (int done = rc != 0; !done;) {
    char buf[32768];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      rc = n < 0 ? -errno : -EIO;
      break;
    }
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        rc = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
        done = 1;
        break;
      }
      if (h->nlmsg_type != RTM_NEWLINK || count >= max) continue;
      struct ifinfomsg* ifi = NLMSG_DATA(h);
      struct link* l = &out[count++];
      memset(l, 0, sizeof(*l));
      l->index = ifi->ifi_index;
      l->flags = ifi->ifi_flags;
      l->link_nsid = -1;
      int len = (int)IFLA_PAYLOAD(h);
      for (struct rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_IFNAME)
          snprintf(l->name, sizeof(l->name), "%s", (char*)RTA_DATA(a));
        if (a->rta_type == IFLA_LINK_NETNSID) l->link_nsid = *(int*)RTA_DATA(a);
      }
    }
  }
  close(fd);
  return rc < 0 ? rc : count;
}

// Our veth: the link whose peer lives in another namespace (IFLA_LINK_NETNSID).
static int own_veth(struct link* veth) {
  struct link links[32];
  int n = dump_links(-1, links, 32);
  for (int i = 0; i < n; ++i) {
    if (links[i].link_nsid >= 0) {
      *veth = links[i];
      return 0;
    }
  }
  return -1;
}

// The host's links, named through the netns id of our veth's peer (IFLA_TARGET_NETNSID
// selects where RTM_GETLINK looks), and a veth created there (where RTM_NEWLINK creates),
// which the driver looks for on the host and deletes. (RTM_NEWLINK/SETLINK of an existing
// device look it up in our own namespace: IFLA_TARGET_NETNSID is then its destination.)
void probe_netns_host_links(void) {
  struct link veth;
  const char* host_link = arg("host_link", NULL);
  const char* new_name = arg("new_link", NULL);
  if (own_veth(&veth) != 0) {
    report("netns_host_links", "not-present", "no interface with a peer in another namespace");
    return report("netns_host_link_create", "not-present", "no netns id of the host");
  }
  struct link links[64];
  int n = dump_links(veth.link_nsid, links, 64);
  int seen = 0;
  for (int i = 0; i < n; ++i) {
    if (host_link && strcmp(links[i].name, host_link) == 0) seen = 1;
  }
  if (n < 0)
    report("netns_host_links", verdict_of_errno(-n), "RTM_GETLINK with IFLA_TARGET_NETNSID %d: %s",
           veth.link_nsid, strerrorname_np(-n));
  else
    report("netns_host_links", seen ? "allowed" : "refused",
           "IFLA_TARGET_NETNSID %d (%s's peer) lists %d links%s", veth.link_nsid, veth.name, n,
           seen ? ", the host's among them" : ", not the host's");
  if (!new_name) return report("netns_host_link_create", "not-present", "no name given");
  struct link_req r;
  link_req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  add_attr(&r, IFLA_IFNAME, new_name, strlen(new_name) + 1);
  add_attr(&r, IFLA_TARGET_NETNSID, &veth.link_nsid, sizeof(veth.link_nsid));
  struct rtattr* info = (struct rtattr*)((char*)&r + NLMSG_ALIGN(r.nh.nlmsg_len));
  add_attr(&r, IFLA_LINKINFO, "", 0);
  add_attr(&r, IFLA_INFO_KIND, "veth", 5);
  info->rta_len = (unsigned short)((char*)&r + r.nh.nlmsg_len - (char*)info);
  int rc = nl_ack(&r);
  report("netns_host_link_create", rc == 0 ? "allowed" : verdict_of_errno(-rc),
         "RTM_NEWLINK veth %s in netns id %d: %s", new_name, veth.link_nsid,
         rc == 0 ? "created (the driver checks the host)" : strerrorname_np(-rc));
}

// Moving our veth into the host's namespace: by IFLA_NET_NS_FD of /proc/1/ns/net (the
// instance's own PID 1), and by the netns id of the peer (IFLA_TARGET_NETNSID).
void probe_netns_move_veth_out(void) {
  struct link veth;
  const char* out_name = arg("out_name", NULL);
  if (own_veth(&veth) != 0 || !out_name)
    return report("netns_move_veth_out", "not-present", "no veth or no name given");
  struct link_req r;
  link_req_init(&r, RTM_NEWLINK, 0);
  r.ifi.ifi_index = veth.index;
  add_attr(&r, IFLA_IFNAME, out_name, strlen(out_name) + 1);
  add_attr(&r, IFLA_TARGET_NETNSID, &veth.link_nsid, sizeof(veth.link_nsid));
  int rc = nl_ack(&r);
  struct link now;
  int gone = own_veth(&now) != 0 || now.index != veth.index;
  if (rc == 0 && gone) {
    report("netns_move_veth_out", "allowed", "%s moved to netns id %d as %s", veth.name,
           veth.link_nsid, out_name);
  } else {
    report("netns_move_veth_out", rc == 0 ? "refused" : verdict_of_errno(-rc),
           "RTM_NEWLINK %s with IFLA_TARGET_NETNSID %d: %s", veth.name, veth.link_nsid,
           rc == 0 ? "acknowledged, but the veth stayed" : strerrorname_np(-rc));
  }
}
