#include "firmwared/sys/init_kind.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string_view>
#include <vector>

#include "firmwared/base/fd.h"

namespace fw::sys {

namespace {

constexpr size_t kScanBytes = 8u << 20;
constexpr int kMaxLinks = 16;

Result<Fd> open_in_root(int root, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, root, path.c_str(), &how, sizeof(how));
  if (fd < 0) return errno_error("opening '" + path + "' in the firmware's tree");
  return Fd(static_cast<int>(fd));
}

InitKind kind_from_name(std::string_view name) {
  if (name.find("systemd") != std::string_view::npos) return InitKind::kSystemd;
  if (name.find("busybox") != std::string_view::npos) return InitKind::kBusybox;
  return InitKind::kUnknown;
}

// Markers each init's binary carries: BusyBox's banner, the INIT_VERSION variable sysvinit
// sets for its children, systemd's own name in its version string.
InitKind kind_from_contents(int fd) {
  std::string data;
  data.resize(kScanBytes);
  size_t have = 0;
  while (have < data.size()) {
    const ssize_t n = ::read(fd, data.data() + have, data.size() - have);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  const std::string_view v(data.data(), have);
  if (v.find("BusyBox v") != std::string_view::npos) return InitKind::kBusybox;
  if (v.find("INIT_VERSION") != std::string_view::npos) return InitKind::kSysvinit;
  if (v.find("systemd") != std::string_view::npos) return InitKind::kSystemd;
  return InitKind::kUnknown;
}

}  // namespace

Result<InitInfo> detect_init(const std::string& root) {
  Fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno_error("opening the firmware's tree '" + root + "'");
  InitInfo info;
  std::string path = "/sbin/init";
  for (int links = 0;; ++links) {
    auto fd = open_in_root(dir.get(), path, O_PATH | O_NOFOLLOW);
    if (!fd.ok()) {
      // Missing, or a loop of directory links: not an init anybody boots.
      if (fd.error().code == ENOENT || fd.error().code == ENOTDIR || fd.error().code == ELOOP) {
        return info;
      }
      return fd.error();
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return errno_error("inspecting '" + path + "'");
    if (!S_ISLNK(st.st_mode)) {
      info.path = path;
      if (!S_ISREG(st.st_mode)) return info;
      break;
    }
    if (links == kMaxLinks) return info;  // a loop: not an init anybody boots
    char target[4096];
    const ssize_t n = ::readlinkat(fd->get(), "", target, sizeof(target) - 1);
    if (n < 0) return errno_error("reading the link '" + path + "'");
    const std::string t(target, static_cast<size_t>(n));
    if (const InitKind k = kind_from_name(t); k != InitKind::kUnknown) {
      info.kind = k;
      info.path = path;
      return info;
    }
    path = t.starts_with("/") ? t : path.substr(0, path.rfind('/') + 1) + t;
  }
  if (const InitKind k = kind_from_name(info.path); k != InitKind::kUnknown) {
    info.kind = k;
    return info;
  }
  auto file = open_in_root(dir.get(), info.path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  if (!file.ok()) return file.error();
  info.kind = kind_from_contents(file->get());
  return info;
}

const char* init_kind_name(InitKind kind) {
  switch (kind) {
    case InitKind::kSystemd:
      return "systemd";
    case InitKind::kBusybox:
      return "busybox";
    case InitKind::kSysvinit:
      return "sysvinit";
    case InitKind::kUnknown:
      break;
  }
  return "unknown";
}

const char* default_stop_signal(InitKind kind) {
  switch (kind) {
    case InitKind::kSystemd:
      return "SIGRTMIN+3";
    case InitKind::kBusybox:
      return "SIGUSR2";
    case InitKind::kSysvinit:
      return "SIGINT";
    case InitKind::kUnknown:
      break;
  }
  return "SIGTERM";
}

}  // namespace fw::sys
