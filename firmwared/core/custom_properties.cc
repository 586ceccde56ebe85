#include "firmwared/core/custom_properties.h"
#include "firmwared/base/strings.h"

#include "firmwared/core/shell_words.h"

namespace fw::core {

Status reject_index_on_scalar(const std::string& folder, const PropertyRef& ref) {
  if (ref.array_syntax) {
    return make_error(EINVAL, "property " + quote(ref.name) + " of " + folder +
                                  " is not an array: drop the [index]");
  }
  return {};
}

Result<std::optional<catalogue::CustomProperty>> CustomProperties::find(const std::string& name) {
  FW_ASSIGN_OR_RETURN(auto all, catalogue_.custom_properties(folder_));
  for (auto& p : all) {
    if (p.name == name) return std::optional<catalogue::CustomProperty>(p);
  }
  return std::optional<catalogue::CustomProperty>();
}

Result<std::vector<std::string>> CustomProperties::names() {
  FW_ASSIGN_OR_RETURN(auto all, catalogue_.custom_properties(folder_));
  std::vector<std::string> out;
  for (const auto& p : all) out.push_back(p.is_array ? p.name + "[]" : p.name);
  return out;
}

Result<std::string> CustomProperties::get(const std::string& sha1, const PropertyRef& ref,
                                          const catalogue::CustomProperty& prop) {
  FW_ASSIGN_OR_RETURN(auto value, catalogue_.get_custom_value(folder_, sha1, prop.name));
  std::vector<std::string> v = value.value_or(std::vector<std::string>{});
  if (!prop.is_array) {
    FW_TRY(reject_index_on_scalar(folder_, ref));
    return v.empty() ? std::string() : v[0];
  }
  return array_get(prop.name, v, ref.index);
}

Status CustomProperties::set(const std::string& sha1, const PropertyRef& ref,
                             const catalogue::CustomProperty& prop, const std::string& value) {
  if (value.size() > kMaxPropertyValueBytes) {
    return make_error(E2BIG, "value of property " + quote(prop.name) + " is " +
                                 std::to_string(value.size()) + " bytes, more than " +
                                 std::to_string(kMaxPropertyValueBytes));
  }
  if (!prop.is_array) {
    FW_TRY(reject_index_on_scalar(folder_, ref));
    return catalogue_.set_custom_value(folder_, sha1, prop.name, {value});
  }
  FW_ASSIGN_OR_RETURN(auto current, catalogue_.get_custom_value(folder_, sha1, prop.name));
  std::vector<std::string> v = current.value_or(std::vector<std::string>{});
  FW_TRY(array_set(prop.name, v, ref.index, value));
  return catalogue_.set_custom_value(folder_, sha1, prop.name, v);
}

Status CustomProperties::append_values(const std::string& sha1, std::vector<PropertyValue>* out) {
  FW_ASSIGN_OR_RETURN(auto customs, catalogue_.custom_properties(folder_));
  for (const auto& c : customs) {
    FW_ASSIGN_OR_RETURN(std::string v, get(sha1, PropertyRef{c.name, {}, false}, c));
    out->push_back({c.is_array ? c.name + "[]" : c.name, v});
  }
  return {};
}

Result<catalogue::CustomProperty> CustomProperties::require(const PropertyRef& ref) {
  FW_ASSIGN_OR_RETURN(auto custom, find(ref.name));
  if (!custom) {
    return make_error(ESRCH, folder_ + " have no property " + quote(ref.name) + " (PROPERTIES " +
                                 folder_ + " lists them)");
  }
  return *custom;
}

Result<std::string> CustomProperties::get_named(const std::string& sha1, const PropertyRef& ref) {
  FW_ASSIGN_OR_RETURN(auto custom, require(ref));
  return get(sha1, ref, custom);
}

Status CustomProperties::set_named(const std::string& sha1, const PropertyRef& ref,
                                   const std::string& value) {
  FW_ASSIGN_OR_RETURN(auto custom, require(ref));
  return set(sha1, ref, custom, value);
}

Result<std::string> CustomProperties::add(const std::string& text,
                                          const std::vector<std::string>& builtins) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(text));
  if (ref.index) {
    return make_error(EINVAL, "ADD_PROPERTY takes NAME or NAME[], not an index: " + quote(text));
  }
  for (const auto& b : builtins) {
    std::string bare =
        b.size() > 2 && b.substr(b.size() - 2) == "[]" ? b.substr(0, b.size() - 2) : b;
    if (bare == ref.name) {
      return make_error(EEXIST, folder_ + " already have a built-in property " + quote(ref.name));
    }
  }
  if (auto s = catalogue_.add_custom_property(folder_, ref.name, ref.array_syntax); !s.ok()) {
    if (s.error().code == EEXIST) {
      return make_error(EEXIST, folder_ + " already have a property " + quote(ref.name));
    }
    return s.error();
  }
  return ref.array_syntax ? ref.name + "[]" : ref.name;
}

}  // namespace fw::core
