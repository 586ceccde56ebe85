// Firmware and instance records of the catalogue.

#include <string_view>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/catalogue/internal.h"

namespace fw::catalogue {

using internal::check_sha1;
using internal::delete_entity;
using internal::display_name;
using internal::entity_exists;
using internal::query_texts;
using internal::with_context;

namespace {

constexpr int kMaxInstanceId = 254;

// ---- firmwares ----

// UPSERT, not INSERT OR REPLACE: REPLACE deletes the old row, which would move it to the
// end of the creation order and fire the delete trigger (forgetting its custom values).
constexpr std::string_view kUpsertFirmware = R"(
    INSERT INTO firmwares (sha1, path, source_path, format, size, uuid, created, stop_signal)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (sha1) DO UPDATE SET
      path = excluded.path, source_path = excluded.source_path, format = excluded.format,
      size = excluded.size, uuid = excluded.uuid, created = excluded.created,
      stop_signal = excluded.stop_signal)";

constexpr std::string_view kSelectFirmwares = R"(
    SELECT f.sha1, COALESCE(n.name, ''), f.path, f.source_path, f.format, f.uuid, f.size,
           f.created, f.stop_signal
    FROM firmwares AS f LEFT JOIN names AS n ON n.folder = 'firmwares' AND n.sha1 = f.sha1)";

FirmwareRecord firmware_from_row(const Statement& st) {
  FirmwareRecord r;
  r.sha1 = st.column_text(0);
  r.name = st.column_text(1);
  r.path = st.column_text(2);
  r.source_path = st.column_text(3);
  r.format = st.column_text(4);
  r.uuid = st.column_text(5);
  r.size = static_cast<uint64_t>(st.column_int64(6));  // stored as its int64 bit pattern
  r.created = st.column_int64(7);
  r.stop_signal = st.column_text(8);
  return r;
}

Result<std::vector<FirmwareRecord>> select_firmwares(Db& db, std::string_view where,
                                                     std::string_view param) {
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare(std::string(kSelectFirmwares) + " " + std::string(where)));
  if (!param.empty()) st.bind(1, param);  // unbound, ?1 is NULL and matches nothing
  std::vector<FirmwareRecord> out;
  for (;;) {
    FW_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    out.push_back(firmware_from_row(st));
  }
}

// ---- instances ----

constexpr std::string_view kUpsertInstance = R"(
    INSERT INTO instances (sha1, id, firmware_sha1, state, monitor_pid, monitor_start_time,
                           init_pid, exit_status, created, interface, stolen_interface,
                           stolen_btusb, snapshot_sha1, userns, uid_base, time_offset,
                           host_access, stop_signal, on_reboot, memory_max, pids_max,
                           cpu_weight, exit_reason)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23)
    ON CONFLICT (sha1) DO UPDATE SET
      id = excluded.id, firmware_sha1 = excluded.firmware_sha1, state = excluded.state,
      monitor_pid = excluded.monitor_pid, monitor_start_time = excluded.monitor_start_time,
      init_pid = excluded.init_pid, exit_status = excluded.exit_status,
      created = excluded.created, interface = excluded.interface,
      stolen_interface = excluded.stolen_interface, stolen_btusb = excluded.stolen_btusb,
      snapshot_sha1 = excluded.snapshot_sha1, userns = excluded.userns,
      uid_base = excluded.uid_base, time_offset = excluded.time_offset,
      host_access = excluded.host_access, stop_signal = excluded.stop_signal,
      on_reboot = excluded.on_reboot, memory_max = excluded.memory_max,
      pids_max = excluded.pids_max, cpu_weight = excluded.cpu_weight,
      exit_reason = excluded.exit_reason)";

constexpr std::string_view kSelectInstances = R"(
    SELECT i.sha1, COALESCE(n.name, ''), i.id, i.firmware_sha1, i.state, i.monitor_pid,
           i.monitor_start_time, i.init_pid, i.exit_status, i.created, i.interface,
           i.stolen_interface, i.stolen_btusb, COALESCE(i.snapshot_sha1, ''), i.userns,
           i.uid_base, i.time_offset, i.host_access, i.stop_signal, i.on_reboot, i.memory_max,
           i.pids_max, i.cpu_weight, i.exit_reason
    FROM instances AS i LEFT JOIN names AS n ON n.folder = 'instances' AND n.sha1 = i.sha1)";

InstanceRecord instance_from_row(const Statement& st) {
  InstanceRecord r;
  r.sha1 = st.column_text(0);
  r.name = st.column_text(1);
  r.id = static_cast<int>(st.column_int64(2));
  r.firmware_sha1 = st.column_text(3);
  r.state = st.column_text(4);
  r.monitor_pid = st.column_int64(5);
  r.monitor_start_time = static_cast<uint64_t>(st.column_int64(6));
  r.init_pid = st.column_int64(7);
  if (!st.column_is_null(8)) r.exit_status = static_cast<int>(st.column_int64(8));
  r.created = st.column_int64(9);
  r.interface = st.column_text(10);
  r.stolen_interface = st.column_text(11);
  r.stolen_btusb = st.column_text(12);
  r.snapshot_sha1 = st.column_text(13);
  r.userns = st.column_text(14);
  r.uid_base = static_cast<uint32_t>(st.column_int64(15));
  r.time_offset = st.column_int64(16);
  r.host_access = st.column_text(17);
  r.stop_signal = st.column_text(18);
  r.on_reboot = st.column_text(19);
  r.memory_max = st.column_text(20);
  r.pids_max = st.column_text(21);
  r.cpu_weight = st.column_text(22);
  r.exit_reason = st.column_text(23);
  return r;
}

// Reads the instances, then each one's cmdline.
Result<std::vector<InstanceRecord>> select_instances(Db& db, std::string_view where,
                                                     std::string_view param) {
  std::vector<InstanceRecord> out;
  {
    FW_ASSIGN_OR_RETURN(Statement st,
                        db.prepare(std::string(kSelectInstances) + " " + std::string(where)));
    if (!param.empty()) st.bind(1, param);
    for (;;) {
      FW_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) break;
      out.push_back(instance_from_row(st));
    }
  }
  for (InstanceRecord& r : out) {
    FW_ASSIGN_OR_RETURN(
        r.cmdline,
        query_texts(db, "SELECT value FROM instance_cmdline WHERE sha1 = ?1 ORDER BY idx", r.sha1));
    FW_ASSIGN_OR_RETURN(
        r.binds,
        query_texts(db, "SELECT value FROM instance_binds WHERE sha1 = ?1 ORDER BY idx", r.sha1));
    FW_ASSIGN_OR_RETURN(Statement labels,
                        db.prepare("SELECT key, value FROM instance_labels WHERE sha1 = ?1"));
    labels.bind(1, r.sha1);
    for (;;) {
      FW_ASSIGN_OR_RETURN(bool row, labels.step());
      if (!row) break;
      r.labels.emplace(labels.column_text(0), labels.column_text(1));
    }
  }
  return out;
}

// Replaces the rows of `sha1` in `table` (sha1, idx, value) by `values`.
Status write_texts(Db& db, const std::string& table, const std::string& sha1,
                   const std::vector<std::string>& values) {
  FW_ASSIGN_OR_RETURN(Statement clear, db.prepare("DELETE FROM " + table + " WHERE sha1 = ?1"));
  FW_TRY(clear.bind(1, sha1).run());
  FW_ASSIGN_OR_RETURN(Statement insert, db.prepare("INSERT INTO " + table +
                                                   " (sha1, idx, value) VALUES (?1, ?2, ?3)"));
  insert.bind(1, sha1);
  for (size_t i = 0; i < values.size(); ++i) {
    FW_TRY(insert.bind(2, static_cast<int64_t>(i)).bind(3, values[i]).run());
    insert.reset();
  }
  return {};
}

Status write_labels(Db& db, const InstanceRecord& r) {
  FW_ASSIGN_OR_RETURN(Statement clear, db.prepare("DELETE FROM instance_labels WHERE sha1 = ?1"));
  FW_TRY(clear.bind(1, r.sha1).run());
  FW_ASSIGN_OR_RETURN(Statement insert, db.prepare("INSERT INTO instance_labels (sha1, key, value) "
                                                   "VALUES (?1, ?2, ?3)"));
  insert.bind(1, r.sha1);
  for (const auto& [key, value] : r.labels) {
    FW_TRY(insert.bind(2, key).bind(3, value).run());
    insert.reset();
  }
  return {};
}

Status write_instance(Db& db, const InstanceRecord& r) {
  FW_ASSIGN_OR_RETURN(Statement st, db.prepare(kUpsertInstance));
  st.bind(1, r.sha1).bind(2, int64_t{r.id}).bind(3, r.firmware_sha1).bind(4, r.state);
  st.bind(5, r.monitor_pid).bind(6, static_cast<int64_t>(r.monitor_start_time));
  st.bind(7, r.init_pid);
  if (r.exit_status) {
    st.bind(8, int64_t{*r.exit_status});
  } else {
    st.bind_null(8);
  }
  st.bind(9, r.created).bind(10, r.interface).bind(11, r.stolen_interface);
  st.bind(12, r.stolen_btusb);
  if (r.snapshot_sha1.empty()) {
    st.bind_null(13);
  } else {
    st.bind(13, r.snapshot_sha1);
  }
  st.bind(14, r.userns).bind(15, int64_t{r.uid_base}).bind(16, r.time_offset);
  st.bind(17, r.host_access).bind(18, r.stop_signal).bind(19, r.on_reboot);
  st.bind(20, r.memory_max).bind(21, r.pids_max).bind(22, r.cpu_weight).bind(23, r.exit_reason);
  FW_TRY(st.run());

  FW_ASSIGN_OR_RETURN(Statement clear, db.prepare("DELETE FROM instance_cmdline WHERE sha1 = ?1"));
  FW_TRY(clear.bind(1, r.sha1).run());
  FW_ASSIGN_OR_RETURN(Statement insert,
                      db.prepare("INSERT INTO instance_cmdline (sha1, idx, value) "
                                 "VALUES (?1, ?2, ?3)"));
  insert.bind(1, r.sha1);
  for (size_t i = 0; i < r.cmdline.size(); ++i) {
    FW_TRY(insert.bind(2, static_cast<int64_t>(i)).bind(3, r.cmdline[i]).run());
    insert.reset();
  }
  FW_TRY(write_texts(db, "instance_binds", r.sha1, r.binds));
  return write_labels(db, r);
}

// EINVAL, ENOENT or EEXIST when `r` cannot be stored, with a message saying why.
Status check_instance(Db& db, const InstanceRecord& r) {
  FW_TRY(check_sha1(r.sha1));
  if (r.id < 0 || r.id > kMaxInstanceId) {
    return make_error(
        EINVAL, "id " + std::to_string(r.id) + " is outside 0.." + std::to_string(kMaxInstanceId));
  }
  FW_ASSIGN_OR_RETURN(bool firmware_exists, entity_exists(db, kFirmwares, r.firmware_sha1));
  if (!firmware_exists) {
    return make_error(ENOENT, "firmware " + r.firmware_sha1 + " is not in the catalogue");
  }
  if (!r.snapshot_sha1.empty()) {
    FW_ASSIGN_OR_RETURN(bool snapshot_exists, entity_exists(db, kSnapshots, r.snapshot_sha1));
    if (!snapshot_exists) {
      return make_error(ENOENT, "snapshot " + r.snapshot_sha1 + " is not in the catalogue");
    }
  }
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("SELECT sha1 FROM instances WHERE id = ?1 AND sha1 <> ?2"));
  st.bind(1, int64_t{r.id}).bind(2, r.sha1);
  FW_ASSIGN_OR_RETURN(bool taken, st.step());
  if (taken) {
    FW_ASSIGN_OR_RETURN(std::string holder, display_name(db, kInstances, st.column_text(0)));
    return make_error(EEXIST,
                      "id " + std::to_string(r.id) + " is already used by instance " + holder);
  }
  return {};
}

}  // namespace

Status internal::delete_entity(Db& db, std::string_view table, const std::string& sha1) {
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare("DELETE FROM " + std::string(table) + " WHERE sha1 = ?1"));
  return st.bind(1, sha1).run();  // the table's trigger forgets the name and custom values
}

Status internal::refuse_users(Db& db, const std::string& folder,
                              const std::vector<std::string>& users) {
  if (users.empty()) return {};
  std::string names;
  for (const std::string& user : users) {
    FW_ASSIGN_OR_RETURN(std::string name, display_name(db, folder, user));
    names += (names.empty() ? "" : ", ") + name;
  }
  std::string what = folder.substr(0, folder.size() - 1);  // "instances" -> "instance"
  return make_error(EBUSY, "used by " + what + (users.size() > 1 ? "s " : " ") + names);
}

// ---- firmwares ----

Status Catalogue::put_firmware(const FirmwareRecord& r) {
  auto put = [&]() -> Status {
    FW_TRY(check_sha1(r.sha1));
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare(kUpsertFirmware));
    st.bind(1, r.sha1).bind(2, r.path).bind(3, r.source_path).bind(4, r.format);
    st.bind(5, static_cast<int64_t>(r.size)).bind(6, r.uuid).bind(7, r.created);
    st.bind(8, r.stop_signal);
    FW_TRY(st.run());
    return internal::write_name(db_, kFirmwares, r.sha1, r.name);
  };
  return with_context(transaction(put), "storing firmware " + r.sha1);
}

Result<std::optional<FirmwareRecord>> Catalogue::get_firmware(const std::string& sha1) {
  auto get = [&]() -> Result<std::optional<FirmwareRecord>> {
    FW_ASSIGN_OR_RETURN(auto found, select_firmwares(db_, "WHERE f.sha1 = ?1", sha1));
    if (found.empty()) return std::optional<FirmwareRecord>();
    return std::optional<FirmwareRecord>(std::move(found.front()));
  };
  return with_context(get(), "reading firmware " + sha1);
}

Result<std::vector<FirmwareRecord>> Catalogue::list_firmwares() {
  // rowid breaks ties in `created`: insertion order, kept by the UPSERT.
  return with_context(select_firmwares(db_, "ORDER BY f.created, f.rowid", ""),
                      "listing firmwares");
}

Status Catalogue::delete_firmware(const std::string& sha1) {
  auto remove = [&]() -> Status {
    FW_ASSIGN_OR_RETURN(bool exists, entity_exists(db_, kFirmwares, sha1));
    if (!exists) return make_error(ENOENT, "not in the catalogue");
    FW_ASSIGN_OR_RETURN(
        std::vector<std::string> users,
        query_texts(db_, "SELECT sha1 FROM instances WHERE firmware_sha1 = ?1 ORDER BY id", sha1));
    FW_TRY(internal::refuse_users(db_, kInstances, users));
    FW_ASSIGN_OR_RETURN(users, query_texts(db_,
                                           "SELECT sha1 FROM snapshots WHERE firmware_sha1 = ?1 "
                                           "ORDER BY created, rowid",
                                           sha1));
    FW_TRY(internal::refuse_users(db_, kSnapshots, users));
    return delete_entity(db_, kFirmwares, sha1);
  };
  return with_context(transaction(remove), "deleting firmware " + sha1);
}

// ---- instances ----

Status Catalogue::put_instance(const InstanceRecord& r) {
  auto put = [&]() -> Status {
    FW_TRY(check_instance(db_, r));
    FW_TRY(write_instance(db_, r));
    return internal::write_name(db_, kInstances, r.sha1, r.name);
  };
  return with_context(transaction(put), "storing instance " + r.sha1);
}

Result<std::optional<InstanceRecord>> Catalogue::get_instance(const std::string& sha1) {
  auto get = [&]() -> Result<std::optional<InstanceRecord>> {
    FW_ASSIGN_OR_RETURN(auto found, select_instances(db_, "WHERE i.sha1 = ?1", sha1));
    if (found.empty()) return std::optional<InstanceRecord>();
    return std::optional<InstanceRecord>(std::move(found.front()));
  };
  return with_context(get(), "reading instance " + sha1);
}

Result<std::vector<InstanceRecord>> Catalogue::list_instances() {
  return with_context(select_instances(db_, "ORDER BY i.id", ""), "listing instances");
}

Status Catalogue::delete_instance(const std::string& sha1) {
  auto remove = [&]() -> Status {
    FW_ASSIGN_OR_RETURN(bool exists, entity_exists(db_, kInstances, sha1));
    if (!exists) return make_error(ENOENT, "not in the catalogue");
    return delete_entity(db_, kInstances, sha1);  // instance_cmdline and labels cascade
  };
  return with_context(transaction(remove), "deleting instance " + sha1);
}

Result<int> Catalogue::lowest_free_instance_id() {
  auto find = [&]() -> Result<int> {
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare("SELECT id FROM instances ORDER BY id"));
    int free_id = 0;  // ids are unique and sorted: the first gap is the answer
    for (;;) {
      FW_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row || st.column_int64(0) != free_id) break;
      ++free_id;
    }
    if (free_id > kMaxInstanceId) {
      return make_error(ENOSPC, "all " + std::to_string(kMaxInstanceId + 1) + " ids (0.." +
                                    std::to_string(kMaxInstanceId) + ") are in use");
    }
    return free_id;
  };
  return with_context(find(), "choosing an instance id");
}

Result<std::vector<std::string>> Catalogue::instances_of_firmware(const std::string& sha1) {
  return with_context(
      query_texts(db_, "SELECT sha1 FROM instances WHERE firmware_sha1 = ?1 ORDER BY id", sha1),
      "listing the instances of firmware " + sha1);
}

}  // namespace fw::catalogue
