#include "firmwared/core/snapshots.h"

#include "firmwared/base/fault.h"
#include "firmwared/base/strings.h"

#include <cstdio>
#include <ctime>

#include "firmwared/base/log.h"
#include "firmwared/core/property_ref.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {

namespace {

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"name",          "sha1",        "base_workspace",
                                                 "firmware_sha1", "parent_sha1", "instance_sha1",
                                                 "time",          "size"};
  return names;
}

}  // namespace

Snapshots::Snapshots(catalogue::Catalogue& catalogue, EventSink& events, Instances& instances)
    : catalogue_(catalogue),
      events_(events),
      instances_(instances),
      custom_(catalogue, catalogue::kSnapshots) {}

void Snapshots::prepare(const std::string& source, const std::optional<std::string>&,
                        PrepareDone done) {
  done(instances_.take_snapshot(source));
}

Result<std::vector<EntitySummary>> Snapshots::list() {
  FW_ASSIGN_OR_RETURN(auto all, catalogue_.list_snapshots());
  std::vector<EntitySummary> out;
  for (const auto& s : all) out.push_back({s.sha1, s.name, true, ""});
  return out;
}

std::vector<PropertyValue> Snapshots::builtin_values(const catalogue::SnapshotRecord& s) const {
  return {{"name", s.name},
          {"sha1", s.sha1},
          {"base_workspace", instances_.snapshot_dir(s.sha1)},
          {"firmware_sha1", s.firmware_sha1},
          {"parent_sha1", s.parent_sha1},
          {"instance_sha1", s.instance_sha1},
          {"time", ctime_string(s.created), PropertyType::kTime, s.created},
          {"size", std::to_string(s.size), PropertyType::kInteger}};
}

Result<std::vector<PropertyValue>> Snapshots::show(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto s, instances_.find_snapshot(id));
  std::vector<PropertyValue> out = builtin_values(s);
  FW_TRY(custom_.append_values(s.sha1, &out));
  return out;
}

Result<std::string> Snapshots::get_property(const std::string& id, const std::string& prop) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto s, instances_.find_snapshot(id));
  for (auto& p : builtin_values(s)) {
    if (p.name == ref.name) {
      FW_TRY(reject_index_on_scalar(name_, ref));
      return p.value;
    }
  }
  return custom_.get_named(s.sha1, ref);
}

Status Snapshots::set_property(const std::string& id, const std::string& prop,
                               const std::string& value) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto s, instances_.find_snapshot(id));
  for (const auto& b : builtin_names()) {
    if (b == ref.name) {
      return make_error(EPERM, "property " + quote(ref.name) + " of snapshots is read-only");
    }
  }
  FW_TRY(custom_.set_named(s.sha1, ref, value));
  events_.emit("PROPERTY_SET",
               {{"folder", name_}, {"sha1", s.sha1}, {"name", s.name}, {"property", prop}});
  return {};
}

Result<std::vector<std::string>> Snapshots::property_names() {
  std::vector<std::string> out = builtin_names();
  FW_ASSIGN_OR_RETURN(auto customs, custom_.names());
  out.insert(out.end(), customs.begin(), customs.end());
  return out;
}

Result<std::string> Snapshots::add_property(const std::string& name) {
  return custom_.add(name, builtin_names());
}

Result<EntitySummary> Snapshots::drop(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto s, instances_.find_snapshot(id));
  // The catalogue refuses (EBUSY, naming them) while instances or snapshots stack on it.
  const std::string what = "dropping snapshot " + s.name;
  const std::string dir = instances_.snapshot_dir(s.sha1);
  // As for instances: the layer goes to the trash in the transaction that deletes the row
  // (a crash before the commit leaves the row and a trash entry named after it, which
  // restore() finishes), then it is deleted off the loop.
  Trash& trash = instances_.trash();
  std::string trashed;
  Status dropped = catalogue_.transaction([&]() -> Status {
    FW_TRY(catalogue_.delete_snapshot(s.sha1));
    auto moved = trash.move_in(dir, s.sha1);
    if (!moved.ok() && moved.error().code != ENOENT) return moved.error();
    if (moved.ok()) trashed = *moved;
    FW_FAULT_POINT("drop_snapshot.trashed");
    return {};
  });
  if (!dropped.ok()) {
    if (!trashed.empty()) ::rename(trashed.c_str(), dir.c_str());  // the commit failed
    return dropped.error().wrap(what);
  }
  if (!trashed.empty()) trash.purge(trashed);
  log::info("snapshot " + s.name + " [" + s.sha1 + "] dropped");
  events_.emit("DROPPED", {{"folder", name_}, {"sha1", s.sha1}, {"name", s.name}});
  return EntitySummary{s.sha1, s.name, true, ""};
}

}  // namespace fw::core
