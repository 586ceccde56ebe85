#pragma once
// COMMIT ID (issue 8 item 5, docs/diff.md "Snapshots"): a new directory firmware in the
// repository, `<repository_path>/<instance name>.<unix time>.rootfs`, copied from the
// instance's merged tree on a worker thread, then prepared; answers PREPARED of the firmware.

#include "firmwared/config/config.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

void register_commit_command(Dispatcher& dispatcher, core::Instances& instances,
                             core::Firmwares& firmwares, core::Executor& executor,
                             const config::Config& config);

}  // namespace fw::server
