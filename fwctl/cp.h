#pragma once
// fwctl cp SRC DST: copies files and directories into or out of a started instance, like
// podman cp. One side is "ID:PATH" (a path inside instance ID), the other a host path.
// The instance side is read or written by `tar` run inside the instance with EXEC (its
// mount namespace and root), so whatever the path or its symlinks say, nothing outside the
// instance's root is reached; the host side is written with libarchive, refusing members
// with ".." or absolute names and never writing through a symlink.

#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "fwctl/verbs.h"

namespace fwctl {

// One side of a copy: a path inside instance `id`, or on the host when `id` is empty.
struct CpPath {
  std::string id;
  std::string path;
};

// "ID:PATH" is a path inside instance ID (ID non-empty, without '/'); anything else is a
// host path (write ./a:b for a host file whose name has a colon).
CpPath parse_cp_path(const std::string& arg);

// Splits a path into its parent directory and its last name, trailing slashes ignored:
// "/a/b/" -> {"/a", "b"}, "b" -> {".", "b"}, "/b" -> {"/", "b"}, "/" -> {"/", "."}.
std::pair<std::string, std::string> split_parent(const std::string& path);

// Maps a member name of a tar made by `tar -cf - ./NAME` (or `.` when `name` is ".") to
// the name to extract it as: the member's first component replaced by `prefix`. "" when
// the member is not below NAME (or has a ".." component): such a member is refused.
std::string map_member(const std::string& member, const std::string& name,
                       const std::string& prefix);

// A tar made inside an instance, to extract on the host below the current directory.
struct HostExtract {
  int fd = -1;                // the tar, from the instance
  std::string name;           // the source's name in its directory ("." : its contents)
  std::string prefix;         // what the source is called on the host, below the cwd
  bool dest_not_dir = false;  // the destination exists and is no directory
  std::string error;          // set when the copy failed
};

// Extracts the tar on x.fd below the current directory (owners too when root). Members not
// below the source's name, with a ".." component or an absolute name, or going through a
// symlink are refused (x.error); an existing symlink at a member's name is replaced, not
// followed.
void extract_on_host(HostExtract& x);

// Runs `argv` inside started instance `id` with the given stdin, stdout and stderr
// (anonymous pipes or /dev/null; handed over to the daemon and closed here). Returns the
// command's exit status. On failure, *from_daemon tells a daemon error from a
// connection failure.
fw::Result<int> exec_with_fds(Context& ctx, const std::string& id,
                              const std::vector<std::string>& argv, fw::Fd in, fw::Fd out,
                              fw::Fd err, bool* from_daemon);

// fwctl cp SRC DST. Exit 0, or 1 with a message on stderr (3: daemon unreachable).
int run_cp(Context& ctx, const std::string& src, const std::string& dst);
// The verb: SRC and DEST from the parser (-a changes nothing).
int run_cp_verb(Context& ctx, const Args& args);

}  // namespace fwctl
