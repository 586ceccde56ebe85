#pragma once
// The snapshots folder (docs/diff.md "Snapshots"): frozen upper layers of
// instances. PREPARE snapshots INSTANCE takes one (Instances::take_snapshot); LIST, SHOW,
// GET_PROPERTY, PROPERTIES, ADD_PROPERTY and SET_PROPERTY (name and custom properties)
// read and annotate them; DROP removes one (EBUSY while instances or child snapshots stack
// on it) and its layer directory.

#include <string>
#include <vector>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/core/custom_properties.h"
#include "firmwared/core/events.h"
#include "firmwared/core/folder.h"
#include "firmwared/core/instances.h"

namespace fw::core {

class Snapshots final : public Folder {
 public:
  Snapshots(catalogue::Catalogue& catalogue, EventSink& events, Instances& instances);

  const std::string& name() const override { return name_; }
  // `source` is an instance identifier.
  void prepare(const std::string& source, const std::optional<std::string>& cwd,
               PrepareDone done) override;
  Result<std::vector<EntitySummary>> list() override;
  Result<std::vector<PropertyValue>> show(const std::string& id) override;
  Result<std::string> get_property(const std::string& id, const std::string& prop) override;
  // `name` (validate_name) and custom properties; EPERM for the other built-in ones.
  Status set_property(const std::string& id, const std::string& prop,
                      const std::string& value) override;
  Result<std::vector<std::string>> property_names() override;
  Result<std::string> add_property(const std::string& name) override;
  Result<EntitySummary> drop(const std::string& id) override;

 private:
  std::vector<PropertyValue> builtin_values(const catalogue::SnapshotRecord& s) const;

  std::string name_ = catalogue::kSnapshots;
  catalogue::Catalogue& catalogue_;
  EventSink& events_;
  Instances& instances_;
  CustomProperties custom_;
};

}  // namespace fw::core
