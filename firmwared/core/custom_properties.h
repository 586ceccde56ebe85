#pragma once
// Custom properties (ADD_PROPERTY) of one folder, stored in the catalogue, with the scalar
// and array semantics of property values. Shared by every folder.

#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/catalogue/catalogue.h"
#include "firmwared/core/folder.h"
#include "firmwared/core/property_ref.h"

namespace fw::core {

inline constexpr size_t kMaxPropertyValueBytes = 64 * 1024;

class CustomProperties {
 public:
  CustomProperties(catalogue::Catalogue& catalogue, std::string folder)
      : catalogue_(catalogue), folder_(std::move(folder)) {}

  // The folder's custom property `name`, nullopt when there is none.
  Result<std::optional<catalogue::CustomProperty>> find(const std::string& name);
  // Names in the order added, arrays suffixed with "[]".
  Result<std::vector<std::string>> names();
  // Reads property `ref` of entity `sha1` ("" for a scalar never set).
  Result<std::string> get(const std::string& sha1, const PropertyRef& ref,
                          const catalogue::CustomProperty& prop);
  // Writes it. EINVAL for an index on a scalar; E2BIG past kMaxPropertyValueBytes.
  Status set(const std::string& sha1, const PropertyRef& ref, const catalogue::CustomProperty& prop,
             const std::string& value);
  // SHOW: appends every custom property of entity `sha1`, in the order added.
  Status append_values(const std::string& sha1, std::vector<PropertyValue>* out);
  // GET_PROPERTY / SET_PROPERTY of a property that is not built in: ESRCH naming the folder
  // when no custom property has that name.
  Result<std::string> get_named(const std::string& sha1, const PropertyRef& ref);
  Status set_named(const std::string& sha1, const PropertyRef& ref, const std::string& value);

  // ADD_PROPERTY: `text` is NAME or NAME[]. EEXIST when a built-in or custom property has
  // the name; EINVAL for a malformed name. Returns the name as listed ("NAME[]" for arrays).
  Result<std::string> add(const std::string& text, const std::vector<std::string>& builtins);

 private:
  Result<catalogue::CustomProperty> require(const PropertyRef& ref);

  catalogue::Catalogue& catalogue_;
  std::string folder_;
};

// EINVAL "property 'x' of firmwares is not an array" for `x[i]` on a scalar.
Status reject_index_on_scalar(const std::string& folder, const PropertyRef& ref);

}  // namespace fw::core
