#include "firmwared/sys/hash_copy.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <memory>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/sys/sha1.h"

namespace fw::sys {
namespace {

// Large chunks keep the syscall count low; 1 MiB per call is a heap buffer, not stack.
constexpr size_t kChunk = 1 << 20;

std::string fd_name(int fd) {
  std::array<char, 4096> buf{};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : "fd " + std::to_string(fd);
}

Status write_all(int fd, const char* data, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno_error("writing at byte " + std::to_string(offset + done));
    done += static_cast<size_t>(w);
  }
  return {};
}

// Reads `src_fd` from offset 0 to end of file, feeding each chunk to the hash and then to
// `dst_fd` when it is >= 0; reports progress after each chunk. Returns the SHA-1 hex.
Result<std::string> pump(int src_fd, int dst_fd, const Progress& progress) {
  struct stat st {};
  if (::fstat(src_fd, &st) != 0) return errno_error("inspecting the source");
  const bool regular = S_ISREG(st.st_mode);
  const uint64_t expected = regular ? static_cast<uint64_t>(st.st_size) : 0;
  // Tell the page cache we read once, front to back (posix_fadvise(2)); advisory only.
  if (regular) ::posix_fadvise(src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  Sha1 sha1;
  FW_TRY(sha1.init());
  auto buf = std::make_unique_for_overwrite<char[]>(kChunk);
  uint64_t done = 0;
  bool reported = false;
  for (;;) {
    // pread, not read: the caller may have probed this fd and its offset is not ours.
    ssize_t n = ::pread(src_fd, buf.get(), kChunk, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading at byte " + std::to_string(done));
    if (n == 0) break;
    sha1.update(buf.get(), static_cast<size_t>(n));
    if (dst_fd >= 0) FW_TRY(write_all(dst_fd, buf.get(), static_cast<size_t>(n), done));
    done += static_cast<size_t>(n);
    reported = true;
    if (progress && !progress(done, std::max(done, expected))) {
      return make_error(ECANCELED, "cancelled at byte " + std::to_string(done));
    }
  }
  if (regular && done != expected) {
    return make_error(EAGAIN, "the source changed size while it was read (" +
                                  std::to_string(expected) + " bytes at the start, " +
                                  std::to_string(done) + " read)");
  }
  // An empty source still gets its one final call, done == total == 0.
  if (progress && !reported && !progress(0, 0)) return make_error(ECANCELED, "cancelled");
  return sha1.final_hex();
}

}  // namespace

Result<std::string> sha1_of_fd(int fd, const Progress& progress) {
  auto r = pump(fd, -1, progress);
  if (!r.ok()) return r.error().wrap("hashing '" + fd_name(fd) + "'");
  return r;
}

Result<std::string> copy_with_sha1(int src_fd, int dst_dir_fd, const std::string& tmp_name,
                                   const Progress& progress) {
  const std::string context =
      "copying '" + fd_name(src_fd) + "' to '" + fd_name(dst_dir_fd) + "/" + tmp_name + "'";
  // O_EXCL: never write into a file we did not create; O_NOFOLLOW: nor through a symlink.
  Fd dst(::openat(dst_dir_fd, tmp_name.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!dst.valid()) return errno_error(context + ": creating the copy");
  // From here on the file is ours: any failure removes it.
  Deferred remove_copy([&]() noexcept { discard(dst_dir_fd, tmp_name); });
  // The mode must not depend on the daemon's umask: the image is world-readable data.
  if (::fchmod(dst.get(), 0644) != 0) return errno_error(context + ": setting its mode");

  auto sha1 = pump(src_fd, dst.get(), progress);
  if (!sha1.ok()) return sha1.error().wrap(context);
  // fsync(2) before the rename publishes it, so a crash never leaves a named, partial image.
  if (::fsync(dst.get()) != 0) return errno_error(context + ": syncing the copy");
  remove_copy.cancel();
  return sha1;
}

Status publish(int dir_fd, const std::string& tmp_name, const std::string& final_name) {
  const std::string context =
      "publishing '" + tmp_name + "' as '" + final_name + "' in '" + fd_name(dir_fd) + "'";
  if (::renameat2(dir_fd, tmp_name.c_str(), dir_fd, final_name.c_str(), RENAME_NOREPLACE) != 0) {
    // rename(2): EINVAL when the filesystem does not support RENAME_NOREPLACE. link(2)
    // also refuses to replace (EEXIST), so link + unlink gives the same guarantee.
    if (errno != EINVAL) return errno_error(context);
    if (::linkat(dir_fd, tmp_name.c_str(), dir_fd, final_name.c_str(), 0) != 0) {
      return errno_error(context);
    }
    discard(dir_fd, tmp_name);
  }
  // The rename is durable only once the directory is synced (fsync(2)). It already
  // happened, so a failure here is reported but not undone.
  if (::fsync(dir_fd) != 0 && errno != EBADF && errno != EINVAL) {
    log::warning(errno_error(context + ": syncing the directory").message + ", ignoring");
  }
  return {};
}

void discard(int dir_fd, const std::string& tmp_name) noexcept {
  ::unlinkat(dir_fd, tmp_name.c_str(), 0);
}

}  // namespace fw::sys
