// User-namespace mode of instances (docs/security.md "User-namespace mode"): which instances
// run in one, the id ranges they hold, and switching an instance between the two modes.

#include <set>

#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"
#include "firmwared/sys/userns.h"

namespace fw::core {

namespace {

const char* const kSubuid = "/etc/subuid";
const char* const kSubgid = "/etc/subgid";

}  // namespace

bool Instances::userns_effective(const catalogue::InstanceRecord& r) const {
  if (r.userns == "y") return true;
  if (r.userns == "n") return false;
  // auto: a user namespace unless AppArmor confines the instance.
  return !(d_.profiles != nullptr && d_.profiles->enabled());
}

Status Instances::check_id_pool() const {
  const sys::IdRange pool{d_.config.userns_pool_first(),
                          d_.config.userns_pool_blocks() * sys::kIdsPerInstance};
  for (const char* file : {kSubuid, kSubgid}) {
    auto overlaps = sys::subid_overlaps(file, pool);
    if (!overlaps.empty()) {
      return make_error(
          EINVAL, "the configuration key userns_pool (ids " + std::to_string(pool.base) + " to " +
                      std::to_string(pool.end() - 1) + ") overlaps " + file + " entry " +
                      quote(overlaps.front()) + ": choose a pool no user's subordinate ids use");
    }
  }
  return {};
}

Result<uint32_t> Instances::allocate_id_range(const std::string& sha1) {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::set<uint32_t> held;
  for (const auto& r : all) {
    if (r.sha1 != sha1 && r.uid_base != 0) held.insert(r.uid_base);
  }
  const uint32_t first = d_.config.userns_pool_first();
  const uint32_t blocks = d_.config.userns_pool_blocks();
  for (uint32_t i = 0; i < blocks; ++i) {
    const uint32_t base = first + i * sys::kIdsPerInstance;
    if (held.count(base) != 0) continue;
    const sys::IdRange range{base, sys::kIdsPerInstance};
    // /etc/subuid may have changed since the daemon started: skip what it now allocates.
    if (!sys::subid_overlaps(kSubuid, range).empty() ||
        !sys::subid_overlaps(kSubgid, range).empty()) {
      continue;
    }
    return base;
  }
  return make_error(ENOSPC, "no free id range for a user namespace: the " + std::to_string(blocks) +
                                " ranges of 65536 ids of userns_pool " +
                                "are held by other instances or allocated in /etc/subuid or " +
                                "/etc/subgid (drop instances, or widen the pool)");
}

Status Instances::settle_id_range(catalogue::InstanceRecord& r) {
  if (!userns_effective(r)) {
    r.uid_base = 0;
    return {};
  }
  auto cached = unmappable_.find(r.firmware_sha1);
  if (cached == unmappable_.end()) {
    FW_ASSIGN_OR_RETURN(std::string bad,
                        d_.mounter.find_unmappable(d_.firmwares.mount_point(r.firmware_sha1),
                                                   sys::kIdsPerInstance));
    cached = unmappable_.emplace(r.firmware_sha1, bad).first;
  }
  if (!cached->second.empty()) {
    return make_error(EINVAL,
                      "its firmware holds files owned by ids a user namespace cannot map "
                      "(the instance's ids are 0 to 65535; for example " +
                          cached->second +
                          "): fix the firmware's owners, or set userns to n (root only)");
  }
  if (r.uid_base == 0) {
    FW_ASSIGN_OR_RETURN(r.uid_base, allocate_id_range(r.sha1));
  }
  return {};
}

Status Instances::set_userns(catalogue::InstanceRecord& r, const std::string& value) {
  if (value != "auto" && value != "y" && value != "n") {
    return make_error(EINVAL, "invalid userns " + quote(value) + ": must be auto, y or n");
  }
  catalogue::InstanceRecord next = r;
  next.userns = value;
  const bool was = userns_effective(r) && r.uid_base != 0;
  FW_TRY(settle_id_range(next));
  const bool now = next.uid_base != 0;
  // The overlay's layers are mounted for one mode: remount it for the other (the diff stays,
  // its files keep their ids on disk in both modes). Until the record is stored, the owners
  // put the old mounts back on failure.
  std::optional<WorkspaceUnmounted> old;
  std::optional<WorkspaceMounts> fresh;
  if (was != now || next.uid_base != r.uid_base) {
    auto unmounted = unmount_workspace(r);
    if (!unmounted.ok())
      return unmounted.error().wrap("switching instance " + r.name + "'s userns");
    old.emplace(std::move(*unmounted));
    auto mounted = mount_workspace(next);
    if (!mounted.ok()) {
      return mounted.error().wrap("switching instance " + r.name + "'s userns to " + value);
    }
    fresh.emplace(std::move(*mounted));
  }
  FW_TRY(d_.catalogue.put_instance(next));
  if (fresh) fresh->release();
  if (old) old->release();
  if (value == "n") {
    log::warning("instance " + r.name +
                     " set to userns=n: it will run privileged, its root able to reach host root "
                     "unless AppArmor confines it",
                 log::instance(r.name, r.sha1));
  }
  r = std::move(next);
  return {};
}

}  // namespace fw::core
