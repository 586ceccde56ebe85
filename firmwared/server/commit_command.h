#pragma once
// COMMIT ID (docs/diff.md "Snapshots"): the instance's merged tree becomes a new directory
// firmware (core::InstanceCommit); answers PREPARED of the firmware.

#include "firmwared/core/instance_commit.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

// `commit` must outlive the dispatcher.
void register_commit_command(Dispatcher& dispatcher, core::InstanceCommit& commit);

}  // namespace fw::server
