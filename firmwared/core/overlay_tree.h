#pragma once
// Reading an overlayfs upper dir over its lower dir without the overlay mounted (the
// kernel's Documentation/filesystems/overlayfs.rst): which entries the merged tree
// has, where each one's metadata and data come from. Shared by the diff and the export.
//
// Everything is read through directory fds, one component at a time with O_NOFOLLOW: the
// layers are written by the instance (through the overlay) while we read them, and a symlink
// it planted must never lead a root daemon out of the layer.
//
// Supported markers (the kernel's, with the "trusted.overlay." xattr prefix, or
// "user.overlay." for userxattr mounts):
//   whiteout    a 0:0 character device (often hard links of one inode), or a zero-size
//               regular file with overlay.whiteout in a directory whose overlay.opaque is "x";
//   opaque      a directory with overlay.opaque = "y": the lower directory is not merged;
//   redirect    overlay.redirect on a directory: it was renamed, its lower directory is the
//               one the redirect names (absolute from the lower root, or relative to the
//               parent's lower directory); on a metacopy file: where its data is;
//   metacopy    overlay.metacopy on a regular file: only its metadata was copied up, the data
//               is still the lower file's.
// The kernel never uses OCI's ".wh.NAME" / ".wh..wh..opq" names: in an upper dir they are
// ordinary entries. Only one lower layer is handled.

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::core::overlay {

inline constexpr const char* kTrustedPrefix = "trusted.overlay.";
inline constexpr const char* kUserPrefix = "user.overlay.";

enum class FileType { kFile, kDir, kSymlink, kChar, kBlock, kFifo, kSocket };

// "file", "dir", "symlink", "char", "block", "fifo", "socket".
const char* type_name(FileType type);

// What lstat(2) says about an entry, reduced to what the diff and the export use.
struct Node {
  FileType type = FileType::kFile;
  uint32_t perm = 0;  // st_mode & 07777
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t nlink = 1;
  struct stat st {};  // the whole stat, for archive headers
};

Node node_of(const struct stat& st);

// ---- fd-based access (every fd O_CLOEXEC, nothing followed) -----------------------------

// Opens the directory `path` (an absolute host path, followed: it is ours).
Result<Fd> open_root(const std::string& path);
// Opens directory `name` in `dirfd`. ENOENT, ENOTDIR (also for a symlink), ...
Result<Fd> open_dir(int dirfd, const std::string& name);
// Opens the directory at `rel` ("a/b", "" = dirfd itself) below `dirfd`, one component at a
// time. ENOENT, ENOTDIR, EACCES for a ".." component (never above `dirfd`), ...
Result<Fd> open_dir_path(int dirfd, const std::string& rel);
// Opens regular file `name` for reading (O_NOFOLLOW|O_NONBLOCK: never a fifo). EINVAL
// when it is not a regular file (anymore).
Result<Fd> open_file(int dirfd, const std::string& name);
// The entry names of `dirfd` (without . and ..), sorted bytewise. Reads from the start of
// the directory whatever its current offset.
Result<std::vector<std::string>> list_dir(int dirfd);
// lstat of `name` in `dirfd`; nullopt when absent (ENOENT, ENOTDIR).
Result<std::optional<Node>> stat_entry(int dirfd, const std::string& name);
Result<std::string> read_link(int dirfd, const std::string& name);
// The value of xattr `xattr` of entry `name` (not followed); nullopt when it has none or
// the filesystem has no xattrs.
Result<std::optional<std::string>> get_xattr(int dirfd, const std::string& name,
                                             const std::string& xattr);
// The names of the xattrs of entry `name` (not followed).
Result<std::vector<std::string>> xattr_names(int dirfd, const std::string& name);
// Every xattr of entry `name` except the overlay's private ones (those starting with
// `prefix`); escaped ones ("<prefix>overlay.X") appear unescaped ("<prefix>X"), as the
// overlay shows them. `names`: the entry's xattr names when already listed.
Result<std::map<std::string, std::string>> visible_xattrs(
    int dirfd, const std::string& name, const std::string& prefix,
    const std::vector<std::string>* names = nullptr);
// True when the regular files `a` and `b` hold the same bytes (sizes first).
Result<bool> same_content(int a, int b);

// ---- the merged tree --------------------------------------------------------------------

// Joins lower-relative paths: join("", "etc") = "etc", join("etc", "x") = "etc/x".
std::string join_rel(const std::string& dir, const std::string& name);

// A directory of the merged tree: its upper dir (if any) and the lower dir merged into it
// (if any: none when opaque, new, or under a non-directory).
struct MergedDir {
  Fd upper;
  bool xwhiteouts = false;  // upper has overlay.opaque = "x"
  Fd lower;
  std::string lower_path;  // relative to the lower root; meaningful when lower is valid
};

// One name of a merged directory, resolved.
struct MergedEntry {
  bool exists = false;      // false: absent, or hidden by a whiteout
  bool from_upper = false;  // its metadata comes from the upper dir (else from the lower)
  bool whiteout = false;    // the upper has a whiteout of this name
  bool opaque = false;      // a directory with overlay.opaque = "y"
  bool xwhiteouts = false;  // a directory with overlay.opaque = "x"
  bool metacopy = false;
  Node node;
  int dirfd = -1;  // borrowed: the directory holding the entry (upper or lower)
  std::vector<std::string> xattr_names;  // of an upper entry (not of whiteouts)
  // The lower entry of the same name in the merged dir's lower dir, when it has one: looked
  // up for every entry that is not a whiteout.
  bool lower_looked_up = false;
  std::optional<Node> lower_node;
  // Directories: the lower dir merged into it. Regular files: the lower file holding its
  // data (metacopy, or a lower-only entry). Relative to the lower root.
  std::optional<std::string> lower_path;
  // Directories with a redirect: the origin it was renamed from (relative, "" none).
  std::string redirected_from;
};

class Reader {
 public:
  // Opens both roots. `prefix` is kTrustedPrefix or kUserPrefix.
  static Result<Reader> open(const std::string& upper, const std::string& lower,
                             std::string prefix = kTrustedPrefix);

  const std::string& prefix() const { return prefix_; }
  int lower_root() const { return lower_.get(); }
  // The merged root: the upper root over the lower root.
  Result<MergedDir> root() const;
  // Resolves `name` in `dir`.
  Result<MergedEntry> entry(const MergedDir& dir, const std::string& name) const;
  // Opens the merged directory of an existing directory entry `e` named `name` in `dir`.
  Result<MergedDir> child_dir(const MergedDir& dir, const std::string& name,
                              const MergedEntry& e) const;
  // Names of `dir` in the merged tree (whiteouts applied), sorted.
  Result<std::vector<std::string>> names(const MergedDir& dir) const;
  // Opens the data of regular file entry `e` named `name` (upper file, or the lower file
  // its data lives in).
  Result<Fd> open_data(const MergedEntry& e, const std::string& name) const;

 private:
  Reader(Fd upper, Fd lower, std::string prefix)
      : upper_(std::move(upper)), lower_(std::move(lower)), prefix_(std::move(prefix)) {}
  // Where the redirect xattr of upper entry `name` of `dir` points in the lower (relative
  // to its root); nullopt without a redirect or when it cannot be resolved (also when it
  // has a "." or ".." component, which the kernel never follows).
  Result<std::optional<std::string>> redirect_of(const MergedDir& dir,
                                                 const std::string& name) const;
  Fd upper_;
  Fd lower_;
  std::string prefix_;
};

}  // namespace fw::core::overlay
