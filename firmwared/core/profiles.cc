#include "firmwared/core/profiles.h"

#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/sys/apparmor.h"

namespace fw::core {

AppArmorProfiles::AppArmorProfiles(const config::Config& config) : config_(config) {
  const Status s = sys::apparmor::available();
  kernel_ok_ = s.ok();
  if (!kernel_ok_ && !config_.disable_apparmor()) {
    log::warning(s.error().message +
                 "; instances run without an AppArmor profile: those with userns=auto or y in "
                 "their own user namespace, those with userns=n (privileged) confined by the "
                 "capability bounding set, the seccomp filter and the masked /proc paths only "
                 "(see docs/security.md; disable_apparmor=y silences this warning)");
  } else if (kernel_ok_ && config_.disable_apparmor()) {
    log::notice(
        "AppArmor is enabled in the kernel but disable_apparmor=y: instances get no "
        "profile");
  }
}

std::string AppArmorProfiles::profile_name(const std::string& sha1) const {
  return sys::apparmor::profile_name(sha1);
}

Result<std::string> AppArmorProfiles::generate(const std::string& sha1,
                                               const std::string& workspace) const {
  const std::string& path = config_.apparmor_profile();
  FW_ASSIGN_OR_RETURN(std::string text, read_small_file(path));
  return sys::apparmor::generate(text, path, sha1, workspace);
}

Status AppArmorProfiles::load(const std::string& sha1, const std::string& workspace) {
  const bool use = enabled();
  if (!use && !config_.dump_profile()) return {};
  const std::string name = profile_name(sha1);
  auto text = generate(sha1, workspace);
  if (!text.ok()) return text.error().wrap("generating AppArmor profile " + name);
  if (config_.dump_profile()) {
    log::info("AppArmor profile " + name + (use ? "" : " (not loaded: AppArmor is not used)") +
              ":\n" + *text);
  }
  if (!use) return {};
  FW_TRY(sys::apparmor::load(name, *text));
  log::debug("AppArmor profile " + name + " loaded");
  return {};
}

Status AppArmorProfiles::remove(const std::string& sha1) {
  // Also when disable_apparmor=y: a profile loaded before the switch must not linger.
  if (!kernel_ok_) return {};
  return sys::apparmor::remove(profile_name(sha1));
}

void AppArmorProfiles::restore(const std::map<std::string, std::string>& instances) {
  if (!kernel_ok_) return;
  auto loaded = sys::apparmor::loaded_profiles(sys::apparmor::kProfilePrefix);
  if (!loaded.ok()) {
    log::warning("listing AppArmor profiles: " + loaded.error().message + ", ignoring");
  } else {
    for (const auto& name : *loaded) {
      const std::string sha1 = name.substr(sys::apparmor::kProfilePrefix.size());
      // Kept even when disable_apparmor=y: removing it would unconfine a running instance.
      if (instances.count(sha1) != 0) continue;
      if (auto s = sys::apparmor::remove(name); !s.ok()) {
        log::warning(s.error().message + ", ignoring");
      } else {
        log::info("removed stale AppArmor profile " + name);
      }
    }
  }
  if (!enabled()) return;
  for (const auto& [sha1, workspace] : instances) {
    if (auto s = load(sha1, workspace); !s.ok()) {
      log::warning("instance " + sha1 + ": " + s.error().message + ", ignoring");
    }
  }
}

}  // namespace fw::core
