#pragma once
// net_hook's filter, unfilter and sweep actions over libnftables (nft_run_cmd_from_buffer:
// the nft language, applied as one atomic transaction per call, no `nft` process). The
// rules themselves are built by nft_rules.h.

#include <set>
#include <string>

#include "firmwared/base/host_access.h"
#include "firmwared/base/result.h"

namespace fw::net {

// Installs the filter of `host_if` in `table` for `access` (removes it for `all`).
// `host_ip` is the host end's address, a dotted quad.
Status filter(const std::string& table, const std::string& host_if, const std::string& host_ip,
              const HostAccess& access);

// Removes the filter of `host_if` from `table`, the table itself with the last filter.
// Absent counts as success.
Status unfilter(const std::string& table, const std::string& host_if);

// Removes every filter of `table` but those of `keep` (the table when none is kept).
Status sweep(const std::string& table, const std::set<std::string>& keep);

// For a serving helper (one process, many actions): the table is listed once, then its
// contents are followed through this process's own changes as long as the ruleset's
// generation id says nothing else was committed meanwhile; any other change (another
// daemon's table, `nft` by hand) makes the next action list again. Without it (an exec per
// action) every unfilter and sweep lists the table first.
void keep_table_contents();

}  // namespace fw::net
