#include "firmwared/sys/atomic_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "firmwared/base/strings.h"

namespace fw::sys {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// ENOENT counts as fine (nothing to replace).
Status check_replaceable(int dir_fd, const std::string& name, const std::string& path, bool force) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status() : errno_error("inspecting " + quote_path(path));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(EINVAL, quote_path(path) + " exists and is " + kind_of(st.st_mode) +
                                  ": an export replaces only a regular file (even with --force)");
  }
  if (!force) return make_error(EEXIST, quote_path(path) + " exists (--force replaces it)");
  return {};
}

}  // namespace

AtomicOutput::~AtomicOutput() {
  if (!tmp_.empty()) {
    AsClient as(client_);
    ::unlinkat(dir_.get(), tmp_.c_str(), 0);
  }
}

Result<std::unique_ptr<AtomicOutput>> AtomicOutput::create(const std::string& path, bool force,
                                                           const ClientCredentials& client) {
  const size_t slash = path.rfind('/');
  std::unique_ptr<AtomicOutput> o(new AtomicOutput(path, path.substr(slash + 1), force, client));
  if (o->name_.empty() || o->name_ == "." || o->name_ == "..") {
    return make_error(EINVAL, "export path " + quote_path(path) + " does not name a file");
  }
  AsClient as(client);
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  o->dir_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!o->dir_) return errno_error("opening directory " + quote_path(dir));
  FW_TRY(check_replaceable(o->dir_.get(), o->name_, path, force));
  std::mt19937_64 rng(std::random_device{}());
  for (int attempt = 0; attempt < 16 && !o->fd_; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), "%06llx",
                  static_cast<unsigned long long>(rng() & 0xffffff));
    const std::string tmp = "." + o->name_ + "." + suffix;
    o->fd_.reset(::openat(o->dir_.get(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (o->fd_) o->tmp_ = tmp;
    if (!o->fd_ && errno != EEXIST) return errno_error("creating " + quote(dir + "/" + tmp));
  }
  if (!o->fd_) return make_error(EEXIST, "no free temporary name beside " + quote_path(path));
  return o;
}

Status AtomicOutput::commit() {
  if (::fsync(fd_.get()) != 0) return errno_error("writing " + quote_path(path_));
  AsClient as(client_);
  FW_TRY(check_replaceable(dir_.get(), name_, path_, force_));
  struct stat st {};
  const bool exists = ::fstatat(dir_.get(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  // rename(2) never follows a final symlink; RENAME_NOREPLACE makes "no file there" part of
  // the rename itself (EEXIST if one appeared).
  const unsigned flags = exists ? 0 : RENAME_NOREPLACE;
  if (::renameat2(dir_.get(), tmp_.c_str(), dir_.get(), name_.c_str(), flags) != 0) {
    return errno == EEXIST ? make_error(EEXIST, quote_path(path_) + " appeared during the export")
                           : errno_error("renaming the export to " + quote_path(path_));
  }
  tmp_.clear();
  return {};
}

}  // namespace fw::sys
