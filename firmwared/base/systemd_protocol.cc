#include "firmwared/base/systemd_protocol.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "firmwared/base/fd.h"

namespace fw::systemd {
namespace {

// The address of a unix socket path; "@name" is the abstract namespace (a leading NUL), as
// sd_notify(3) reads NOTIFY_SOCKET. False when it does not fit sun_path.
bool unix_address(std::string_view path, sockaddr_un* addr, socklen_t* len) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  if (path[0] == '@') addr->sun_path[0] = '\0';
  // An abstract name's length is exact: no terminating NUL counts (unix(7)).
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                (path[0] == '@' ? 0 : 1));
  return true;
}

int send_datagram(int sock, std::string_view path, const void* data, size_t size, int pass_fd) {
  sockaddr_un addr{};
  socklen_t addr_len = 0;
  if (!unix_address(path, &addr, &addr_len)) return -EINVAL;
  iovec iov{const_cast<void*>(data), size};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = addr_len;
  msg.msg_iov = size > 0 ? &iov : nullptr;
  msg.msg_iovlen = size > 0 ? 1 : 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return 1;
    if (errno != EINTR) return -errno;
  }
}

// A datagram too large for the socket's buffer goes as a sealed memfd instead: journald
// reads the entry from the file (JOURNAL_NATIVE_PROTOCOL "Large entries"); the seals tell
// it no one can change the file under it.
int send_as_memfd(int sock, std::string_view path, const std::string& entry) {
  Fd mem(::memfd_create("journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem.valid()) return -errno;
  size_t done = 0;
  while (done < entry.size()) {
    ssize_t w = ::write(mem.get(), entry.data() + done, entry.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    done += static_cast<size_t>(w);
  }
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
      0) {
    return -errno;
  }
  return send_datagram(sock, path, nullptr, 0, mem.get());
}

}  // namespace

std::string encode_journal_entry(const std::vector<std::string>& fields) {
  std::string out;
  for (const std::string& f : fields) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string_view key(f.data(), eq);
    const std::string_view value(f.data() + eq + 1, f.size() - eq - 1);
    if (value.find('\n') == std::string_view::npos) {
      out.append(f).push_back('\n');
      continue;
    }
    out.append(key).push_back('\n');
    uint64_t size = value.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
    out.append(value).push_back('\n');
  }
  return out;
}

int send_journal(const std::vector<std::string>& fields, const std::string& socket_path) {
  // One socket for the process, opened at the first entry (as libsystemd does); the
  // address goes with every datagram, so a restarted journald is found again.
  // (A function-local static is initialised once, thread-safely.)
  static const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -EBADF;
  const std::string entry = encode_journal_entry(fields);
  int r = send_datagram(sock, socket_path, entry.data(), entry.size(), -1);
  if (r == -EMSGSIZE || r == -ENOBUFS) r = send_as_memfd(sock, socket_path, entry);
  return r < 0 ? r : 0;
}

int notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return 0;
  if (path[0] != '/' && path[0] != '@') return -EAFNOSUPPORT;  // e.g. "vsock:..."
  Fd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return -errno;
  return send_datagram(sock.get(), path, state.data(), state.size(), -1);
}

namespace {

// A whole decimal number, as sd_listen_fds(3) reads LISTEN_PID and LISTEN_FDS.
bool parse_number(const char* text, long* out) {
  const char* end = text + std::strlen(text);
  auto r = std::from_chars(text, end, *out);
  return r.ec == std::errc() && r.ptr == end && end != text;
}

}  // namespace

int listen_fds() {
  const char* pid_text = std::getenv("LISTEN_PID");
  const char* fds_text = std::getenv("LISTEN_FDS");
  int r = 0;
  long pid = 0, n = 0;
  if (pid_text == nullptr) {
    r = 0;
  } else if (!parse_number(pid_text, &pid) || pid <= 0) {
    r = -EINVAL;
  } else if (pid != ::getpid()) {
    r = 0;  // meant for another process (our parent's, say): not ours
  } else if (fds_text == nullptr || !parse_number(fds_text, &n) || n < 0 || n > 1 << 16) {
    r = -EINVAL;
  } else {
    for (int fd = kListenFdsStart; fd < kListenFdsStart + n; ++fd) {
      if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        r = -errno;
        break;
      }
    }
    if (r == 0) r = static_cast<int>(n);
  }
  // They describe this process only: a child must not take them for its own.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return r;
}

int is_listening_unix_stream(int fd, std::string_view path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  if (!S_ISSOCK(st.st_mode)) return 0;
  int value = 0;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0) return -errno;
  if (value != SOCK_STREAM) return 0;
  len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0) return -errno;
  if (value == 0) return 0;
  sockaddr_un addr{};
  len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -errno;
  if (addr.sun_family != AF_UNIX) return 0;
  if (path.empty()) return 1;
  sockaddr_un want{};
  socklen_t want_len = 0;
  if (!unix_address(path, &want, &want_len)) return 0;
  // A path's name may come back with or without its terminating NUL counted (unix(7)).
  const size_t name = static_cast<size_t>(want_len) - offsetof(sockaddr_un, sun_path);
  const size_t got = static_cast<size_t>(len) - offsetof(sockaddr_un, sun_path);
  if (path[0] == '@') return got == name && std::memcmp(addr.sun_path, want.sun_path, name) == 0;
  return got >= path.size() && std::memcmp(addr.sun_path, want.sun_path, path.size()) == 0 &&
         (got == path.size() || addr.sun_path[path.size()] == '\0');
}

}  // namespace fw::systemd
