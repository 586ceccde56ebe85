#pragma once
// An instance's diff (docs/diff.md): what differs between the
// firmware tree (the lower dir) and the instance's merged tree, computed by walking the
// overlay's upper dir only, so the cost follows the size of the diff, not of the firmware.
//
// The diff is a path-by-path comparison of the two trees, as `diff -r` plus metadata:
//   A  the path exists in the merged tree only;
//   D  the path exists in the firmware only (a deleted directory lists every entry under it);
//   T  both have the path with different file types;
//   M  same type, something compared differs: the content (bytes, symlink target, device
//      number), the permission bits, the owner or group, or an xattr.
// Times, link counts and inode numbers are not compared. An entry copied up unchanged
// (opened for writing, touched, chmod'ed to its own mode) is no change: it is only counted
// in DiffStat::copied_up_unchanged. A renamed directory is D of the old path and its
// entries, A of the new path and its entries (renamed_from names the old one). Entries
// come parent first, siblings in bytewise name order.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/core/overlay_tree.h"

namespace fw::core {

using overlay::FileType;

enum class DiffStatus { kAdded, kModified, kDeleted, kTypeChanged };

// 'A', 'M', 'D', 'T'.
char status_letter(DiffStatus status);

// One side of an entry.
struct EntryInfo {
  FileType type = FileType::kFile;
  uint32_t perm = 0;  // st_mode & 07777
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;   // regular files and symlinks (the target's length); 0 otherwise
  uint64_t rdev = 0;   // char and block devices
  std::string target;  // symlinks
};

// What differs in an M entry (bits).
enum DiffChange : unsigned {
  kChangeContent = 1,  // bytes, symlink target or device number
  kChangeMode = 2,
  kChangeOwner = 4,  // uid or gid
  kChangeXattrs = 8,
};

struct DiffEntry {
  DiffStatus status = DiffStatus::kAdded;
  std::string path;                 // absolute in the instance: "/etc/hostname"
  std::optional<EntryInfo> before;  // the firmware's entry (M, D, T)
  std::optional<EntryInfo> after;   // the merged tree's entry (A, M, T)
  unsigned changes = 0;             // M: DiffChange bits
  std::vector<std::string> xattrs;  // M with kChangeXattrs: the names that differ
  bool metacopy = false;            // the upper entry holds metadata only (data still below)
  std::string renamed_from;         // A of a redirected directory: its origin ("/old")
};

struct DiffStat {
  uint64_t added = 0;
  uint64_t modified = 0;
  uint64_t deleted = 0;
  uint64_t type_changed = 0;
  uint64_t bytes_added = 0;          // sizes of the regular files of A, and of T's new side
  uint64_t bytes_deleted = 0;        // sizes of the regular files of D, and of T's old side
  uint64_t bytes_modified = 0;       // new sizes of the regular files of M whose content changed
  uint64_t copied_up_unchanged = 0;  // non-directories in upper identical to the firmware's
  uint64_t entries() const { return added + modified + deleted + type_changed; }
};

struct DiffOptions {
  // Only entries at or below these paths (absolute, normalized: see normalize_diff_path);
  // empty: everything. Only the subtrees leading to them are walked.
  std::vector<std::string> paths;
  std::string xattr_prefix = overlay::kTrustedPrefix;  // kUserPrefix for userxattr mounts
};

using DiffSink = std::function<void(DiffEntry&& entry)>;

// Walks `upper` over `lower` and gives every entry to `sink`, in order; returns the totals.
// Entries that vanish while walking (a running instance) are skipped. Errors: those of
// open/read/stat naming the path (ENOENT when `upper` or `lower` is missing, EACCES, EIO).
Result<DiffStat> compute_diff(const std::string& upper, const std::string& lower,
                              const DiffOptions& options, const DiffSink& sink);

// Makes a user-given path absolute and canonical: "etc//x/" → "/etc/x", "" → "/".
// EINVAL for ".." components or a NUL byte.
Result<std::string> normalize_diff_path(const std::string& path);

// One file of the instance, both sides: for a content diff.
struct FilePair {
  std::optional<EntryInfo> before, after;  // nullopt: absent on that side
  Fd before_data, after_data;              // regular files only: open for reading
};

// Opens `path` (normalized) in the firmware and in the merged tree. ENOENT when it is in
// neither; EISDIR when it is a directory on both sides.
Result<FilePair> open_file_pair(const std::string& upper, const std::string& lower,
                                const std::string& path,
                                const std::string& xattr_prefix = overlay::kTrustedPrefix);

}  // namespace fw::core
