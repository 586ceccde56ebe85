#pragma once
// The trash: a directory on the same filesystem as the
// workspaces and snapshot layers. DROP renames what it deletes into it (O(1), atomic), so
// the entity is gone at once and a crash leaves either the old name or a trash entry; the
// trash entry is then deleted on a worker thread, never on the event loop. Whatever the
// trash holds at start is left over from a crash and deleted the same way.

#include <cstdint>
#include <random>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/instance_mounter.h"

namespace fw::core {

class Trash {
 public:
  // `executor` null: deletions run at once on the caller's thread (unit tests).
  Trash(std::string dir, InstanceMounter& mounter, Executor* executor);

  const std::string& dir() const { return dir_; }
  // Renames `path` into the trash as "<tag>.<random>" and returns the entry's path.
  // Errors (EXDEV, ENOENT, ...) name both paths; `path` is then untouched.
  Result<std::string> move_in(const std::string& path, const std::string& tag);
  // Deletes `entry` (a path move_in() returned) off the loop, after unmounting whatever is
  // mounted below it; failures are logged.
  void purge(const std::string& entry);
  // Deletes every entry of the trash as purge() does (at start); creates the trash if missing.
  Status purge_all();
  // Whether the trash holds an entry made from tag `tag` (a DROP of it began).
  bool holds(const std::string& tag) const;
  // Deletions still running (for tests and shutdown logs).
  int pending() const { return pending_; }

 private:
  std::string dir_;
  InstanceMounter& mounter_;
  Executor* executor_;
  std::mt19937_64 rng_;
  int pending_ = 0;
};

}  // namespace fw::core
