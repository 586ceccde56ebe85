#pragma once
// The catalogue: firmwared's persistent state in one sqlite database:
// firmwares, instances, their friendly names, custom properties and their values. The
// schema is schemas/catalogue.sql, versioned with PRAGMA user_version and migrated on open.
//
// Errors (fw::Error) name the operation and, for sqlite failures, carry sqlite's message
// with errno EIO, or ENOSPC (disk full), EBUSY (another process holds the database lock),
// EEXIST (a duplicate key), EINVAL (a value the schema refuses). The catalogue stores what
// it is given: validating values against the product rules is the caller's job, beyond the
// checks each function lists. Not thread-safe: use one Catalogue from one thread.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/catalogue/sqlite.h"

namespace fw::catalogue {

// The folders the catalogue knows; any other folder is ENOENT.
inline constexpr char kFirmwares[] = "firmwares";
inline constexpr char kInstances[] = "instances";
inline constexpr char kSnapshots[] = "snapshots";

struct FirmwareRecord {
  std::string sha1;         // 40 lowercase hex digits, the key
  std::string name;         // unique in "firmwares"; "" for none
  std::string path;         // the image in the repository, or the final dir
  std::string source_path;  // where it was imported from
  std::string format;       // dir, ext2, ext3, ext4, squashfs, erofs
  std::string uuid;         // filesystem UUID, "" if none
  uint64_t size = 0;        // bytes
  int64_t created = 0;      // unix time
  // Schema version 5: the signal that asks its init to shut down ("SIGRTMIN+3", ...),
  // chosen at import; "" for rows from before (detected again at daemon start).
  std::string stop_signal;
};

struct InstanceRecord {
  std::string sha1;  // 40 lowercase hex digits, the key
  std::string name;  // unique in "instances"; "" for none
  int id = -1;       // 0..254, unique
  std::string firmware_sha1;
  std::string snapshot_sha1;  // the snapshot its lower stack starts with; "" none
  std::string state = "ready";
  int64_t monitor_pid = 0;
  uint64_t monitor_start_time = 0;  // of monitor_pid, to detect pid reuse
  int64_t init_pid = 0;
  std::optional<int> exit_status;  // nullopt: PID 1 never exited
  int64_t created = 0;             // unix time
  std::string interface, stolen_interface, stolen_btusb;
  std::vector<std::string> cmdline;
  // Schema version 3: "auto", "y" or "n"; the first host id of the range the instance holds
  // (0: none); seconds added to its monotonic and boottime clocks.
  std::string userns = "auto";
  uint32_t uid_base = 0;
  int64_t time_offset = 0;
  std::string host_access;  // schema version 4; "" (older rows): the configured default
  // Schema version 5. stop_signal "": the firmware's. on_reboot: "restart" or "stop".
  // Limits as the user wrote them ("" = none). exit_reason: why the last run ended
  // ("exited", "stopped", "killed", "stop-timeout", "reboot", "halt", "oom"; "" unknown).
  std::string stop_signal;
  std::string on_reboot = "restart";
  std::string memory_max, pids_max, cpu_weight;
  std::string exit_reason;
  // Schema version 6: host paths bound into the instance, "HOST:TARGET:ro|rw" each.
  std::vector<std::string> binds;
  // Schema version 7: labels, key -> value (validated by the caller, core/labels.h).
  std::map<std::string, std::string> labels;
};

// A frozen upper layer (schema version 2): stacked on its parent snapshot, if any, and on
// its firmware.
struct SnapshotRecord {
  std::string sha1;  // 40 lowercase hex digits, the key
  std::string name;  // unique in "snapshots"; "" for none
  std::string firmware_sha1;
  std::string parent_sha1;    // "" none: directly on the firmware
  std::string instance_sha1;  // the instance it was taken from (informational, may be gone)
  uint64_t size = 0;          // bytes of the layer
  int64_t created = 0;        // unix time
};

struct CustomProperty {
  std::string name;
  bool is_array = false;
};

class Catalogue {
 public:
  // Opens (creating if missing) the catalogue at `path`; ":memory:" gives a private
  // in-memory one. Sets journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON and a busy
  // timeout, then migrates an older schema in one transaction. Errors name the file:
  // EPROTO when its schema version is newer than supported_schema_version() (the file is
  // left untouched), ENOENT/EACCES/... when it cannot be opened, EIO when it is not a
  // database or a migration fails (rolled back).
  static Result<Catalogue> open(const std::string& path);
  // The schema version this code creates and understands.
  static int supported_schema_version();

  Catalogue(const Catalogue&) = delete;
  Catalogue& operator=(const Catalogue&) = delete;
  Catalogue(Catalogue&&) noexcept = default;
  Catalogue& operator=(Catalogue&&) noexcept = default;
  ~Catalogue() = default;

  int schema_version() const { return schema_version_; }
  const std::string& path() const { return db_.path(); }

  // Runs `body` in a transaction: BEGIN IMMEDIATE, then COMMIT when it succeeds, ROLLBACK
  // when it fails (its error is returned unchanged). Nests: inside another transaction()
  // the body runs in a SAVEPOINT, so a failed inner body undoes only its own changes.
  // Every mutator below runs in its own (nested) transaction. EBUSY when another process
  // holds the write lock past the busy timeout.
  Status transaction(const std::function<Status()>& body);

  // Inserts the firmware or replaces every field of the one with the same sha1, name
  // included (its position in list_firmwares() is kept). EINVAL for a malformed sha1;
  // EEXIST when another firmware has the name.
  Status put_firmware(const FirmwareRecord& record);
  // nullopt when absent.
  Result<std::optional<FirmwareRecord>> get_firmware(const std::string& sha1);
  // In creation order (`created`, then insertion order).
  Result<std::vector<FirmwareRecord>> list_firmwares();
  // Deletes the firmware, its name and its custom values. ENOENT when absent; EBUSY, naming
  // them, while instances or snapshots reference it.
  Status delete_firmware(const std::string& sha1);

  // Inserts the instance or replaces every field (name, cmdline and labels included). EINVAL for a
  // malformed sha1 or an id outside 0..254; ENOENT when firmware_sha1 or snapshot_sha1 is
  // not catalogued;
  // EEXIST when another instance has the name or the id.
  Status put_instance(const InstanceRecord& record);
  Result<std::optional<InstanceRecord>> get_instance(const std::string& sha1);
  // Ordered by id.
  Result<std::vector<InstanceRecord>> list_instances();
  // Deletes the instance, its cmdline, labels, name and custom values. ENOENT when absent.
  Status delete_instance(const std::string& sha1);
  // The lowest id in 0..254 no instance uses; ENOSPC when all 255 are used.
  Result<int> lowest_free_instance_id();
  // sha1s of the instances made from firmware `sha1`, ordered by id.
  Result<std::vector<std::string>> instances_of_firmware(const std::string& sha1);

  // Inserts the snapshot or replaces every field. EINVAL for a malformed sha1; ENOENT when
  // firmware_sha1 or parent_sha1 is not catalogued; EEXIST when another snapshot has the name.
  Status put_snapshot(const SnapshotRecord& record);
  Result<std::optional<SnapshotRecord>> get_snapshot(const std::string& sha1);
  // In creation order.
  Result<std::vector<SnapshotRecord>> list_snapshots();
  // Deletes the snapshot, its name and custom values. ENOENT when absent; EBUSY, naming
  // them, while instances or child snapshots stack on it.
  Status delete_snapshot(const std::string& sha1);

  // Names, per folder (ENOENT for an unknown folder).
  Result<bool> name_taken(const std::string& folder, const std::string& name);
  Result<std::optional<std::string>> sha1_of_name(const std::string& folder,
                                                  const std::string& name);
  // The sha1s of the folder's entities starting with `prefix`, sorted (for resolving an
  // abbreviated identifier; the caller enforces the minimum length).
  Result<std::vector<std::string>> sha1s_with_prefix(const std::string& folder,
                                                     const std::string& prefix);

  // Custom properties (ADD_PROPERTY), per folder; ENOENT for an unknown folder.
  // EEXIST when the folder already has `name`; EINVAL when `name` is empty.
  Status add_custom_property(const std::string& folder, const std::string& name, bool is_array);
  // In the order added.
  Result<std::vector<CustomProperty>> custom_properties(const std::string& folder);
  // Replaces the value of custom property `name` of entity `sha1`: a scalar takes exactly
  // one value (EINVAL otherwise), an array any number of elements. ESRCH for an unknown
  // property; ENOENT for an unknown entity.
  Status set_custom_value(const std::string& folder, const std::string& sha1,
                          const std::string& name, const std::vector<std::string>& values);
  // nullopt when never set (an array set to no elements reads the same). ESRCH for an
  // unknown property; ENOENT for an unknown entity.
  Result<std::optional<std::vector<std::string>>> get_custom_value(const std::string& folder,
                                                                   const std::string& sha1,
                                                                   const std::string& name);

 private:
  Catalogue(Db db, int schema_version) : db_(std::move(db)), schema_version_(schema_version) {}

  Db db_;
  int schema_version_ = 0;
  int depth_ = 0;  // nesting level of transaction()
};

}  // namespace fw::catalogue
