#pragma once
// The seam between the instances folder and the per-instance AppArmor profiles (see
// docs/security.md). AppArmorProfiles is the real one (sys::apparmor underneath); unit
// tests inject a fake through InstancesDeps::profiles.

#include <map>
#include <string>

#include "firmwared/base/result.h"
#include "firmwared/config/config.h"

namespace fw::core {

class ProfileManager {
 public:
  virtual ~ProfileManager() = default;
  // True when instances are confined by a profile: the kernel enforces AppArmor and the
  // configuration does not disable it. Then PREPARE loads one and START applies it.
  virtual bool enabled() const = 0;
  // The profile of instance `sha1`: "firmwared_<sha1>".
  virtual std::string profile_name(const std::string& sha1) const = 0;
  // Generates and loads (or replaces) the profile of instance `sha1` whose workspace is
  // `workspace`. Success without doing anything when !enabled(). Errors carry the
  // template's or the parser's message.
  virtual Status load(const std::string& sha1, const std::string& workspace) = 0;
  // Unloads the profile of `sha1`; a profile that is not loaded counts as removed.
  virtual Status remove(const std::string& sha1) = 0;
};

class AppArmorProfiles final : public ProfileManager {
 public:
  // Checks the kernel once, and warns (once, here) when AppArmor is missing unless
  // disable_apparmor=y: instances then run with the other confinement layers.
  explicit AppArmorProfiles(const config::Config& config);

  // At daemon start, with every catalogued instance (sha1 → workspace): removes the
  // firmwared_* profiles of instances that no longer exist (a previous daemon's leftovers)
  // and reloads the profiles of those that do (profiles do not survive a reboot).
  // Failures are logged and ignored: a START without its profile fails closed.
  void restore(const std::map<std::string, std::string>& instances);

  bool enabled() const override { return kernel_ok_ && !config_.disable_apparmor(); }
  std::string profile_name(const std::string& sha1) const override;
  // Generates the profile from the configured template (apparmor_profile) and loads it
  // with `apparmor_parser --replace`; dump_profile=y logs it (also when AppArmor is not
  // used, then saying it is not loaded).
  Status load(const std::string& sha1, const std::string& workspace) override;
  Status remove(const std::string& sha1) override;

 private:
  Result<std::string> generate(const std::string& sha1, const std::string& workspace) const;

  const config::Config& config_;
  bool kernel_ok_ = false;
};

}  // namespace fw::core
