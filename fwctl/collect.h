#pragma once
// fwctl collect ID DIR: writes an instance's artefacts into DIR (created; it must not
// exist or be empty) for a CI job to keep: console.log (LOGS, its last 64 KiB), diff.txt and
// diff.json (DIFF), changes.tar (EXPORT --changes), show.txt and show.json (SHOW) and
// stats.json (STATS; the error reply when the instance is not started). The daemon keeps
// no history of notifications: record `fwctl --json events --filter name=ID` alongside the
// job when they matter.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// Exit 0 when every file was written; 1 (after writing what it could) otherwise.
int run_collect(Context& ctx, const std::string& id, const std::string& dir);
// The verb: ID and DIR from the parser.
int run_collect_verb(Context& ctx, const Args& args);

}  // namespace fwctl
