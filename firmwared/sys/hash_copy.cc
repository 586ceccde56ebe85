#include "firmwared/sys/hash_copy.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/sys/sha1.h"

namespace fw::sys {
namespace {

// Hashing runs in a second thread, beside the reading (sha1_of_fd) or the copying
// (copy_with_sha1), so the whole costs about what hashing alone costs. For the copy, the
// data moves inside the kernel (copy_file_range(2)) and the hasher reads the copy back as
// it is written, so the fsync also overlaps the hashing. Measured on ext4 (2 vCPUs), this
// beat a single read feeding both the hash and write(2) from a ring of buffers: there,
// the copy's fsync could only start after the last chunk was hashed. 1 MiB chunks keep
// the syscall count low; kSlots of them let sha1_of_fd's reader run ahead of the hasher.
constexpr size_t kSlots = 4;
// How much of a copy is written before its writeback is started (copy_and_hash).
constexpr uint64_t kWritebackStep = 8 * kHashCopyChunk;

// The ring's memory: mmap(2), not the heap, so it goes back to the kernel at the end of
// each import instead of staying in the worker thread's malloc arena.
class RingMemory {
 public:
  RingMemory() {
    void* p = ::mmap(nullptr, kSlots * kHashCopyChunk, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~RingMemory() {
    if (base_ != nullptr) ::munmap(base_, kSlots * kHashCopyChunk);
  }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;
  char* slot(uint64_t seq) const { return base_ + (seq % kSlots) * kHashCopyChunk; }
  bool valid() const { return base_ != nullptr; }

 private:
  char* base_ = nullptr;
};

// Hands chunks from the reading thread to the hashing thread. Chunk `seq` lives in slot
// seq % kSlots; a slot is free again once the hasher is done with it. A chunk of size 0 ends the
// stream; abort() stops the hasher.
class HashRing {
 public:
  explicit HashRing(const RingMemory& memory) : memory_(memory) {}

  // Reader: waits for chunk `seq`'s slot to be free and returns it (nullptr once aborted).
  char* acquire(uint64_t seq) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return aborted_ || slots_[seq % kSlots].users == 0; });
    return aborted_ ? nullptr : memory_.slot(seq);
  }
  // Reader: chunk `seq` holds `n` bytes (0: the end).
  void filled(uint64_t seq, size_t n) {
    {
      std::lock_guard lock(m_);
      slots_[seq % kSlots] = {n, n == 0 ? 0 : 1};
      filled_ = seq + 1;
    }
    cv_.notify_all();
  }
  void abort() {
    {
      std::lock_guard lock(m_);
      aborted_ = true;
    }
    cv_.notify_all();
  }
  // Hasher thread: hashes chunk after chunk until the end or abort().
  void hash_all(Sha1& sha1) {
    for (uint64_t seq = 0;; ++seq) {
      size_t n = 0;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return aborted_ || filled_ > seq; });
        if (aborted_) return;
        n = slots_[seq % kSlots].n;
      }
      if (n == 0) return;
      sha1.update(memory_.slot(seq), n);
      done_with(seq);
    }
  }

 private:
  void done_with(uint64_t seq) {
    {
      std::lock_guard lock(m_);
      --slots_[seq % kSlots].users;
    }
    cv_.notify_all();
  }

  struct Slot {
    size_t n = 0;
    int users = 0;  // 1 while the hasher has it
  };
  const RingMemory& memory_;
  std::mutex m_;
  std::condition_variable cv_;
  std::array<Slot, kSlots> slots_{};
  uint64_t filled_ = 0;
  bool aborted_ = false;
};

std::string fd_name(int fd) {
  std::array<char, 4096> buf{};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : "fd " + std::to_string(fd);
}

// pwrite(2), not write(2): copy_file_range(2) with explicit offsets leaves the file offset
// alone, so a fallback after it must say where it writes.
Status write_all(int fd, const char* data, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno_error("writing at byte " + std::to_string(offset + done));
    done += static_cast<size_t>(w);
  }
  return {};
}

// EAGAIN when a regular file did not keep the size it had at the start.
Status check_size(bool regular, uint64_t expected, uint64_t done) {
  if (!regular || done == expected) return {};
  return make_error(EAGAIN, "the source changed size while it was read (" +
                                std::to_string(expected) + " bytes at the start, " +
                                std::to_string(done) + " read)");
}

// Reads `fd` from offset 0 to end of file in this thread while a second one hashes the
// chunks read, reporting progress after each. Returns the SHA-1 hex.
Result<std::string> pump(int fd, const Progress& progress) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("inspecting the source");
  const bool regular = S_ISREG(st.st_mode);
  const uint64_t expected = regular ? static_cast<uint64_t>(st.st_size) : 0;
  // Tell the page cache we read once, front to back (posix_fadvise(2)); advisory only.
  if (regular) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  Sha1 sha1;
  FW_TRY(sha1.init());
  RingMemory memory;
  if (!memory.valid()) return errno_error("allocating the read buffers");
  HashRing ring(memory);
  std::thread hasher([&ring, &sha1] { ring.hash_all(sha1); });
  // Every return below stops and joins the hasher before the ring and the hash go away.
  DEFER {
    ring.abort();
    if (hasher.joinable()) hasher.join();
  };
  uint64_t done = 0;
  bool reported = false;
  for (uint64_t seq = 0;; ++seq) {
    char* buf = ring.acquire(seq);
    // pread, not read: the caller may have probed this fd and its offset is not ours.
    ssize_t n = ::pread(fd, buf, kHashCopyChunk, static_cast<off_t>(done));
    while (n < 0 && errno == EINTR) n = ::pread(fd, buf, kHashCopyChunk, static_cast<off_t>(done));
    if (n < 0) return errno_error("reading at byte " + std::to_string(done));
    ring.filled(seq, static_cast<size_t>(n));
    if (n == 0) break;
    done += static_cast<size_t>(n);
    reported = true;
    if (progress && !progress(done, std::max(done, expected))) {
      return make_error(ECANCELED, "cancelled at byte " + std::to_string(done));
    }
  }
  hasher.join();  // the end marker is out: the hasher finishes the last chunk and returns
  FW_TRY(check_size(regular, expected, done));
  // An empty source still gets its one final call, done == total == 0.
  if (progress && !reported && !progress(0, 0)) return make_error(ECANCELED, "cancelled");
  return sha1.final_hex();
}

// Follows a copy being written: hashes each range once the writer says it is there,
// reading it back from the copy (from the page cache the write just filled). The sum then
// names exactly the bytes of the copy, whatever happens to the source meanwhile.
class TrailingHasher {
 public:
  TrailingHasher(int fd, Sha1& sha1) : fd_(fd), sha1_(sha1) {}
  void written(uint64_t upto) {
    set([&] { written_ = upto; });
  }
  void finish() {
    set([&] { finished_ = true; });
  }
  void abort() {
    set([&] { aborted_ = true; });
  }
  // The thread's body; its outcome is status() once joined.
  void run() noexcept {
    if (!memory_.valid()) {
      status_ = errno_error("allocating the hash buffer");
      return;
    }
    char* buf = memory_.slot(0);
    for (uint64_t off = 0;;) {
      size_t n = 0;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return aborted_ || finished_ || written_ > off; });
        if (aborted_ || written_ <= off) return;  // aborted, or finished and all hashed
        n = static_cast<size_t>(std::min<uint64_t>(kHashCopyChunk, written_ - off));
      }
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(off));
      while (r < 0 && errno == EINTR) r = ::pread(fd_, buf, n, static_cast<off_t>(off));
      if (r <= 0) {
        status_ = r < 0 ? errno_error("reading the copy back at byte " + std::to_string(off))
                        : make_error(EIO, "the copy is shorter than written at byte " +
                                              std::to_string(off));
        return;
      }
      sha1_.update(buf, static_cast<size_t>(r));
      off += static_cast<uint64_t>(r);
    }
  }
  const Status& status() const { return status_; }

 private:
  template <typename F>
  void set(F f) {
    {
      std::lock_guard lock(m_);
      f();
    }
    cv_.notify_all();
  }

  const int fd_;
  Sha1& sha1_;
  RingMemory memory_;
  std::mutex m_;
  std::condition_variable cv_;
  uint64_t written_ = 0;
  bool finished_ = false, aborted_ = false;
  Status status_;
};

// Copies `src_fd` into `dst_fd` (both at offset 0) with copy_file_range(2) (the data moves
// inside the kernel; read(2)+write(2) where it cannot: another filesystem type, a source
// that is no regular file) while a TrailingHasher hashes the copy, and fsyncs the copy
// while the hasher finishes. Returns the SHA-1 hex of the copy.
Result<std::string> copy_and_hash(int src_fd, int dst_fd, const Progress& progress) {
  struct stat st {};
  if (::fstat(src_fd, &st) != 0) return errno_error("inspecting the source");
  const bool regular = S_ISREG(st.st_mode);
  const uint64_t expected = regular ? static_cast<uint64_t>(st.st_size) : 0;
  if (regular) ::posix_fadvise(src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  Sha1 sha1;
  FW_TRY(sha1.init());
  TrailingHasher trailer(dst_fd, sha1);
  std::thread hasher([&trailer] { trailer.run(); });
  DEFER {
    trailer.abort();
    if (hasher.joinable()) hasher.join();
  };
  RingMemory fallback;  // one chunk for read+write, used only without copy_file_range
  bool in_kernel = regular;
  uint64_t done = 0, flushed = 0;
  bool reported = false;
  for (;;) {
    ssize_t n = 0;
    if (in_kernel) {
      loff_t in = static_cast<loff_t>(done), out = static_cast<loff_t>(done);
      n = ::copy_file_range(src_fd, &in, dst_fd, &out, kHashCopyChunk, 0);
      if (n < 0 && errno == EINTR) continue;
      // Any failure, or 0 (which some filesystems return for what they cannot copy), is
      // settled by read+write: it copies what copy_file_range would not, or reports the
      // read or write error with its side and offset.
      if (n <= 0) {
        in_kernel = false;
        continue;
      }
    } else {
      if (!fallback.valid()) return errno_error("allocating the copy buffer");
      char* buf = fallback.slot(0);
      n = ::pread(src_fd, buf, kHashCopyChunk, static_cast<off_t>(done));
      while (n < 0 && errno == EINTR)
        n = ::pread(src_fd, buf, kHashCopyChunk, static_cast<off_t>(done));
      if (n < 0) return errno_error("reading at byte " + std::to_string(done));
      if (n == 0) break;
      FW_TRY(write_all(dst_fd, buf, static_cast<size_t>(n), done));
    }
    done += static_cast<uint64_t>(n);
    trailer.written(done);
    // Start the writeback of what is copied so far (sync_file_range(2), asynchronous): the
    // disk writes while the copy goes on, and the fsync at the end waits for the last
    // few MiB instead of the whole image. Only a hint: the fsync below is the guarantee.
    if (done - flushed >= kWritebackStep) {
      ::sync_file_range(dst_fd, static_cast<off_t>(flushed), static_cast<off_t>(done - flushed),
                        SYNC_FILE_RANGE_WRITE);
      flushed = done;
    }
    reported = true;
    if (progress && !progress(done, std::max(done, expected))) {
      return make_error(ECANCELED, "cancelled at byte " + std::to_string(done));
    }
  }
  FW_TRY(check_size(regular, expected, done));
  trailer.finish();
  // fsync(2) before the rename publishes it, so a crash never leaves a named, partial
  // image; here, while the hasher catches up, so the two waits overlap.
  if (::fsync(dst_fd) != 0) return errno_error("syncing the copy");
  hasher.join();
  FW_TRY(trailer.status());
  if (progress && !reported && !progress(0, 0)) return make_error(ECANCELED, "cancelled");
  return sha1.final_hex();
}

// A reflink (FICLONE, ioctl_ficlone(2)) shares the source's blocks with the copy: no data
// is copied on filesystems that have it (Btrfs, XFS). The copy is then hashed itself, so
// the sum names exactly what gets published even if the source changes meanwhile. False
// when the filesystem cannot (ext4, tmpfs: EOPNOTSUPP; another filesystem: EXDEV), and the
// copy is still empty then.
bool reflink(int src_fd, int dst_fd) { return ::ioctl(dst_fd, FICLONE, src_fd) == 0; }

}  // namespace

Result<std::string> sha1_of_fd(int fd, const Progress& progress) {
  auto r = pump(fd, progress);
  if (!r.ok()) return r.error().wrap("hashing '" + fd_name(fd) + "'");
  return r;
}

Result<std::string> copy_with_sha1(int src_fd, int dst_dir_fd, const std::string& tmp_name,
                                   const Progress& progress) {
  const std::string context =
      "copying '" + fd_name(src_fd) + "' to '" + fd_name(dst_dir_fd) + "/" + tmp_name + "'";
  // O_EXCL: never write into a file we did not create; O_NOFOLLOW: nor through a symlink.
  // O_RDWR: a reflinked copy is read back to be hashed.
  Fd dst(::openat(dst_dir_fd, tmp_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0644));
  if (!dst.valid()) return errno_error(context + ": creating the copy");
  // From here on the file is ours: any failure removes it.
  Deferred remove_copy([&]() noexcept { discard(dst_dir_fd, tmp_name); });
  // The mode must not depend on the daemon's umask: the image is world-readable data.
  if (::fchmod(dst.get(), 0644) != 0) return errno_error(context + ": setting its mode");

  struct stat st {};
  const bool regular = ::fstat(src_fd, &st) == 0 && S_ISREG(st.st_mode);
  Result<std::string> sha1 = std::string();
  if (regular && reflink(src_fd, dst.get())) {
    sha1 = pump(dst.get(), progress);
    // fsync(2) before the rename publishes it: a crash never leaves a named, partial image.
    if (sha1.ok() && ::fsync(dst.get()) != 0) sha1 = errno_error("syncing the copy");
  } else {
    sha1 = copy_and_hash(src_fd, dst.get(), progress);  // fsyncs the copy itself
  }
  if (!sha1.ok()) return sha1.error().wrap(context);
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
