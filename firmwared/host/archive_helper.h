#pragma once
// EXPORT's tar is written by the firmwared-archive helper (firmwared/archive/), not in the
// daemon: libarchive and the libraries it loads never enter the daemon's memory (its idle
// resident size), and the reading of an instance's files and their names, xattrs and link
// targets (data the instance's processes wrote) happens in a short-lived process of its
// own, under a seccomp filter that lets it change nothing (archive/read_only.h), where a
// defect cannot take the daemon down.
//
// The daemon runs it on a worker thread (core::Executor), which waits for it: the loop
// never does. The helper gets the output file on descriptor 1 and a pipe on descriptor 3,
// where it writes one report line (core/export_report.h); nothing else of the daemon's.

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/core/export_stat.h"

namespace fw::host {

struct ArchiveJob {
  bool full = false;  // the merged tree at `merged`; else the upper layer over `lower`
  std::string upper, lower, merged;
};

// config::running_shipped_paths().archive: <build>/firmwared/firmwared-archive in the
// build tree, <libexecdir>/firmwared/firmwared-archive once installed.
std::string default_archive_helper_path();

// The helper's command line for `job` (argv[0] is `helper`).
std::vector<std::string> archive_helper_argv(const std::string& helper, const ArchiveJob& job);

// Runs `helper` for `job`, writing the archive to `out` (left open), and waits for it:
// blocking, for a worker thread. The counts of a complete archive, else the helper's error
// (its errno and sentence), or EIO when it ended without a valid report (not found, killed,
// crashed: the exit status or signal named), EPROTO for a malformed report.
Result<core::ExportStat> run_archive_helper(const std::string& helper, const ArchiveJob& job,
                                            int out);

}  // namespace fw::host
