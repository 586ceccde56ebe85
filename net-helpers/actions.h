#pragma once
// The four actions of net_hook. Each either completes or undoes what it did (reverse order)
// before returning its error.

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "net-helpers/args.h"

namespace fw::net {

// Runs `options.action`. On failure the Error's message says what failed ("creating veth
// fwtveth0 with peer eth0 in /run/netns/x: File exists"); when undoing a step also failed,
// "; rollback: ..." sentences are appended to `*rollback_notes`.
Status run_action(const Options& options, std::string* rollback_notes);

// Runs several `clean` actions (every one's action is kClean) as one: each host end is
// checked as `clean` checks it, then those to delete are put in an interface group of
// their own and deleted by one request, which the kernel does in one go (~20 ms for the
// lot instead of ~20 ms each). Falls back to one deletion each when the group cannot be
// used. One Status per action, in order.
std::vector<Status> clean_all(const std::vector<Options>& cleans);

}  // namespace fw::net
