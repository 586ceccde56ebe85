#pragma once
// Internal to fw_config: the adapter around Boost.PropertyTree's INI parser. Boost's
// exceptions stop here and become Errors.

#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::config::internal {

struct IniEntry {
  bool in_section = false;  // false: the key came before any section header
  std::string section;
  std::string key;
  std::string value;
  unsigned long line = 0;  // 1-based line of the key in the text
};

// Returns the key/value pairs of `text` in file order. A syntax error is EINVAL
// "<origin>:<line>: <reason>".
Result<std::vector<IniEntry>> parse_ini(std::string_view text, std::string_view origin);

}  // namespace fw::config::internal
