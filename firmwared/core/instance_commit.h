#pragma once
// COMMIT's use case (docs/diff.md "Snapshots"): a new directory firmware in the repository,
// `<repository_path>/<instance name>.<unix time>.rootfs`, copied from the instance's merged
// tree on a worker thread, then prepared (imported) as a firmware. On any failure the copy
// is removed again (off the loop: it can be as large as the firmware), unless the
// destination already existed, which is never ours to remove.

#include <functional>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/config/config.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instances.h"

namespace fw::core {

using CommitDone = std::function<void(Result<EntitySummary>)>;

class InstanceCommit {
 public:
  // Everything given must outlive the object and any commit() in flight.
  InstanceCommit(Instances& instances, Firmwares& firmwares, Executor& executor,
                 const config::Config& config)
      : instances_(instances), firmwares_(firmwares), executor_(executor), config_(config) {}

  // Calls `done` (on the loop) with the new firmware. Errors: ENOENT for an unknown
  // instance, EBUSY when its merged tree is not mounted, the copy's and the import's,
  // wrapped with "committing instance NAME".
  void commit(const std::string& id, CommitDone done);

 private:
  Instances& instances_;
  Firmwares& firmwares_;
  Executor& executor_;
  const config::Config& config_;
};

}  // namespace fw::core
