#pragma once
// A network namespace kept alive by a file: /proc/PID/ns/net bind-mounted on it, so the
// namespace outlives its processes (and the daemon) until the pin is removed, and a net
// helper can still enter it by path (to give back a stolen interface, for instance).

#include <sys/types.h>

#include <string>
#include <utility>

#include "firmwared/base/result.h"

namespace fw::sys {

class NetnsPin {
 public:
  NetnsPin() = default;
  // Creates `file` (0444, never through a symlink) and bind-mounts the network namespace
  // of `pid` on it. On failure nothing is left (the file it created is removed); the error
  // names `what` ("the network namespace of x") and the file (ENOENT: `pid` is gone).
  static Result<NetnsPin> pin(pid_t pid, std::string file, const std::string& what);
  // Takes charge of a pin made earlier, possibly by another daemon: destroying or removing
  // it unpins `file`. Nothing is checked: an absent or unmounted file is removed quietly.
  static NetnsPin adopt(std::string file) { return NetnsPin(std::move(file)); }

  NetnsPin(NetnsPin&& other) noexcept : file_(std::exchange(other.file_, {})) {}
  NetnsPin& operator=(NetnsPin&& other) noexcept {
    if (this != &other) {
      (void)remove();
      file_ = std::exchange(other.file_, {});
    }
    return *this;
  }
  NetnsPin(const NetnsPin&) = delete;
  NetnsPin& operator=(const NetnsPin&) = delete;
  // Unpins, best effort (errors ignored): see remove().
  ~NetnsPin() { (void)remove(); }

  // Detaches the bind mount (never following a symlink) and unlinks the file; "not
  // mounted" and "absent" count as done. Empty afterwards, even on error.
  Status remove();
  // Commits: the pin stays when this object goes; returns its file.
  std::string release() { return std::exchange(file_, {}); }
  const std::string& file() const { return file_; }
  explicit operator bool() const { return !file_.empty(); }

 private:
  explicit NetnsPin(std::string file) : file_(std::move(file)) {}
  std::string file_;
};

}  // namespace fw::sys
