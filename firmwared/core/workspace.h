#pragma once
// The directory of one instance, <mount_path>/instances/<sha1>, and the name of everything
// in it. The on-disk names are part of the state a restarted daemon (and an older one) reads:
// they never change.

#include <array>
#include <string>

namespace fw::core {

class Workspace {
 public:
  explicit Workspace(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  // The read-only lower tree: the firmware's mount bound there, or the overlay of a snapshot
  // chain over it. The diff compares the upper dir with it.
  std::string lower() const { return dir_ + "/ro"; }
  // The overlay's upper dir: the instance's own changes (its diff).
  std::string upper() const { return dir_ + "/rw"; }
  // overlayfs' work dir, on the upper dir's filesystem.
  std::string work() const { return dir_ + "/work"; }
  // The overlay of upper over lower: the instance's root.
  std::string merged() const { return dir_ + "/union"; }
  // Where the instance's network namespace is pinned while it has one.
  std::string netns() const { return dir_ + "/netns"; }
  // The console's inner and outer pts, written by the monitor (read back at re-adoption).
  std::string pts() const { return dir_ + "/pts"; }
  // PID 1's wait status, written by the monitor when it ends.
  std::string exit_status() const { return dir_ + "/exit_status"; }
  // What PID 1's console printed (with console.log.idx, its line index, and the previous
  // generation console.log.1 and console.log.1.idx: sys/console_log.h).
  std::string console_log() const { return dir_ + "/console.log"; }
  // RESTORE's discarded upper dir, on its way to the trash.
  std::string discarded_upper() const { return dir_ + "/rw.discarded"; }
  // The directories the mounts need, made at PREPARE (and again at restore, if missing).
  std::array<std::string, 4> mount_dirs() const { return {lower(), upper(), work(), merged()}; }

 private:
  std::string dir_;
};

}  // namespace fw::core
