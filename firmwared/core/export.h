#pragma once
// Exporting an instance's filesystem as a tar archive (docs/diff.md), written with
// libarchive as a pax archive, streamed: memory does not grow with the tree (file data goes
// through a 64 KiB buffer; the hard link table keeps one entry per multiply-linked file
// until its links are all seen). Library fw_export: linked by the firmwared-archive helper
// (firmwared/archive/) and the tests, never by the daemon, so that libarchive and what it
// loads (ICU, libxml2, nettle, compressors) stay out of the daemon's memory.
//
// Entry names are relative ("etc/hostname"), owners numeric (no user names: the firmware's
// /etc/passwd is not the host's), xattrs kept (pax SCHILY.xattr), hard links kept, times
// from the files. Sockets cannot be stored in a tar: they are skipped and counted.

#include <cstdint>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/core/export_stat.h"
#include "firmwared/core/overlay_tree.h"

namespace fw::core {

// Writes the overlay's upper layer to `fd` as an OCI image layer: a whiteout becomes an
// empty file ".wh.NAME", an opaque directory gets an empty ".wh..wh..opq" inside, a
// metacopy file is written with its data (read from the lower file), and a redirected
// (renamed) directory is written whole, as opaque, since OCI layers have no renames. The
// root directory itself is not written. Applying it over the firmware gives the merged
// tree. Errors: those of reading the layers (naming the path) and of writing (EIO, ENOSPC,
// EPIPE, ... with libarchive's message).
Result<ExportStat> export_changes(const std::string& upper, const std::string& lower, int fd,
                                  const std::string& xattr_prefix = overlay::kTrustedPrefix);

// Writes the directory tree `root` (an instance's mounted merged tree) to `fd`, without
// entering other mounts (their mount points are written as empty directories).
Result<ExportStat> export_tree(const std::string& root, int fd);

}  // namespace fw::core
