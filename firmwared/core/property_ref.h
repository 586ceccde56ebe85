#pragma once
// Property references (`name`, `name[]`, `name[3]`) and the semantics of array properties.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

// Limits of an array property value.
constexpr size_t kMaxArrayElements = 1024;
constexpr size_t kMaxArrayElementBytes = size_t{64} * 1024;

struct PropertyRef {
  std::string name;
  std::optional<size_t> index;  // set for name[N]
  bool array_syntax = false;    // written as name[...] (name[] or name[N])
};

// Parses `name`, `name[]` or `name[N]`: a name of 1..64 bytes of [A-Za-z0-9_], N a decimal
// of 1..9 digits (no sign). EINVAL naming the text and the problem otherwise.
Result<PropertyRef> parse_property_ref(std::string_view text);

// Reads array property `property` (named in messages) with value `v`:
// - no index: the elements passed through shell_quote and joined by single spaces, so the
//   text can be given back to array_set ("" for no element);
// - index < size: that element; index == size: "nil";
// - index > size: ERANGE "index 5 is past the end of cmdline (3 elements)".
Result<std::string> array_get(std::string_view property, const std::vector<std::string>& v,
                              std::optional<size_t> index);

// Writes array property `property`; `v` is unchanged on error:
// - with index, value "nil": truncates to `index` elements (index <= size);
// - with index, other value: replaces element index (< size) or appends (== size);
// - index > size: ERANGE (same message as array_get);
// - no index: v = shell_split(value) (EINVAL on bad quoting, naming the property).
// E2BIG when the result would exceed kMaxArrayElements elements or an element
// kMaxArrayElementBytes bytes.
Status array_set(std::string_view property, std::vector<std::string>& v,
                 std::optional<size_t> index, const std::string& value);

}  // namespace fw::core
