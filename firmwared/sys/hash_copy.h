#pragma once
// The one-pass "copy while hashing" (SHA-1) used to import a firmware image into the
// repository, then an atomic, no-clobber publish of the copy under its final name.
//
// Thread safety: these functions run in a worker thread, off the daemon's event loop. They
// touch no global or shared state (OpenSSL EVP contexts are per call); errors come back as
// values, the only log line (publish's ignored directory fsync failure) goes through the
// thread-safe fw::log, and progress goes through the caller's callback, which runs in the
// worker thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "firmwared/base/result.h"

namespace fw::sys {

// The unit of reading, hashing and writing: progress is reported after each chunk.
inline constexpr size_t kHashCopyChunk = size_t{1} << 20;

// Called after each chunk with the bytes done so far (monotonic) and the total expected
// (the source's size at the start; never less than `done`). The last call has done ==
// total. Returning false cancels: the operation stops with ECANCELED. May be empty.
using Progress = std::function<bool(uint64_t done, uint64_t total)>;

// Hashes everything readable from `fd` from offset 0 (pread: the file offset is left
// alone), reading in this thread and hashing in a second one. Errors: read errors (EIO, EISDIR,
// ...) with the byte offset; ECANCELED; EAGAIN when a regular file changed size while it was being
// read.
Result<std::string> sha1_of_fd(int fd, const Progress& progress);

// Copies `src_fd` from offset 0 to a new file `tmp_name` (O_EXCL, mode 0644) in
// `dst_dir_fd` and hashes the copy's content, then fsyncs the copy. Where the filesystem
// can, the copy is a reflink (FICLONE) and is then read back once to be hashed; otherwise
// each kHashCopyChunk of the source is read once, written in this thread and hashed in a
// second one, in parallel. Returns the
// SHA-1 hex of the content. On any failure after the file was created (ENOSPC, EIO, EDQUOT,
// ECANCELED, EAGAIN as for sha1_of_fd) the temporary file is unlinked before returning; an
// EEXIST from creating it leaves the existing file alone. Messages name the destination and
// the byte offset.
Result<std::string> copy_with_sha1(int src_fd, int dst_dir_fd, const std::string& tmp_name,
                                   const Progress& progress);

// Renames `tmp_name` to `final_name` in `dir_fd` without ever replacing a file
// (renameat2(RENAME_NOREPLACE), or link+unlink where the filesystem lacks it), then fsyncs
// the directory (best effort). EEXIST when `final_name` exists: the temporary file is left
// in place, drop it with discard(). Other errors: ENOENT, EXDEV, EIO, ...
Status publish(int dir_fd, const std::string& tmp_name, const std::string& final_name);

// Unlinks `tmp_name` in `dir_fd`, ignoring any error (already gone is fine).
void discard(int dir_fd, const std::string& tmp_name) noexcept;

}  // namespace fw::sys
