#include "firmwared/core/instance_cgroups.h"

#include <cstdlib>

#include "firmwared/base/log.h"

namespace fw::core {

Result<std::unique_ptr<KernelInstanceCgroups>> KernelInstanceCgroups::open(
    const std::string& parent_name) {
  FW_ASSIGN_OR_RETURN(sys::CgroupLayout layout, sys::CgroupLayout::discover());
  // Under systemd (INVOCATION_ID, systemd.exec(5)) as firmwared.service with Delegate=yes,
  // the unit's cgroup is the daemon's to manage.
  const sys::CgroupPlacement placement =
      sys::decide_placement(layout, std::getenv("INVOCATION_ID") != nullptr);
  if (!placement.note.empty()) log::notice(placement.note);
  FW_ASSIGN_OR_RETURN(sys::CgroupParent parent,
                      sys::CgroupParent::open(std::move(layout), parent_name, placement));
  if (!placement.unit.empty()) {
    log::info("instance cgroups in " + placement.unit + ", delegated by systemd; the daemon in " +
              placement.unit + "/" + sys::kSupervisorLeaf);
  }
  return std::unique_ptr<KernelInstanceCgroups>(new KernelInstanceCgroups(std::move(parent)));
}

KernelInstanceCgroups::~KernelInstanceCgroups() { (void)parent_.remove_self_if_empty(); }

Result<std::vector<std::string>> KernelInstanceCgroups::create(const std::string& sha1,
                                                               const sys::CgroupLimits& limits,
                                                               uint32_t delegate_uid) {
  FW_TRY(parent_.create(sha1, limits, delegate_uid));
  return dirs(sha1);
}

std::vector<std::string> KernelInstanceCgroups::dirs(const std::string& sha1) {
  const auto& hierarchies = parent_.layout().hierarchies;
  const auto& parents = parent_.dirs();
  std::vector<std::string> out;
  for (size_t i = 0; i < parents.size() && i < hierarchies.size(); ++i) {
    std::string kind;
    if (hierarchies[i].unified) {
      kind = "unified";
    } else {
      for (const auto& c : hierarchies[i].controllers) kind += (kind.empty() ? "" : ",") + c;
    }
    out.push_back(kind + ":" + parents[i] + "/" + sha1);
  }
  return out;
}

Status KernelInstanceCgroups::set_limits(const std::string& sha1, const sys::CgroupLimits& limits) {
  return parent_.set_limits(sha1, limits);
}

Result<sys::CgroupStats> KernelInstanceCgroups::stats(const std::string& sha1) {
  return parent_.stats(sha1);
}

Status KernelInstanceCgroups::remove(const std::string& sha1) { return parent_.remove(sha1); }

std::vector<std::string> KernelInstanceCgroups::present() { return parent_.children(); }

}  // namespace fw::core
