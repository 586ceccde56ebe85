#pragma once
// The firmwares folder: import a rootfs directory (registered
// in place) or a filesystem image (copied into the repository while hashed, off the loop),
// mount it read-only at <mount_path>/firmwares/<sha1>, and answer the folder commands.

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/custom_properties.h"
#include "firmwared/core/events.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/folder.h"
#include "firmwared/core/names.h"

namespace fw::core {

struct FirmwaresDeps {
  catalogue::Catalogue& catalogue;
  const config::Config& config;
  Executor& executor;
  EventSink& events;
  const WordLists& words;
  FirmwareMounter& mounter;
};

// What PREPARE was given, once resolved (exposed for unit tests).
struct FirmwareSource {
  std::string path;  // canonical real path
  bool is_dir = false;
};

// Resolves PREPARE's argument: `file://` URLs (percent-decoded), paths relative to `cwd`,
// symlinks. EPROTONOSUPPORT for other URL schemes; ENOENT, ELOOP, EACCES from the path;
// EINVAL for anything that is neither a directory nor a regular file (naming its type).
Result<FirmwareSource> resolve_firmware_source(const std::string& arg,
                                               const std::optional<std::string>& cwd);

// Checks that a directory looks like a root filesystem. EINVAL when it has none of bin,
// sbin, usr, etc, lib; otherwise returns a warning ("" none) when /sbin/init is missing.
Result<std::string> check_rootfs(const std::string& dir);

class Firmwares final : public Folder {
 public:
  explicit Firmwares(FirmwaresDeps deps);
  ~Firmwares() override;

  // At daemon start: removes stale mounts, loop devices and half-imported files left by a
  // crash, then mounts every catalogued firmware again (failures are logged, ignored).
  Status restore();
  // Cancels running imports (their temporary files are removed by the workers).
  void cancel_imports();

  const std::string& name() const override { return name_; }
  // PREPARE as root (COMMIT, unit tests).
  void prepare(const std::string& source, const std::optional<std::string>& cwd,
               PrepareDone done) override;
  // Resolves and opens `source` with the client's rights (sys::AsClient). A non-root client
  // may import images only: a directory is EPERM; an image it cannot read is EACCES naming
  // the path and its uid; anything but a regular file is EINVAL (also for root).
  void prepare_as(const sys::ClientCredentials& client, const std::string& source,
                  const std::optional<std::string>& cwd, PrepareDone done) override;
  Result<std::vector<EntitySummary>> list() override;
  Result<std::vector<PropertyValue>> show(const std::string& id) override;
  Result<std::string> get_property(const std::string& id, const std::string& prop) override;
  Status set_property(const std::string& id, const std::string& prop,
                      const std::string& value) override;
  Result<std::vector<std::string>> property_names() override;
  Result<std::string> add_property(const std::string& name) override;
  Result<EntitySummary> drop(const std::string& id) override;

  // For the instances folder: the record of firmware `id` (name, sha1 or prefix).
  Result<catalogue::FirmwareRecord> find(const std::string& id);
  // Where firmware `sha1` is mounted read-only.
  std::string mount_point(const std::string& sha1) const;

 private:
  // The stop signal of the init found in the mounted tree `root` (SIGTERM when unknown).
  static std::string detect_stop_signal(const std::string& root, const std::string& name);
  struct Import;
  Result<EntitySummary> prepare_dir(const FirmwareSource& src);
  void prepare_image(const FirmwareSource& src, const sys::ClientCredentials& client,
                     PrepareDone done);
  Result<EntitySummary> finish_import(Import& import);
  Result<EntitySummary> register_firmware(catalogue::FirmwareRecord record);
  Result<std::string> new_name();
  // At start: removes what the repository holds that no firmware row references.
  void remove_uncatalogued(const std::vector<catalogue::FirmwareRecord>& records);
  // Unlinks a file at once; deletes a directory tree on the executor.
  void remove_later(const std::string& path);
  std::vector<PropertyValue> builtin_values(const catalogue::FirmwareRecord& r) const;

  std::string name_ = "firmwares";
  FirmwaresDeps d_;
  CustomProperties custom_;
  std::mt19937_64 rng_;
  std::map<uint64_t, std::shared_ptr<Import>> imports_;
  uint64_t next_import_ = 1;
};

}  // namespace fw::core
