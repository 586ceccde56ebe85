// The catalogue's connection, schema migrations, transactions, names and custom properties.
// Firmware and instance records are in records.cc.

#include "firmwared/catalogue/catalogue.h"

#include <iterator>
#include <string_view>

#include "firmwared/base/defer.h"
#include "firmwared/base/log.h"
#include "firmwared/catalogue/internal.h"
#include "firmwared/catalogue/schema_sql.h"

namespace fw::catalogue {

using internal::entity_exists;
using internal::folder_table;
using internal::with_context;

namespace {

// Only another process (the sqlite3 shell, a backup) can hold the lock, and briefly. Waiting
// beats failing a command, but it blocks the daemon's single loop, so not for long.
constexpr int kBusyTimeoutMs = 2000;

// kMigrations[i] upgrades schema version i to i + 1. All pending ones run in one transaction.
struct Migration {
  std::string_view what;
  std::string_view (*sql)();
};
// Version 2: snapshots (frozen upper layers) and the snapshot an instance stacks on. An
// ADDed column with a REFERENCES clause must default to NULL (sqlite.org/lang_altertable.html).
std::string_view snapshots_sql() {
  return R"(
CREATE TABLE snapshots (
  sha1          TEXT    NOT NULL PRIMARY KEY
                        CHECK (length(sha1) = 40 AND sha1 NOT GLOB '*[^0-9a-f]*'),
  firmware_sha1 TEXT    NOT NULL REFERENCES firmwares (sha1) ON DELETE RESTRICT,
  parent_sha1   TEXT    REFERENCES snapshots (sha1) ON DELETE RESTRICT,  -- NULL: on the firmware
  instance_sha1 TEXT    NOT NULL DEFAULT '',  -- taken from (informational)
  size          INTEGER NOT NULL DEFAULT 0,   -- bytes of the layer
  created       INTEGER NOT NULL
);
CREATE INDEX snapshots_by_parent ON snapshots (parent_sha1);
CREATE INDEX snapshots_by_firmware ON snapshots (firmware_sha1);
ALTER TABLE instances ADD COLUMN snapshot_sha1 TEXT REFERENCES snapshots (sha1) ON DELETE RESTRICT;
CREATE INDEX instances_by_snapshot ON instances (snapshot_sha1);
CREATE TRIGGER snapshots_forget AFTER DELETE ON snapshots BEGIN
  DELETE FROM names WHERE folder = 'snapshots' AND sha1 = OLD.sha1;
  DELETE FROM property_values WHERE folder = 'snapshots' AND sha1 = OLD.sha1;
END;
)";
}

// Version 3: user-namespace mode and clock offsets of instances. uid_base 0: no id range
// held; two instances never hold the same range.
std::string_view userns_sql() {
  return R"(
ALTER TABLE instances ADD COLUMN userns TEXT NOT NULL DEFAULT 'auto'
  CHECK (userns IN ('auto', 'y', 'n'));
ALTER TABLE instances ADD COLUMN uid_base INTEGER NOT NULL DEFAULT 0
  CHECK (uid_base >= 0 AND uid_base < 4294967296);
ALTER TABLE instances ADD COLUMN time_offset INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX instances_by_uid_base ON instances (uid_base) WHERE uid_base <> 0;
)";
}

// Version 4: what an instance may reach on the host. '' (rows from before) reads as the
// configuration's host_access.
std::string_view host_access_sql() {
  return "ALTER TABLE instances ADD COLUMN host_access TEXT NOT NULL DEFAULT '';";
}

// Version 5: the lifecycle. A firmware's stop signal (chosen at import from its init; ''
// for rows from before, detected again when the daemon starts); an instance's own stop
// signal ('' = its firmware's), what a reboot from inside does, its cgroup limits ('' =
// none) and why its last run ended.
std::string_view lifecycle_sql() {
  return R"(
ALTER TABLE firmwares ADD COLUMN stop_signal TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN stop_signal TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN on_reboot TEXT NOT NULL DEFAULT 'restart'
  CHECK (on_reboot IN ('restart', 'stop'));
ALTER TABLE instances ADD COLUMN memory_max TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN pids_max TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN cpu_weight TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN exit_reason TEXT NOT NULL DEFAULT '';
)";
}

// Version 6: host paths bound into an instance (its `binds` property), one row per element,
// as instance_cmdline.
std::string_view binds_sql() {
  return R"(
CREATE TABLE instance_binds (
  sha1  TEXT    NOT NULL REFERENCES instances (sha1) ON DELETE CASCADE,
  idx   INTEGER NOT NULL CHECK (idx >= 0),
  value TEXT    NOT NULL,
  PRIMARY KEY (sha1, idx)
) WITHOUT ROWID;
)";
}

// Version 7: labels of instances (KEY=VALUE), forgotten with their instance.
std::string_view labels_sql() {
  return R"(
CREATE TABLE instance_labels (
  sha1  TEXT NOT NULL REFERENCES instances (sha1) ON DELETE CASCADE,
  key   TEXT NOT NULL CHECK (key <> ''),
  value TEXT NOT NULL,
  PRIMARY KEY (sha1, key)
) WITHOUT ROWID;
)";
}

constexpr Migration kMigrations[] = {
    {"creating the schema of schemas/catalogue.sql", catalogue_schema_sql},
    {"adding snapshots", snapshots_sql},
    {"adding user namespaces and clock offsets", userns_sql},
    {"adding instances.host_access", host_access_sql},
    {"adding stop signals, reboot policy, limits and exit reasons", lifecycle_sql},
    {"adding instance_binds", binds_sql},
    {"adding instance labels", labels_sql},
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

Status configure(Db& db) {
  // foreign_keys is per connection and off by default; a sqlite built without foreign key
  // support ignores the pragma silently, hence the read back.
  FW_TRY(db.exec("PRAGMA foreign_keys = ON"));
  FW_ASSIGN_OR_RETURN(int64_t foreign_keys, db.query_int("PRAGMA foreign_keys"));
  if (foreign_keys != 1) return make_error(ENOTSUP, "this sqlite does not enforce foreign keys");
  // WAL: a commit is one append to the -wal file and readers (the sqlite3 shell) never block
  // the daemon. The pragma answers the mode in effect: "memory" for :memory:, the previous
  // mode where WAL is impossible (a filesystem without shared mmap, see sqlite.org/wal.html).
  FW_ASSIGN_OR_RETURN(std::string mode, db.query_text("PRAGMA journal_mode = WAL"));
  if (mode != "wal" && db.path() != ":memory:") {
    log::warning("catalogue '" + db.path() + "': journal mode stays '" + mode +
                 "' (WAL unsupported here); commits are slower but still atomic, ignoring");
  }
  // NORMAL rather than FULL: in WAL mode a commit then survives a crash of the daemon (its
  // frames are written before COMMIT returns) and the file is never corrupted; only a power
  // loss or kernel crash can undo the last commits, which also kills every instance, so the
  // restart recovery copes with it anyway. FULL would add an fsync to every commit, START's
  // included, against a 5 ms budget.
  FW_TRY(db.exec("PRAGMA synchronous = NORMAL"));
  return {};
}

Status check_version(int64_t version) {
  if (version < 0) return make_error(EPROTO, "invalid schema version " + std::to_string(version));
  if (version > kSchemaVersion) {
    return make_error(EPROTO, "schema version " + std::to_string(version) +
                                  " is newer than version " + std::to_string(kSchemaVersion) +
                                  ", the newest this firmwared supports");
  }
  return {};
}

// Brings the schema to kSchemaVersion; returns it.
Result<int> migrate(Db& db) {
  FW_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  FW_TRY(check_version(version));
  if (version == kSchemaVersion) return kSchemaVersion;
  FW_TRY_CTX(db.exec("BEGIN IMMEDIATE"), "starting the migration");
  bool committed = false;
  DEFER {
    if (!committed && db.in_transaction()) (void)db.exec("ROLLBACK");
  };
  // Read again under the write lock: another process may have migrated in between.
  FW_ASSIGN_OR_RETURN(version, db.query_int("PRAGMA user_version"));
  FW_TRY(check_version(version));
  const int64_t from = version;
  for (; version < kSchemaVersion; ++version) {
    const Migration& m = kMigrations[version];
    FW_TRY_CTX(db.exec(std::string(m.sql())),
               "migrating the schema from version " + std::to_string(version) + " to " +
                   std::to_string(version + 1) + " (" + std::string(m.what) + ")");
  }
  // PRAGMA takes no bound parameters; the value is our own integer.
  FW_TRY(db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)));
  FW_TRY_CTX(db.exec("COMMIT"), "committing the migration");
  committed = true;
  if (from == 0) {
    log::info("catalogue '" + db.path() + "': created, schema version " +
              std::to_string(kSchemaVersion));
  } else {
    log::notice("catalogue '" + db.path() + "': schema migrated from version " +
                std::to_string(from) + " to " + std::to_string(kSchemaVersion));
  }
  return kSchemaVersion;
}

// Undoes the innermost transaction level after a failure. Some errors (SQLITE_FULL,
// SQLITE_IOERR, SQLITE_NOMEM, ...) already made sqlite roll the whole transaction back
// ("Response To Errors Within A Transaction", sqlite.org/lang_transaction.html).
void rollback(Db& db, bool outermost, const std::string& savepoint) noexcept {
  if (!db.in_transaction()) return;
  Status s =
      db.exec(outermost ? "ROLLBACK" : "ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
  if (!s.ok()) {
    log::warning("catalogue '" + db.path() + "': rolling back: " + s.error().message +
                 ", ignoring");
  }
}

}  // namespace

// ---- internal helpers ----

namespace internal {

Status check_sha1(std::string_view sha1) {
  bool ok = sha1.size() == 40;
  for (char c : sha1) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return make_error(EINVAL, "not a sha1 (40 lowercase hex digits)");
  return {};
}

Result<std::string_view> folder_table(const std::string& folder) {
  // The table is named after the folder; the list keeps SQL built from it to known names.
  for (std::string_view known : {kFirmwares, kInstances, kSnapshots}) {
    if (folder == known) return known;
  }
  return make_error(ENOENT, "unknown folder '" + folder + "'");
}

Result<bool> entity_exists(Db& db, const std::string& folder, const std::string& sha1) {
  FW_ASSIGN_OR_RETURN(std::string_view table, folder_table(folder));
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("SELECT 1 FROM " + std::string(table) + " WHERE sha1 = ?1"));
  st.bind(1, sha1);
  return st.step();
}

Status write_name(Db& db, const std::string& folder, const std::string& sha1,
                  const std::string& name) {
  if (!name.empty()) {
    FW_ASSIGN_OR_RETURN(Statement owner,
                        db.prepare("SELECT sha1 FROM names WHERE folder = ?1 AND name = ?2"));
    owner.bind(1, folder).bind(2, name);
    FW_ASSIGN_OR_RETURN(bool taken, owner.step());
    if (taken && owner.column_text(0) != sha1) {
      return make_error(
          EEXIST, "name '" + name + "' is already used by " + folder + " " + owner.column_text(0));
    }
  }
  FW_ASSIGN_OR_RETURN(Statement forget,
                      db.prepare("DELETE FROM names WHERE folder = ?1 AND sha1 = ?2"));
  FW_TRY(forget.bind(1, folder).bind(2, sha1).run());
  if (name.empty()) return {};
  FW_ASSIGN_OR_RETURN(Statement insert,
                      db.prepare("INSERT INTO names (folder, name, sha1) VALUES (?1, ?2, ?3)"));
  return insert.bind(1, folder).bind(2, name).bind(3, sha1).run();
}

Result<std::string> display_name(Db& db, const std::string& folder, const std::string& sha1) {
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("SELECT name FROM names WHERE folder = ?1 AND sha1 = ?2"));
  st.bind(1, folder).bind(2, sha1);
  FW_ASSIGN_OR_RETURN(bool named, st.step());
  return named ? st.column_text(0) : sha1;
}

Result<std::vector<std::string>> query_texts(Db& db, std::string_view sql, std::string_view text) {
  FW_ASSIGN_OR_RETURN(Statement st, db.prepare(sql));
  st.bind(1, text);
  std::vector<std::string> out;
  for (;;) {
    FW_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    out.push_back(st.column_text(0));
  }
}

}  // namespace internal

// ---- opening ----

Result<Catalogue> Catalogue::open(const std::string& path) {
  FW_ASSIGN_OR_RETURN(Db db, Db::open(path));  // its errors name the file
  const std::string context = "opening '" + path + "'";
  // Refuse a newer schema before configure() writes anything (journal_mode=WAL is recorded
  // in the file's header): an older firmwared must leave a newer one's catalogue as it was.
  db.set_busy_timeout(kBusyTimeoutMs);
  FW_ASSIGN_OR_RETURN(int64_t found, with_context(db.query_int("PRAGMA user_version"), context));
  FW_TRY_CTX(check_version(found), context);
  FW_TRY_CTX(configure(db), context);
  FW_ASSIGN_OR_RETURN(int version, with_context(migrate(db), context));
  return Catalogue(std::move(db), version);
}

int Catalogue::supported_schema_version() { return kSchemaVersion; }

// ---- transactions ----

Status Catalogue::transaction(const std::function<Status()>& body) {
  const bool outermost = depth_ == 0;
  const std::string savepoint = "fw_level_" + std::to_string(depth_);
  // IMMEDIATE takes the write lock up front, so a busy database fails here, before the body
  // ran, rather than at its first write.
  FW_TRY_CTX(db_.exec(outermost ? "BEGIN IMMEDIATE" : "SAVEPOINT " + savepoint),
             "starting a catalogue transaction");
  ++depth_;
  bool finished = false;
  DEFER {
    --depth_;
    if (!finished) rollback(db_, outermost, savepoint);  // the body threw
  };
  Status status = body();
  if (status.ok()) {
    status = with_context(db_.exec(outermost ? "COMMIT" : "RELEASE " + savepoint),
                          "committing a catalogue transaction");
  }
  if (!status.ok()) rollback(db_, outermost, savepoint);
  finished = true;
  return status;
}

// ---- names ----

Result<bool> Catalogue::name_taken(const std::string& folder, const std::string& name) {
  FW_ASSIGN_OR_RETURN(std::optional<std::string> sha1, sha1_of_name(folder, name));
  return sha1.has_value();
}

Result<std::optional<std::string>> Catalogue::sha1_of_name(const std::string& folder,
                                                           const std::string& name) {
  auto lookup = [&]() -> Result<std::optional<std::string>> {
    FW_TRY(folder_table(folder));
    FW_ASSIGN_OR_RETURN(Statement st,
                        db_.prepare("SELECT sha1 FROM names WHERE folder = ?1 AND name = ?2"));
    st.bind(1, folder).bind(2, name);
    FW_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(st.column_text(0));
  };
  return with_context(lookup(), "looking up name '" + name + "' in " + folder);
}

Result<std::vector<std::string>> Catalogue::sha1s_with_prefix(const std::string& folder,
                                                              const std::string& prefix) {
  auto lookup = [&]() -> Result<std::vector<std::string>> {
    FW_ASSIGN_OR_RETURN(std::string_view table, folder_table(folder));
    return internal::query_texts(db_,
                                 "SELECT sha1 FROM " + std::string(table) +
                                     " WHERE substr(sha1, 1, length(?1)) = ?1 ORDER BY sha1",
                                 prefix);
  };
  return with_context(lookup(), "looking up sha1 prefix '" + prefix + "' in " + folder);
}

// ---- custom properties ----

namespace {

// Whether custom property `name` of `folder` is an array; ESRCH when there is none.
Result<bool> property_is_array(Db& db, const std::string& folder, const std::string& name) {
  FW_ASSIGN_OR_RETURN(
      Statement st,
      db.prepare("SELECT is_array FROM custom_properties WHERE folder = ?1 AND name = ?2"));
  st.bind(1, folder).bind(2, name);
  FW_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return make_error(ESRCH, "no such property");
  return st.column_int64(0) != 0;
}

// The checks shared by set_custom_value and get_custom_value; returns is_array.
Result<bool> check_value_target(Db& db, const std::string& folder, const std::string& sha1,
                                const std::string& name) {
  FW_ASSIGN_OR_RETURN(bool exists, entity_exists(db, folder, sha1));
  if (!exists) return make_error(ENOENT, "not in the catalogue");
  return property_is_array(db, folder, name);
}

}  // namespace

Status Catalogue::add_custom_property(const std::string& folder, const std::string& name,
                                      bool is_array) {
  auto add = [&]() -> Status {
    FW_TRY(folder_table(folder));
    if (name.empty()) return make_error(EINVAL, "empty property name");
    auto existing = property_is_array(db_, folder, name);
    if (existing.ok()) return make_error(EEXIST, "the property already exists");
    if (existing.error().code != ESRCH) return existing.error();
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare(R"(
        INSERT INTO custom_properties (folder, name, is_array, position)
        SELECT ?1, ?2, ?3, COALESCE(MAX(position) + 1, 0)
        FROM custom_properties WHERE folder = ?1)"));
    return st.bind(1, folder).bind(2, name).bind(3, int64_t{is_array}).run();
  };
  return with_context(transaction(add), "adding property '" + name + "' to " + folder);
}

Result<std::vector<CustomProperty>> Catalogue::custom_properties(const std::string& folder) {
  auto list = [&]() -> Result<std::vector<CustomProperty>> {
    FW_TRY(folder_table(folder));
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare("SELECT name, is_array FROM custom_properties "
                                                  "WHERE folder = ?1 ORDER BY position"));
    st.bind(1, folder);
    std::vector<CustomProperty> out;
    for (;;) {
      FW_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) return out;
      out.push_back({st.column_text(0), st.column_int64(1) != 0});
    }
  };
  return with_context(list(), "listing the custom properties of " + folder);
}

Status Catalogue::set_custom_value(const std::string& folder, const std::string& sha1,
                                   const std::string& name,
                                   const std::vector<std::string>& values) {
  auto set = [&]() -> Status {
    FW_ASSIGN_OR_RETURN(bool is_array, check_value_target(db_, folder, sha1, name));
    if (!is_array && values.size() != 1) {
      return make_error(EINVAL, "a scalar property takes exactly one value, not " +
                                    std::to_string(values.size()));
    }
    FW_ASSIGN_OR_RETURN(Statement clear, db_.prepare("DELETE FROM property_values WHERE "
                                                     "folder = ?1 AND sha1 = ?2 AND name = ?3"));
    FW_TRY(clear.bind(1, folder).bind(2, sha1).bind(3, name).run());
    FW_ASSIGN_OR_RETURN(Statement insert, db_.prepare("INSERT INTO property_values "
                                                      "(folder, sha1, name, idx, value) "
                                                      "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.bind(1, folder).bind(2, sha1).bind(3, name);
    for (size_t i = 0; i < values.size(); ++i) {
      FW_TRY(insert.bind(4, static_cast<int64_t>(i)).bind(5, values[i]).run());
      insert.reset();
    }
    return {};
  };
  return with_context(transaction(set),
                      "setting property '" + name + "' of " + folder + " " + sha1);
}

Result<std::optional<std::vector<std::string>>> Catalogue::get_custom_value(
    const std::string& folder, const std::string& sha1, const std::string& name) {
  using Value = std::optional<std::vector<std::string>>;
  auto get = [&]() -> Result<Value> {
    FW_TRY(check_value_target(db_, folder, sha1, name));
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare("SELECT value FROM property_values WHERE "
                                                  "folder = ?1 AND sha1 = ?2 AND name = ?3 "
                                                  "ORDER BY idx"));
    st.bind(1, folder).bind(2, sha1).bind(3, name);
    std::vector<std::string> values;
    for (;;) {
      FW_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) break;
      values.push_back(st.column_text(0));
    }
    if (values.empty()) return Value();
    return Value(std::move(values));
  };
  return with_context(get(), "reading property '" + name + "' of " + folder + " " + sha1);
}

}  // namespace fw::catalogue
