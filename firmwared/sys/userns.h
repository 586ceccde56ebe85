#pragma once
// User namespaces and idmapped mounts: what an instance in user-namespace mode is made of.
//
// The instance's root is host uid/gid `base`, its ids 0..count-1 are host ids
// base..base+count-1. Its files stay on disk with the ids the firmware has (0..count-1):
// every layer of its overlay (the firmware, snapshot layers, the upper dir) is an idmapped
// mount (mount_setattr(2), MOUNT_ATTR_IDMAP) and the overlay is mounted with the instance
// root's fsuid, so what the instance writes lands in the upper dir with its own ids, and the
// diff, export, commit and snapshots read the same ids in both modes.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/mount.h"

namespace fw::sys {

// Host ids base..base+count-1, seen inside as 0..count-1. count 0: no user namespace.
struct IdRange {
  uint32_t base = 0;
  uint32_t count = 0;
  bool empty() const { return count == 0; }
  uint64_t end() const { return uint64_t{base} + count; }  // one past the last id
};

// Ids an instance maps: 0..65535, what a Linux distribution uses (nobody is 65534).
inline constexpr uint32_t kIdsPerInstance = 65536;

// Writes "0 base count" to /proc/PID/uid_map and gid_map (the writer needs CAP_SETUID and
// CAP_SETGID over the parent namespace: root). Errors name the file.
Status write_id_maps(pid_t pid, IdRange range);

// A user namespace mapping `range` (its uid and gid maps), made by a short-lived holder
// process that exits before this returns: the descriptor keeps it alive, for
// idmapped_clone().
Result<Fd> make_userns(IdRange range);

// Writes the monotonic and boottime offsets of the time namespace PID's children enter
// (/proc/PID/timens_offsets; before any process entered it): `seconds` ahead, behind when
// negative. ERANGE (a clock would go below 0), EACCES, ...
Status write_time_offsets(pid_t pid, int64_t seconds);

// A detached copy of the mount at `path` (open_tree(2), not recursive) whose ids are
// mapped through the user namespace `userns_fd`. EINVAL when the filesystem cannot be
// idmapped (mount_setattr(2) refuses it), ENOSYS before Linux 5.12.
Result<Fd> idmapped_clone(const std::string& path, int userns_fd);

// Mounts an overlay on `dst` (nosuid, nodev) whose layers are all idmapped through a user
// namespace mapping `range`, and whose mounter is the instance's root (fsuid/fsgid =
// range.base): `lowers` top first, `upper` and `work` in the same directory. The idmapped
// layers are attached under "<that directory>/.idmap" only while the overlay is mounted
// (overlayfs keeps private copies of its layers). Errors name the layer and the step.
Result<Mount> mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                     const std::string& upper, const std::string& work,
                                     const std::string& dst, IdRange range);

// Whether the kernel can idmap the filesystem `path` is on (an idmapped clone is made and
// dropped): for doctor. Errors other than "cannot" (ENOENT, ...) are returned.
Result<bool> can_idmap(const std::string& path);

// Ranges of /etc/subuid or /etc/subgid ("user:start:count" lines) that overlap `range`,
// each as "user:start:count". A missing file has none.
std::vector<std::string> subid_overlaps(const std::string& file, IdRange range);

}  // namespace fw::sys
