#include "firmwared/core/tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <vector>

#include "firmwared/base/fd.h"

namespace fw::core {

namespace {

Result<Fd> open_dir_at(int dirfd, const std::string& name, const std::string& path) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno_error("opening directory '" + path + "'");
  return fd;
}

// Best effort: an xattr the destination refuses (trusted.* of overlayfs, security.* under
// a policy) is skipped, as cp -a does.
void copy_xattrs(int from, int to) {
  std::vector<char> names(65536);
  const ssize_t n = ::flistxattr(from, names.data(), names.size());
  if (n <= 0) return;
  std::vector<char> value(65536);
  for (ssize_t i = 0; i < n;) {
    const char* name = names.data() + i;
    i += static_cast<ssize_t>(std::char_traits<char>::length(name)) + 1;
    const ssize_t v = ::fgetxattr(from, name, value.data(), value.size());
    if (v >= 0) (void)::fsetxattr(to, name, value.data(), static_cast<size_t>(v), 0);
  }
}

// copy_file_range(2) reflinks or copies in the kernel where it can; it fails with EXDEV
// across filesystems before Linux 5.19 (and between an overlay and another filesystem),
// EINVAL/EOPNOTSUPP/ENOSYS where unsupported: then read(2)/write(2).
Status copy_data(int in, int out, off_t size) {
  bool fallback = false;
  for (off_t left = size; left > 0 && !fallback;) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(left), 0);
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
      fallback = true;
    } else if (n < 0) {
      return errno_error("copy_file_range");
    } else if (n == 0) {
      return {};  // the source shrank meanwhile
    } else {
      left -= n;
    }
  }
  if (!fallback) return {};
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read");
    if (n == 0) return {};
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return errno_error("write");
      done += w;
    }
  }
}

Status copy_file(int sdir, int ddir, const std::string& name, const struct stat& st,
                 const std::string& path) {
  Fd in(::openat(sdir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return errno_error("opening '" + path + "'");
  Fd out(::openat(ddir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return errno_error("creating the copy of '" + path + "'");
  FW_TRY_CTX(copy_data(in.get(), out.get(), st.st_size), "copying '" + path + "'");
  copy_xattrs(in.get(), out.get());
  if (::fchown(out.get(), st.st_uid, st.st_gid) != 0 ||
      ::fchmod(out.get(), st.st_mode & 07777) != 0) {
    return errno_error("setting the owner and mode of the copy of '" + path + "'");
  }
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  (void)::futimens(out.get(), times);
  return {};
}

// What stays the same during one copy: the source's filesystem, and the id range shifted
// back to 0.
struct Walk {
  dev_t dev;
  uint32_t id_base;
};

// An id seen through an idmapped instance (id_base..id_base+65535) is stored as the
// instance sees it (0..65535).
void unshift(struct stat& st, uint32_t id_base) {
  if (id_base == 0) return;
  const uint64_t end = uint64_t{id_base} + 65536;
  if (st.st_uid >= id_base && st.st_uid < end) st.st_uid -= id_base;
  if (st.st_gid >= id_base && st.st_gid < end) st.st_gid -= id_base;
}

Status copy_entry(int sdir, int ddir, const std::string& name, const std::string& path,
                  const Walk& w);

Status copy_dir_contents(int sdir, int ddir, const std::string& path, const Walk& w) {
  Fd list(::openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!list) return errno_error("opening directory '" + path + "'");
  DIR* d = ::fdopendir(list.get());
  if (d == nullptr) return errno_error("listing '" + path + "'");
  (void)list.release();
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) FW_TRY(copy_entry(sdir, ddir, n, path + "/" + n, w));
  return {};
}

Status copy_entry(int sdir, int ddir, const std::string& name, const std::string& path,
                  const Walk& w) {
  struct stat st {};
  if (::fstatat(sdir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};  // removed meanwhile
    return errno_error("inspecting '" + path + "'");
  }
  const dev_t dev = st.st_dev;
  unshift(st, w.id_base);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (S_ISREG(st.st_mode)) return copy_file(sdir, ddir, name, st, path);
  if (S_ISDIR(st.st_mode)) {
    if (dev != w.dev) return {};  // another mount: not part of the tree
    if (::mkdirat(ddir, name.c_str(), 0700) != 0) return errno_error("creating '" + path + "'");
    FW_ASSIGN_OR_RETURN(Fd s, open_dir_at(sdir, name, path));
    FW_ASSIGN_OR_RETURN(Fd t, open_dir_at(ddir, name, path));
    FW_TRY(copy_dir_contents(s.get(), t.get(), path, w));
    copy_xattrs(s.get(), t.get());
    if (::fchown(t.get(), st.st_uid, st.st_gid) != 0 || ::fchmod(t.get(), st.st_mode & 07777)) {
      return errno_error("setting the owner and mode of the copy of '" + path + "'");
    }
    (void)::futimens(t.get(), times);
    return {};
  }
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 2);
    const ssize_t n = ::readlinkat(sdir, name.c_str(), target.data(), target.size() - 1);
    if (n < 0) return errno_error("reading symlink '" + path + "'");
    target[static_cast<size_t>(n)] = '\0';
    if (::symlinkat(target.data(), ddir, name.c_str()) != 0) {
      return errno_error("creating symlink '" + path + "'");
    }
  } else if (S_ISSOCK(st.st_mode)) {
    return {};  // a socket is only meaningful with its listener
  } else if (::mknodat(ddir, name.c_str(), st.st_mode & (S_IFMT | 07777), st.st_rdev) != 0) {
    return errno_error("creating special file '" + path + "'");
  }
  if (::fchownat(ddir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno_error("setting the owner of the copy of '" + path + "'");
  }
  (void)::utimensat(ddir, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  return {};
}

}  // namespace

Status copy_tree(const std::string& from, const std::string& to, uint32_t id_base) {
  Fd src(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src) return errno_error("opening directory '" + from + "'");
  struct stat st {};
  if (::fstat(src.get(), &st) != 0) return errno_error("inspecting '" + from + "'");
  if (::mkdir(to.c_str(), 0700) != 0) return errno_error("creating '" + to + "'");
  Fd dst(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst) return errno_error("opening directory '" + to + "'");
  const Walk w{st.st_dev, id_base};
  unshift(st, id_base);
  FW_TRY(copy_dir_contents(src.get(), dst.get(), from, w));
  copy_xattrs(src.get(), dst.get());
  if (::fchown(dst.get(), st.st_uid, st.st_gid) != 0 || ::fchmod(dst.get(), st.st_mode & 07777)) {
    return errno_error("setting the owner and mode of '" + to + "'");
  }
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  (void)::futimens(dst.get(), times);
  return {};
}

}  // namespace fw::core
