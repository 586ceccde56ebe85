// Snapshot records of the catalogue (schema version 2).

#include <string_view>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/catalogue/internal.h"

namespace fw::catalogue {

using internal::check_sha1;
using internal::entity_exists;
using internal::query_texts;
using internal::with_context;

namespace {

constexpr std::string_view kUpsertSnapshot = R"(
    INSERT INTO snapshots (sha1, firmware_sha1, parent_sha1, instance_sha1, size, created)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (sha1) DO UPDATE SET
      firmware_sha1 = excluded.firmware_sha1, parent_sha1 = excluded.parent_sha1,
      instance_sha1 = excluded.instance_sha1, size = excluded.size, created = excluded.created)";

constexpr std::string_view kSelectSnapshots = R"(
    SELECT s.sha1, COALESCE(n.name, ''), s.firmware_sha1, COALESCE(s.parent_sha1, ''),
           s.instance_sha1, s.size, s.created
    FROM snapshots AS s LEFT JOIN names AS n ON n.folder = 'snapshots' AND n.sha1 = s.sha1)";

Result<std::vector<SnapshotRecord>> select_snapshots(Db& db, std::string_view where,
                                                     std::string_view param) {
  FW_ASSIGN_OR_RETURN(Statement st,
                      db.prepare(std::string(kSelectSnapshots) + " " + std::string(where)));
  if (!param.empty()) st.bind(1, param);
  std::vector<SnapshotRecord> out;
  for (;;) {
    FW_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return out;
    SnapshotRecord r;
    r.sha1 = st.column_text(0);
    r.name = st.column_text(1);
    r.firmware_sha1 = st.column_text(2);
    r.parent_sha1 = st.column_text(3);
    r.instance_sha1 = st.column_text(4);
    r.size = static_cast<uint64_t>(st.column_int64(5));  // stored as its int64 bit pattern
    r.created = st.column_int64(6);
    out.push_back(std::move(r));
  }
}

Status check_snapshot(Db& db, const SnapshotRecord& r) {
  FW_TRY(check_sha1(r.sha1));
  FW_ASSIGN_OR_RETURN(bool firmware_exists, entity_exists(db, kFirmwares, r.firmware_sha1));
  if (!firmware_exists) {
    return make_error(ENOENT, "firmware " + r.firmware_sha1 + " is not in the catalogue");
  }
  if (r.parent_sha1.empty()) return {};
  if (r.parent_sha1 == r.sha1) return make_error(EINVAL, "a snapshot cannot be its own parent");
  FW_ASSIGN_OR_RETURN(bool parent_exists, entity_exists(db, kSnapshots, r.parent_sha1));
  if (!parent_exists) {
    return make_error(ENOENT, "snapshot " + r.parent_sha1 + " is not in the catalogue");
  }
  return {};
}

}  // namespace

Status Catalogue::put_snapshot(const SnapshotRecord& r) {
  auto put = [&]() -> Status {
    FW_TRY(check_snapshot(db_, r));
    FW_ASSIGN_OR_RETURN(Statement st, db_.prepare(kUpsertSnapshot));
    st.bind(1, r.sha1).bind(2, r.firmware_sha1);
    if (r.parent_sha1.empty()) {
      st.bind_null(3);
    } else {
      st.bind(3, r.parent_sha1);
    }
    st.bind(4, r.instance_sha1).bind(5, static_cast<int64_t>(r.size)).bind(6, r.created);
    FW_TRY(st.run());
    return internal::write_name(db_, kSnapshots, r.sha1, r.name);
  };
  return with_context(transaction(put), "storing snapshot " + r.sha1);
}

Result<std::optional<SnapshotRecord>> Catalogue::get_snapshot(const std::string& sha1) {
  auto get = [&]() -> Result<std::optional<SnapshotRecord>> {
    FW_ASSIGN_OR_RETURN(auto found, select_snapshots(db_, "WHERE s.sha1 = ?1", sha1));
    if (found.empty()) return std::optional<SnapshotRecord>();
    return std::optional<SnapshotRecord>(std::move(found.front()));
  };
  return with_context(get(), "reading snapshot " + sha1);
}

Result<std::vector<SnapshotRecord>> Catalogue::list_snapshots() {
  return with_context(select_snapshots(db_, "ORDER BY s.created, s.rowid", ""),
                      "listing snapshots");
}

Status Catalogue::delete_snapshot(const std::string& sha1) {
  auto remove = [&]() -> Status {
    FW_ASSIGN_OR_RETURN(bool exists, entity_exists(db_, kSnapshots, sha1));
    if (!exists) return make_error(ENOENT, "not in the catalogue");
    FW_ASSIGN_OR_RETURN(
        std::vector<std::string> users,
        query_texts(db_, "SELECT sha1 FROM instances WHERE snapshot_sha1 = ?1 ORDER BY id", sha1));
    FW_TRY(internal::refuse_users(db_, kInstances, users));
    FW_ASSIGN_OR_RETURN(users, query_texts(db_,
                                           "SELECT sha1 FROM snapshots WHERE parent_sha1 = ?1 "
                                           "ORDER BY created, rowid",
                                           sha1));
    FW_TRY(internal::refuse_users(db_, kSnapshots, users));
    return internal::delete_entity(db_, kSnapshots, sha1);
  };
  return with_context(transaction(remove), "deleting snapshot " + sha1);
}

}  // namespace fw::catalogue
