#pragma once
// A file written for a client (EXPORT's output) that appears whole or not at all: written
// to a temporary ".NAME.XXXXXX" beside it (O_EXCL|O_NOFOLLOW, relative to the directory's
// descriptor), then renamed over a regular file (with `force`) or to a free name
// (RENAME_NOREPLACE) by commit(); the destructor unlinks the temporary unless committed.
// Every step on the path runs as the client (AsClient: its uid, gid and groups), so the
// file is created, and may replace another, only where the client itself may write.
// An existing output must be a regular file (never followed: lstat semantics), whoever
// asks and even with `force`: replacing /dev/null or a symlink's target is never meant.

#include <memory>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/credentials.h"

namespace fw::sys {

class AtomicOutput {
 public:
  // Opens the directory of `path` (absolute) and creates the temporary. Errors: EINVAL when
  // `path` names no file or an existing non-regular file, EEXIST when it exists without
  // `force`, those of open(2) naming the directory or the temporary.
  static Result<std::unique_ptr<AtomicOutput>> create(const std::string& path, bool force,
                                                      const ClientCredentials& client);
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();

  // The temporary, open for writing.
  int fd() const { return fd_.get(); }
  // fsync, then the rename into place, after checking the name again through the
  // directory's descriptor (it may have become something else meanwhile). EEXIST when a
  // file appeared there without `force`.
  Status commit();

 private:
  AtomicOutput(std::string path, std::string name, bool force, ClientCredentials client)
      : path_(std::move(path)), name_(std::move(name)), force_(force), client_(std::move(client)) {}

  std::string path_, name_;
  bool force_ = false;
  ClientCredentials client_;
  Fd dir_, fd_;
  std::string tmp_;  // "" once committed
};

}  // namespace fw::sys
