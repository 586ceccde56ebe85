#pragma once
// DIFF, DIFF_FILE and EXPORT (docs/diff.md): an instance's diff against its
// firmware, the content diff of one file, and tar exports of the changes or of the whole
// merged tree. They read the instance's upper dir on the host, so they work for started and
// stopped instances alike; the work runs on a worker thread (Executor), off the loop.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/core/diff.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

// Bytes of entries one DIFF reply carries at most (a message is at most 1 MiB); the rest
// is counted in `stat` and the reply says truncated.
inline constexpr size_t kDiffEntriesBudget = 896 * 1024;

// The JSON of one entry and of the totals (docs/diff.md, schemas/reply.json).
protocol::Json diff_entry_json(const core::DiffEntry& e);
protocol::Json diff_stat_json(const core::DiffStat& s);

struct ExportRequest {
  std::string id;
  bool full = false;  // --full: the merged tree; --changes: the upper layer
  std::string path;   // absolute
  bool force = false;
};

// Parses EXPORT ID --changes|--full PATH [--force] (options in any order); a relative PATH
// is resolved against `cwd`. EINVAL naming the problem.
Result<ExportRequest> parse_export_args(const std::vector<std::string>& args,
                                        const std::optional<std::string>& cwd);

// Registers DIFF, DIFF_FILE and EXPORT. Everything given must outlive the dispatcher.
void register_diff_commands(Dispatcher& dispatcher, core::Instances& instances,
                            core::Firmwares& firmwares, core::Executor& executor);

}  // namespace fw::server
