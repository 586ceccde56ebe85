#include "firmwared/core/overlay_tree.h"
#include "firmwared/base/strings.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string_view>

namespace fw::core::overlay {

namespace {

FileType type_of(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return FileType::kDir;
    case S_IFLNK:
      return FileType::kSymlink;
    case S_IFCHR:
      return FileType::kChar;
    case S_IFBLK:
      return FileType::kBlock;
    case S_IFIFO:
      return FileType::kFifo;
    case S_IFSOCK:
      return FileType::kSocket;
    default:
      return FileType::kFile;
  }
}

// lgetxattr(2) and friends take paths; /proc/self/fd/N/NAME reaches NAME in an open
// directory without following NAME itself (the l* calls never follow the last component).
std::string fd_path(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

bool absent_errno(int e) { return e == ENOENT || e == ENOTDIR; }

// True when a component of `path` is "." or "..". The kernel looks a redirect up one
// component at a time with lookup_one_len(), which refuses those (EACCES, fs/namei.c
// lookup_one_common()): such a redirect is never followed. Followed here, "/.." would lead
// the walk out of the lower layer.
bool has_dot_component(const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string_view part(path.data() + start, slash - start);
    if (part == "." || part == "..") return true;
    start = slash + 1;
  }
  return false;
}

// xattrs unsupported by the filesystem (squashfs without them, ...) read as none.
bool no_xattr_errno(int e) { return e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP; }

// A 0:0 character device: the kernel's whiteout (ovl_is_whiteout()).
bool is_whiteout_device(const Node& n) { return n.type == FileType::kChar && n.rdev == 0; }

}  // namespace

const char* type_name(FileType type) {
  switch (type) {
    case FileType::kFile:
      return "file";
    case FileType::kDir:
      return "dir";
    case FileType::kSymlink:
      return "symlink";
    case FileType::kChar:
      return "char";
    case FileType::kBlock:
      return "block";
    case FileType::kFifo:
      return "fifo";
    case FileType::kSocket:
      return "socket";
  }
  return "file";
}

Node node_of(const struct stat& st) {
  Node n;
  n.type = type_of(st.st_mode);
  n.perm = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.size = static_cast<uint64_t>(st.st_size);
  n.rdev = st.st_rdev;
  n.dev = st.st_dev;
  n.ino = st.st_ino;
  n.nlink = st.st_nlink;
  n.st = st;
  return n;
}

Result<Fd> open_root(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno_error("opening directory " + quote(path));
  return fd;
}

Result<Fd> open_dir(int dirfd, const std::string& name) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    // O_NOFOLLOW on a symlink: ELOOP; it is just not a directory.
    const int e = errno == ELOOP ? ENOTDIR : errno;
    return errno_error(e, "opening directory " + quote(name));
  }
  return fd;
}

Result<Fd> open_dir_path(int dirfd, const std::string& rel) {
  Fd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!cur) return errno_error("duplicating a directory descriptor");
  size_t start = 0;
  while (start < rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    // The walk never leaves `dirfd`: ".." would climb out of the layer.
    if (part == "..") return make_error(EACCES, "opening '" + rel + "': '..' is refused");
    auto next = open_dir(cur.get(), part);
    if (!next.ok()) return next.error().wrap("opening " + quote(rel));
    cur = std::move(*next);
  }
  return cur;
}

Result<Fd> open_file(int dirfd, const std::string& name) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errno_error("opening " + quote(name));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat of " + quote(name));
  if (!S_ISREG(st.st_mode)) return make_error(EINVAL, quote(name) + " is not a regular file");
  return fd;
}

Result<std::vector<std::string>> list_dir(int dirfd) {
  // getdents64(2) on the descriptor itself: no duplicate, no DIR stream.
  if (::lseek(dirfd, 0, SEEK_SET) < 0) return errno_error("rewinding a directory");
  std::vector<std::string> names;
  alignas(dirent64) char buf[32 * 1024];
  for (;;) {
    const ssize_t n = ::getdents64(dirfd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading a directory");
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(buf + off);
      off += d->d_reclen;
      if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) {
        names.emplace_back(d->d_name);
      }
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::optional<Node>> stat_entry(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (absent_errno(errno)) return std::optional<Node>();
    return errno_error("stat of " + quote(name));
  }
  return std::optional<Node>(node_of(st));
}

Result<std::string> read_link(int dirfd, const std::string& name) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return errno_error("reading symlink " + quote(name));
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

Result<std::optional<std::string>> get_xattr(int dirfd, const std::string& name,
                                             const std::string& xattr) {
  const std::string path = fd_path(dirfd, name);
  std::string value(256, '\0');
  for (;;) {
    ssize_t n = ::lgetxattr(path.c_str(), xattr.c_str(), value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      return std::optional<std::string>(std::move(value));
    }
    if (no_xattr_errno(errno)) return std::optional<std::string>();
    if (errno != ERANGE) return errno_error("reading xattr " + xattr + " of " + quote(name));
    n = ::lgetxattr(path.c_str(), xattr.c_str(), nullptr, 0);
    if (n < 0) return errno_error("reading xattr " + xattr + " of " + quote(name));
    value.resize(static_cast<size_t>(n) + 1);
  }
}

Result<std::vector<std::string>> xattr_names(int dirfd, const std::string& name) {
  const std::string path = fd_path(dirfd, name);
  std::vector<std::string> names;
  std::string list(1024, '\0');
  for (;;) {
    ssize_t n = ::llistxattr(path.c_str(), list.data(), list.size());
    if (n >= 0) {
      list.resize(static_cast<size_t>(n));
      break;
    }
    if (no_xattr_errno(errno)) return names;
    if (errno != ERANGE) return errno_error("listing xattrs of " + quote(name));
    n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) return errno_error("listing xattrs of " + quote(name));
    list.resize(static_cast<size_t>(n) + 256);
  }
  for (size_t at = 0; at < list.size();) {
    std::string key(list.c_str() + at);
    at += key.size() + 1;
    if (!key.empty()) names.push_back(std::move(key));
  }
  return names;
}

Result<std::map<std::string, std::string>> visible_xattrs(int dirfd, const std::string& name,
                                                          const std::string& prefix,
                                                          const std::vector<std::string>* names) {
  std::vector<std::string> listed;
  if (names == nullptr) {
    FW_ASSIGN_OR_RETURN(listed, xattr_names(dirfd, name));
    names = &listed;
  }
  std::map<std::string, std::string> out;
  const std::string escaped = prefix + "overlay.";
  for (const auto& key : *names) {
    std::string shown = key;
    // ovl_xattr_filter(): private xattrs are hidden, escaped ones lose one "overlay.".
    if (key.compare(0, escaped.size(), escaped) == 0) {
      shown = prefix + key.substr(escaped.size());
    } else if (key.compare(0, prefix.size(), prefix) == 0) {
      continue;
    }
    FW_ASSIGN_OR_RETURN(auto value, get_xattr(dirfd, name, key));
    if (value) out[shown] = std::move(*value);
  }
  return out;
}

Result<bool> same_content(int a, int b) {
  struct stat sa {
  }, sb{};
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0) return errno_error("stat of a file");
  if (sa.st_size != sb.st_size) return false;
  std::vector<char> ba(64 * 1024), bb(64 * 1024);
  for (off_t off = 0;;) {
    const ssize_t na = ::pread(a, ba.data(), ba.size(), off);
    if (na < 0) return errno_error("reading a file");
    size_t got = 0;
    while (got < static_cast<size_t>(na)) {
      const ssize_t nb =
          ::pread(b, bb.data() + got, static_cast<size_t>(na) - got, off + static_cast<off_t>(got));
      if (nb < 0) return errno_error("reading a file");
      if (nb == 0) return false;  // b shrank meanwhile
      got += static_cast<size_t>(nb);
    }
    if (na == 0) {
      // a ended: equal only if b ended too.
      char c;
      return ::pread(b, &c, 1, off) == 0;
    }
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) return false;
    off += na;
  }
}

std::string join_rel(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// ---- Reader -------------------------------------------------------------------------------

Result<Reader> Reader::open(const std::string& upper, const std::string& lower,
                            std::string prefix) {
  FW_ASSIGN_OR_RETURN(Fd u, open_root(upper));
  FW_ASSIGN_OR_RETURN(Fd l, open_root(lower));
  return Reader(std::move(u), std::move(l), std::move(prefix));
}

Result<MergedDir> Reader::root() const {
  MergedDir d;
  d.upper = Fd(::fcntl(upper_.get(), F_DUPFD_CLOEXEC, 0));
  d.lower = Fd(::fcntl(lower_.get(), F_DUPFD_CLOEXEC, 0));
  if (!d.upper || !d.lower) return errno_error("duplicating a directory descriptor");
  return d;
}

Result<std::optional<std::string>> Reader::redirect_of(const MergedDir& dir,
                                                       const std::string& name) const {
  FW_ASSIGN_OR_RETURN(auto r, get_xattr(dir.upper.get(), name, prefix_ + "redirect"));
  // A NUL inside the value is invalid (the kernel checks strnlen() == size,
  // ovl_get_redirect_xattr()); let through, "/..\0x" would read as "/.." once the path is
  // passed to the system (found by fuzz_overlay_reader).
  if (!r || r->empty() || r->find('\0') != std::string::npos || has_dot_component(*r)) {
    return std::optional<std::string>();
  }
  // Absolute: from the root of the lower layers; relative: a name in the parent's lower
  // directory (ovl_check_redirect()).
  if ((*r)[0] == '/') {
    const size_t first = r->find_first_not_of('/');
    return std::optional<std::string>(first == std::string::npos ? "" : r->substr(first));
  }
  if (!dir.lower.valid() || r->find('/') != std::string::npos) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(join_rel(dir.lower_path, *r));
}

Result<MergedEntry> Reader::entry(const MergedDir& dir, const std::string& name) const {
  MergedEntry e;
  std::optional<Node> up;
  if (dir.upper.valid()) {
    FW_ASSIGN_OR_RETURN(up, stat_entry(dir.upper.get(), name));
  }
  if (up && is_whiteout_device(*up)) {
    e.dirfd = dir.upper.get();
    e.node = *up;
    e.whiteout = true;
    return e;
  }
  if (dir.lower.valid()) {
    FW_ASSIGN_OR_RETURN(e.lower_node, stat_entry(dir.lower.get(), name));
    e.lower_looked_up = true;
  }
  if (!up) {
    if (e.lower_node) {
      e.exists = true;
      e.node = *e.lower_node;
      e.dirfd = dir.lower.get();
      e.lower_path = join_rel(dir.lower_path, name);
    }
    return e;
  }
  e.dirfd = dir.upper.get();
  e.node = *up;
  // One listing tells which markers to read (most entries carry none).
  FW_ASSIGN_OR_RETURN(e.xattr_names, xattr_names(e.dirfd, name));
  const auto has = [&](const char* marker) {
    return std::find(e.xattr_names.begin(), e.xattr_names.end(), prefix_ + marker) !=
           e.xattr_names.end();
  };
  if (dir.xwhiteouts && up->type == FileType::kFile && up->size == 0 && has("whiteout")) {
    e.whiteout = true;
    return e;
  }
  e.exists = true;
  e.from_upper = true;
  std::optional<std::string> source;
  if (up->type == FileType::kDir) {
    if (has("opaque")) {
      FW_ASSIGN_OR_RETURN(auto opaque, get_xattr(e.dirfd, name, prefix_ + "opaque"));
      e.opaque = opaque && *opaque == "y";
      e.xwhiteouts = opaque && *opaque == "x";
    }
    if (e.opaque) return e;
    if (has("redirect")) {
      FW_ASSIGN_OR_RETURN(source, redirect_of(dir, name));
      if (source) e.redirected_from = *source;
      // Only a lower directory is merged (ovl_lookup_layer() stops at anything else).
      if (source && !open_dir_path(lower_.get(), *source).ok()) source.reset();
    } else if (e.lower_node && e.lower_node->type == FileType::kDir) {
      source = join_rel(dir.lower_path, name);
    }
    e.lower_path = source;
  } else if (up->type == FileType::kFile && has("metacopy")) {
    e.metacopy = true;
    if (has("redirect")) {
      FW_ASSIGN_OR_RETURN(source, redirect_of(dir, name));
    }
    if (!source && dir.lower.valid()) source = join_rel(dir.lower_path, name);
    e.lower_path = source;
  }
  return e;
}

Result<MergedDir> Reader::child_dir(const MergedDir& dir, const std::string& name,
                                    const MergedEntry& e) const {
  MergedDir c;
  if (e.from_upper) {
    FW_ASSIGN_OR_RETURN(c.upper, open_dir(dir.upper.get(), name));
    c.xwhiteouts = e.xwhiteouts;
  }
  if (e.lower_path) {
    // The usual case, the same name in the parent's lower dir: one openat, not a walk.
    const bool beside = dir.lower.valid() && *e.lower_path == join_rel(dir.lower_path, name);
    auto low =
        beside ? open_dir(dir.lower.get(), name) : open_dir_path(lower_.get(), *e.lower_path);
    if (low.ok()) {
      c.lower = std::move(*low);
      c.lower_path = *e.lower_path;
    } else if (!absent_errno(low.error().code)) {
      return low.error();
    }
  }
  return c;
}

Result<std::vector<std::string>> Reader::names(const MergedDir& dir) const {
  std::vector<std::string> out;
  std::vector<std::string> up, low;
  if (dir.upper.valid()) {
    FW_ASSIGN_OR_RETURN(up, list_dir(dir.upper.get()));
  }
  if (dir.lower.valid()) {
    FW_ASSIGN_OR_RETURN(low, list_dir(dir.lower.get()));
  }
  std::vector<std::string> all;
  std::set_union(up.begin(), up.end(), low.begin(), low.end(), std::back_inserter(all));
  for (auto& n : all) {
    FW_ASSIGN_OR_RETURN(auto e, entry(dir, n));
    if (e.exists) out.push_back(std::move(n));
  }
  return out;
}

Result<Fd> Reader::open_data(const MergedEntry& e, const std::string& name) const {
  if (e.from_upper && !e.metacopy) return open_file(e.dirfd, name);
  if (!e.lower_path) return make_error(ENOENT, "no lower data for " + quote(name));
  const std::string& p = *e.lower_path;
  const size_t slash = p.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : p.substr(0, slash);
  FW_ASSIGN_OR_RETURN(Fd dir, open_dir_path(lower_.get(), parent));
  return open_file(dir.get(), slash == std::string::npos ? p : p.substr(slash + 1));
}

}  // namespace fw::core::overlay
