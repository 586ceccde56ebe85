#pragma once
// The four actions of net_hook. Each either completes or undoes what it did (reverse order)
// before returning its error.

#include <string>

#include "firmwared/base/result.h"
#include "net-helpers/args.h"

namespace fw::net {

// Runs `options.action`. On failure the Error's message says what failed ("creating veth
// fwtveth0 with peer eth0 in /run/netns/x: File exists"); when undoing a step also failed,
// "; rollback: ..." sentences are appended to `*rollback_notes`.
Status run_action(const Options& options, std::string* rollback_notes);

}  // namespace fw::net
